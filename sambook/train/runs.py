"""Runs: train a config into a run folder, and load a run back (chapters `fusing_modalities` and `aftersam_volumes`; the
commands ``train`` and ``evaluate`` in :mod:`sambook.commands`).

A run folder holds the resolved ``config.yaml``, the loop's ``state.pt`` (and ``best.pt`` with ``report_epoch:
validation``), ``metrics.csv``/``metrics.json`` (validation scores per epoch) and the test scores of the reported epoch,
scored once after training: ``test_scores.json`` (Table 1) or ``volume_scores.json`` (AFTer-SAM). Table 1 configs train
on the slice dataset of the active profile; AFTer-SAM configs (``model: aftersam``) on volumes through
:mod:`sambook.train.volumes`, scored with per-class 3D Dice.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
import yaml

from sambook.atomic import atomic_path
from sambook.build import build_model
from sambook.config import TrainConfig, load_config
from sambook.datasets.slices import load_slice_splits
from sambook.profiles import get_profile
from sambook.train.loop import (
    BEST,
    STATE,
    evaluate,
    fit,
    fit_arguments,
    load_model_state,
    reported_epoch,
    seed_everything,
)
from sambook.train.volumes import load_volumes, score_run_volumes, split_cases, train_aftersam

CONFIG = "config.yaml"
TEST_SCORES = "test_scores.json"


def datasets(cfg: TrainConfig) -> dict:
    """Train/validation/test slice datasets for a resolved config (its image size, split and validation share)."""
    profile = dataclasses.replace(get_profile(), image_size=cfg.image_size)
    regions = "whole" if cfg.num_classes == 1 else "subregions"
    return load_slice_splits(profile, split=cfg.split, regions=regions, val_share=cfg.val_share)


def classes_of(cfg: TrainConfig) -> tuple[int, ...]:
    """The label codes a config's Dice and HD95 are computed for."""
    return (1,) if cfg.num_classes == 1 else tuple(range(1, cfg.num_classes))


def train(cfg: TrainConfig, out: Path, *, resume: bool = False, progress: bool = True) -> list[dict]:
    """Train one resolved config into ``out``; returns the history."""
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / CONFIG) as tmp:
        tmp.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    if cfg.model == "aftersam":
        _, history, scores = train_aftersam(cfg, out, resume=resume, progress=progress)
        print(
            f"3D Dice on {len(scores['per_case'])} test volumes: "
            + ", ".join(f"class {k} {v:.1f} %" for k, v in scores["mean_per_class"].items())
            + f"; mean {scores['mean']:.1f} %"
        )
        return history
    data = datasets(cfg)
    seed_everything(cfg.seed)  # the model's fresh weights (and a random-init encoder) depend on it
    model = build_model(cfg, verbose=True)
    history = fit(
        model,
        data["train"],
        data["val"] if len(data["val"]) else None,
        out=out,
        resume=resume,
        classes=classes_of(cfg),
        progress=progress,
        **fit_arguments(cfg),
    )
    scores = evaluate(model, data["test"], batch_size=cfg.batch_size, classes=classes_of(cfg))
    scores = {"report_epoch": cfg.report_epoch, "epoch": reported_epoch(history, cfg.report_epoch), **scores}
    with atomic_path(out / TEST_SCORES) as tmp:
        tmp.write_text(json.dumps(scores, indent=1))
    return history


def load_run(run_dir: Path) -> tuple[TrainConfig, torch.nn.Module]:
    """The config and trained model of a run folder (any model kind), its state loaded strictly."""
    cfg = load_config(run_dir / CONFIG)
    model = build_model(cfg)
    weights = run_dir / (BEST if cfg.report_epoch == "validation" else STATE)  # the reported epoch's
    state = torch.load(weights, map_location="cpu", weights_only=False)["model"]
    if cfg.cache:  # trained through FromFeatures: keys carry its "model." prefix
        state = {k.removeprefix("model."): v for k, v in state.items()}
    load_model_state(model, state, weights)
    return cfg, model


def evaluate_run(run_dir: Path) -> dict:
    """Scores of a run on its test split: Dice and HD95 per slice (Table 1 models) or 3D Dice (AFTer-SAM)."""
    cfg, model = load_run(run_dir)
    if cfg.model == "aftersam":
        volumes = load_volumes(cfg)
        _, test_cases = split_cases(len(volumes.case_ids), seed=cfg.seed)
        return {"model": cfg.model, **score_run_volumes(model, volumes, test_cases, cfg)}
    scores = evaluate(model, datasets(cfg)["test"], batch_size=cfg.batch_size, classes=classes_of(cfg))
    return {"model": cfg.model, **scores}
