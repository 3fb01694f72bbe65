"""Register whole datasets: ``python -m sambook register DATA_DIR --out OUT_DIR`` (chapter `registration`).

For every case: T1, T1ce and FLAIR are registered rigidly to T2 and resampled onto the T2 grid. The output is a
co-registered dataset in the BraTS 2021 layout (readable by :func:`sambook.data.loaders.load_case`), with per
case the found transforms ``<case>_{t1,t1ce,flair}_reg.tfm`` (T2 point -> original modality point) and
``report.json`` (metric history, time and, when the phantom's ground truth exists, TRE before and after).
A failing case is reported and skipped; the command exits non-zero at the end if any case failed.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import SimpleITK as sitk

from sambook.atomic import atomic_path
from sambook.data.labels import from_internal
from sambook.data.loaders import list_cases, load_case, read_image
from sambook.data.modalities import MODALITIES
from sambook.errors import SambookError
from sambook.registration.rigid import register_rigid, resample_to
from sambook.registration.tre import brain_points, summary, tre_mm

MOVING = ("t1", "t1ce", "flair")
REPORT = "report.json"


def register_case(
    root: Path, case_id: str, out: Path, *, layout: str = "brats2021", skip: bool = False, seed: int = 0
) -> dict:
    """Register one case and write it under ``out/case_id`` atomically; returns its report."""
    case = load_case(root, case_id, layout)
    t2 = case.images["t2"]
    label = case.label
    points = None
    if case.gt_transforms:  # the phantom: TRE points in its brain tissue, else in the T2 foreground
        tissue_path = Path(root) / case_id / f"{case_id}_tissue.nii.gz"
        mask = sitk.GetArrayFromImage(read_image(tissue_path)) > 0 if tissue_path.is_file() else None
        points = brain_points(t2, mask, seed=seed)
    report: dict = {"case": case_id, "modalities": {}}
    registered, transforms = {"t2": t2}, {}
    start = time.perf_counter()
    for modality in MOVING:
        if skip:
            transforms[modality] = sitk.Euler3DTransform()
            registered[modality] = resample_to(t2, case.images[modality], transforms[modality])
            report["modalities"][modality] = {"skipped": True}
            continue
        result = register_rigid(t2, case.images[modality], case=case_id, modality=modality, seed=seed)
        transforms[modality] = result.transform
        registered[modality] = resample_to(t2, case.images[modality], result.transform)
        entry = {
            "seconds": result.seconds,
            "iterations": len(result.metric_history),
            "final_metric": result.metric_history[-1] if result.metric_history else None,
            "metric_history": result.metric_history,
            "stop_condition": result.stop_condition,
            "parameters": list(result.transform.GetParameters()),
        }
        if points is not None:
            truth = case.gt_transforms[modality]
            entry["tre_before_mm"] = summary(tre_mm(points, None, truth))
            entry["tre_after_mm"] = summary(tre_mm(points, result.transform, truth))
        report["modalities"][modality] = entry
    report["seconds"] = time.perf_counter() - start

    with atomic_path(out / case_id) as tmp:
        tmp.mkdir()
        for modality in MODALITIES:
            sitk.WriteImage(registered[modality], str(tmp / f"{case_id}_{modality}.nii.gz"))
        seg = sitk.GetImageFromArray(from_internal(sitk.GetArrayFromImage(label), "brats2021"))
        seg.CopyInformation(label)
        sitk.WriteImage(seg, str(tmp / f"{case_id}_seg.nii.gz"))
        for modality, transform in transforms.items():
            sitk.WriteTransform(transform, str(tmp / f"{case_id}_{modality}_reg.tfm"))
        (tmp / REPORT).write_text(json.dumps(report, indent=1))
        for written in tmp.glob("*.nii.gz"):  # read back before the case counts as done (a full disk writes short)
            read_image(written)
    return report


def _safe(args: tuple) -> dict:
    """Worker: one case; a project error (or an ITK or disk error) becomes a failed report instead of stopping the
    batch, so the other cases are still registered."""
    root, case_id, out, layout, skip = args
    try:
        return register_case(root, case_id, out, layout=layout, skip=skip)
    except SambookError as error:
        return {"case": case_id, "error": str(error)}
    except (RuntimeError, OSError) as error:  # ITK raises RuntimeError; a full disk OSError
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        return {"case": case_id, "error": f"case {case_id}: {type(error).__name__}: {reason}"}


def register_dataset(
    root: Path,
    out: Path,
    *,
    layout: str = "brats2021",
    skip: bool = False,
    jobs: int = 1,
    cases: list[str] | None = None,
) -> list[dict]:
    """Register every case under ``root`` (cases already complete in ``out`` are read back, not redone); a folder
    without cases is an error (:func:`~sambook.data.loaders.list_cases`)."""
    root, out = Path(root), Path(out)
    todo, reports = [], {}
    for case_id in cases or list_cases(root, layout):
        done = out / case_id / REPORT
        if done.is_file():
            reports[case_id] = json.loads(done.read_text())
        else:
            todo.append((root, case_id, out, layout, skip))
    if jobs > 1 and len(todo) > 1:
        with ProcessPoolExecutor(jobs) as pool:
            results = list(pool.map(_safe, todo))
    else:
        results = [_safe(t) for t in todo]
    reports.update({r["case"]: r for r in results})
    return [reports[c] for c in sorted(reports)]


def table(reports: list[dict]) -> str:
    """A per-case text table: TRE median / p95 after registration per modality (before in brackets) and time."""
    lines = [f"{'case':24s}" + "".join(f"{m:>24s}" for m in MOVING) + f"{'time':>9s}"]
    for report in reports:
        if "error" in report:
            lines.append(f"{report['case']:24s} FAILED: {report['error']}")
            continue
        cells = []
        for modality in MOVING:
            entry = report["modalities"][modality]
            if "tre_after_mm" in entry:
                a, b = entry["tre_after_mm"], entry["tre_before_mm"]
                cells.append(f"{a['median']:5.2f} / {a['p95']:5.2f} ({b['median']:4.1f})")
            else:
                cells.append("skipped" if entry.get("skipped") else "no ground truth")
        lines.append(f"{report['case']:24s}" + "".join(f"{c:>24s}" for c in cells) + f"{report['seconds']:8.1f}s")
    return "\n".join(lines)
