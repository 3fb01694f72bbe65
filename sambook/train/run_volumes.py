"""Volume-level BraTS scores of a trained run on its test cases (chapters `fusing_modalities` and
`aftersam_volumes`).

Every test case of the run (the cases of its test split: whole patients) is segmented on its registered T2 grid by
:func:`sambook.evaluate.segment.segment`, every slice of the volume, and scored as BraTS regions (WT for a binary
model; WT, TC and ET for a multi-class one) under the legacy and the lesion-wise rules of
:mod:`sambook.evaluate.brats`, HD95 in mm from the header's spacing. ``python -m sambook predict`` followed by
``python -m sambook score`` on the same cases gives the same numbers (``tests/test_predict.py`` checks it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sambook.config import TrainConfig
from sambook.data.grids import arrays
from sambook.data.loaders import list_cases, load_case
from sambook.datasets.slices import registered_phantom
from sambook.errors import ConfigError
from sambook.evaluate.brats import RULES
from sambook.evaluate.segment import mean_over_cases, regions_scored, score_volume, segment
from sambook.profiles import get_profile
from sambook.train.runs import CONFIG, datasets, load_run
from sambook.train.volumes import split_cases


def test_case_ids(cfg: TrainConfig) -> list[str]:
    """The case ids of a resolved config's test split on the phantom of the active profile."""
    if cfg.dataset != "phantom":
        raise ConfigError(f"dataset {cfg.dataset!r}: BraTS regions are scored on the glioma phantom only")
    if cfg.model == "aftersam":
        cases = list_cases(registered_phantom(get_profile()), "brats2021")
        return [cases[i] for i in split_cases(len(cases), seed=cfg.seed)[1]]
    if cfg.split != "patient":
        raise ConfigError(f"split {cfg.split!r}: volumes are scored on whole test patients (split: patient)")
    test = datasets(cfg)["test"]
    return sorted(np.unique(test.slices.case_ids[test.indices]).tolist())


def evaluate_volumes(
    model: torch.nn.Module,
    cfg: TrainConfig,
    case_ids: list[str],
    *,
    root: Path | None = None,
    rules: tuple[str, ...] = RULES,
    predictions: dict[str, np.ndarray] | None = None,
) -> dict:
    """``{"regions", "rules", "cases": {case: {region: scores}}, "mean": {region: scores}}`` of ``model`` on the
    registered cases ``case_ids`` under ``root`` (default: the active profile's registered phantom). Each predicted
    label map is also stored in ``predictions`` (by case id) when a dict is given."""
    root = root if root is not None else registered_phantom(get_profile())
    regions = regions_scored(cfg)
    cases = {}
    for case_id in case_ids:
        case = load_case(root, case_id)
        images, labels = arrays(case)
        pred = segment(model, cfg, images)
        if predictions is not None:
            predictions[case_id] = pred
        spacing = tuple(reversed(case.label.GetSpacing()))  # array order (z, y, x)
        cases[case_id] = score_volume(pred, labels, spacing, regions, rules)
    return {"regions": list(regions), "rules": list(rules), "cases": cases, "mean": mean_over_cases(cases, regions)}


def evaluate_run_volumes(run_dir: Path, *, rules: tuple[str, ...] = RULES) -> dict:
    """Volume-level BraTS scores of a run folder (``config.yaml`` and ``state.pt``) on its test cases, shaped as
    :func:`evaluate_volumes`'s, with the model kind."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).is_file():
        raise ConfigError(f"{run_dir / CONFIG}: missing (not a run folder written by `train`)")
    cfg, model = load_run(run_dir)
    return {"model": cfg.model, **evaluate_volumes(model, cfg, test_case_ids(cfg), rules=rules)}
