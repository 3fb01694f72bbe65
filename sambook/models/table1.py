"""The single-modality and early-fusion models of the CMAA paper's Table 1 (chapter `fusing_modalities`).

Both take ``x`` (B, 4, H, W) with channels (T1, T1ce, T2, FLAIR) and return a :class:`Prediction`.

* ``SingleModalitySAM`` — one modality through a 1x1 convolution 1 -> 3 (SAM wants RGB), then SAM.
* ``EarlyFusionSAM`` — all four modalities through one 1x1 convolution 4 -> 3, then SAM.

Freezing follows the paper: the ViT encoder (and the prompt encoder) are frozen; the input convolution and the
mask decoder train. Inputs are the slice dataset's z-scores, fed without SAM's RGB normalisation: the input
convolution learns the scale. The third model of the table, CMAA, is :mod:`sambook.models.cmaa`.
"""

from __future__ import annotations

import torch
from segment_anything.modeling import Sam

from sambook.data.modalities import MODALITIES
from sambook.models.sam_parts import Prediction, SamSegmenter, grey_stem


class SingleModalitySAM(SamSegmenter):
    def __init__(self, sam: Sam, *, modality: str = "flair", num_classes: int = 1):
        """
        Arguments:
          sam: a SAM (its encoder is frozen here).
          modality: the input channel used: t1, t1ce, t2 or flair.
          num_classes: 1 (binary) or K (classes including background).
        """
        super().__init__(sam, num_classes)
        self.channel = MODALITIES.index(modality)
        self.to_rgb = grey_stem(1)

    def forward(self, x: torch.Tensor) -> Prediction:
        rgb = self.to_rgb(x[:, self.channel : self.channel + 1])  # (B, 3, H, W)
        return self.decode(self.encoder(rgb), x.shape[-2:])


class EarlyFusionSAM(SamSegmenter):
    def __init__(self, sam: Sam, *, num_classes: int = 1):
        super().__init__(sam, num_classes)
        self.to_rgb = grey_stem(4)

    def forward(self, x: torch.Tensor) -> Prediction:
        return self.decode(self.encoder(self.to_rgb(x)), x.shape[-2:])
