"""Epoch time of AFTer-SAM with and without the frozen-feature cache, measured side by side (chapter
`aftersam_volumes`).

``python -m sambook bench-cache [CONFIG] --epochs 3`` trains the config's AFTer-SAM twice from the same seed on the
same groups (no elastic deformation: the cache is exact only without it), once computing the frozen blocks for every
slice of every group and once reading them from :class:`~sambook.models.feature_cache.FeatureCache`, and prints the
seconds and training loss of each epoch (the losses must agree) and the speed-up after the first epoch.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import numpy as np
import torch

from sambook.build import build_model
from sambook.config import TrainConfig
from sambook.datasets.volumes import VolumeSet
from sambook.train.loop import fit, fit_arguments, seed_everything
from sambook.train.volumes import load_volumes, split_cases, training_pair


def cache_speedup(cfg: TrainConfig, *, epochs: int, volumes: VolumeSet | None = None) -> dict:
    """Per-epoch seconds and losses, uncached then cached, and the mean speed-up of epochs 2 and later."""
    cfg = dataclasses.replace(cfg, elastic=False, cache=False, epochs=epochs)
    volumes = volumes if volumes is not None else load_volumes(cfg)
    train_cases, _ = split_cases(len(volumes.case_ids), seed=cfg.seed)
    runs = {}
    for cached in (False, True):
        run_cfg = dataclasses.replace(cfg, cache=cached)
        seed_everything(cfg.seed)
        trained, dataset = training_pair(run_cfg, build_model(run_cfg), volumes, train_cases)
        with tempfile.TemporaryDirectory() as out:
            history = fit(trained, dataset, None, out=Path(out), progress=False, **fit_arguments(run_cfg))
        runs["cached" if cached else "uncached"] = {
            "seconds": [row["seconds"] for row in history],
            "loss": [row["train_loss"] for row in history],
            **({"slices_encoded": dataset.cache.computed} if cached else {}),
        }
    later = slice(1, None) if epochs > 1 else slice(None)
    speedup = np.mean(runs["uncached"]["seconds"][later]) / np.mean(runs["cached"]["seconds"][later])
    return {
        "config": cfg.to_dict(),
        "threads": torch.get_num_threads(),
        **runs,
        "speedup_after_first": float(speedup),
        "max_loss_difference": float(np.max(np.abs(np.subtract(runs["uncached"]["loss"], runs["cached"]["loss"])))),
    }
