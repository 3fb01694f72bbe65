"""The axial fusion transformer of AFTer-SAM (chapter `axial_attention`).

A group of N = N_A + 1 neighbouring slices gives tokens z[b, n, i, j] of width C (slice n, position (i, j)).
Full 3D attention lets every token attend to all N·h·w tokens. AFTer-SAM factorises it: each block attends

1. **along the axis** — token (n, i, j) attends to (n', i, j) for every slice n' (same position): N keys;
2. **within the slice** — token (n, i, j) attends to (n, i', j') for every position: h·w keys;

each step ``z <- z + Attn(LN(z))``, then ``z <- z + MLP(LN(z))``. A token thus compares itself with h·w + N
keys instead of h·w·N. Each attention has its own Q/K/V projections and M heads and runs on
``F.scaled_dot_product_attention``. A learnable position embedding e over ((h, w), n) is added before the first
block (:class:`PositionEmbedding`: the paper's full table, or TimeSformer's factorised e_(h,w) + e_n).

Two constructions:

* :class:`SamAxialBlock` (the book's default reading of the paper) turns one pretrained SAM encoder block into a
  fusion block: a new axial attention, initialised from a copy of the block's own attention weights, runs first;
  the block's own (windowed or global) attention is the in-slice attention; both get LoRA on Q and V. The axial
  branch enters the residual stream through a per-channel gate that starts at zero, so that the block starts as
  SAM's block (``axial=False`` builds it without the axial branch: the fair 2D baseline).
* :class:`AxialFusionBlock` builds a fresh block of the same shape, fully trainable.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from sambook.models.lora import LoRALinear, lora_qv


def multi_head_attention(
    x: torch.Tensor,
    qkv: nn.Module,
    proj: nn.Module,
    heads: int,
    mask: torch.Tensor | None = None,
    query: int | None = None,
) -> torch.Tensor:
    """softmax(Q K^T / sqrt(d)) V over the middle axis of x (S, L, C), with M = ``heads`` heads -> (S, L, C).
    ``query``: only that position's output (S, 1, C), its keys and values still every position's."""
    s, length, c = x.shape
    q, k, v = qkv(x).reshape(s, length, 3, heads, c // heads).permute(2, 0, 3, 1, 4)  # 3 x (S, M, L, d)
    if query is not None:
        q = q[:, :, query : query + 1]
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (S, M, L or 1, d)
    return proj(out.transpose(1, 2).reshape(s, q.shape[2], c))


def axial_attention(
    z: torch.Tensor, qkv: nn.Module, proj: nn.Module, heads: int, keep: int | None = None
) -> torch.Tensor:
    """Attention across slices at each position: z (B, N, h, w, C) -> (B, N, h, w, C); with ``keep`` only slice
    ``keep``'s output (B, 1, h, w, C), which still attends to every slice."""
    b, n, h, w, c = z.shape
    rows = z.permute(0, 2, 3, 1, 4).reshape(b * h * w, n, c)  # (B h w, N, C): one sequence per position
    out = multi_head_attention(rows, qkv, proj, heads, query=keep)
    return out.reshape(b, h, w, -1, c).permute(0, 3, 1, 2, 4)


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

    def forward(self, z: torch.Tensor, keep: int | None = None) -> torch.Tensor:
        """z (B, N, h, w, C) -> (B, N, h, w, C); with ``keep`` only slice ``keep``'s output (B, 1, h, w, C)."""
        kept = z if keep is None else z[:, keep : keep + 1]
        z = kept + axial_attention(self.norm_axial(z), self.axial_qkv, self.axial_proj, self.heads, keep)
        z = z + slice_attention(self.norm_slice(z), self.slice_qkv, self.slice_proj, self.heads)
        return z + self.mlp(self.norm_mlp(z))


class SamAxialBlock(nn.Module):
    """A pretrained SAM encoder block with a gated axial attention in front of it (all frozen but LoRA on Q/V and
    the gate):

        z <- z + γ ⊙ Attn_axial(LN(z)),   γ ∈ R^C, γ = 0 at the start;   z <- SAM's block(z) (in-slice attention, MLP)

    Why a gate: the axial attention is a frozen full-rank copy of the block's own attention. Added to the residual
    stream as it is, it changes SAM's features by ~40-50 % before any training, and a rank-r LoRA on its Q and V
    cannot switch it off. Zeroing its output projection instead (TimeSformer's choice) would make that projection
    a fresh, fully trained C x C + C matrix per block (590,592 parameters at ViT-B) and discard the pretrained copy;
    the gate (ReZero, per channel like LayerScale) costs C parameters per block (768 at ViT-B) and keeps the frozen
    weights + LoRA of the paper. At γ = 0 the axial LoRA receives no gradient in the first step; it starts learning
    once γ has moved (chapter `aftersam_volumes`).
    """

    def __init__(self, block: nn.Module, *, rank: int, axial: bool = True):
        """
        Arguments:
          block: a ``segment_anything`` encoder Block (its attention becomes the in-slice attention).
          rank: LoRA rank on the Q and V projections of both attentions.
          axial: False builds the block without the axial attention (the fair 2D baseline: same in-slice LoRA).
        """
        super().__init__()
        self.block = block
        self.heads = block.attn.num_heads
        self.axial = axial
        block.requires_grad_(False)
        lora_qv(self.block.attn, rank)  # in-slice attention: the block's own
        if axial:
            dim = block.norm1.normalized_shape[0]
            self.norm_axial = copy.deepcopy(block.norm1).requires_grad_(False)
            qkv = copy.deepcopy(block.attn.qkv.base).requires_grad_(False)
            self.axial_qkv = LoRALinear(qkv, rank=rank, parts=(0, 2), num_parts=3)
            self.axial_proj = copy.deepcopy(block.attn.proj).requires_grad_(False)
            self.axial_gate = nn.Parameter(torch.zeros(dim))  # γ: the axial branch starts at exactly zero

    def forward(self, z: torch.Tensor, keep: int | None = None) -> torch.Tensor:
        """z (B, N, h, w, C) -> (B, N, h, w, C); with ``keep`` only slice ``keep``'s output (B, 1, h, w, C)."""
        kept = z if keep is None else z[:, keep : keep + 1]
        if self.axial:
            axial = axial_attention(self.norm_axial(z), self.axial_qkv, self.axial_proj, self.heads, keep)
            kept = kept + self.axial_gate * axial
        b, n, h, w, c = kept.shape
        return self.block(kept.reshape(b * n, h, w, c)).reshape(b, n, h, w, c)  # in-slice attention + MLP


#: Position embeddings over ((h, w), n): the paper's full table, or e_(h,w) + e_n (TimeSformer's factorisation).
POSITION_EMBEDDINGS = ("full", "factorised")


def position_parameters(kind: str, *, slices: int, grid: tuple[int, int], dim: int, across_slices: bool = True) -> int:
    """Parameters of a position embedding: full N·h·w·C, factorised (h·w + N)·C; h·w·C without attention across
    slices (the slice index then tells the model nothing)."""
    if kind not in POSITION_EMBEDDINGS:
        raise ValueError(f"unknown position embedding {kind!r}; choose one of {POSITION_EMBEDDINGS}")
    h, w = grid
    if not across_slices:
        return h * w * dim
    return slices * h * w * dim if kind == "full" else (h * w + slices) * dim


class PositionEmbedding(nn.Module):
    """e_pos added to tokens (B, N, h, w, C), zero at the start (so the model starts as SAM).

    * ``"full"`` — the paper's e_((h,w),n): one vector per position and slice, N·h·w·C parameters
      (28.3M at the paper's size: 9 · 64 · 64 · 768).
    * ``"factorised"`` — e_(h,w) + e_n (TimeSformer): (h·w + N)·C parameters (3.15M at the paper's size).

    With ``across_slices=False`` (no axial attention: the fair 2D baseline) only e_(h,w) exists, whatever ``kind``.
    """

    def __init__(self, kind: str, *, slices: int, grid: tuple[int, int], dim: int, across_slices: bool = True):
        super().__init__()
        position_parameters(kind, slices=slices, grid=grid, dim=dim)  # checks the kind
        full = kind == "full" and across_slices
        self.spatial = nn.Parameter(torch.zeros(1, slices if full else 1, *grid, dim))  # e_(h,w) (or the full e)
        self.axial = nn.Parameter(torch.zeros(1, slices, 1, 1, dim)) if across_slices and not full else None  # e_n

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z + self.spatial if self.axial is None else z + self.spatial + self.axial


class AxialFusionTransformer(nn.Module):
    """Position embedding over ((h, w), n) followed by L fusion blocks, on tokens (B, N, h, w, C)."""

    def __init__(
        self,
        blocks: list[nn.Module],
        *,
        slices: int,
        grid: tuple[int, int],
        dim: int,
        position: str = "factorised",
        across_slices: bool = True,
    ):
        super().__init__()
        self.pos_embed = PositionEmbedding(position, slices=slices, grid=grid, dim=dim, across_slices=across_slices)
        self.blocks = nn.ModuleList(blocks)

    def forward(self, z: torch.Tensor, keep: int | None = None) -> torch.Tensor:
        """z (B, N, h, w, C) -> (B, N, h, w, C); with ``keep`` only slice ``keep``'s tokens (B, h, w, C). The last
        block then computes nothing else: in it, only that slice's queries, in-slice attention and MLP are needed
        (its keys and values still come from every slice), the same output for a fraction of the work."""
        z = self.pos_embed(z)  # z0 = g + e_pos
        if keep is None:
            for block in self.blocks:
                z = block(z)
            return z
        for block in self.blocks[:-1]:
            z = block(z)
        return self.blocks[-1](z, keep)[:, 0] if len(self.blocks) else z[:, keep]
