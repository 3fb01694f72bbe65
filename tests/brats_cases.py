"""Small synthetic (prediction, ground truth, spacing) cases for the BraTS scoring rules.

Shared by ``tests/test_brats_scores.py`` and ``tests/brats_reference.py`` (which runs the independent
implementations on them): it needs only numpy and nibabel, so that it runs in their virtual environments too.
Masks are boolean arrays in nibabel's axis order; spacing (mm) is in the same order.
"""

from __future__ import annotations

from pathlib import Path

import nibabel
import numpy as np
from scipy import ndimage

SHAPE = (32, 32, 32)


def box(*corner_and_size: tuple[int, int]) -> np.ndarray:
    """Boolean mask of an axis-aligned box given ``(start, size)`` per axis."""
    mask = np.zeros(SHAPE, dtype=bool)
    mask[tuple(slice(start, start + size) for start, size in corner_and_size)] = True
    return mask


def blobs(seed: int, shape: tuple[int, int, int] = (48, 48, 48)) -> tuple[np.ndarray, np.ndarray]:
    """(prediction, ground truth) with many lesions of random shapes and sizes: a smoothed noise field above its 97th
    percentile, the prediction from the same field plus weaker, finer smoothed noise."""
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.standard_normal(shape), 3.0)
    noise = ndimage.gaussian_filter(rng.standard_normal(shape), 1.5)
    threshold = np.quantile(field, 0.97)
    return field + 0.3 * noise * field.std() / noise.std() > threshold, field > threshold


def cases() -> dict[str, tuple[np.ndarray, np.ndarray, tuple[float, float, float]]]:
    """name -> (prediction, ground truth, spacing). Lesion sizes in voxels are in the comments."""
    empty = np.zeros(SHAPE, dtype=bool)
    cube = box((8, 6), (8, 6), (8, 6))  # 216 voxels
    iso = (1.0, 1.0, 1.0)
    return {
        "both_empty": (empty, empty, iso),
        "pred_empty": (empty, cube, iso),
        "gt_empty": (cube, empty, iso),
        "identical": (cube, cube, iso),
        # a 2x2x2 prediction beyond a gap of 12 voxels: a false positive
        "far_small_fp": (cube | box((26, 2), (26, 2), (26, 2)), cube, iso),
        # a 27-voxel ground-truth lesion (<= 50 mm3) far from the cube, not predicted: dropped
        "small_lesion": (cube, cube | box((26, 3), (26, 3), (26, 3)), iso),
        # two boxes with a gap of 10 voxels: a missed lesion and a false positive
        "disjoint_far": (box((24, 6), (8, 6), (8, 6)), cube, iso),
        "shift_one": (box((9, 6), (8, 6), (8, 6)), cube, iso),
        # a prediction beyond a gap of 2 voxels, inside the 3 dilations: matched (a poor lesion), not a false positive
        "within_dilation": (box((16, 4), (8, 6), (8, 6)), cube, iso),
        # one voxel 3 steps away along each axis from the cube's corner: inside a 3x3x3-cube dilation, outside
        # the 18-neighbourhood dilation of the BraTS 2023 script
        "diagonal_voxel": (cube | box((16, 1), (16, 1), (16, 1)), cube, iso),
        # two ground-truth boxes with a gap of 4 voxels merge into one lesion; only one is predicted
        "merged_lesions": (cube, cube | box((18, 6), (8, 6), (8, 6)), iso),
        # anisotropic spacing: a one-voxel shift along the 2.5 mm axis
        "anisotropic_shift": (box((9, 6), (8, 6), (8, 6)), cube, (2.5, 1.0, 0.8)),
        # a 27-voxel lesion of 27 * 2.5 mm3 = 67.5 mm3 > 50 mm3: kept because the floor is a volume
        "anisotropic_floor": (cube, cube | box((26, 3), (26, 3), (26, 3)), (2.5, 1.0, 1.0)),
        # boxes touching the volume's faces: surfaces at the border
        "at_the_border": (box((0, 6), (0, 6), (26, 6)), box((1, 6), (0, 6), (26, 6)), iso),
        # ~30 components merging into ~20 lesions, half of them below the floor, ~10 false positives
        "random_blobs": (*blobs(0), iso),
        "random_blobs_anisotropic": (*blobs(1), (1.0, 1.2, 2.0)),
    }


def write_label(path: Path, mask: np.ndarray, spacing: tuple[float, ...], value: int = 1) -> None:
    """Write ``mask`` as a label map (``value`` inside, 0 outside) with voxel size ``spacing``."""
    affine = np.diag([*spacing, 1.0])
    nibabel.save(nibabel.Nifti1Image((mask * value).astype(np.uint8), affine), str(path))
