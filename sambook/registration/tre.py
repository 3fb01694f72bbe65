"""Target registration error (chapter `registration`): how far a found transform puts brain points from where the ground
truth puts them,

    TRE(x) = || T_found(x) - T_true(x) ||_2   (mm),   over points x sampled in the T2 brain.

"Before registration" compares the identity (scanner coordinates) with the truth.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk


def brain_points(reference: sitk.Image, mask: np.ndarray | None = None, n: int = 2000, seed: int = 0) -> np.ndarray:
    """``n`` random voxel centres (physical, mm) of ``mask`` (z, y, x) on the reference grid; without a mask,
    of the reference's foreground (voxels above the mean intensity)."""
    if mask is None:
        voxels = sitk.GetArrayViewFromImage(reference)
        mask = voxels > float(np.mean(voxels))
    index = np.argwhere(mask)
    chosen = index[np.random.default_rng(seed).choice(len(index), size=min(n, len(index)), replace=False)]
    return np.array([reference.TransformIndexToPhysicalPoint([int(i) for i in idx[::-1]]) for idx in chosen])


def tre_mm(points: np.ndarray, found: sitk.Transform | None, truth: sitk.Transform) -> np.ndarray:
    """Distances (mm) between where ``found`` (identity when None) and ``truth`` map each point."""
    mapped = points if found is None else np.array([found.TransformPoint(tuple(p)) for p in points])
    true = np.array([truth.TransformPoint(tuple(p)) for p in points])
    return np.linalg.norm(mapped - true, axis=1)


def summary(distances: np.ndarray) -> dict[str, float]:
    """Median, 95th percentile and maximum of a TRE sample, in mm."""
    return {
        "median": float(np.median(distances)),
        "p95": float(np.percentile(distances, 95)),
        "max": float(distances.max()),
    }
