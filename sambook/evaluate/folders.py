"""BraTS scores of a folder of NIfTI predictions against a folder of ground truths (``python -m sambook score``).

Cases are matched by name: ``<case>.nii.gz``, ``<case>_seg.nii.gz`` and ``<case>-seg.nii.gz`` (``.nii`` too) all name
case ``<case>``, on either side, as do ``<case>/<case>_seg.nii.gz`` and ``<case>/<case>-seg.nii.gz`` in case folders
(so a BraTS 2021 or 2023 dataset folder can be the ground truth as it is). Both sides hold label maps of one layout
(``--labels``, default ``brats2021``), read as the BraTS regions WT, TC and ET (:mod:`sambook.evaluate.regions`),
and scored under the rules of :mod:`sambook.evaluate.brats`: ``legacy`` (whole-volume Dice and HD95) and/or
``lesionwise`` (BraTS 2023).

The command prints :func:`format_table` and, with ``--json FILE``, writes (atomically, replacing FILE) ::

    {"cases": {case: {region: {"legacy_dice", "legacy_hd95", "lesion_dice", "lesion_hd95"}}},
     "mean": {region: {...}}, "rules": [...], "labels": layout, "errors": {case: message}}

Dice is a fraction 0-1, HD95 in mm; the two scores of a rule not requested are ``null`` (the keys stay). The mean is
over the scored cases (``null`` when none was). A case that cannot be scored (no prediction, no ground truth, two
files for one case, an unreadable file, grids that differ in size, spacing, origin or direction, a label value the
layout does not know) is reported with the file and the problem, and the others are still scored; the exit status
is 0 only when every case was scored (and 1 when there was none). Used in chapters `fusing_modalities` and
`aftersam_volumes`.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from sambook.data.loaders import read_image, same_grid
from sambook.errors import DataError, SambookError
from sambook.evaluate.brats import RULES, SCORE_KEYS, score_regions
from sambook.evaluate.regions import REGIONS, region_masks

CASE_NAME = re.compile(r"^(?P<case>.+?)(?:[_-]seg)?\.nii(?:\.gz)?$")


def find_cases(folder: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """``({case: file}, {case: error})`` of the NIfTI files of ``folder`` and of its case folders
    (``<case>/<case>_seg.nii.gz`` or ``<case>/<case>-seg.nii.gz``, the BraTS layouts); two files of one case are an
    error."""
    if not folder.is_dir():
        raise DataError(folder, "folder is missing")
    found: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        if path.is_dir():
            for name in (f"{path.name}_seg", f"{path.name}-seg"):
                for suffix in (".nii.gz", ".nii"):
                    if (path / f"{name}{suffix}").is_file():
                        found.setdefault(path.name, []).append(path / f"{name}{suffix}")
        elif match := CASE_NAME.match(path.name):
            found.setdefault(match["case"], []).append(path)
    files = {case: paths[0] for case, paths in found.items() if len(paths) == 1}
    errors = {
        case: f"{folder}: several files for case {case}: {', '.join(str(p.relative_to(folder)) for p in paths)}"
        for case, paths in found.items()
        if len(paths) > 1
    }
    return files, errors


def score_case(pred_path: Path, gt_path: Path, layout: str, rules: tuple[str, ...]) -> dict:
    """``{region: scores}`` of one case; raises :class:`DataError` naming the file at fault."""
    gt, pred = read_image(gt_path), read_image(pred_path)
    mismatch = same_grid(pred, gt)
    if mismatch:
        raise DataError(pred_path, f"grid differs from {gt_path}: {mismatch}")
    spacing = tuple(reversed(gt.GetSpacing()))  # array axis order (z, y, x)
    true = region_masks(sitk.GetArrayFromImage(gt), layout, gt_path)
    predicted = region_masks(sitk.GetArrayFromImage(pred), layout, pred_path)
    return score_regions(predicted, true, spacing, rules)


def mean_scores(cases: dict[str, dict]) -> dict[str, dict[str, float | None]]:
    """Per region and score, the mean over cases (``None`` for a rule not requested or when no case was scored)."""
    out = {}
    for name in REGIONS:
        out[name] = {}
        for key in SCORE_KEYS:
            values = [scores[name][key] for scores in cases.values() if scores[name][key] is not None]
            out[name][key] = float(np.mean(values)) if values else None
    return out


def format_table(cases: dict[str, dict], mean: dict[str, dict]) -> str:
    """One line per case and region, then the means; ``-`` for a rule not requested."""

    def cell(value: float | None, digits: int) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    width = max([len("case"), len("mean"), *map(len, cases)])
    lines = [f"{'case':<{width}}  region  legacy Dice  legacy HD95 (mm)  lesion Dice  lesion HD95 (mm)"]
    for case, regions in [*cases.items(), ("mean", mean)]:
        for name, s in regions.items():
            lines.append(
                f"{case:<{width}}  {name:<6}  {cell(s['legacy_dice'], 4):>11}  {cell(s['legacy_hd95'], 2):>16}"
                f"  {cell(s['lesion_dice'], 4):>11}  {cell(s['lesion_hd95'], 2):>16}"
            )
    return "\n".join(lines)


def score_folders(
    pred_dir: Path, gt_dir: Path, layout: str = "brats2021", rules: tuple[str, ...] = RULES
) -> tuple[dict[str, dict], dict[str, str]]:
    """``({case: {region: scores}}, {case: error message})`` of every case found on either side."""
    preds, errors = find_cases(pred_dir)
    truths, gt_errors = find_cases(gt_dir)
    errors.update(gt_errors)
    scored = {}
    for case in sorted(set(preds) | set(truths) | set(errors)):
        if case in errors:
            continue
        if case not in preds:
            errors[case] = f"{truths[case]}: no prediction for case {case} in {pred_dir}"
        elif case not in truths:
            errors[case] = f"{preds[case]}: no ground truth for case {case} in {gt_dir}"
        else:
            try:
                scored[case] = score_case(preds[case], truths[case], layout, rules)
            except SambookError as error:
                errors[case] = str(error)
    return scored, dict(sorted(errors.items()))
