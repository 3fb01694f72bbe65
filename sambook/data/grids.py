"""Bringing every modality of a case onto the T2 grid (the chapters from `multimodal_mri` to `registration`).

Given transforms ``T_m`` that map a T2 physical point to modality ``m``'s physical point (the phantom's ground
truth, or what registration found), the modality resampled on the T2 grid is ``M_m(T_m(x))`` for every voxel
centre ``x`` of T2: exactly what ``sitk.Resample(moving, t2, T_m)`` computes.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from sambook.data.loaders import Case
from sambook.data.modalities import MODALITIES


def to_t2_grid(case: Case, transforms: dict[str, sitk.Transform] | None,
               interpolator: int = sitk.sitkLinear) -> Case:
    """A copy of ``case`` whose modalities all lie on the T2 grid. ``transforms=None`` uses the identity, i.e.
    trusts the scanner coordinates as they are (what you get without registration)."""
    t2 = case.images["t2"]
    images = {}
    for modality, image in case.images.items():
        if modality == "t2":
            images[modality] = t2
            continue
        transform = transforms[modality] if transforms else sitk.Transform()
        images[modality] = sitk.Resample(image, t2, transform, interpolator, 0.0, sitk.sitkFloat32)
    return Case(case.case_id, images, case.label, case.gt_transforms)


def arrays(case: Case) -> tuple[np.ndarray, np.ndarray]:
    """Voxels of a case already on one grid: images (4, z, y, x) in MODALITIES order and labels (z, y, x)."""
    images = np.stack([sitk.GetArrayFromImage(case.images[m]) for m in MODALITIES]).astype(np.float32)
    return images, sitk.GetArrayFromImage(case.label)
