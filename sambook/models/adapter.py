"""The cross-modality attention adapter of CMAA (chapter `fusing_modalities`; paper eq. 1-2).

After encoder block l, the T1-based and T2-based branches hold feature maps F_T1, F_T2 of width c. The adapter
fuses them and adds the fusion back to both:

    C    = f(F_T1 ⊕ F_T2)          f: 1x1 convolution 2c -> c, ⊕: channel concatenation   (eq. 1)
    X_T1 = C + F_T1,   X_T2 = C + F_T2                                                     (eq. 2)

Zero initialisation (the default) makes C = 0 at the start, so training begins from two plain SAM branches.
SAM's blocks work in (B, h, w, c) layout; the 1x1 convolution is a linear map over c at each token.
"""

from __future__ import annotations

import torch
from torch import nn


class CrossModalityAdapter(nn.Module):
    def __init__(self, dim: int, *, zero_init: bool = True):
        """
        Arguments:
          dim: channels c of each branch's feature map.
          zero_init: start with f = 0 (training starts from plain SAM); else PyTorch's default initialisation.
        """
        super().__init__()
        self.fuse = nn.Conv2d(2 * dim, dim, kernel_size=1)
        if zero_init:
            nn.init.zeros_(self.fuse.weight)
            nn.init.zeros_(self.fuse.bias)

    def forward(self, f_t1: torch.Tensor, f_t2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """f_t1, f_t2 (B, h, w, c) -> (X_T1, X_T2), each (B, h, w, c)."""
        both = torch.cat([f_t1, f_t2], dim=-1).permute(0, 3, 1, 2)  # (B, 2c, h, w)
        c = self.fuse(both).permute(0, 2, 3, 1)  # (B, h, w, c)   eq. 1
        return c + f_t1, c + f_t2  # eq. 2
