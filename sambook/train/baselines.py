"""Training the volume baselines and the prompted AFTer-SAM (chapter `how_it_compares`).

The same loop as every model of the book (:func:`sambook.train.loop.fit`), the same volumes, split by patient
(:func:`~sambook.train.volumes.split_cases`) and the same per-class 3D Dice as AFTer-SAM; only what one training
item is changes with the kind:

* ``<net>_per_slice`` — a random slice group of a volume (the config's ``neighbours``, 0 for single slices) with
  AFTer-SAM's elastic deformation; volumes predicted slice by slice (:func:`~sambook.evaluate.volumes.predict_volume`);
* ``<net>_3d`` — a random 3D patch (:class:`~sambook.datasets.patches.PatchDataset`, ``patch_3d``); volumes
  predicted by sliding windows (:func:`~sambook.evaluate.sliding_window.predict_volume_3d`);
* ``aftersam_prompted`` — AFTer-SAM's slice groups with the prompt of their middle slice
  (:class:`~sambook.datasets.prompts.PromptedGroups`); volumes predicted with ground-truth prompts
  (:func:`~sambook.evaluate.prompted.predict_prompted_volume`).

``groups_per_volume`` is the number of items (groups or patches) drawn per volume and epoch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import nn
from torch.utils.data import Dataset

from sambook.config import TrainConfig
from sambook.datasets.patches import PatchDataset
from sambook.datasets.prompts import PromptedGroups
from sambook.datasets.volumes import GroupDataset, VolumeSet
from sambook.evaluate.prompted import predict_prompted_volume
from sambook.evaluate.sliding_window import predict_volume_3d
from sambook.evaluate.volumes import predict_volume, score_label_maps
from sambook.train.volumes import elastic_deformation, load_volumes, train_on_volumes


def is_3d(cfg: TrainConfig) -> bool:
    return cfg.model.endswith("_3d")


def training_items(cfg: TrainConfig, volumes: VolumeSet, cases: list[int]) -> Dataset:
    """What one training item of the config's kind is (see the module docstring)."""
    if is_3d(cfg):
        return PatchDataset(volumes, cases, patch=cfg.patch_3d, patches_per_volume=cfg.groups_per_volume)
    groups = GroupDataset(
        volumes,
        cases,
        neighbours=cfg.neighbours,
        interval=cfg.interval,
        transform=elastic_deformation(cfg.image_size) if cfg.elastic else None,
        groups_per_volume=cfg.groups_per_volume,
    )
    return PromptedGroups(groups, cfg.prompt) if cfg.model == "aftersam_prompted" else groups


def predict(model: nn.Module, volumes: VolumeSet, c: int, cfg: TrainConfig) -> np.ndarray:
    """The label map of volume ``c`` by the config's kind of volume inference."""
    if is_3d(cfg):
        return predict_volume_3d(model, volumes.images[c], patch=cfg.patch_3d)
    if cfg.model == "aftersam_prompted":
        return predict_prompted_volume(
            model,
            volumes.images[c],
            volumes.labels[c],
            prompt=cfg.prompt,
            neighbours=cfg.neighbours,
            interval=cfg.interval,
            case=c,
            seed=cfg.seed,
            batch_size=cfg.batch_size,
        )
    return predict_volume(
        model, volumes.images[c], neighbours=cfg.neighbours, interval=cfg.interval, batch_size=cfg.batch_size
    )


def score_volume_model(
    model: nn.Module,
    volumes: VolumeSet,
    cases: list[int],
    cfg: TrainConfig,
    predictions: dict[int, np.ndarray] | None = None,
) -> dict:
    """Per-class 3D Dice of ``cases``; label maps also stored in ``predictions`` when a dict is given."""
    maps = {c: predict(model, volumes, c, cfg) for c in cases}
    if predictions is not None:
        predictions.update(maps)
    return score_label_maps(maps, volumes, cfg.num_classes)


def train_volume_model(
    cfg: TrainConfig,
    out: Path,
    *,
    resume: bool = False,
    progress: bool = True,
    volumes: VolumeSet | None = None,
    predictions: dict[int, np.ndarray] | None = None,
) -> tuple[nn.Module, list[dict], dict]:
    """Train a volume baseline or the prompted AFTer-SAM of a resolved config into ``out`` as AFTer-SAM trains
    (:func:`~sambook.train.volumes.train_on_volumes`: same split, validation hold-out and reported epoch); returns the
    model, its history and its test scores (also written to ``volume_scores.json``)."""
    volumes = volumes if volumes is not None else load_volumes(cfg)
    return train_on_volumes(
        cfg,
        out,
        pair=lambda model, cases: (model, training_items(cfg, volumes, cases)),
        score=score_volume_model,
        resume=resume,
        progress=progress,
        volumes=volumes,
        predictions=predictions,
    )
