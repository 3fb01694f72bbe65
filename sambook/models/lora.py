"""Low-rank adaptation (chapter `lora`; AFTer-SAM tunes its fusion blocks with it, chapter `aftersam_volumes`).

A frozen linear map ``W`` (out x in) learns only a low-rank update:

    y = W x + b + (alpha / r) · B A x,        A: r x in,  B: out x r,  r << min(in, out)

``B`` starts at zero, so at initialisation the layer is exactly the frozen one; ``A`` starts like a linear layer's
weight (Kaiming-uniform), as in ``loralib``. Only A and B train: r·(in + out) parameters instead of in·out.
``merge()`` folds the update into W (``W <- W + (alpha/r) B A``) for inference at the frozen layer's cost;
``unmerge()`` takes it out again.

SAM's attention projects queries, keys and values with one fused ``qkv`` linear layer (out = 3·dim). AFTer-SAM
adapts Q and V only: :class:`LoRALinear` with ``parts=(0, 2)`` adds a separate (A, B) pair to the first and third
thirds of the output and leaves K's third untouched.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from sambook.models.sam_parts import freeze


class LoRALinear(nn.Module):
    def __init__(
        self,
        base: nn.Linear,
        *,
        rank: int,
        alpha: float | None = None,
        parts: tuple[int, ...] = (0,),
        num_parts: int = 1,
    ):
        """
        Arguments:
          base: the linear layer to adapt; it is frozen here.
          rank: r, the rank of each update.
          alpha: scaling numerator (default r, i.e. scaling 1).
          parts: which of the ``num_parts`` equal slices of the output get an update (qkv: parts (0, 2) of 3).
          num_parts: into how many equal slices the output is cut.
        """
        super().__init__()
        if base.out_features % num_parts:
            raise ValueError(f"out_features {base.out_features} is not divisible into {num_parts} parts")
        self.base = base
        base.requires_grad_(False)
        self.rank, self.scaling = rank, (alpha if alpha is not None else rank) / rank
        self.parts, self.part_size = tuple(parts), base.out_features // num_parts
        self.lora_A = nn.Parameter(torch.empty(len(parts), rank, base.in_features))  # (P, r, in)
        self.lora_B = nn.Parameter(torch.zeros(len(parts), self.part_size, rank))  # (P, out/num_parts, r)
        for a in self.lora_A:
            nn.init.kaiming_uniform_(a, a=math.sqrt(5))
        self.merged = False

    def delta_weight(self) -> torch.Tensor:
        """(alpha/r) B A placed in the adapted slices of a (out x in) zero matrix."""
        delta = torch.zeros_like(self.base.weight)
        for i, part in enumerate(self.parts):
            rows = slice(part * self.part_size, (part + 1) * self.part_size)
            delta[rows] = self.scaling * self.lora_B[i] @ self.lora_A[i]
        return delta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base(x)
        if self.merged:
            return y
        low = torch.einsum("...i,pri->...pr", x, self.lora_A)  # (..., P, r): A x for every part
        updates = torch.einsum("...pr,por->...po", low, self.lora_B) * self.scaling  # (..., P, out/num_parts)
        pieces = list(y.split(self.part_size, dim=-1))
        for i, part in enumerate(self.parts):
            pieces[part] = pieces[part] + updates[..., i, :]
        return torch.cat(pieces, dim=-1)

    @torch.no_grad()
    def merge(self) -> None:
        """Fold the update into the frozen weight: same outputs, no extra cost."""
        if not self.merged:
            self.base.weight += self.delta_weight()
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        if self.merged:
            self.base.weight -= self.delta_weight()
            self.merged = False


def lora_qv(attention: nn.Module, rank: int, alpha: float | None = None) -> nn.Module:
    """Put LoRA on the Q and V thirds of a SAM-style attention's fused ``qkv`` layer (in place); returns it."""
    attention.qkv = LoRALinear(attention.qkv, rank=rank, alpha=alpha, parts=(0, 2), num_parts=3)
    return attention


def mark_only_lora_as_trainable(model: nn.Module) -> None:
    """Freeze everything in ``model`` except LoRA's A and B matrices."""
    for name, parameter in model.named_parameters():
        parameter.requires_grad_("lora_" in name)


def lora_parameter_count(in_features: int, out_features: int, rank: int) -> int:
    """r (in + out): what one adapted (in x out) projection trains."""
    return rank * (in_features + out_features)


#: The decoder's per-class outputs: with new classes there is no pretrained meaning to adapt, so they train.
CLASS_HEADS = ("mask_tokens", "output_hypernetworks_mlps", "iou_prediction_head")


def lora_on_decoder(decoder: nn.Module, rank: int) -> None:
    """Freeze the mask decoder's transformer and put LoRA on the Q and V projections of every attention in it; the
    per-class heads (:data:`CLASS_HEADS`: mask tokens, their hypernetworks, the IoU head) keep training, since each
    output token now stands for one of the task's classes."""
    freeze(decoder)
    for name in CLASS_HEADS:
        getattr(decoder, name).requires_grad_(True)
    for module in list(decoder.modules()):
        if hasattr(module, "q_proj") and hasattr(module, "v_proj"):
            module.q_proj = LoRALinear(module.q_proj, rank=rank)
            module.v_proj = LoRALinear(module.v_proj, rank=rank)
