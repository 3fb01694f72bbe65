"""SegTHOR, the AFTer-SAM paper's dataset (chapter `aftersam_volumes`): thoracic CT with four organs at risk.

The challenge's training release (registration required, not downloadable here) unpacks as::

    train/Patient_01/Patient_01.nii.gz   CT, Hounsfield units
    train/Patient_01/GT.nii.gz           0 background, 1 oesophagus, 2 heart, 3 trachea, 4 aorta

:func:`load_segthor` reads such a folder into the same :class:`~sambook.datasets.volumes.VolumeSet` as the phantom's
volumes, so AFTer-SAM trains on it unchanged (``dataset: segthor`` in a config). CT intensities are clipped to a
window (default [-1000, 1000] HU, lungs to bone) and divided by half its width, so they lie in [-1, 1]; slices are
padded to a square and resized in-plane as the phantom's are. Every problem raises
:class:`~sambook.errors.DataError` naming the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from sambook.data.loaders import read_image, same_grid
from sambook.datasets.slices import resize_slice
from sambook.datasets.volumes import VolumeSet
from sambook.errors import DataError

ORGANS = ("background", "oesophagus", "heart", "trachea", "aorta")


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


def read_patient(folder: Path) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """One patient: CT (D, H, W) in HU, labels (D, H, W) uint8 and in-plane spacing (y, x) in mm."""
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
    spacing = np.array(ct.GetSpacing())[[1, 0]]
    return sitk.GetArrayFromImage(ct).astype(np.float32), labels.astype(np.uint8), (spacing[0], spacing[1])


def load_segthor(root: str | Path, *, image_size: int, limit: int | None = None) -> VolumeSet:
    """Every labelled patient under ``root`` (at most ``limit``) as volumes of ``image_size``² slices."""
    out = VolumeSet([], [], [], [], [])
    for folder in patient_folders(Path(root))[:limit]:
        ct, labels, spacing = read_patient(folder)
        pairs = [resize_slice(window(ct[z])[None], labels[z], image_size) for z in range(len(ct))]
        out.images.append(np.stack([p[0][0] for p in pairs]))
        out.labels.append(np.stack([p[1] for p in pairs]))
        out.case_ids.append(folder.name)
        out.shapes.append(labels.shape)
        out.spacing_mm.append((float(spacing[0] * pairs[0][2]), float(spacing[1] * pairs[0][2])))
    return out
