"""Volume inference and 3D scores (chapter `aftersam_volumes`).

:func:`predict_volume` slides a model over every slice of a volume (AFTer-SAM: the group centred on each slice);
:func:`dice_3d` scores a predicted label map against the ground truth over the whole volume, per class:

    Dice_k = 2 |P_k ∩ T_k| / (|P_k| + |T_k|),   100 when both are empty.

:func:`score_volumes` does both for the test volumes of a run, on each case's **original grid** (the prediction
taken back through the in-plane resize and, for SegTHOR, the resampling to 2.5 x 1.0 x 1.0 mm:
:func:`sambook.datasets.volumes.to_case_grid`), as the papers score volumes; a hand-made
:class:`~sambook.datasets.volumes.VolumeSet` without original labels is scored on its working grid.
"""

from __future__ import annotations

import numpy as np
import torch

from sambook.datasets.volumes import VolumeSet, group, neighbour_indices, to_case_grid
from sambook.models.aftersam import AfterSAM


@torch.no_grad()
def predict_volume(
    model: torch.nn.Module, volume: np.ndarray, *, neighbours: int, interval: int, batch_size: int = 8
) -> np.ndarray:
    """Slide over every slice of ``volume`` (D, S, S) and return the predicted label map (D, S, S); the groups go to
    the model's device, the labels come back to the host. For AFTer-SAM the frozen blocks run once per slice and
    every group is assembled from their features (:meth:`~sambook.models.aftersam.AfterSAM.head`): the same
    prediction as feeding each group whole, with N_A + 1 times fewer passes through the frozen blocks. The features
    of the whole volume are held on the device at once: h · w · C numbers a slice (64 · 64 · 768 at ViT-B, 1024 px:
    12.6 MB in fp32)."""
    model.eval()
    device = next(model.parameters()).device
    depth, size = len(volume), volume.shape[1:]
    features = None
    if isinstance(model, AfterSAM):
        slices = torch.from_numpy(volume)[:, None]
        features = torch.cat(
            [model.frozen_features(slices[i : i + batch_size].to(device)) for i in range(0, depth, batch_size)]
        )
    out = []
    for start in range(0, depth, batch_size):
        centres = range(start, min(start + batch_size, depth))
        if features is not None:
            index = torch.tensor([neighbour_indices(d, depth, neighbours, interval) for d in centres], device=device)
            logits = model.head(features[index], tuple(size))[0]
        else:
            groups = np.stack([group(volume, d, neighbours, interval) for d in centres])
            logits = model(torch.from_numpy(groups)[:, :, None].to(device))[0]
        out.append(((logits[:, 0] > 0).long() if logits.shape[1] == 1 else logits.argmax(1)).cpu())
    return torch.cat(out).numpy().astype(np.uint8)


def dice_3d(pred: np.ndarray, true: np.ndarray, classes: tuple[int, ...] = (1, 2, 3)) -> dict[int, float]:
    """Per-class Dice (%) over a whole volume (both empty: 100)."""
    scores = {}
    for k in classes:
        p, t = pred == k, true == k
        total = p.sum() + t.sum()
        scores[k] = 100.0 if total == 0 else float(200.0 * (p & t).sum() / total)
    return scores


def score_volumes(
    model: torch.nn.Module,
    volumes: VolumeSet,
    cases: list[int],
    *,
    neighbours: int,
    interval: int,
    num_classes: int,
    batch_size: int = 8,
    predictions: dict[int, np.ndarray] | None = None,
) -> dict:
    """Per-class 3D Dice (%) of every volume in ``cases`` and their means; each predicted label map is also stored
    in ``predictions`` (by case index) when a dict is given."""
    maps = {
        c: predict_volume(model, volumes.images[c], neighbours=neighbours, interval=interval, batch_size=batch_size)
        for c in cases
    }
    if predictions is not None:
        predictions.update(maps)
    return score_label_maps(maps, volumes, num_classes)


def score_label_maps(maps: dict[int, np.ndarray], volumes: VolumeSet, num_classes: int) -> dict:
    """Per-class 3D Dice (%) of predicted label maps (by case index), each scored on its case's original grid when
    the volumes keep one (:func:`~sambook.datasets.volumes.to_case_grid`), else on the working grid."""
    pairs = {}
    for c, pred in maps.items():
        if volumes.original_labels:
            pairs[volumes.case_ids[c]] = to_case_grid(pred, volumes, c), volumes.original_labels[c]
        else:
            pairs[volumes.case_ids[c]] = pred, volumes.labels[c]
    return dice_table(pairs, num_classes)


def dice_table(pairs: dict[str, tuple[np.ndarray, np.ndarray]], num_classes: int) -> dict:
    """Per-class 3D Dice (%) of (prediction, truth) label maps by case id, the mean of each class over the cases and
    the mean of those: ``{"per_case", "mean_per_class", "mean"}``."""
    classes = tuple(range(1, num_classes))
    per_case = {
        case: {str(k): v for k, v in dice_3d(pred, truth, classes).items()} for case, (pred, truth) in pairs.items()
    }
    means = {str(k): float(np.mean([s[str(k)] for s in per_case.values()])) for k in classes}
    return {"per_case": per_case, "mean_per_class": means, "mean": float(np.mean(list(means.values())))}
