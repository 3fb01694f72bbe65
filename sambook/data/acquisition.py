"""How the phantom's modalities are "acquired": each on its own grid, rigidly misaligned to T2 (chapter `multimodal_mri`).

T2 is the reference: its grid is the anatomy's grid. Every other modality gets its own voxel spacing (possibly
thick slices) and a random rigid pose. With ``T`` the ground-truth transform that maps a T2 physical point to the
moving modality's physical point (the convention of SimpleITK registration, fixed = T2), the moving image is

    M(y) = scene(T^-1(y))    for every physical point y of the moving grid,

so that ``M(T(x)) = scene(x)``: registration of M to T2 should recover ``T``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

MAX_ROTATION_DEG = 8.0
MAX_TRANSLATION_MM = 8.0
SLICE_THICKNESS_CHOICES_MM = (1.0, 3.0, 5.0)
FOV_MARGIN_MM = 10.0


@dataclass(frozen=True)
class Acquisition:
    """Grid and pose of one moving modality."""

    spacing: tuple[float, float, float]  # (x, y, z) in mm; z is the slice direction
    transform: sitk.Euler3DTransform  # T2 physical point -> this modality's physical point


def random_acquisition(rng: np.random.Generator, reference: sitk.Image, spacing_mm: float) -> Acquisition:
    """A random spacing (in-plane up to 25 % coarser, slices from ``SLICE_THICKNESS_CHOICES_MM``, never finer than
    ``spacing_mm``) and a random rigid pose (±8° about each axis, ±8 mm) about the reference grid's centre."""
    in_plane = spacing_mm * rng.uniform(1.0, 1.25)
    thickness = max(spacing_mm, float(rng.choice(SLICE_THICKNESS_CHOICES_MM)))
    centre = reference.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in reference.GetSize()])
    transform = sitk.Euler3DTransform()
    transform.SetCenter(centre)
    angles = np.deg2rad(rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG, 3))
    transform.SetRotation(*angles)
    transform.SetTranslation(tuple(rng.uniform(-MAX_TRANSLATION_MM, MAX_TRANSLATION_MM, 3)))
    return Acquisition((in_plane, in_plane, thickness), transform)


def moving_grid(reference: sitk.Image, spacing: tuple[float, float, float]) -> sitk.Image:
    """An empty grid with the reference's orientation, covering its field of view plus a margin."""
    ref_spacing = np.array(reference.GetSpacing())
    extent = ref_spacing * (np.array(reference.GetSize()) - 1) + 2 * FOV_MARGIN_MM
    size = [int(np.ceil(e / s)) + 1 for e, s in zip(extent, spacing)]
    direction = np.array(reference.GetDirection()).reshape(3, 3)
    origin = np.array(reference.GetOrigin()) - direction @ np.full(3, FOV_MARGIN_MM)
    grid = sitk.Image(size, sitk.sitkFloat32)
    grid.SetSpacing(tuple(float(s) for s in spacing))
    grid.SetDirection(reference.GetDirection())
    grid.SetOrigin(tuple(origin))
    return grid


def acquire(scene: sitk.Image, acquisition: Acquisition) -> sitk.Image:
    """Sample ``scene`` (on the T2 grid) on the modality's own grid and pose, with slice-profile blurring."""
    ref_spacing = np.array(scene.GetSpacing())
    # Partial volume across thick slices and coarser pixels: blur where the new spacing is coarser.
    sigma = 0.4 * np.sqrt(np.maximum(np.array(acquisition.spacing) ** 2 - ref_spacing**2, 0.0))
    if np.any(sigma > 0):
        scene = sitk.SmoothingRecursiveGaussian(scene, [float(max(s, 1e-3)) for s in sigma])
    grid = moving_grid(scene, acquisition.spacing)
    return sitk.Resample(scene, grid, acquisition.transform.GetInverse(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
