"""The model pretrained offline (chapter `foundation_model`): the whole mini SAM, end to end, with one mask token
per pretext class."""

from __future__ import annotations

import torch
from torch import nn

from sambook.data.labels import PRETEXT_CLASSES
from sambook.models.prompt_free import PromptFreeDecoder
from sambook.models.sam_core import build_sam
from sambook.models.sam_parts import Prediction


class PretrainSAM(nn.Module):
    """The whole mini SAM, trained end to end on the pretext classes: grey slice (B, 1, H, W) -> 5 class logits."""

    def __init__(self, image_size: int):
        super().__init__()
        self.sam = build_sam("mini", image_size=image_size, num_mask_tokens=len(PRETEXT_CLASSES))
        for p in self.sam.prompt_encoder.parameters():
            p.requires_grad_(False)
        self.decoder = PromptFreeDecoder(
            self.sam.prompt_encoder, self.sam.mask_decoder, num_classes=len(PRETEXT_CLASSES)
        )

    def forward(self, x: torch.Tensor) -> Prediction:
        embeddings = self.sam.image_encoder(x.expand(-1, 3, -1, -1))
        return Prediction(*self.decoder(embeddings, x.shape[-2:]))
