"""Whole-volume segmentation of one case by any model of the book, and its BraTS scores (chapters
`fusing_modalities` and `aftersam_volumes`; ``python -m sambook predict``).

:func:`segment` takes a case whose modalities lie on its T2 grid and prepares every axial slice exactly as training
did (:mod:`sambook.datasets.slices` and :mod:`sambook.datasets.volumes`): per modality a z-score over the brain
(:func:`~sambook.data.modalities.brain_mask` of T2, 0 outside), each slice padded to a square and resized to the
config's image size. A Table 1 model then segments slice by slice (all four channels), AFTer-SAM the group of
N_A + 1 slices centred on each slice (one modality). The predicted slices, every slice of the volume and not only
the slices a slice set selects for training, are stacked and brought back onto the T2 grid
(:func:`~sambook.datasets.volumes.to_original_grid`, nearest neighbour).

:func:`score_volume` reads a prediction as the BraTS regions: a binary model's mask is the whole tumour WT; a
multi-class model's internal codes give WT, TC and ET (:mod:`sambook.evaluate.regions`). Each region is scored
under both BraTS rule sets (:mod:`sambook.evaluate.brats`), HD95 in mm from the T2 header's spacing.
"""

from __future__ import annotations

import numpy as np
import torch

from sambook.config import TrainConfig
from sambook.data.modalities import MODALITIES, brain_mask
from sambook.datasets.slices import normalise, resize_slice
from sambook.datasets.volumes import group, to_original_grid
from sambook.evaluate.brats import RULES, SCORE_KEYS, score_regions
from sambook.evaluate.metrics import predicted_masks
from sambook.evaluate.regions import REGIONS, region


def modalities_read(cfg: TrainConfig) -> tuple[str, ...]:
    """The modalities a config's model needs: its own (one-modality SAM, AFTer-SAM) or all four, and always T2,
    whose brain mask every modality is normalised over."""
    if cfg.model in ("sam", "aftersam"):
        return tuple(m for m in MODALITIES if m in ("t2", cfg.modality))
    return MODALITIES


def regions_scored(cfg: TrainConfig) -> tuple[str, ...]:
    """``("WT",)`` for a binary model (its mask is the whole tumour), ``("WT", "TC", "ET")`` otherwise."""
    return ("WT",) if cfg.num_classes == 1 else tuple(REGIONS)


def model_inputs(images: np.ndarray, cfg: TrainConfig) -> np.ndarray:
    """Images (4, D, H, W) in :data:`MODALITIES` order on the T2 grid -> the model's slices (D, C, S, S): C = 4
    for a Table 1 model, 1 (the config's modality) for AFTer-SAM. Modalities the model does not read may be zeros."""
    brain = brain_mask(images[MODALITIES.index("t2")])
    channels = [MODALITIES.index(cfg.modality)] if cfg.model == "aftersam" else range(len(MODALITIES))
    volume = np.stack([normalise(images[c], brain) for c in channels])
    empty = np.zeros(volume.shape[2:], dtype=np.uint8)
    return np.stack([resize_slice(volume[:, z], empty, cfg.image_size)[0] for z in range(volume.shape[1])])


@torch.no_grad()
def segment(
    model: torch.nn.Module, cfg: TrainConfig, images: np.ndarray, *, batch_size: int | None = None
) -> np.ndarray:
    """The predicted label map (D, H, W) uint8 of a case's images (4, D, H, W) on its T2 grid: 0/1 (whole tumour)
    for a binary model, internal codes 0-3 for a multi-class one. Runs on the model's device, in eval mode."""
    inputs = model_inputs(images, cfg)
    batch_size = batch_size or cfg.batch_size
    device = next(model.parameters()).device
    model.eval()
    out = []
    for start in range(0, len(inputs), batch_size):
        stop = min(start + batch_size, len(inputs))
        if cfg.model == "aftersam":
            batch = np.stack([group(inputs[:, 0], d, cfg.neighbours, cfg.interval) for d in range(start, stop)])
            batch = batch[:, :, None]  # (B, N_A + 1, 1, S, S)
        else:
            batch = inputs[start:stop]  # (B, 4, S, S)
        output = model(torch.from_numpy(np.ascontiguousarray(batch)).to(device))
        logits = output if isinstance(output, torch.Tensor) else output[0]
        out.append(predicted_masks(logits.float()).cpu())
    return to_original_grid(torch.cat(out).numpy(), images.shape[1:])


def score_volume(
    pred: np.ndarray,
    true: np.ndarray,
    spacing: tuple[float, float, float],
    regions: tuple[str, ...],
    rules: tuple[str, ...] = RULES,
) -> dict[str, dict[str, float | None]]:
    """``{region: {"legacy_dice", "legacy_hd95", "lesion_dice", "lesion_hd95"}}`` of a prediction of
    :func:`segment` against internal ground-truth codes (D, H, W); ``regions == ("WT",)``: a binary prediction
    (every non-zero voxel is whole tumour). ``spacing`` in array order (z, y, x), mm."""
    true_masks = {name: region(true, name) for name in regions}
    pred_masks = {"WT": pred > 0} if regions == ("WT",) else {name: region(pred, name) for name in regions}
    return score_regions(pred_masks, true_masks, spacing, rules)


def mean_over_cases(cases: dict[str, dict], regions: tuple[str, ...]) -> dict[str, dict[str, float | None]]:
    """Per region and score, the mean over cases (``None`` for a rule not scored or when there is no case)."""
    out = {}
    for name in regions:
        out[name] = {}
        for key in SCORE_KEYS:
            values = [scores[name][key] for scores in cases.values() if scores[name][key] is not None]
            out[name][key] = float(np.mean(values)) if values else None
    return out
