"""Training loss (chapter `fusing_modalities`): both papers' ``λ1·Dice + λ2·CE`` from MONAI, and optionally SAM's
IoU-prediction term.

* ``λ1·Dice + λ2·CE`` — MONAI's ``DiceCELoss``: sigmoid and binary cross-entropy for one output map, softmax and
  cross-entropy over one-hot labels for K > 1 maps. The CMAA and AFTer-SAM papers train with this loss only, and
  so does the book by default.
* ``λ3·MSE(IoU_pred, IoU)`` — SAM trains its decoder's IoU head to predict the IoU of each mask; neither paper lists
  this term (``lambda_iou`` in a config, 0 by default). Without it the IoU head receives no gradient, so a count of
  the parameters that receive one is 132,612 lower than the CMAA paper's "3.64M" for SAM, which is matched either by
  that count with the term on or by a one-mask-token decoder counted by ``requires_grad``
  (:mod:`sambook.estimate.params`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from monai.losses import DiceCELoss
from torch import nn


def mask_iou(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """IoU of each predicted map with its target: logits (B, K, H, W), labels (B, H, W) -> (B, K), no gradient."""
    with torch.no_grad():
        if logits.shape[1] == 1:
            pred = (logits > 0).float()
            true = (labels > 0).float()[:, None]
        else:
            pred = F.one_hot(logits.argmax(1), logits.shape[1]).permute(0, 3, 1, 2).float()
            true = F.one_hot(labels.long(), logits.shape[1]).permute(0, 3, 1, 2).float()
        intersection = (pred * true).sum((2, 3))
        union = ((pred + true) > 0).float().sum((2, 3))
        return torch.where(union > 0, intersection / union.clamp(min=1), torch.ones_like(union))


class SegmentationLoss(nn.Module):
    def __init__(self, lambda_dice: float = 1.0, lambda_ce: float = 1.0, lambda_iou: float = 0.0):
        """
        Arguments:
          lambda_dice, lambda_ce: λ1 and λ2 of the paper (values not given there; 1 and 1 by default).
          lambda_iou: weight of SAM's IoU-prediction loss (default 0: the papers' Dice + CE only).
        """
        super().__init__()
        self.lambda_iou = lambda_iou
        self.binary = DiceCELoss(sigmoid=True, lambda_dice=lambda_dice, lambda_ce=lambda_ce)
        self.multiclass = DiceCELoss(softmax=True, to_onehot_y=True, lambda_dice=lambda_dice, lambda_ce=lambda_ce)

    def forward(self, prediction, labels: torch.Tensor) -> torch.Tensor:
        """``prediction``: a model's Prediction (logits, iou) or a logits tensor (B, K, H, W); labels (B, H, W)."""
        logits, iou = (prediction, None) if isinstance(prediction, torch.Tensor) else prediction
        target = labels[:, None]
        if logits.shape[1] == 1:
            loss = self.binary(logits, (target > 0).to(logits.dtype))
        else:
            loss = self.multiclass(logits, target)
        if iou is not None and self.lambda_iou:
            loss = loss + self.lambda_iou * F.mse_loss(iou, mask_iou(logits, labels).to(iou.dtype))
        return loss
