"""The cross-modality attention adapter model of the CMAA paper (chapter `fusing_modalities`).

``CMAASAM`` takes ``x`` (B, 4, H, W) with channels (T1, T1ce, T2, FLAIR): the T1-based (T1, T1ce) and T2-based
(T2, FLAIR) groups each pass through their own 2 -> 3 convolution and an encoder branch; after each of the first n
blocks a :class:`CrossModalityAdapter` (eq. 1-2) fuses the branches; the two final feature maps are summed and
decoded without prompts. The encoder is frozen; the input convolutions, the adapters and the mask decoder train.
Its Table 1 baselines are :mod:`sambook.models.table1`.
"""

from __future__ import annotations

import copy

import torch
from segment_anything.modeling import Sam
from torch import nn

from sambook.models.adapter import CrossModalityAdapter
from sambook.models.sam_parts import Prediction, SamSegmenter, embed_tokens, freeze, grey_stem, neck


class CMAASAM(SamSegmenter):
    def __init__(
        self,
        sam: Sam,
        *,
        adapter_blocks: int = 6,
        num_classes: int = 1,
        zero_init: bool = True,
        separate_encoders: bool = False,
    ):
        """
        Arguments:
          sam: a SAM whose frozen encoder serves both branches (the paper's "98M in all" implies one shared copy).
          adapter_blocks: n, the number of first encoder blocks followed by an adapter (paper: 6 of 12).
          num_classes: 1 (binary) or K (classes including background).
          zero_init: adapters start at zero (training starts from two plain SAM branches).
          separate_encoders: give the T2-based branch its own frozen copy of the encoder.
        """
        super().__init__(sam, num_classes)
        depth = len(self.encoder.blocks)
        if not 0 <= adapter_blocks <= depth:
            raise ValueError(f"adapter_blocks must be in [0, {depth}], got {adapter_blocks}")
        self.encoder_t2 = freeze(copy.deepcopy(self.encoder)) if separate_encoders else None
        dim = self.encoder.patch_embed.proj.out_channels
        self.t1_to_rgb = grey_stem(2)
        self.t2_to_rgb = grey_stem(2)
        self.adapters = nn.ModuleList(CrossModalityAdapter(dim, zero_init=zero_init) for _ in range(adapter_blocks))

    def train(self, mode: bool = True):
        super().train(mode)
        if self.encoder_t2 is not None:
            self.encoder_t2.eval()
        return self

    def forward(self, x: torch.Tensor) -> Prediction:
        a = self.t1_to_rgb(x[:, 0:2])  # T1-based group (T1, T1ce) -> (B, 3, H, W)
        b = self.t2_to_rgb(x[:, 2:4])  # T2-based group (T2, FLAIR)
        enc_a = self.encoder
        enc_b = self.encoder if self.encoder_t2 is None else self.encoder_t2
        f_a, f_b = embed_tokens(enc_a, a), embed_tokens(enc_b, b)  # (B, h, w, c) each
        for index, (block_a, block_b) in enumerate(zip(enc_a.blocks, enc_b.blocks)):
            if block_a is block_b:  # shared encoder: one pass over both branches
                f_a, f_b = block_a(torch.cat([f_a, f_b])).chunk(2)
            else:
                f_a, f_b = block_a(f_a), block_b(f_b)
            if index < len(self.adapters):
                f_a, f_b = self.adapters[index](f_a, f_b)  # eq. 1-2
        embeddings = neck(enc_a, f_a) + neck(enc_b, f_b)  # the two final maps summed
        return self.decode(embeddings, x.shape[-2:])
