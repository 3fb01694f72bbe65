"""Real anatomy for the phantom: the MNI ICBM152 2009a template and its tissue probability maps (chapter `multimodal_mri`).

The template (T1, grey- and white-matter probability maps, brain mask) ships inside the ``nilearn`` wheel, so
nothing is downloaded. CSF is what the brain mask holds beyond grey and white matter. Each phantom case gets its
own anatomy by a random anisotropic scaling and a smooth random deformation of the template.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

TISSUES = ("csf", "gm", "wm")
MARGIN_MM = 6.0  # kept around the brain's bounding box


@dataclass
class Anatomy:
    """Tissue probabilities on one grid: ``probs[t]`` in [0, 1] for t in (csf, gm, wm); they sum to <= 1."""

    probs: dict[str, np.ndarray]  # each (z, y, x), float32
    grid: sitk.Image  # geometry (origin, spacing, direction) of the arrays; its voxels are unused

    @property
    def brain(self) -> np.ndarray:
        """Probability of being brain tissue at all, (z, y, x)."""
        return sum(self.probs.values())


def _read(path: str) -> sitk.Image:
    return sitk.Cast(sitk.ReadImage(path), sitk.sitkFloat32) / 255.0


def _downsample(image: sitk.Image, reference: sitk.Image, spacing_mm: float) -> sitk.Image:
    """Anti-aliased resampling of a 1 mm map onto ``reference`` (Gaussian of sigma ~ half the new spacing)."""
    if spacing_mm > 1.0:
        image = sitk.SmoothingRecursiveGaussian(image, 0.5 * spacing_mm)
    return sitk.Resample(image, reference, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)


@functools.lru_cache(maxsize=4)
def template(spacing_mm: float) -> Anatomy:
    """The MNI template's tissue maps at an isotropic ``spacing_mm``, cropped to the brain plus a margin."""
    from nilearn import datasets

    gm, wm = _read(datasets.GM_MNI152_FILE_PATH), _read(datasets.WM_MNI152_FILE_PATH)
    mask = sitk.Cast(sitk.ReadImage(datasets.MNI152_FILE_PATH) > 0, sitk.sitkFloat32)
    mask = sitk.Cast(sitk.BinaryFillhole(sitk.Cast(mask, sitk.sitkUInt8)), sitk.sitkFloat32)
    # Bounding box of the brain in physical space, plus a margin, sampled at the new spacing.
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(sitk.Cast(mask, sitk.sitkUInt8))
    x0, y0, z0, sx, sy, sz = stats.GetBoundingBox(1)
    corner_a = np.array(mask.TransformIndexToPhysicalPoint((x0, y0, z0)))
    corner_b = np.array(mask.TransformIndexToPhysicalPoint((x0 + sx - 1, y0 + sy - 1, z0 + sz - 1)))
    direction = np.array(mask.GetDirection()).reshape(3, 3)
    # Size along each image axis (the direction matrix is a signed permutation for the MNI template).
    extent = np.abs(direction.T @ (corner_b - corner_a)) + 2 * MARGIN_MM
    size = [int(np.ceil(e / spacing_mm)) + 1 for e in extent]
    origin = corner_a - direction @ (np.sign(direction.T @ (corner_b - corner_a)) * MARGIN_MM)
    reference = sitk.Image(size, sitk.sitkFloat32)
    reference.SetSpacing([spacing_mm] * 3)
    reference.SetDirection(mask.GetDirection())
    reference.SetOrigin(tuple(origin))

    arrays = {name: sitk.GetArrayFromImage(_downsample(img, reference, spacing_mm)) for name, img in
              (("gm", gm), ("wm", wm), ("mask", mask))}
    gm_a, wm_a = np.clip(arrays["gm"], 0, 1), np.clip(arrays["wm"], 0, 1)
    csf_a = np.clip(arrays["mask"] - gm_a - wm_a, 0, 1)
    total = np.maximum(gm_a + wm_a + csf_a, 1.0)  # renormalise where the maps overlap
    probs = {"csf": csf_a / total, "gm": gm_a / total, "wm": wm_a / total}
    return Anatomy({k: v.astype(np.float32) for k, v in probs.items()}, reference)


def smooth_field(rng: np.random.Generator, shape: tuple[int, int, int], coarse: int = 5) -> np.ndarray:
    """A smooth random field in about [-1, 1], shape (z, y, x): uniform noise on a ``coarse``^3 grid spread over
    the volume and interpolated with cubic B-splines (SimpleITK, multi-threaded)."""
    noise = sitk.GetImageFromArray(rng.uniform(-1.0, 1.0, size=(coarse,) * 3))
    noise.SetSpacing([(n - 1) / (coarse - 1) for n in shape[::-1]])  # coarse nodes span the fine grid
    fine = sitk.Image([int(n) for n in shape[::-1]], sitk.sitkFloat32)
    field = sitk.Resample(noise, fine, sitk.Transform(), sitk.sitkBSpline, 0.0, sitk.sitkFloat32)
    return sitk.GetArrayFromImage(field)


def varied_anatomy(rng: np.random.Generator, spacing_mm: float, *, max_scale: float = 0.08,
                   max_warp_mm: float = 4.0) -> Anatomy:
    """One case's anatomy: the template scaled by (1 ± ``max_scale``) per axis about the brain's centre and
    warped by a smooth displacement of at most ``max_warp_mm`` per axis, on the template's grid."""
    base = template(spacing_mm)
    grid = base.grid
    shape = base.probs["wm"].shape  # (z, y, x)
    centre = np.array(grid.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2 for s in grid.GetSize()]))

    scaling = sitk.ScaleTransform(3, tuple(1.0 + rng.uniform(-max_scale, max_scale, 3)))
    scaling.SetCenter(tuple(centre))
    displacement = np.stack([smooth_field(rng, shape) * max_warp_mm for _ in range(3)], axis=-1)
    field = sitk.GetImageFromArray(displacement.astype(np.float64), isVector=True)
    field.CopyInformation(grid)
    warp = sitk.DisplacementFieldTransform(field)
    transform = sitk.CompositeTransform([scaling, warp])

    probs = {}
    for name, array in base.probs.items():
        image = sitk.GetImageFromArray(array)
        image.CopyInformation(grid)
        moved = sitk.Resample(image, grid, transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
        probs[name] = np.clip(sitk.GetArrayFromImage(moved), 0, 1)
    return Anatomy(probs, grid)
