"""The axial fusion transformer of AFTer-SAM (chapter `axial_attention`).

A group of N = N_A + 1 neighbouring slices gives tokens z[b, n, i, j] of width C (slice n, position (i, j)).
Full 3D attention lets every token attend to all N·h·w tokens. AFTer-SAM factorises it: each block attends

1. **along the axis** — token (n, i, j) attends to (n', i, j) for every slice n' (same position): N keys;
2. **within the slice** — token (n, i, j) attends to (n, i', j') for every position: h·w keys;

each step ``z <- z + Attn(LN(z))``, then ``z <- z + MLP(LN(z))``. A token thus compares itself with h·w + N
keys instead of h·w·N. Each attention has its own Q/K/V projections and M heads and runs on
``F.scaled_dot_product_attention``. A learnable position embedding over (n, h, w) is added before the first block.

Two constructions:

* :class:`SamAxialBlock` (the book's default reading of the paper) turns one pretrained SAM encoder block into a
  fusion block: a new axial attention, initialised from a copy of the block's own attention weights, runs first;
  the block's own (windowed or global) attention is the in-slice attention; both get LoRA on Q and V.
* :class:`AxialFusionBlock` builds a fresh block of the same shape, fully trainable.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from sambook.models.lora import LoRALinear, lora_qv


def multi_head_attention(
    x: torch.Tensor, qkv: nn.Module, proj: nn.Module, heads: int, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """softmax(Q K^T / sqrt(d)) V over the middle axis of x (S, L, C), with M = ``heads`` heads -> (S, L, C)."""
    s, length, c = x.shape
    q, k, v = qkv(x).reshape(s, length, 3, heads, c // heads).permute(2, 0, 3, 1, 4)  # 3 x (S, M, L, d)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (S, M, L, d)
    return proj(out.transpose(1, 2).reshape(s, length, c))


def axial_attention(z: torch.Tensor, qkv: nn.Module, proj: nn.Module, heads: int) -> torch.Tensor:
    """Attention across slices at each position: z (B, N, h, w, C) -> (B, N, h, w, C)."""
    b, n, h, w, c = z.shape
    rows = z.permute(0, 2, 3, 1, 4).reshape(b * h * w, n, c)  # (B h w, N, C): one sequence per position
    out = multi_head_attention(rows, qkv, proj, heads)
    return out.reshape(b, h, w, n, c).permute(0, 3, 1, 2, 4)


def slice_attention(z: torch.Tensor, qkv: nn.Module, proj: nn.Module, heads: int) -> torch.Tensor:
    """Attention within each slice: z (B, N, h, w, C) -> (B, N, h, w, C)."""
    b, n, h, w, c = z.shape
    out = multi_head_attention(z.reshape(b * n, h * w, c), qkv, proj, heads)  # one sequence per slice
    return out.reshape(b, n, h, w, c)


class AxialFusionBlock(nn.Module):
    """A fresh fusion block: axial attention -> in-slice attention -> MLP, each pre-LN with a residual."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.heads = heads
        self.norm_axial, self.norm_slice, self.norm_mlp = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.axial_qkv, self.axial_proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.slice_qkv, self.slice_proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, N, h, w, C) -> (B, N, h, w, C)."""
        z = z + axial_attention(self.norm_axial(z), self.axial_qkv, self.axial_proj, self.heads)
        z = z + slice_attention(self.norm_slice(z), self.slice_qkv, self.slice_proj, self.heads)
        return z + self.mlp(self.norm_mlp(z))


class SamAxialBlock(nn.Module):
    """A pretrained SAM encoder block with an axial attention in front of it (all frozen but LoRA on Q/V)."""

    def __init__(self, block: nn.Module, *, rank: int):
        """
        Arguments:
          block: a ``segment_anything`` encoder Block (its attention becomes the in-slice attention).
          rank: LoRA rank on the Q and V projections of both attentions.
        """
        super().__init__()
        self.block = block
        self.heads = block.attn.num_heads
        self.norm_axial = copy.deepcopy(block.norm1)
        self.axial_qkv = copy.deepcopy(block.attn.qkv)
        self.axial_proj = copy.deepcopy(block.attn.proj)
        for module in (self.block, self.norm_axial, self.axial_qkv, self.axial_proj):
            module.requires_grad_(False)
        lora_qv(self.block.attn, rank)  # in-slice attention: the block's own
        self.axial_qkv = LoRALinear(self.axial_qkv, rank=rank, parts=(0, 2), num_parts=3)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, N, h, w, C) -> (B, N, h, w, C)."""
        b, n, h, w, c = z.shape
        z = z + axial_attention(self.norm_axial(z), self.axial_qkv, self.axial_proj, self.heads)
        return self.block(z.reshape(b * n, h, w, c)).reshape(b, n, h, w, c)  # in-slice attention + MLP


class AxialFusionTransformer(nn.Module):
    """Position embedding over (n, h, w) followed by L fusion blocks, on tokens (B, N, h, w, C)."""

    def __init__(self, blocks: list[nn.Module], *, slices: int, grid: tuple[int, int], dim: int):
        super().__init__()
        self.pos_embed = nn.Parameter(torch.zeros(1, slices, *grid, dim))  # e_pos, zero at the start
        self.blocks = nn.ModuleList(blocks)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z + self.pos_embed  # z0 = g + e_pos
        for block in self.blocks:
            z = block(z)
        return z
