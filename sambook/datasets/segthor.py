"""SegTHOR, the AFTer-SAM paper's dataset (chapter `aftersam_volumes`): thoracic CT with four organs at risk.

The challenge's training release (registration required, not downloadable here) unpacks as::

    train/Patient_01/Patient_01.nii.gz   CT, Hounsfield units
    train/Patient_01/GT.nii.gz           0 background, 1 oesophagus, 2 heart, 3 trachea, 4 aorta

:func:`load_segthor` reads such a folder into the same :class:`~sambook.datasets.volumes.VolumeSet` as the phantom's
volumes, so AFTer-SAM trains on it unchanged (``dataset: segthor`` in a config). As in the AFTer-SAM paper, each
volume is first **resampled to 2.5 x 1.0 x 1.0 mm** (depth x height x width; SimpleITK, linear for the CT, nearest
neighbour for the labels), so that a slice interval N_f = 1 means 2.5 mm in every case. CT intensities are then
clipped to a window (default [-1000, 1000] HU, lungs to bone) and divided by half its width, so they lie in
[-1, 1]; slices are padded to a square and resized in-plane as the phantom's are. The native labels and grid are
kept, so that Dice is scored on each case's original grid (:func:`sambook.datasets.volumes.to_case_grid`). Every
problem raises :class:`~sambook.errors.DataError` naming the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from sambook.data.loaders import read_image, same_grid
from sambook.datasets.slices import resize_slice
from sambook.datasets.volumes import Resampling, VolumeSet
from sambook.errors import DataError

ORGANS = ("background", "oesophagus", "heart", "trachea", "aorta")
#: The AFTer-SAM paper's working spacing in mm: depth x height x width.
SPACING_MM = (2.5, 1.0, 1.0)
AIR_HU = -1000.0  # fills what a resampled CT grid reaches beyond the scan


def patient_folders(root: Path) -> list[Path]:
    """``root/train/Patient_XX`` folders (or ``root/Patient_XX`` when ``root`` is the train folder), sorted."""
    root = Path(root)
    base = root / "train" if (root / "train").is_dir() else root
    folders = sorted(p for p in base.glob("Patient_*") if p.is_dir())
    if not folders:
        raise DataError(root, "no Patient_XX folders (expected the SegTHOR layout train/Patient_XX/)")
    return folders


def window(ct: np.ndarray, low: float = -1000.0, high: float = 1000.0) -> np.ndarray:
    """Clip Hounsfield units to [low, high] and map that window linearly onto [-1, 1]."""
    centre, half = (high + low) / 2, (high - low) / 2
    return ((np.clip(ct, low, high) - centre) / half).astype(np.float32)


def working_origin(image: sitk.Image, spacing: tuple[float, float, float]) -> tuple[float, float, float]:
    """The origin (first voxel centre) of a grid of ``spacing`` (x, y, z) whose first voxel shares its corner with
    ``image``'s: origin + direction · (new spacing - old spacing) / 2. Keeping the corner, not the centre, keeps a
    structure where it is instead of shifting it by half a voxel."""
    direction = np.array(image.GetDirection()).reshape(3, 3)
    shift = direction @ ((np.array(spacing) - np.array(image.GetSpacing())) / 2)
    return tuple(float(v) for v in np.array(image.GetOrigin()) + shift)


def resample(image: sitk.Image, spacing_mm: tuple[float, float, float], *, labels: bool) -> sitk.Image:
    """``image`` on a grid of ``spacing_mm`` (depth, height, width) with the same direction and first-voxel corner,
    covering the same extent: linear interpolation for intensities, nearest neighbour for ``labels``."""
    spacing = tuple(float(s) for s in reversed(spacing_mm))  # SimpleITK order: x, y, z
    size = [max(1, int(round(n * old / new))) for n, old, new in zip(image.GetSize(), image.GetSpacing(), spacing)]
    return sitk.Resample(
        image if labels else sitk.Cast(image, sitk.sitkFloat32),
        size,
        sitk.Transform(),
        sitk.sitkNearestNeighbor if labels else sitk.sitkLinear,
        working_origin(image, spacing),
        spacing,
        image.GetDirection(),
        0 if labels else AIR_HU,
        image.GetPixelID() if labels else sitk.sitkFloat32,
    )


def read_images(folder: Path) -> tuple[sitk.Image, sitk.Image]:
    """One patient's CT and label images, checked against each other."""
    ct_path, gt_path = folder / f"{folder.name}.nii.gz", folder / "GT.nii.gz"
    ct, gt = read_image(ct_path), read_image(gt_path)
    for image, path in ((ct, ct_path), (gt, gt_path)):
        if image.GetDimension() != 3:
            raise DataError(path, f"expected a 3D image, got {image.GetDimension()}D size {image.GetSize()}")
    mismatch = same_grid(gt, ct)  # size, spacing, origin and direction: a shifted label would train on wrong voxels
    if mismatch:
        raise DataError(gt_path, f"label {mismatch.split(' ', 1)[0]} does not match the CT's: {mismatch}")
    labels = sitk.GetArrayFromImage(gt)
    unknown = sorted(v.item() for v in np.unique(labels) if v != int(v) or int(v) not in range(len(ORGANS)))
    if unknown:
        raise DataError(gt_path, f"unknown label values {unknown} (SegTHOR has 0-{len(ORGANS) - 1})")
    return ct, gt


def load_segthor(
    root: str | Path,
    *,
    image_size: int,
    limit: int | None = None,
    spacing_mm: tuple[float, float, float] = SPACING_MM,
) -> VolumeSet:
    """Every labelled patient under ``root`` (at most ``limit``), resampled to ``spacing_mm`` (depth, height, width),
    as volumes of ``image_size``² slices; each case's native labels and grid are kept for scoring."""
    out = VolumeSet([], [], [], [], [])
    for folder in patient_folders(Path(root))[:limit]:
        ct_image, gt_image = read_images(folder)
        ct = sitk.GetArrayFromImage(resample(ct_image, spacing_mm, labels=False))
        labels = sitk.GetArrayFromImage(resample(gt_image, spacing_mm, labels=True)).astype(np.uint8)
        pairs = [resize_slice(window(ct[z])[None], labels[z], image_size) for z in range(len(ct))]
        out.images.append(np.stack([p[0][0] for p in pairs]))
        out.labels.append(np.stack([p[1] for p in pairs]))
        out.case_ids.append(folder.name)
        out.shapes.append(labels.shape)
        out.spacing_mm.append((float(spacing_mm[1] * pairs[0][2]), float(spacing_mm[2] * pairs[0][2])))
        out.original_labels.append(sitk.GetArrayFromImage(gt_image).astype(np.uint8))
        out.resampling.append(
            Resampling(
                native_size=gt_image.GetSize(),
                native_spacing=gt_image.GetSpacing(),
                native_origin=gt_image.GetOrigin(),
                direction=gt_image.GetDirection(),
                working_spacing=tuple(float(s) for s in reversed(spacing_mm)),
                working_origin=working_origin(gt_image, tuple(float(s) for s in reversed(spacing_mm))),
            )
        )
    return out
