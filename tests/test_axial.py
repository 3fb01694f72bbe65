"""Axial fusion: equivalence with masked full attention, slice-axis equivariance, shapes, SAM-derived blocks."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sambook.models.axial import (
    AxialFusionBlock,
    AxialFusionTransformer,
    PositionEmbedding,
    SamAxialBlock,
    axial_attention,
    multi_head_attention,
    position_parameters,
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
        model.pos_embed.axial.normal_()
    assert not torch.allclose(model(z)[:, perm], model(z[:, perm]), atol=1e-3)


@pytest.mark.parametrize("slices", [1, 2, 3, 5, 9])
def test_shapes_for_odd_and_even_groups(slices):
    z = torch.randn(2, slices, 4, 4, 16)
    model = AxialFusionTransformer(
        [AxialFusionBlock(16, 4), AxialFusionBlock(16, 4)], slices=slices, grid=(4, 4), dim=16
    )
    assert model(z).shape == z.shape


def test_sam_block_starts_as_the_block():
    """At initialisation (gate γ = 0, LoRA's B = 0) the fusion block is SAM's block on every slice, whatever the
    slices hold; once γ moves, the axial branch is on."""
    torch.manual_seed(1)
    sam = build_sam("mini", image_size=32)
    block = sam.image_encoder.blocks[5]
    original = copy.deepcopy(block)
    fused = SamAxialBlock(block, rank=2)
    z = torch.randn(2, 3, 4, 4, 128)
    torch.testing.assert_close(fused(z), original(z.reshape(6, 4, 4, 128)).reshape(2, 3, 4, 4, 128))
    trainable = {n for n, p in fused.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or n == "axial_gate" for n in trainable)
    assert any(n.startswith("axial_qkv") for n in trainable) and any(n.startswith("block.attn.qkv") for n in trainable)
    assert fused.axial_gate.numel() == 128  # the gate costs C parameters per block
    with torch.no_grad():
        fused.axial_gate.fill_(1.0)
    assert not torch.allclose(fused(z), original(z.reshape(6, 4, 4, 128)).reshape(2, 3, 4, 4, 128), atol=1e-3)


def test_the_gate_receives_a_gradient_at_the_start():
    torch.manual_seed(1)
    fused = SamAxialBlock(build_sam("mini", image_size=32).image_encoder.blocks[5], rank=2)
    fused(torch.randn(1, 3, 4, 4, 128)).square().mean().backward()
    assert fused.axial_gate.grad.abs().sum() > 0  # so training can switch the axial branch on


def test_sam_block_without_axial_attention_trains_only_the_in_slice_lora():
    torch.manual_seed(1)
    fused = SamAxialBlock(build_sam("mini", image_size=32).image_encoder.blocks[5], rank=2, axial=False)
    trainable = {n for n, p in fused.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("block.attn.qkv.lora_") for n in trainable)


@pytest.mark.parametrize("kind", ["full", "factorised"])
def test_position_embedding_counts_and_starts_at_zero(kind):
    embedding = PositionEmbedding(kind, slices=9, grid=(4, 5), dim=16)
    count = sum(p.numel() for p in embedding.parameters())
    assert count == position_parameters(kind, slices=9, grid=(4, 5), dim=16)
    assert count == (9 * 4 * 5 * 16 if kind == "full" else (4 * 5 + 9) * 16)
    z = torch.randn(2, 9, 4, 5, 16)
    assert torch.equal(embedding(z), z)
    assert position_parameters(kind, slices=9, grid=(64, 64), dim=768) == (
        28_311_552 if kind == "full" else 3_152_640
    )  # the paper's size: 9 · 64 · 64 · 768 = 28.3M, or (64 · 64 + 9) · 768
    in_slice = PositionEmbedding(kind, slices=9, grid=(4, 5), dim=16, across_slices=False)
    assert [tuple(p.shape) for p in in_slice.parameters()] == [(1, 1, 4, 5, 16)]  # e_(h,w) only


def test_factorised_embedding_is_a_sum_of_a_spatial_and_a_slice_term():
    embedding = PositionEmbedding("factorised", slices=3, grid=(2, 2), dim=4)
    with torch.no_grad():
        embedding.spatial.normal_()
        embedding.axial.normal_()
    out = embedding(torch.zeros(1, 3, 2, 2, 4))
    torch.testing.assert_close(out[0, 1, 0, 1], embedding.spatial[0, 0, 0, 1] + embedding.axial[0, 1, 0, 0])
    with pytest.raises(ValueError, match="unknown position embedding 'rope'"):
        PositionEmbedding("rope", slices=3, grid=(2, 2), dim=4)


def test_sdpa_matches_the_explicit_formula(setup):
    z, qkv, proj = setup
    x = z.reshape(2, -1, 16)
    q, k, v = qkv(x).reshape(2, -1, 3, 4, 4).permute(2, 0, 3, 1, 4)
    explicit = F.softmax(q @ k.transpose(-1, -2) / 2.0, dim=-1) @ v  # d = 4, sqrt(d) = 2
    expected = proj(explicit.transpose(1, 2).reshape(2, -1, 16))
    torch.testing.assert_close(multi_head_attention(x, qkv, proj, 4), expected, atol=1e-5, rtol=1e-5)


def _trained_sam_blocks(axial: bool) -> list[SamAxialBlock]:
    """Two SAM-derived fusion blocks (a windowed and a global one) with a non-zero gate and LoRA, as after training."""
    torch.manual_seed(2)
    encoder = build_sam("mini", image_size=32).image_encoder
    blocks = [SamAxialBlock(encoder.blocks[k], rank=2, axial=axial) for k in (4, 5)]
    with torch.no_grad():
        for p in (p for b in blocks for p in b.parameters() if p.requires_grad):
            p.normal_(0, 0.05)
    return blocks


@pytest.mark.parametrize("kind", ["fresh", "sam", "sam without axial"])
@pytest.mark.parametrize("slices", [1, 2, 5])
def test_keeping_one_slice_gives_that_slice_of_the_full_output_and_its_gradients(kind, slices):
    """fusion(z, keep=k) computes the last block for slice k only: the same tokens as fusion(z)[:, k] and the same
    gradients for every parameter and for z (every slice still feeds slice k through the axial attention)."""
    torch.manual_seed(3)
    dim = 16 if kind == "fresh" else 128
    blocks = (
        [AxialFusionBlock(dim, 4), AxialFusionBlock(dim, 4)] if kind == "fresh" else _trained_sam_blocks(kind == "sam")
    )
    fusion = AxialFusionTransformer(blocks, slices=slices, grid=(4, 4), dim=dim, position="full")
    with torch.no_grad():
        fusion.pos_embed.spatial.normal_()
    for k in range(slices):
        z = torch.randn(2, slices, 4, 4, dim, requires_grad=True)
        full = fusion(z)[:, k]
        (full.square().sum()).backward()
        expected = {n: p.grad.clone() for n, p in fusion.named_parameters() if p.grad is not None}
        expected_z, z.grad = z.grad.clone(), None
        fusion.zero_grad(set_to_none=True)
        kept = fusion(z, keep=k)
        torch.testing.assert_close(kept, full, atol=1e-5, rtol=1e-5)
        kept.square().sum().backward()
        got = {n: p.grad for n, p in fusion.named_parameters() if p.grad is not None}
        assert got.keys() == expected.keys() and expected
        for n in expected:
            torch.testing.assert_close(got[n], expected[n], atol=1e-4, rtol=1e-4, msg=n)
        torch.testing.assert_close(z.grad, expected_z, atol=1e-5, rtol=1e-5)
        fusion.zero_grad(set_to_none=True)


def test_keeping_a_slice_without_fusion_blocks_is_indexing():
    fusion = AxialFusionTransformer([], slices=3, grid=(2, 2), dim=8, across_slices=False)
    z = torch.randn(2, 3, 2, 2, 8)
    torch.testing.assert_close(fusion(z, keep=1), z[:, 1])
