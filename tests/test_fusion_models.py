"""Table 1 models: shapes, the adapter's equation, zero initialisation, freezing, and the parameter table."""

from __future__ import annotations

import pytest
import torch

from sambook.build import build_model as build_from_config
from sambook.estimate.params import PAPER_TABLE3, agrees, format_table, table3
from sambook.models.adapter import CrossModalityAdapter
from sambook.models.cmaa import CMAASAM
from sambook.models.sam_core import build_sam
from sambook.models.sam_parts import trainable_parameters


def build_model(name: str, **keys) -> torch.nn.Module:
    """A model through the one builder, from the keys of a config."""
    return build_from_config({"model": name, **keys})


@pytest.mark.parametrize("name", ["sam", "early", "cmaa"])
@pytest.mark.parametrize("size,num_classes", [(32, 1), (64, 4)])
def test_shapes(name, size, num_classes):
    model = build_model(
        name, backbone="mini", image_size=size, num_classes=num_classes, checkpoint=None, adapter_blocks=2
    )
    out = model(torch.randn(2, 4, size, size))
    assert out.logits.shape == (2, num_classes, size, size) and out.iou.shape == (2, num_classes)


def test_adapter_equals_its_formula():
    torch.manual_seed(0)
    adapter = CrossModalityAdapter(8, zero_init=False)
    f1, f2 = torch.randn(2, 5, 6, 8), torch.randn(2, 5, 6, 8)
    x1, x2 = adapter(f1, f2)
    w = adapter.fuse.weight[:, :, 0, 0]  # (c, 2c)
    c = torch.cat([f1, f2], dim=-1) @ w.T + adapter.fuse.bias  # f(F_T1 ⊕ F_T2), eq. 1
    torch.testing.assert_close(x1, c + f1)  # eq. 2
    torch.testing.assert_close(x2, c + f2)


def test_zero_initialised_cmaa_is_two_plain_sam_branches():
    torch.manual_seed(0)
    model = build_model("cmaa", backbone="mini", image_size=32, checkpoint=None, adapter_blocks=2).eval()
    x = torch.randn(2, 4, 32, 32)
    encoder = model.encoder
    plain = encoder(model.t1_to_rgb(x[:, :2])) + encoder(model.t2_to_rgb(x[:, 2:]))
    expected = model.decode(plain, (32, 32)).logits
    torch.testing.assert_close(model(x).logits, expected, atol=1e-5, rtol=1e-5)
    nonzero = build_model(
        "cmaa", backbone="mini", image_size=32, checkpoint=None, adapter_blocks=2, adapter_zero_init=False
    ).eval()
    nonzero.load_state_dict(model.state_dict(), strict=False)
    for adapter in nonzero.adapters:
        torch.nn.init.normal_(adapter.fuse.weight, std=0.1)
    assert not torch.allclose(nonzero(x).logits, expected, atol=1e-3)


@pytest.mark.parametrize("name", ["sam", "early", "cmaa"])
def test_no_gradient_reaches_the_encoder(name):
    model = build_model(name, backbone="mini", image_size=32, checkpoint=None, adapter_blocks=2)
    model.train()
    out = model(torch.randn(2, 4, 32, 32))
    (out.logits.mean() + out.iou.mean()).backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert all(p.grad is None for p in model.decoder.prompt_encoder.parameters())
    assert not model.encoder.training  # frozen parts stay in eval mode
    trained = {id(p) for p in trainable_parameters(model)}
    assert all(id(p) not in trained for p in model.encoder.parameters())
    assert any(p.grad is not None for p in model.decoder.mask_decoder.parameters())


def test_separate_encoders_option():
    model = CMAASAM(build_sam("mini", image_size=32), adapter_blocks=1, separate_encoders=True)
    assert model.encoder_t2 is not model.encoder
    assert model(torch.randn(1, 4, 32, 32)).logits.shape == (1, 1, 32, 32)


def test_table3_quotes_the_paper_as_printed():
    assert PAPER_TABLE3 == (
        ("Trans-Unet", "93M", "93M", "100%"),
        ("Swin-Unet", "43M", "43M", "100%"),
        ("SAM", "91M", "3.64M", "4%"),
        ("Our method", "98M", "10.80M", "11%"),
    )
    assert agrees(90_737_206, "91M") and not agrees(93_735_478, "91M")
    assert agrees(10_721_430, "10.72M") and not agrees(10_721_430, "10.80M") and agrees(4.01, "4%")


def test_table3_counts_for_vit_b():
    rows = {r["model"]: r for r in table3("vit_b", 256, 6)}
    # the two readings of "3.64M": the decoder path with a gradient when the IoU term is on, and a decoder with
    # one mask token counted by requires_grad; with Dice + CE only the IoU head (132,612) gets no gradient
    assert rows["sam"]["decoder_with_gradient"] == 3_638_916
    assert rows["sam"]["one_mask_token"] == 3_637_377
    assert rows["sam"]["with_gradient"] - rows["sam"]["with_gradient_dice_ce"] == 132_612
    table = format_table(list(rows.values()))
    assert "SAM           91M   3.64M   4% | sam     90,737,206   3,638,922    4.01%" in table
    assert "yes, yes, yes" in table and "yes, no, yes" in table  # CMAA's 10.80M is not reproduced
    assert "93.7" not in table and "early" in table.split("(no row in the paper)")[1]
    # SAM: the decoder path of the notes (3,638,916) plus the 1->3 input convolution (3 weights + 3 biases)
    assert rows["sam"]["with_gradient"] == 3_638_916 + 6
    assert rows["early"]["with_gradient"] == 3_638_916 + 4 * 3 + 3
    # CMAA: decoder + two 2->3 convolutions + six 2c->c adapters at c = 768 (1,180,416 each)
    assert rows["cmaa"]["with_gradient"] == 3_638_916 + 2 * 9 + 6 * 1_180_416
    # one shared encoder: "All" grows by the adapters and convolutions only
    assert rows["cmaa"]["all"] - rows["sam"]["all"] == 6 * 1_180_416 + 2 * 9 - 6


def test_unknown_model_and_bad_adapter_count():
    with pytest.raises(ValueError, match="unknown model"):
        build_model("late", backbone="mini", image_size=32, checkpoint=None)
    with pytest.raises(ValueError, match="adapter_blocks"):
        build_model("cmaa", backbone="mini", image_size=32, checkpoint=None, adapter_blocks=7)
