"""``python -m sambook train CONFIG`` and ``python -m sambook evaluate RUN_DIR`` (chapter 4).

``train`` builds the slice dataset of the active profile, the model of the config, and runs :func:`fit` into
``--out`` (default ``data_root()/runs/<config>-<profile>``), where it also writes the resolved ``config.yaml``.
``--resume`` continues an interrupted run. ``evaluate`` rebuilds a run's model from its directory and prints
Dice and HD95 on the test split. AFTer-SAM configs (``model: aftersam``) train on volumes through
:mod:`sambook.train.volumes` and are scored with per-class 3D Dice.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import torch
import yaml

from sambook.data.slices import load_slice_splits
from sambook.metrics import CONVENTION
from sambook.models.fusion import build_model
from sambook.paths import data_root
from sambook.profiles import get_profile
from sambook.train.config import TrainConfig, load_config
from sambook.train.loop import STATE, evaluate, fit, seed_everything
from sambook.train.volumes import load_aftersam_run, load_volumes, score_volumes, split_cases, train_aftersam


def datasets(cfg: TrainConfig) -> dict:
    """Train/test slice datasets for a resolved config (its image size and split)."""
    profile = dataclasses.replace(get_profile(), image_size=cfg.image_size)
    regions = "whole" if cfg.num_classes == 1 else "subregions"
    return load_slice_splits(profile, split=cfg.split, regions=regions)


def model_for(cfg: TrainConfig, verbose: bool = False) -> torch.nn.Module:
    return build_model(cfg.model, backbone=cfg.backbone, image_size=cfg.image_size, num_classes=cfg.num_classes,
                       checkpoint=cfg.checkpoint, adapter_blocks=cfg.adapter_blocks, modality=cfg.modality,
                       attention=cfg.attention, checkpointing=cfg.checkpointing, verbose=verbose)


def classes_of(cfg: TrainConfig) -> tuple[int, ...]:
    return (1,) if cfg.num_classes == 1 else tuple(range(1, cfg.num_classes))


def train(cfg: TrainConfig, out: Path, *, resume: bool = False, progress: bool = True) -> list[dict]:
    """Train one resolved config into ``out``; returns the history."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    if cfg.model == "aftersam":
        _, history, scores = train_aftersam(cfg, out, resume=resume, progress=progress)
        print(f"3D Dice on {len(scores['per_case'])} test volumes: " + ", ".join(
            f"class {k} {v:.1f} %" for k, v in scores["mean_per_class"].items()) + f"; mean {scores['mean']:.1f} %")
        return history
    data = datasets(cfg)
    seed_everything(cfg.seed)  # the model's fresh weights (and a random-init encoder) depend on it
    return fit(model_for(cfg, verbose=True), data["train"], data["test"], out=out, resume=resume,
               classes=classes_of(cfg), progress=progress, **cfg.fit_arguments())


def load_run(run_dir: Path) -> tuple[TrainConfig, torch.nn.Module]:
    """The config and trained model of a run directory."""
    cfg = load_config(run_dir / "config.yaml")
    model = model_for(cfg)
    state = torch.load(run_dir / STATE, map_location="cpu", weights_only=False)
    model.load_state_dict(state["model"], strict=False)
    return cfg, model


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", type=Path, help="a YAML file from configs/")
    parser.add_argument("--out", type=Path, help="run directory (default: data_root()/runs/<config>-<profile>)")
    parser.add_argument("--resume", action="store_true", help="continue from the run directory's state.pt")


def main_train(args: argparse.Namespace) -> int:
    profile = get_profile()
    cfg = load_config(args.config).resolved(profile)
    out = args.out or data_root() / "runs" / f"{args.config.stem}-{profile.name}"
    history = train(cfg, out, resume=args.resume)
    last = history[-1] if history else {}
    print(f"{out}: {len(history)} epochs; last: " + ", ".join(f"{k} {v:.4g}" for k, v in last.items()))
    return 0


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="a run directory written by `train`")


def main_evaluate(args: argparse.Namespace) -> int:
    cfg = load_config(args.run_dir / "config.yaml")
    if cfg.model == "aftersam":
        volumes = load_volumes(cfg)
        _, test_cases = split_cases(len(volumes.case_ids), seed=cfg.seed)
        scores = score_volumes(load_aftersam_run(args.run_dir, cfg), volumes, test_cases, cfg)
        print(f"{args.run_dir.name}: 3D Dice per class " + ", ".join(
            f"{k}: {v:.1f} %" for k, v in scores["mean_per_class"].items()) + f"; mean {scores['mean']:.1f} % over "
            f"{len(test_cases)} test volumes")
        return 0
    cfg, model = load_run(args.run_dir)
    scores = evaluate(model, datasets(cfg)["test"], batch_size=cfg.batch_size, classes=classes_of(cfg))
    print(f"{args.run_dir.name}: Dice {scores['dice']:.1f} %, HD95 {scores['hd95']:.2f} mm over {scores['n']} "
          f"test images ({CONVENTION})")
    return 0
