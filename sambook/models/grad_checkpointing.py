"""Activation checkpointing of SAM's encoder blocks (chapter `training_runs`).

In training, every encoder block keeps its intermediate activations (norms, q, k, v, attention, MLP hidden
layer) until the backward pass. A checkpointed block keeps only its input and recomputes the rest during the
backward pass: activation memory drops to about one (B, h, w, c) tensor per block, for the price of a second
forward pass of the encoder (about +1/3 of a training step's FLOPs when the encoder dominates).

:func:`set_checkpointing` swaps the class of every ``segment_anything`` encoder ``Block`` in a model (weights and
state-dict keys unchanged), so it works however the caller runs the blocks (CMAA iterates over them itself).
Outside training (no grad, or no input or parameter that needs a gradient) the block runs plainly.
"""

from __future__ import annotations

import torch
from segment_anything.modeling.image_encoder import Block
from torch import nn
from torch.utils.checkpoint import checkpoint


class CheckpointedBlock(Block):
    """SAM's encoder ``Block`` whose activations are recomputed in the backward pass."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, h, w, c) -> (B, h, w, c)
        needs_grad = x.requires_grad or any(p.requires_grad for p in self.parameters())
        if not (torch.is_grad_enabled() and needs_grad):
            return super().forward(x)
        return checkpoint(super().forward, x, use_reentrant=False)


def set_checkpointing(model: nn.Module, enabled: bool = True) -> nn.Module:
    """Turn activation checkpointing of every SAM encoder block in ``model`` on or off, in place; returns it."""
    new_class = CheckpointedBlock if enabled else Block
    for module in model.modules():
        if isinstance(module, Block):
            module.__class__ = new_class
    return model
