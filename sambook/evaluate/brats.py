"""The BraTS scoring rules for one region of one case: legacy whole-volume scores and BraTS 2023 lesion-wise scores.

Chapters `fusing_modalities` and `aftersam_volumes` report both, each named. A mask is a boolean array; ``spacing``
is the voxel size in mm in the same axis order (for an array from SimpleITK's ``GetArrayFromImage``, the reverse of
``GetSpacing()``).

**Legacy (whole-volume) scores**, as BraTS 2023-2024 report them beside the lesion-wise ones. For a prediction P and
a ground truth G:

    Dice(P, G) = 2 |P ∩ G| / (|P| + |G|)
    HD95(P, G) = max( h95(∂P → ∂G), h95(∂G → ∂P) )

where ∂P is P's surface as elements between voxels, each with its area a(s) in mm² and its distance d(s) in mm to
the other surface, and h95 the area-weighted 95th percentile: the smallest distance r such that the elements with
d(s) ≤ r hold 95 % of the area. This is the BraTS 2023 script's HD95 (DeepMind's surface distances); the surface
elements, their areas and distances come from MONAI (``get_edge_surface_distance(use_subvoxels=True)``), only the
weighted percentile is computed here. Both empty: Dice 1, HD95 0; exactly one empty: Dice 0, HD95 374 mm
(:data:`PENALTY_MM`).

**Lesion-wise scores** (BraTS 2023 metrics script, glioma parameters):

1. D = G dilated :data:`DILATIONS` = 3 times by the 18-neighbourhood (``generate_binary_structure(3, 2)``, the
   script's structuring element, not the full 3x3x3 cube); lesions are L_j = G ∩ D_j for the 26-connected
   components D_j of D, so ground-truth components whose dilations touch merge into one lesion.
2. Each lesion's neighbourhood N_j is L_j dilated the same way. The predicted components (26-connected) that meet
   N_j are its matches, P_j their union: dice_j = Dice(P_j, L_j), hd_j = HD95(P_j, L_j) (374 when P_j is empty).
3. A lesion is kept when its volume |L_j| · v exceeds :data:`MIN_LESION_MM3` = 50 mm³ (v the voxel volume; the
   script compares mm³, which are voxels at BraTS's 1 mm isotropic spacing; lesions of ≤ 50 are dropped: neither
   scored nor penalised). The volume is that of the undilated (merged) lesion.
4. A predicted component that meets no lesion's neighbourhood (kept or dropped) is a false positive: Dice 0,
   HD95 374. Components matched only to a dropped lesion are neither scored nor false positives.

    LesionDice = Σ_{j kept} dice_j / (K + F),      LesionHD95 = (Σ_{j kept} hd_j + 374 F) / (K + F)

with K kept lesions and F false positives; K + F = 0 (no lesion above the floor, no false positive, e.g. both
empty) gives Dice 1, HD95 0, as the script's NaN replacement does. Dilations count voxels, not mm, on any spacing.

**Where implementations disagree** (``tests/test_brats_scores.py`` runs 16 synthetic cases through each):

* The BraTS 2023 metrics script: every Dice and HD95 of every case agrees here to 2e-6 (float32 distances).
  It reads label 3 as enhancing, so on BraTS 2021 files (ET = 4) it drops ET from every region;
  :mod:`sambook.evaluate.regions` maps each layout's codes first.
* MONAI's own ``compute_hausdorff_distance(percentile=95)`` takes boundary voxels' centres and an unweighted,
  interpolated percentile: 1.13 mm instead of the script's 22 mm for a cube with a far 2x2x2 false positive (8 of
  160 boundary voxels, but 10 % of the surface area), 24.84 instead of 24.29 mm for a far 27-voxel lesion.
* BraTS_evaluation 0.0.10 (panoptica 2.1.7, ``config_gli``), the newer official package: both empty gives NaN;
  one empty, or no matched instance, gives HD95 inf (its parser turns the whole-volume one into 373, not 374); its
  HD95 pools both directions before an unweighted percentile (0 mm for the far false positive above); its
  whole-volume HD95 is in voxels (1.0 for a one-voxel shift along a 2.5 mm axis) and its per-lesion HD95 applies
  the spacing in reversed axis order (0.8 mm there). Its lesion-wise "sq" scores match components by overlap (no
  dilation, no merging, no volume floor) and average over matched pairs only: false positives and misses do not
  lower them (1.0 instead of 0.5 for the far false positive).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from monai.metrics import compute_dice
from monai.metrics.utils import get_edge_surface_distance
from scipy import ndimage

PENALTY_MM = 374.0
DILATIONS = 3
MIN_LESION_MM3 = 50.0
CONNECTIVITY = np.ones((3, 3, 3), dtype=bool)  # 26-connected components
DILATION = ndimage.generate_binary_structure(3, 2)  # 18-neighbourhood, the BraTS 2023 script's element


def _masks(pred: np.ndarray, true: np.ndarray, spacing: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Both masks as boolean arrays; ``ValueError`` unless they are 3D, of one shape, with a spacing per axis."""
    pred, true = np.asarray(pred, dtype=bool), np.asarray(true, dtype=bool)
    if pred.shape != true.shape or pred.ndim != 3 or len(spacing) != 3:
        raise ValueError(
            f"expected two 3D masks of one shape and 3 spacings, got {pred.shape}, {true.shape}, {spacing}"
        )
    return pred, true


def _cropped(pred: np.ndarray, true: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Both masks as tensors, cut to their joint bounding box widened by one voxel (scores do not change: the rest
    is background on both sides; MONAI would crop the same way, after a full-volume pass)."""
    box = ndimage.find_objects((pred | true).astype(np.uint8))
    if box:
        shape = pred.shape
        box = tuple(slice(max(s.start - 1, 0), min(s.stop + 1, n)) for s, n in zip(box[0], shape, strict=True))
        pred, true = pred[box], true[box]
    return torch.from_numpy(np.ascontiguousarray(pred)), torch.from_numpy(np.ascontiguousarray(true))


def dice(pred: np.ndarray, true: np.ndarray) -> float:
    """Dice of two boolean masks; 1 when both are empty (MONAI's ``ignore_empty=False``)."""
    p, t = (m.double()[None, None] for m in _cropped(np.asarray(pred, dtype=bool), np.asarray(true, dtype=bool)))
    return float(compute_dice(p, t, include_background=True, ignore_empty=False))


def hd95(pred: np.ndarray, true: np.ndarray, spacing: tuple[float, ...]) -> float:
    """HD95 in mm of two boolean masks, surface-area weighted (module docstring); 0 when both are empty,
    :data:`PENALTY_MM` when exactly one is."""
    pred, true = _masks(pred, true, spacing)
    if not pred.any() and not true.any():
        return 0.0
    if not pred.any() or not true.any():
        return PENALTY_MM
    p, t = _cropped(pred, true)
    with warnings.catch_warnings():  # MONAI 1.5+ warns about one of its own internal arguments on every call
        warnings.filterwarnings("ignore", message=".*always_return_as_numpy.*", category=FutureWarning)
        (edges_p, edges_t), (p_to_t, t_to_p), (areas_p, areas_t) = get_edge_surface_distance(
            p, t, spacing=[float(s) for s in spacing], use_subvoxels=True, symmetric=True
        )
    return max(_area_percentile(p_to_t, areas_p[edges_p], 95), _area_percentile(t_to_p, areas_t[edges_t], 95))


def _area_percentile(distances: torch.Tensor, areas: torch.Tensor, percent: float) -> float:
    """The smallest distance whose surface elements, with all nearer ones, hold ``percent`` % of the area."""
    order = torch.argsort(distances)
    cumulative = torch.cumsum(areas[order].double(), 0) / areas.double().sum()
    index = int(torch.searchsorted(cumulative, torch.tensor(percent / 100, dtype=torch.float64)))
    return float(distances[order][min(index, len(distances) - 1)])


def legacy_scores(pred: np.ndarray, true: np.ndarray, spacing: tuple[float, ...]) -> tuple[float, float]:
    """Whole-volume (Dice, HD95 in mm) of one region under the legacy rules."""
    pred, true = _masks(pred, true, spacing)
    return dice(pred, true), hd95(pred, true, spacing)


@dataclass(frozen=True)
class LesionwiseScore:
    """Lesion-wise Dice and HD95 (mm) of one region, and the counts behind them."""

    dice: float
    hd95: float
    lesions: int  # kept ground-truth lesions K (merged, above the volume floor)
    dropped: int  # ground-truth lesions at or below the floor
    detected: int  # kept lesions with at least one matched predicted component
    false_positives: int  # F


def ground_truth_lesions(true: np.ndarray, dilations: int = DILATIONS) -> tuple[np.ndarray, int]:
    """Lesion labels 1..n of a ground-truth mask, components merged when their dilations touch (step 1)."""
    dilated = ndimage.binary_dilation(true, DILATION, iterations=dilations)
    groups, n = ndimage.label(dilated, CONNECTIVITY)
    return np.where(true, groups, 0), n


def _neighbourhood(lesion: np.ndarray, box: tuple[slice, ...], dilations: int) -> np.ndarray:
    """``lesion`` dilated ``dilations`` times, computed inside its bounding box widened by ``dilations``."""
    wide = tuple(slice(max(s.start - dilations, 0), s.stop + dilations) for s in box)
    out = np.zeros_like(lesion)
    out[wide] = ndimage.binary_dilation(lesion[wide], DILATION, iterations=dilations)
    return out


def lesionwise_scores(
    pred: np.ndarray,
    true: np.ndarray,
    spacing: tuple[float, ...],
    *,
    dilations: int = DILATIONS,
    min_volume_mm3: float = MIN_LESION_MM3,
) -> LesionwiseScore:
    """Lesion-wise scores of one region (steps 1-4 of the module docstring)."""
    pred, true = _masks(pred, true, spacing)
    voxel_mm3 = float(np.prod(spacing))
    lesions, _ = ground_truth_lesions(true, dilations)
    components, n_components = ndimage.label(pred, CONNECTIVITY)
    matched: set[int] = set()
    dices, distances = [], []
    dropped = detected = 0
    for j, box in enumerate(ndimage.find_objects(lesions), start=1):
        lesion = lesions == j
        near = np.unique(components[_neighbourhood(lesion, box, dilations)])
        near = near[near > 0]
        matched.update(near.tolist())
        if lesion.sum() * voxel_mm3 <= min_volume_mm3:
            dropped += 1
            continue
        found = np.isin(components, near)
        dices.append(dice(found, lesion))
        distances.append(hd95(found, lesion, spacing))
        detected += len(near) > 0
    false_positives = n_components - len(matched)
    count = len(dices) + false_positives
    if count == 0:
        return LesionwiseScore(1.0, 0.0, 0, dropped, 0, 0)
    return LesionwiseScore(
        dice=sum(dices) / count,
        hd95=(sum(distances) + PENALTY_MM * false_positives) / count,
        lesions=len(dices),
        dropped=dropped,
        detected=detected,
        false_positives=false_positives,
    )


RULES = ("legacy", "lesionwise")
SCORE_KEYS = ("legacy_dice", "legacy_hd95", "lesion_dice", "lesion_hd95")


def score_regions(
    pred: dict[str, np.ndarray], true: dict[str, np.ndarray], spacing: tuple[float, ...], rules: tuple[str, ...] = RULES
) -> dict[str, dict[str, float | None]]:
    """``{region: {"legacy_dice", "legacy_hd95", "lesion_dice", "lesion_hd95"}}`` for the regions of ``true``.

    Dice is a fraction 0-1, HD95 in mm; the scores of a rule not in ``rules`` are ``None``.
    """
    unknown = set(rules) - set(RULES)
    if unknown:
        raise ValueError(f"unknown rules {sorted(unknown)} (expected some of {RULES})")
    out = {}
    for name, mask in true.items():
        scores: dict[str, float | None] = dict.fromkeys(SCORE_KEYS)
        if "legacy" in rules:
            scores["legacy_dice"], scores["legacy_hd95"] = legacy_scores(pred[name], mask, spacing)
        if "lesionwise" in rules:
            lesionwise = lesionwise_scores(pred[name], mask, spacing)
            scores["lesion_dice"], scores["lesion_hd95"] = lesionwise.dice, lesionwise.hd95
        out[name] = scores
    return out
