"""Training AFTer-SAM from a config (chapter `aftersam_volumes`; ``python -m sambook train configs/aftersam.yaml``).

The same loop as Table 1 (:func:`sambook.train.loop.fit`), fed with slice groups instead of slices: one random group
per volume per epoch (``groups_per_volume`` for more), elastically deformed with MONAI (the paper's augmentation),
or served from the frozen-feature cache instead (exact only without deformation). ``val_share`` of the training
patients are held out: their whole volumes are predicted and scored (mean 3D Dice, ``val_dice``) after every epoch
when ``report_epoch: validation`` (the score selects the epoch), after the last epoch only otherwise.
After training, the model of the reported epoch (``report_epoch``: the last, or the best on validation) predicts
every test volume slice by slice; its per-class 3D Dice goes to ``volume_scores.json``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from monai.transforms import Rand2DElasticd
from torch import nn
from torch.utils.data import Dataset

from sambook.atomic import atomic_path
from sambook.build import build_model
from sambook.config import TrainConfig
from sambook.datasets.segthor import load_segthor
from sambook.datasets.validation import hold_out
from sambook.datasets.volumes import GroupDataset, VolumeSet, build_volumes
from sambook.evaluate.volumes import score_volumes
from sambook.models.aftersam import AfterSAM
from sambook.models.feature_cache import CachedGroups, FeatureCache, FromFeatures
from sambook.profiles import get_profile
from sambook.train.loop import fit, fit_arguments, reported_epoch, seed_everything

SCORES = "volume_scores.json"


def load_volumes(cfg: TrainConfig) -> VolumeSet:
    """The config's volumes: the phantom of the active profile (one modality) or a SegTHOR folder."""
    if cfg.dataset == "segthor":
        return load_segthor(cfg.data_dir, image_size=cfg.image_size)
    if cfg.dataset != "phantom":
        raise ValueError(f"unknown dataset {cfg.dataset!r}; choose phantom or segthor")
    return build_volumes(dataclasses.replace(get_profile(), image_size=cfg.image_size), modality=cfg.modality)


def split_cases(count: int, *, seed: int, test_share: float = 0.25) -> tuple[list[int], list[int]]:
    """A seeded split of ``count`` volumes by patient: (train, test) indices, at least one test volume."""
    order = np.random.default_rng(seed).permutation(count)
    n_test = max(1, int(round(count * test_share)))
    return sorted(order[n_test:].tolist()), sorted(order[:n_test].tolist())


def elastic_deformation(image_size: int) -> Rand2DElasticd:
    """The paper's elastic augmentation, applied to a group and its label together (control points every S/4)."""
    return Rand2DElasticd(
        keys=["image", "label"],
        prob=0.5,
        spacing=(image_size // 4,) * 2,
        magnitude_range=(1, 3),
        mode=("bilinear", "nearest"),
        padding_mode="zeros",
    )


def training_pair(cfg: TrainConfig, model: AfterSAM, volumes: VolumeSet, cases: list[int]) -> tuple[nn.Module, Dataset]:
    """What the loop trains, and on what: ``model`` on slice groups of ``cases`` (elastically deformed when
    ``cfg.elastic``), or with ``cfg.cache`` its trainable rest on cached frozen features."""
    groups = GroupDataset(
        volumes,
        cases,
        neighbours=cfg.neighbours,
        interval=cfg.interval,
        transform=elastic_deformation(cfg.image_size) if cfg.elastic else None,
        groups_per_volume=cfg.groups_per_volume,
    )
    if not cfg.cache:
        return model, groups
    return FromFeatures(model, cfg.image_size), CachedGroups(groups, FeatureCache(model))


def score_run_volumes(
    model: AfterSAM,
    volumes: VolumeSet,
    cases: list[int],
    cfg: TrainConfig,
    predictions: dict[int, np.ndarray] | None = None,
) -> dict:
    """:func:`~sambook.evaluate.volumes.score_volumes` with the slice groups and classes of a resolved config."""
    return score_volumes(
        model,
        volumes,
        cases,
        neighbours=cfg.neighbours,
        interval=cfg.interval,
        num_classes=cfg.num_classes,
        batch_size=cfg.batch_size,
        predictions=predictions,
    )


def train_on_volumes(
    cfg: TrainConfig,
    out: Path,
    *,
    pair: Callable[[nn.Module, list[int]], tuple[nn.Module, Dataset]],
    score: Callable[..., dict],
    resume: bool = False,
    progress: bool = True,
    volumes: VolumeSet | None = None,
    predictions: dict[int, np.ndarray] | None = None,
) -> tuple[nn.Module, list[dict], dict]:
    """Train a volume model of a resolved config into ``out`` (see the module docstring): split by patient, hold out
    ``val_share`` of the training patients, fit, score the reported epoch's model on the test volumes. ``pair(model,
    train_cases)`` gives what the loop trains and on what; ``score(model, volumes, cases, cfg, predictions)`` the
    per-class 3D Dice. Returns the model, its history and its test scores (also written to ``volume_scores.json``)."""
    volumes = volumes if volumes is not None else load_volumes(cfg)
    train_cases, test_cases = split_cases(len(volumes.case_ids), seed=cfg.seed)
    train_cases, val_cases = hold_out(train_cases, share=cfg.val_share, seed=cfg.seed)
    seed_everything(cfg.seed)  # fresh weights (LoRA, position embedding, decoder, baselines) depend on it
    model = build_model(cfg, verbose=progress)
    trained, dataset = pair(model, train_cases)

    def validate() -> dict[str, float]:
        return {"dice": score(model, volumes, val_cases, cfg)["mean"]}

    history = fit(
        trained,
        dataset,
        None,
        out=out,
        resume=resume,
        progress=progress,
        validate=validate if val_cases else None,
        **fit_arguments(cfg),
    )
    scores = score(model, volumes, test_cases, cfg, predictions)
    scores = {"report_epoch": cfg.report_epoch, "epoch": reported_epoch(history, cfg.report_epoch), **scores}
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / SCORES) as tmp:
        tmp.write_text(json.dumps(scores, indent=1))
    return model, history, scores


def train_aftersam(
    cfg: TrainConfig,
    out: Path,
    *,
    resume: bool = False,
    progress: bool = True,
    volumes: VolumeSet | None = None,
    predictions: dict[int, np.ndarray] | None = None,
) -> tuple[AfterSAM, list[dict], dict]:
    """Train the AFTer-SAM of a resolved config into ``out``; returns the model, its history and test scores
    (``volumes``: already loaded volumes; ``predictions``: see :func:`score_run_volumes`)."""
    volumes = volumes if volumes is not None else load_volumes(cfg)
    return train_on_volumes(
        cfg,
        out,
        pair=lambda model, cases: training_pair(cfg, model, volumes, cases),
        score=score_run_volumes,
        resume=resume,
        progress=progress,
        volumes=volumes,
        predictions=predictions,
    )
