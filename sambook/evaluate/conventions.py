"""Four conventions for Dice and HD95 of one 2D slice, and what each does to the same predictions (chapters
`fusing_modalities` and `aftersam_volumes`).

They agree when truth and prediction both hold tumour, and part ways on empty masks:

================  ====================  ======================  ===================  ================
convention        both empty            prediction on empty     missed tumour        HD95 unit
                                        truth (false positive)  (empty prediction)
================  ====================  ======================  ===================  ================
this book         Dice 100, HD95 0      Dice 0, HD95 diagonal   Dice 0, diagonal     mm
BraTS legacy      Dice 100, HD95 0      Dice 0, HD95 374 mm     Dice 0, 374 mm       mm
SAMed/TransUNet   Dice 0, HD95 0        Dice 100, HD95 0        Dice 0, HD95 0       pixels
MONAI defaults    NaN, NaN              NaN, NaN                Dice 0, NaN          pixels
================  ====================  ======================  ===================  ================

* **this book**: :func:`sambook.evaluate.metrics.dice_hd95` (:data:`~sambook.evaluate.metrics.CONVENTION`).
* **BraTS legacy**: the BraTS whole-volume rules (:mod:`sambook.evaluate.brats`) on a slice; for two non-empty
  masks MONAI's HD95 in mm (BraTS's surface-area-weighted HD95 is defined on volumes).
* **SAMed/TransUNet**: ``calculate_metric_percase`` of TransUNet's ``utils.py``, copied by SAMed: medpy's Dice
  and HD95 when both masks hold voxels, ``(1, 0)`` when only the prediction does, ``(0, 0)`` otherwise (both
  empty included); medpy's HD95 takes no spacing (pixels) and pools both directions, MONAI's stands in here.
* **MONAI defaults**: ``DiceMetric()`` and ``HausdorffDistanceMetric(percentile=95)`` as constructed without
  arguments (``include_background=True`` given to the latter, which has one channel only); ``ignore_empty=True``
  makes Dice NaN on an empty truth, HD95 is NaN when either mask is empty, no spacing (pixels), and the metrics'
  ``aggregate()`` averages without the NaN.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import torch
from monai.metrics import DiceMetric, HausdorffDistanceMetric, compute_dice, compute_hausdorff_distance

from sambook.evaluate.brats import PENALTY_MM
from sambook.evaluate.metrics import dice_hd95

Masks = tuple[np.ndarray, np.ndarray]


def _tensors(pred: np.ndarray, true: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return (torch.as_tensor(np.asarray(m, dtype=bool), dtype=torch.float32)[None, None] for m in (pred, true))


def this_book(pred: np.ndarray, true: np.ndarray, spacing: tuple[float, float]) -> tuple[float, float]:
    return dice_hd95(
        torch.as_tensor(np.asarray(pred, dtype=bool)), torch.as_tensor(np.asarray(true, dtype=bool)), spacing
    )


def brats_legacy(pred: np.ndarray, true: np.ndarray, spacing: tuple[float, float]) -> tuple[float, float]:
    pred, true = np.asarray(pred, dtype=bool), np.asarray(true, dtype=bool)
    if not pred.any() and not true.any():
        return 100.0, 0.0
    if not pred.any() or not true.any():
        return 0.0, PENALTY_MM
    return this_book(pred, true, spacing)


def samed_transunet(pred: np.ndarray, true: np.ndarray, spacing: tuple[float, float]) -> tuple[float, float]:
    pred, true = np.asarray(pred, dtype=bool), np.asarray(true, dtype=bool)
    if pred.any() and true.any():
        p, t = _tensors(pred, true)
        dice = float(compute_dice(p, t, include_background=True)) * 100
        return dice, float(compute_hausdorff_distance(p, t, include_background=True, percentile=95))
    if pred.any():
        return 100.0, 0.0
    return 0.0, 0.0


def monai_defaults(pred: np.ndarray, true: np.ndarray, spacing: tuple[float, float]) -> tuple[float, float]:
    return _monai_metrics()[0](pred, true)


def _monai_metrics() -> tuple[Callable[[np.ndarray, np.ndarray], tuple[float, float]], Callable[[], tuple]]:
    """A scorer that feeds MONAI's default metric objects, and their ``aggregate()`` (the mean without NaN)."""
    dice, hd95 = DiceMetric(), HausdorffDistanceMetric(percentile=95, include_background=True)

    def score(pred: np.ndarray, true: np.ndarray) -> tuple[float, float]:
        p, t = _tensors(pred, true)
        with warnings.catch_warnings():  # MONAI warns on every empty mask
            warnings.simplefilter("ignore")
            return float(dice(p, t)) * 100, float(hd95(p, t))

    def aggregate() -> tuple[float, float]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(dice.aggregate()) * 100, float(hd95.aggregate())

    return score, aggregate


#: name -> function (pred, true, spacing (y, x) mm) -> (Dice %, HD95)
CONVENTIONS: dict[str, Callable[[np.ndarray, np.ndarray, tuple[float, float]], tuple[float, float]]] = {
    "this book": this_book,
    "BraTS legacy": brats_legacy,
    "SAMed/TransUNet": samed_transunet,
    "MONAI defaults": monai_defaults,
}


def compare(slices: list[tuple[np.ndarray, np.ndarray, tuple[float, float]]]) -> dict[str, dict]:
    """Per convention: ``{"slices": [(Dice %, HD95) per slice], "dice": mean, "hd95": mean}`` over the same
    (prediction, truth, spacing) slices; MONAI's means are its metrics' ``aggregate()`` (NaN left out), the others'
    plain means (they leave no NaN)."""
    out = {}
    for name, function in CONVENTIONS.items():
        if name == "MONAI defaults":
            score, aggregate = _monai_metrics()
            scores = [score(p, t) for p, t, _ in slices]
            dice, hd95 = aggregate()
        else:
            scores = [function(p, t, spacing) for p, t, spacing in slices]
            dice, hd95 = (float(np.mean(column)) for column in zip(*scores, strict=True))
        out[name] = {"slices": scores, "dice": dice, "hd95": hd95}
    return out


def format_table(table: dict[str, dict], rows: list[str]) -> str:
    """:func:`compare`'s result as text: one line per slice (named by ``rows``), then the means."""
    width = max(len("mean"), *map(len, rows))
    units = {"this book": "mm", "BraTS legacy": "mm", "SAMed/TransUNet": "px", "MONAI defaults": "px"}
    lines = [" " * width + "".join(f"  {name:>21s}" for name in table)]
    lines.append(" " * width + "".join(f"  {'Dice %':>10s} {'HD95 ' + units[name]:>10s}" for name in table))
    cells = [[t["slices"][i] for t in table.values()] for i in range(len(rows))]
    for row, scores in zip([*rows, "mean"], [*cells, [(t["dice"], t["hd95"]) for t in table.values()]], strict=True):
        lines.append(f"{row:<{width}}" + "".join(f"  {d:10.1f} {h:10.1f}" for d, h in scores))
    return "\n".join(lines)
