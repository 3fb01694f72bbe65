"""Axial fusion: equivalence with masked full attention, slice-axis equivariance, shapes, SAM-derived blocks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sambook.models.axial import (
    AxialFusionBlock,
    AxialFusionTransformer,
    SamAxialBlock,
    axial_attention,
    multi_head_attention,
    slice_attention,
)
from sambook.models.sam_core import build_sam


def _full_masked(z, qkv, proj, heads, same):
    """Full 3D attention over all N h w tokens, restricted by a boolean mask same(token_a, token_b)."""
    b, n, h, w, c = z.shape
    idx = torch.arange(n * h * w)
    slice_of, pos_of = idx // (h * w), idx % (h * w)
    mask = same(slice_of, pos_of)  # (L, L) True where attention is allowed
    out = multi_head_attention(z.reshape(b, n * h * w, c), qkv, proj, heads, mask=mask)
    return out.reshape(b, n, h, w, c)


@pytest.fixture()
def setup():
    torch.manual_seed(0)
    qkv, proj = nn.Linear(16, 48), nn.Linear(16, 16)
    return torch.randn(2, 3, 4, 5, 16), qkv, proj


def test_axial_equals_masked_full_attention(setup):
    z, qkv, proj = setup
    full = _full_masked(z, qkv, proj, 4, lambda s, p: p[:, None] == p[None, :])  # same position only
    torch.testing.assert_close(axial_attention(z, qkv, proj, 4), full, atol=1e-5, rtol=1e-5)


def test_slice_equals_masked_full_attention(setup):
    z, qkv, proj = setup
    full = _full_masked(z, qkv, proj, 4, lambda s, p: s[:, None] == s[None, :])  # same slice only
    torch.testing.assert_close(slice_attention(z, qkv, proj, 4), full, atol=1e-5, rtol=1e-5)


def test_block_is_equivariant_to_slice_permutation_without_position_embedding(setup):
    z, _, _ = setup
    block = AxialFusionBlock(16, heads=4)
    perm = torch.tensor([2, 0, 1])
    torch.testing.assert_close(block(z)[:, perm], block(z[:, perm]), atol=1e-5, rtol=1e-5)
    # with a position embedding the slices are told apart
    model = AxialFusionTransformer([block], slices=3, grid=(4, 5), dim=16)
    with torch.no_grad():
        model.pos_embed.normal_()
    assert not torch.allclose(model(z)[:, perm], model(z[:, perm]), atol=1e-3)


@pytest.mark.parametrize("slices", [1, 2, 3, 5, 9])
def test_shapes_for_odd_and_even_groups(slices):
    z = torch.randn(2, slices, 4, 4, 16)
    model = AxialFusionTransformer(
        [AxialFusionBlock(16, 4), AxialFusionBlock(16, 4)], slices=slices, grid=(4, 4), dim=16
    )
    assert model(z).shape == z.shape


def test_sam_block_starts_as_the_block_when_slices_are_identical():
    """With N copies of one slice, attention along the axis averages N equal values: it returns proj(V(LN(x)))
    at every position, and the block then runs SAM's own block on x + that."""
    torch.manual_seed(1)
    sam = build_sam("mini", image_size=32)
    block = sam.image_encoder.blocks[5]
    fused = SamAxialBlock(block, rank=2)
    x = torch.randn(1, 4, 4, 128)
    z = x[:, None].expand(1, 3, 4, 4, 128).contiguous()
    value = fused.axial_qkv(fused.norm_axial(x))[..., 2 * 128 :]  # the V third
    expected = block(x + fused.axial_proj(value)).expand(3, 4, 4, 128)
    torch.testing.assert_close(fused(z).reshape(3, 4, 4, 128), expected)
    trainable = [n for n, p in fused.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert any(n.startswith("axial_qkv") for n in trainable) and any(n.startswith("block.attn.qkv") for n in trainable)


def test_sdpa_matches_the_explicit_formula(setup):
    z, qkv, proj = setup
    x = z.reshape(2, -1, 16)
    q, k, v = qkv(x).reshape(2, -1, 3, 4, 4).permute(2, 0, 3, 1, 4)
    explicit = F.softmax(q @ k.transpose(-1, -2) / 2.0, dim=-1) @ v  # d = 4, sqrt(d) = 2
    expected = proj(explicit.transpose(1, 2).reshape(2, -1, 16))
    torch.testing.assert_close(multi_head_attention(x, qkv, proj, 4), expected, atol=1e-5, rtol=1e-5)
