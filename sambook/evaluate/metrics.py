"""Dice (%) and HD95 (mm) per image, from MONAI, with the empty-mask cases made explicit (chapter `fusing_modalities`).

Convention of the book, named **"BraTS legacy"** after the BraTS whole-volume scores it follows:

| truth \\ prediction | empty            | not empty                       |
| ------------------ | ---------------- | ------------------------------- |
| empty              | Dice 100, HD95 0 | Dice 0, HD95 = image diagonal    |
| not empty          | Dice 0, HD95 = image diagonal | MONAI's Dice and HD95   |

MONAI alone would return NaN for most of these cells (``ignore_empty=True`` for Dice; HD95 NaN when either mask is
empty), and NaN drops out of a mean: false positives on tumour-free slices and missed tumours would vanish from the
table. HD95 is MONAI's (the larger of the two directed 95th percentiles of surface distances), in millimetres
through the pixel spacing; the penalty is the image diagonal in millimetres.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from monai.metrics import compute_dice, compute_hausdorff_distance

# MONAI 1.5+ warns about one of its own internal arguments on every HD95 call; nothing for a reader to act on.
warnings.filterwarnings("ignore", message=".*always_return_as_numpy.*", category=FutureWarning)

CONVENTION = "BraTS legacy: both empty -> Dice 100, HD95 0; one empty -> Dice 0, HD95 = image diagonal (mm)"


def predicted_masks(logits: torch.Tensor) -> torch.Tensor:
    """Logits (B, K, H, W) -> label maps (B, H, W): sigmoid > 0.5 for K = 1, argmax otherwise."""
    return (logits[:, 0] > 0).long() if logits.shape[1] == 1 else logits.argmax(1)


def dice_hd95(pred: torch.Tensor, true: torch.Tensor, spacing: tuple[float, float]) -> tuple[float, float]:
    """Dice (%) and HD95 (mm) of two boolean masks (H, W) under the book's convention."""
    pred, true = pred.bool(), true.bool()
    diagonal = math.hypot(pred.shape[0] * spacing[0], pred.shape[1] * spacing[1])
    if not pred.any() and not true.any():
        return 100.0, 0.0
    if not pred.any() or not true.any():
        return 0.0, diagonal
    p, t = pred[None, None].float(), true[None, None].float()
    dice = float(compute_dice(p, t, include_background=True, ignore_empty=False)) * 100
    hd95 = float(
        compute_hausdorff_distance(p, t, include_background=True, percentile=95, spacing=[float(s) for s in spacing])
    )
    return dice, hd95


def score_batch(
    logits: torch.Tensor, labels: torch.Tensor, spacing: torch.Tensor, classes: tuple[int, ...] = (1,)
) -> list[dict[str, float]]:
    """Per image and class: ``{"class": k, "dice": %, "hd95": mm}`` for masks ``label == k`` (k in ``classes``;
    binary models score class 1, the whole tumour)."""
    masks = predicted_masks(logits.detach().float()).cpu()
    labels, spacing = labels.cpu(), spacing.cpu()
    rows = []
    for i in range(len(masks)):
        for k in classes:
            dice, hd95 = dice_hd95(masks[i] == k, labels[i] == k, tuple(spacing[i].tolist()))
            rows.append({"class": k, "dice": dice, "hd95": hd95})
    return rows


def aggregate(rows: list[dict[str, float]]) -> dict[str, float]:
    """Mean Dice and HD95 over rows (every row counts: the convention leaves no NaN), and the count."""
    return {
        "dice": float(np.mean([r["dice"] for r in rows])),
        "hd95": float(np.mean([r["hd95"] for r in rows])),
        "n": len(rows),
    }
