"""A memory-lean, exact replacement for SAM's encoder attention (chapter `training_runs`).

SAM's ``Attention`` adds MViTv2's decomposed relative-position bias to the attention logits of query i = (i_h, i_w)
and key j = (j_h, j_w):

    a_ij = s q_i . k_j + q_i . R^h[i_h, j_h] + q_i . R^w[i_w, j_w]        (s = 1 / sqrt(d))

so the stock code must build the full N x N matrix ``attn`` (N = h w tokens) before the softmax. The two bias
terms are dot products themselves: with rel_h[i, j_h] = q_i . R^h[i_h, j_h] (an h-vector per query) and
rel_w[i, j_w] = q_i . R^w[i_w, j_w] (a w-vector), and the one-hot indicators e(j_h) in R^h, e(j_w) in R^w,

    q'_i = [s q_i, rel_h[i, :], rel_w[i, :]]        k'_j = [k_j, e(j_h), e(j_w)]        q'_i . k'_j = a_ij

exactly. ``softmax(q' k'^T) v`` is then ``scaled_dot_product_attention(q', k', v', scale=1)``, which runs a fused
(flash) kernel without any N x N tensor. That kernel (CPU and CUDA alike) wants no mask and equal query and value
head sizes, so the value is padded with zeros to the head size of q' and the padding is sliced off the output
(zero columns of v' give zero output columns; nothing else changes). The head size is also rounded up to a multiple
of 8 with zeros in q', k' and v' (zero terms add nothing to q'.k'), the alignment the CUDA kernels prefer.

The weights are the official module's (``qkv``, ``proj``, ``rel_pos_h``, ``rel_pos_w``): :func:`set_attention`
swaps the class of every ``segment_anything`` ``Attention`` in a model, so state-dict keys and checkpoints are
unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from segment_anything.modeling.image_encoder import Attention, get_rel_pos
from torch import nn

ATTENTIONS = ("stock", "lean")


def lean_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    rel_pos_h: torch.Tensor | None,
    rel_pos_w: torch.Tensor | None,
    size: tuple[int, int],
    scale: float,
) -> torch.Tensor:
    """softmax(s q k^T + bias) v for q, k, v of shape (B, heads, N, d), N = h w, without an N x N tensor.

    ``rel_pos_h`` / ``rel_pos_w`` are SAM's tables (2h - 1, d) and (2w - 1, d), or None for no bias.
    """
    if rel_pos_h is None:
        return F.scaled_dot_product_attention(q, k, v, scale=scale)
    B, heads, N, d = q.shape
    h, w = size
    Rh = get_rel_pos(h, h, rel_pos_h)  # (h, h, d): Rh[i_h, j_h]
    Rw = get_rel_pos(w, w, rel_pos_w)  # (w, w, d)
    r_q = q.reshape(B, heads, h, w, d)
    rel_h = torch.einsum("bnhwc,hkc->bnhwk", r_q, Rh).reshape(B, heads, N, h)  # q_i . Rh[i_h, j_h]
    rel_w = torch.einsum("bnhwc,wkc->bnhwk", r_q, Rw).reshape(B, heads, N, w)  # q_i . Rw[i_w, j_w]
    extra = h + w
    pad = -(d + extra) % 8  # zeros up to a multiple of 8
    rows = torch.arange(N, device=q.device) // w  # j_h of every key
    cols = torch.arange(N, device=q.device) % w  # j_w
    one_hot = torch.cat([F.one_hot(rows, h), F.one_hot(cols, w)], dim=-1).to(k.dtype)  # (N, h + w)
    q2 = torch.cat([q * scale, rel_h, rel_w, q.new_zeros(B, heads, N, pad)], dim=-1)  # (B, heads, N, d')
    k2 = torch.cat([k, one_hot.expand(B, heads, N, extra), k.new_zeros(B, heads, N, pad)], dim=-1)
    v2 = F.pad(v, (0, extra + pad))  # (B, heads, N, d'): zero columns
    out = F.scaled_dot_product_attention(q2, k2, v2, scale=1.0)
    return out[..., :d]  # (B, heads, N, d)


class LeanAttention(Attention):
    """SAM's ``Attention`` with the same parameters, computed by :func:`lean_attention`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, H, W, _ = x.shape
        qkv = self.qkv(x).reshape(B, H * W, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)  # (3, B, nh, N, d)
        q, k, v = qkv.unbind(0)
        rel_h, rel_w = (self.rel_pos_h, self.rel_pos_w) if self.use_rel_pos else (None, None)
        x = lean_attention(q, k, v, rel_h, rel_w, (H, W), self.scale)  # (B, nh, N, d)
        x = x.permute(0, 2, 1, 3).reshape(B, H, W, -1)
        return self.proj(x)


def set_attention(model: nn.Module, kind: str = "lean") -> nn.Module:
    """Switch every SAM encoder ``Attention`` in ``model`` to ``kind`` ("stock" or "lean") in place; returns it."""
    if kind not in ATTENTIONS:
        raise ValueError(f"unknown attention {kind!r}; choose one of {ATTENTIONS}")
    new_class = LeanAttention if kind == "lean" else Attention
    for module in model.modules():
        if isinstance(module, Attention):
            module.__class__ = new_class
    return model
