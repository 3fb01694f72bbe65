"""Runs: train a config into a run folder, and load a run back (chapters `fusing_modalities` and `aftersam_volumes`; the
commands ``train`` and ``evaluate`` in :mod:`sambook.commands`).

A run folder holds the resolved ``config.yaml``, ``run.json`` (the profile and data root it was trained on, and the
resumable changes made when resuming), the loop's ``state.pt`` (and ``best.pt`` with
``report_epoch: validation``), ``metrics.csv``/``metrics.json`` (validation scores per epoch) and the test scores of
the reported epoch, scored once after training: ``test_scores.json`` (Table 1 models) or ``volume_scores.json``
(volume models). Table 1 configs (and the 2D baselines) train on the slice dataset of
the active profile; AFTer-SAM configs (``model: aftersam``) on volumes through :mod:`sambook.train.volumes`, the
volume baselines and the prompted AFTer-SAM through :mod:`sambook.train.baselines`, all scored with per-class 3D
Dice.

A run is never lost: training into a folder that holds one is refused unless ``resume`` (the same config, except the
keys in :data:`RESUMABLE`) or ``overwrite`` is asked for; the folder appears only once the config, the checkpoint and
the data have been checked and the model built, and a start that fails before the first checkpoint leaves nothing.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import torch

from sambook.atomic import atomic_path
from sambook.build import build_model
from sambook.config import VOLUME_MODELS, TrainConfig, check_dataset_classes, load_config
from sambook.config_io import write_yaml
from sambook.datasets.slices import load_slice_splits
from sambook.errors import RunError
from sambook.models.checkpoint import resolve_checkpoint
from sambook.paths import data_root
from sambook.profiles import get_profile
from sambook.train.baselines import score_volume_model, train_volume_model
from sambook.train.loop import (
    BEST,
    STATE,
    evaluate,
    fit,
    fit_arguments,
    load_model_state,
    load_state,
    reported_epoch,
    seed_everything,
)
from sambook.train.volumes import SCORES as VOLUME_SCORES
from sambook.train.volumes import load_volumes, score_run_volumes, split_cases, train_aftersam

CONFIG = "config.yaml"
TEST_SCORES = "test_scores.json"
ORIGIN = "run.json"
#: Keys a resumed run may change: more (or fewer) epochs continue the same run; workers do not change the numbers.
RESUMABLE = ("epochs", "num_workers")


def datasets(cfg: TrainConfig) -> dict:
    """Train/validation/test slice datasets for a resolved config (its image size, split and validation share)."""
    profile = dataclasses.replace(get_profile(), image_size=cfg.image_size)
    regions = "whole" if cfg.num_classes == 1 else "subregions"
    return load_slice_splits(profile, split=cfg.split, regions=regions, val_share=cfg.val_share)


def classes_of(cfg: TrainConfig) -> tuple[int, ...]:
    """The label codes a config's Dice and HD95 are computed for."""
    return (1,) if cfg.num_classes == 1 else tuple(range(1, cfg.num_classes))


def origin() -> dict:
    """What a run's numbers depend on besides its config: the active profile and data root."""
    return {"profile": get_profile().name, "data_root": str(data_root().resolve())}


def holds_run(folder: Path) -> bool:
    return (folder / CONFIG).is_file() or (folder / STATE).is_file()


def is_finished(cfg: TrainConfig, out: Path) -> bool:
    """Whether ``out`` holds a finished run of ``cfg``: the same config, profile and data root, its test scores
    written (they are written last)."""
    scores = out / (VOLUME_SCORES if cfg.model in VOLUME_MODELS else TEST_SCORES)
    if not (scores.is_file() and (out / CONFIG).is_file() and (out / ORIGIN).is_file()):
        return False
    recorded = _read_origin(out)
    return read_yaml_config(out) == cfg.to_dict() and {k: recorded.get(k) for k in origin()} == origin()


def _read_origin(run_dir: Path) -> dict:
    path = run_dir / ORIGIN
    if not path.is_file():
        raise RunError(run_dir, f"no {ORIGIN}: the profile and data root of this run are unknown")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise RunError(path, f"unreadable ({error})") from None


def check_run_folder(cfg: TrainConfig, out: Path, *, resume: bool, overwrite: bool) -> dict:
    """Refuse a start that would lose a run: returns the resumable changes a resume makes (key: [old, new])."""
    if resume and overwrite:
        raise RunError(out, "choose --resume or --overwrite, not both")
    if out.exists() and not out.is_dir():
        raise RunError(out, "is a file, not a run folder")
    if not out.exists() or overwrite:
        return {}
    if not holds_run(out):
        if any(out.iterdir()):
            raise RunError(out, "holds files but no run (no config.yaml): choose another --out")
        return {}
    if not resume:
        raise RunError(
            out, "holds a run; pass --resume to continue it or --overwrite to replace it (or choose another --out)"
        )
    if not (out / CONFIG).is_file():
        raise RunError(out, f"holds {STATE} but no {CONFIG}: not a run this project wrote")
    recorded = read_yaml_config(out)
    ours = cfg.to_dict()
    changed = {k: [recorded.get(k), ours[k]] for k in ours if recorded.get(k) != ours[k]}
    refused = sorted(set(changed) - set(RESUMABLE))
    if refused:
        details = "; ".join(f"{k}: {changed[k][0]!r} in the run, {changed[k][1]!r} now" for k in refused)
        raise RunError(
            out / CONFIG,
            f"--resume with a different config ({details}); only {', '.join(RESUMABLE)} may change on resume",
        )
    before = _read_origin(out)
    now = origin()
    if before.get("profile") != now["profile"] or before.get("data_root") != now["data_root"]:
        raise RunError(
            out / ORIGIN,
            f"trained under profile {before.get('profile')} on data root {before.get('data_root')}; now profile "
            f"{now['profile']} on {now['data_root']}: resume under the run's (SAMBOOK_PROFILE, SAMBOOK_DATA)",
        )
    return changed


def read_yaml_config(run_dir: Path) -> dict:
    """A run's recorded config as plain keys (validated)."""
    return load_config(run_dir / CONFIG).to_dict()


def _start(cfg: TrainConfig, out: Path, changes: dict, *, resume: bool) -> None:
    """Write the run's config and origin (appending a resume's changes) once the start has been checked."""
    record = {**origin(), "resumed": []}
    if resume and (out / ORIGIN).is_file():
        record = {**_read_origin(out), **origin()}
        record.setdefault("resumed", [])
        record["resumed"].append({"changed": changes} if changes else {})
    write_yaml(out / CONFIG, cfg.to_dict())
    with atomic_path(out / ORIGIN) as tmp:
        tmp.write_text(json.dumps(record, indent=1))


def train(
    cfg: TrainConfig, out: Path, *, resume: bool = False, overwrite: bool = False, progress: bool = True
) -> list[dict]:
    """Train one resolved config into ``out``; returns the history (see the module docstring for what is refused)."""
    out = Path(out)
    check_dataset_classes(cfg)
    changes = check_run_folder(cfg, out, resume=resume, overwrite=overwrite)
    fresh = overwrite or not holds_run(out)
    # Everything that can fail on a bad input, before the folder is touched: the checkpoint, the data, the model.
    resolve_checkpoint(cfg.backbone, cfg.checkpoint)
    seed_everything(cfg.seed)  # the model's fresh weights (and a random-init encoder) depend on it
    if cfg.model in VOLUME_MODELS:
        volumes = load_volumes(cfg)  # the model is built by the volume trainer, after its split
    else:
        data = datasets(cfg)
        model = build_model(cfg, verbose=True)
    if overwrite and out.exists():
        shutil.rmtree(out)
    existed = out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        _start(cfg, out, changes, resume=resume)
        if cfg.model in VOLUME_MODELS:
            trainer = train_aftersam if cfg.model == "aftersam" else train_volume_model
            _, history, scores = trainer(cfg, out, resume=resume, progress=progress, volumes=volumes)
            print(
                f"3D Dice on {len(scores['per_case'])} test volumes: "
                + ", ".join(f"class {k} {v:.1f} %" for k, v in scores["mean_per_class"].items())
                + f"; mean {scores['mean']:.1f} %"
            )
            return history
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
    except BaseException:
        if fresh and not (out / STATE).is_file():  # nothing worth keeping: leave no half-made run folder
            if existed:
                _empty(out)
            else:
                shutil.rmtree(out, ignore_errors=True)
        raise


def _empty(folder: Path) -> None:
    """Remove what a failed start wrote into a folder that existed (empty) before it."""
    for child in folder.iterdir():
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()


def load_run(run_dir: Path, *, current_data: bool = False) -> tuple[TrainConfig, torch.nn.Module]:
    """The config and trained model of a run folder (any model kind), its state loaded strictly (no code runs from
    the file). A run trained under another profile or data root is refused unless ``current_data``."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(run_dir, "no such run folder")
    for name in (CONFIG, STATE):
        if not (run_dir / name).is_file():
            raise RunError(run_dir, f"no {name}: not a finished run (train it, or --resume an interrupted one)")
    if not current_data:
        recorded, now = _read_origin(run_dir), origin()
        if (recorded.get("profile"), recorded.get("data_root")) != (now["profile"], now["data_root"]):
            raise RunError(
                run_dir / ORIGIN,
                f"trained under profile {recorded.get('profile')} on data root {recorded.get('data_root')}, but the "
                f"active profile is {now['profile']} on {now['data_root']}: set SAMBOOK_PROFILE/SAMBOOK_DATA to the "
                "run's, or pass --current-data to score it on the active profile's data",
            )
    cfg = load_config(run_dir / CONFIG)
    model = build_model(cfg)
    weights = run_dir / (BEST if cfg.report_epoch == "validation" else STATE)  # the reported epoch's
    state = load_state(weights)["model"]
    if cfg.cache:  # trained through FromFeatures: keys carry its "model." prefix
        state = {k.removeprefix("model."): v for k, v in state.items()}
    load_model_state(model, state, weights)
    return cfg, model


def evaluate_run(run_dir: Path, *, current_data: bool = False) -> dict:
    """Scores of a run on its test split: Dice and HD95 per slice (Table 1 models) or 3D Dice (AFTer-SAM)."""
    cfg, model = load_run(run_dir, current_data=current_data)
    if cfg.model in VOLUME_MODELS:
        volumes = load_volumes(cfg)
        _, test_cases = split_cases(len(volumes.case_ids), seed=cfg.seed)
        score = score_run_volumes if cfg.model == "aftersam" else score_volume_model
        return {"model": cfg.model, **score(model, volumes, test_cases, cfg)}
    scores = evaluate(model, datasets(cfg)["test"], batch_size=cfg.batch_size, classes=classes_of(cfg))
    return {"model": cfg.model, **scores}
