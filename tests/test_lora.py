"""LoRA: zero update at init, merge exactness, only A/B train, Q/V-only in SAM's qkv, match with peft."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sambook.models.lora import LoRALinear, lora_parameter_count, lora_qv, mark_only_lora_as_trainable
from sambook.models.sam_core import build_sam


def _trained(layer: LoRALinear) -> LoRALinear:
    with torch.no_grad():
        layer.lora_B.normal_(std=0.5)
    return layer


def test_zero_update_at_initialisation():
    base = nn.Linear(12, 9)
    x = torch.randn(4, 12)
    expected = base(x)
    torch.testing.assert_close(LoRALinear(base, rank=3)(x), expected)


def test_update_equals_the_formula():
    torch.manual_seed(0)
    layer = _trained(LoRALinear(nn.Linear(10, 6), rank=2, alpha=8))
    x = torch.randn(5, 10)
    w = layer.base.weight + (8 / 2) * layer.lora_B[0] @ layer.lora_A[0]
    torch.testing.assert_close(layer(x), x @ w.T + layer.base.bias)


def test_merge_and_unmerge_keep_outputs():
    torch.manual_seed(1)
    layer = _trained(LoRALinear(nn.Linear(16, 24), rank=4, parts=(0, 2), num_parts=3))
    x = torch.randn(3, 7, 16)
    before = layer(x)
    weight = layer.base.weight.clone()
    layer.merge()
    torch.testing.assert_close(layer(x), before, atol=1e-5, rtol=1e-5)
    layer.unmerge()
    torch.testing.assert_close(layer.base.weight, weight, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(layer(x), before, atol=1e-5, rtol=1e-5)


def test_only_a_and_b_train():
    layer = LoRALinear(nn.Linear(8, 8), rank=2)
    trainable = [name for name, p in layer.named_parameters() if p.requires_grad]
    assert trainable == ["lora_A", "lora_B"]
    layer(torch.randn(2, 8)).sum().backward()
    assert layer.base.weight.grad is None and layer.lora_A.grad is not None


def test_qv_only_inside_sam_qkv():
    torch.manual_seed(2)
    sam = build_sam("mini", image_size=32)
    attention = sam.image_encoder.blocks[0].attn
    dim = attention.qkv.in_features
    x = torch.randn(2, 5, dim)
    before = attention.qkv(x)
    lora_qv(attention, rank=2)
    _trained(attention.qkv)
    after = attention.qkv(x)
    q, k, v = (after - before).split(dim, dim=-1)
    assert q.abs().max() > 0 and v.abs().max() > 0
    assert k.abs().max() == 0  # K is never adapted
    assert sum(p.numel() for p in attention.qkv.parameters() if p.requires_grad) == 2 * lora_parameter_count(
        dim, dim, 2
    )


def test_mark_only_lora_as_trainable():
    sam = build_sam("mini", image_size=32)
    lora_qv(sam.image_encoder.blocks[5].attn, rank=2)
    mark_only_lora_as_trainable(sam)
    names = [n for n, p in sam.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n for n in names)


def test_matches_peft():
    peft = pytest.importorskip("peft")
    torch.manual_seed(3)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(12, 10)

        def forward(self, x):
            return self.proj(x)

    net = Net()
    ours = LoRALinear(nn.Linear(12, 10), rank=4, alpha=16)
    ours.base.load_state_dict(net.proj.state_dict())
    _trained(ours)
    model = peft.get_peft_model(net, peft.LoraConfig(r=4, lora_alpha=16, target_modules=["proj"], lora_dropout=0.0))
    layer = model.base_model.model.proj
    with torch.no_grad():
        layer.lora_A["default"].weight.copy_(ours.lora_A[0])
        layer.lora_B["default"].weight.copy_(ours.lora_B[0])
    x = torch.randn(6, 12)
    torch.testing.assert_close(ours(x), model(x), atol=1e-6, rtol=1e-5)
