"""Segment new, unlabelled cases with a trained run (``python -m sambook predict``; chapter `fusing_modalities`).

For each case:

1. **find** its modalities: a BraTS 2021 folder ``<case>/<case>_{t1,t1ce,t2,flair}.nii.gz``, a BraTS 2023 folder
   ``<case>/<case>-{t1n,t1c,t2w,t2f}.nii.gz`` (``.nii`` too), or four explicit files. Only the modalities the
   run's model reads must exist (:func:`sambook.evaluate.segment.modalities_read`: all four for early fusion and
   CMAA; T2 and its own for one-modality SAM and AFTer-SAM), each read and checked by
   :func:`sambook.data.loaders.read_image`;
2. **register** every other modality rigidly to T2 and resample it onto the T2 grid, as chapter `registration`
   does (:func:`sambook.registration.register_rigid`, same seed), unless told the modalities are co-registered
   already (``--skip-registration``: a modality on the T2 grid is used as it is, any other resampled with the
   identity);
3. **segment** the volume with the run's model (:func:`sambook.evaluate.segment.segment`: normalised and resized
   as in training, slice by slice or in AFTer-SAM's slice groups, back on the T2 grid);
4. **write** ``OUT/<case>_seg.nii.gz`` on the case's own T2 grid (size, spacing, origin and direction copied from
   the T2 header) in the label codes asked for (:func:`sambook.data.labels.from_internal`), and
   ``OUT/<case>_seg.png``, an overview of the slices with the most predicted tumour. A binary model's whole-tumour
   mask is written with the oedema code (2), so it reads as WT with empty TC and ET.

Outputs appear whole or not at all (:func:`sambook.atomic.atomic_path`) and are never replaced unless asked. A case
that cannot be segmented (missing or broken file, failed registration, existing output) is reported with the file
and the problem and skipped; the others carry on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sambook import viz
from sambook.atomic import atomic_path
from sambook.config import TrainConfig
from sambook.data.labels import ED, from_internal
from sambook.data.loaders import BRATS2023_SUFFIX, read_image, same_grid
from sambook.data.modalities import MODALITIES
from sambook.errors import DataError, SambookError
from sambook.evaluate.segment import modalities_read, segment
from sambook.registration import register_rigid, resample_to
from sambook.train.runs import load_run

OUTPUT_LAYOUTS = ("brats2021", "brats2023")
SUFFIXES = (".nii.gz", ".nii")


@dataclass
class CaseFiles:
    """One case to segment: its id (the output's name) and a file per modality found (keys of MODALITIES)."""

    case_id: str
    files: dict[str, Path] = field(default_factory=dict)
    source: Path | None = None  # the case folder, when there is one


def find_modalities(case_dir: Path) -> CaseFiles:
    """The modality files of a BraTS 2021 or 2023 case folder (named after the folder); ``DataError`` when the
    folder is missing or holds neither layout's T2."""
    case_dir = Path(case_dir)
    if not case_dir.is_dir():
        raise DataError(case_dir, "case folder is missing")
    case_id = case_dir.name
    layouts = {
        "brats2021": {m: f"{case_id}_{m}" for m in MODALITIES},
        "brats2023": {m: f"{case_id}-{BRATS2023_SUFFIX[m]}" for m in MODALITIES},
    }
    for names in layouts.values():
        found = {
            m: case_dir / f"{name}{s}"
            for m, name in names.items()
            for s in SUFFIXES
            if (case_dir / f"{name}{s}").is_file()
        }
        if "t2" in found:
            return CaseFiles(case_id, found, case_dir)
    raise DataError(
        case_dir, f"no T2 image: expected {case_id}_t2.nii.gz (BraTS 2021) or {case_id}-t2w.nii.gz (BraTS 2023)"
    )


def explicit_case(files: dict[str, Path], case_id: str | None = None) -> CaseFiles:
    """A case given as one file per modality; its id defaults to the T2 file's name without ``_t2``/``-t2w``."""
    if "t2" not in files:
        raise ValueError("explicit modality files need at least --t2")
    if case_id is None:
        name = Path(files["t2"]).name
        for suffix in SUFFIXES:
            name = name.removesuffix(suffix)
        case_id = name.removesuffix("_t2").removesuffix("-t2w") or name
    return CaseFiles(case_id, {m: Path(p) for m, p in files.items()})


def gather_cases(
    case_dirs: list[Path], explicit: dict[str, Path] | None = None, case_id: str | None = None
) -> tuple[list[CaseFiles], dict[str, str]]:
    """The cases of some case folders and of one set of explicit files: ``(cases, {case: error})``; a folder
    without a T2 image, or a second case of one id, is an error."""
    cases, errors = [], {}
    sources = [Path(d) for d in case_dirs]
    for case_dir in sources:
        try:
            cases.append(find_modalities(case_dir))
        except DataError as error:
            errors[case_dir.name] = str(error)
    if explicit:
        cases.append(explicit_case(explicit, case_id))
    seen: dict[str, CaseFiles] = {}
    for case in cases:
        if case.case_id in seen:
            errors[case.case_id] = f"{case.source or case.files['t2']}: a second case named {case.case_id}"
        else:
            seen[case.case_id] = case
    return [c for c in cases if c.case_id not in errors], errors


def read_modalities(case: CaseFiles, needed: tuple[str, ...]) -> dict[str, sitk.Image]:
    """The ``needed`` modalities of a case as 3D images; ``DataError`` naming the missing or broken file."""
    images = {}
    for modality in needed:
        path = case.files.get(modality)
        if path is None:
            where = case.source if case.source is not None else case.case_id
            raise DataError(where, f"missing modality {modality} (the model reads {', '.join(needed)})")
        image = read_image(path)
        if image.GetDimension() != 3:
            raise DataError(path, f"expected a 3D image, got {image.GetDimension()}D of size {image.GetSize()}")
        images[modality] = image
    return images


def on_t2_grid(images: dict[str, sitk.Image], case_id: str, *, register: bool = True, seed: int = 0) -> np.ndarray:
    """Every modality on the T2 grid as an array (4, D, H, W) in MODALITIES order (zeros for one not given):
    registered rigidly to T2 as in chapter `registration`, or with ``register=False`` taken as it is when it already
    shares T2's grid and resampled with the identity (scanner coordinates trusted) when not."""
    t2 = images["t2"]
    out = np.zeros((len(MODALITIES), *sitk.GetArrayViewFromImage(t2).shape), dtype=np.float32)
    for c, modality in enumerate(MODALITIES):
        image = images.get(modality)
        if image is None:
            continue
        if register and modality != "t2":
            transform = register_rigid(t2, image, case=case_id, modality=modality, seed=seed).transform
            image = resample_to(t2, image, transform)
        elif same_grid(image, t2) is not None:
            image = resample_to(t2, image, sitk.Euler3DTransform())
        out[c] = sitk.GetArrayFromImage(image)
    return out


def label_image(pred: np.ndarray, cfg: TrainConfig, t2: sitk.Image, layout: str) -> sitk.Image:
    """A prediction of :func:`segment` as a uint8 label image in ``layout``'s codes, on T2's grid."""
    internal = np.where(pred > 0, ED, 0).astype(np.uint8) if cfg.num_classes == 1 else pred
    image = sitk.GetImageFromArray(from_internal(internal, layout))
    image.CopyInformation(t2)
    return image


def overview(images: np.ndarray, pred: np.ndarray, cfg: TrainConfig, title: str) -> Figure:
    """The three axial slices with the most predicted tumour (the middle one if none), over the model's modality
    (FLAIR for four-modality models), without and with the prediction overlaid."""
    shown = MODALITIES.index("flair" if cfg.model in ("early", "cmaa") else cfg.modality)
    counts = (pred > 0).sum(axis=(1, 2))
    slices = sorted(np.argsort(-counts, kind="stable")[:3].tolist()) if counts.any() else [len(pred) // 2]
    internal = np.where(pred > 0, ED, 0) if cfg.num_classes == 1 else pred
    fig = Figure(figsize=(3 * len(slices), 6.4))
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, len(slices), squeeze=False)
    for col, z in enumerate(slices):
        viz.show_slice(axes[0, col], images[shown, z], None, f"{MODALITIES[shown]} z={z}")
        viz.show_slice(axes[1, col], images[shown, z], internal[z], f"prediction z={z}")
    fig.suptitle(title, fontsize=9)
    return fig


def predict_case(
    model: torch.nn.Module,
    cfg: TrainConfig,
    case: CaseFiles,
    out: Path,
    *,
    layout: str = "brats2021",
    register: bool = True,
    overwrite: bool = False,
) -> Path:
    """Segment one case into ``out/<case>_seg.nii.gz`` (and its ``.png`` overview); returns the NIfTI path."""
    if layout not in OUTPUT_LAYOUTS:
        raise ValueError(f"unknown label layout {layout!r} (expected one of {OUTPUT_LAYOUTS})")
    target, figure = out / f"{case.case_id}_seg.nii.gz", out / f"{case.case_id}_seg.png"
    if not overwrite and (target.exists() or figure.exists()):
        raise DataError(target, "already exists (pass --overwrite to replace it)")
    images = read_modalities(case, modalities_read(cfg))
    arrays = on_t2_grid(images, case.case_id, register=register)
    pred = segment(model, cfg, arrays)
    with atomic_path(target) as tmp:
        sitk.WriteImage(label_image(pred, cfg, images["t2"], layout), str(tmp))
    fig = overview(arrays, pred, cfg, f"{case.case_id}: {int((pred > 0).sum())} tumour voxels predicted")
    with atomic_path(figure) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    return target


def predict_cases(
    run_dir: Path,
    cases: list[CaseFiles],
    out: Path,
    *,
    layout: str = "brats2021",
    register: bool = True,
    overwrite: bool = False,
    device: str | None = None,
    report: Callable[[str], None] = print,
) -> tuple[dict[str, Path], dict[str, str]]:
    """Segment every case with the run in ``run_dir``: ``({case: written file}, {case: error message})``; each
    outcome is also passed to ``report`` as a line as soon as it is known."""
    cfg, model = load_run(Path(run_dir))
    model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    written, errors = {}, {}
    for case in cases:
        try:
            written[case.case_id] = predict_case(
                model, cfg, case, Path(out), layout=layout, register=register, overwrite=overwrite
            )
            report(f"{case.case_id}: wrote {written[case.case_id]}")
        except SambookError as error:
            errors[case.case_id] = str(error)
            report(f"{case.case_id}: skipped: {error}")
    return written, errors
