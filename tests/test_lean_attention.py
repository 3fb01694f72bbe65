"""The lean attention equals SAM's stock attention (outputs and gradients), and checkpointed blocks equal plain
ones; both switches keep the weights and state-dict keys."""

import copy

import pytest
import torch
from segment_anything.modeling.image_encoder import Attention, Block

from sambook.models.grad_checkpointing import CheckpointedBlock, set_checkpointing
from sambook.models.lean_attention import LeanAttention, lean_attention, set_attention
from sambook.models.sam_core import build_sam


def _random_rel_pos(module: torch.nn.Module, seed: int = 0) -> None:
    """SAM initialises the tables at zero; trained tables are not, so test with random ones."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            if "rel_pos" in name:
                parameter.copy_(0.5 * torch.randn(parameter.shape, generator=generator))


def _compare(stock: torch.nn.Module, x: torch.Tensor) -> None:
    lean = set_attention(copy.deepcopy(stock), "lean")
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    y1, y2 = stock(x1), lean(x2)
    torch.testing.assert_close(y2, y1, atol=1e-5, rtol=1e-5)
    g = torch.randn_like(y1)
    y1.backward(g)
    y2.backward(g)
    scale = x1.grad.abs().max()
    torch.testing.assert_close(x2.grad / scale, x1.grad / scale, atol=1e-5, rtol=1e-5)
    for (name, p1), (_, p2) in zip(stock.named_parameters(), lean.named_parameters()):
        scale = p1.grad.abs().max()
        torch.testing.assert_close(p2.grad / scale, p1.grad / scale, atol=1e-5, rtol=1e-5, msg=name)


# Tokens of ViT-B (patch 16) at 256² (16x16) and 1024² (64x64); window 14 as in SAM (1024²: padded to 70x70).
@pytest.mark.parametrize("tokens", [16, 64])
@pytest.mark.parametrize("window", [0, 14], ids=["global", "windowed"])
def test_block_equals_stock(tokens, window):
    torch.manual_seed(0)
    block = Block(dim=128, num_heads=2, use_rel_pos=True, window_size=window, input_size=(tokens, tokens))
    _random_rel_pos(block)
    _compare(block, torch.randn(2, tokens, tokens, 128))


def test_mini_encoder_equals_stock():
    torch.manual_seed(0)
    encoder = build_sam("mini", image_size=64).image_encoder
    _random_rel_pos(encoder)
    _compare(encoder, torch.randn(3, 3, 64, 64))


def test_without_bias_is_plain_attention():
    q, k, v = torch.randn(3, 2, 4, 10, 8).unbind(0)
    expected = torch.softmax(q @ k.transpose(-2, -1) * 0.3, dim=-1) @ v
    torch.testing.assert_close(lean_attention(q, k, v, None, None, (2, 5), 0.3), expected)


def test_switch_keeps_weights_and_keys():
    sam = build_sam("mini", image_size=32)
    before = {k: v.clone() for k, v in sam.state_dict().items()}
    set_attention(sam, "lean")
    assert all(type(m) is LeanAttention for m in sam.modules() if isinstance(m, Attention))
    after = sam.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    set_attention(sam, "stock")
    assert all(type(m) is Attention for m in sam.modules() if isinstance(m, Attention))
    with pytest.raises(ValueError, match="lean"):
        set_attention(sam, "flash")


def test_build_sam_switches():
    sam = build_sam("mini", image_size=32, attention="lean", checkpointing=True)
    assert all(type(b) is CheckpointedBlock for b in sam.image_encoder.blocks)
    assert all(type(b.attn) is LeanAttention for b in sam.image_encoder.blocks)


def test_checkpointing_same_outputs_and_gradients():
    torch.manual_seed(0)
    encoder = build_sam("mini", image_size=32).image_encoder
    ckpt = set_checkpointing(copy.deepcopy(encoder))
    x1 = torch.randn(2, 3, 32, 32, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_()
    y1, y2 = encoder(x1), ckpt(x2)
    torch.testing.assert_close(y2, y1)
    y1.sum().backward()
    y2.sum().backward()
    torch.testing.assert_close(x2.grad, x1.grad)
    for p1, p2 in zip(encoder.parameters(), ckpt.parameters()):
        torch.testing.assert_close(p2.grad, p1.grad)
    set_checkpointing(ckpt, False)
    assert all(type(b) is Block for b in ckpt.blocks)
