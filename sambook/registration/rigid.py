"""Rigid registration of one modality to T2 with SimpleITK (chapter `registration`).

Find the Euler transform ``T`` (3 rotations, 3 translations) that maps a T2 physical point ``x`` to the moving
modality's physical point, maximising the Mattes mutual information between ``F(x)`` and ``M(T(x))``:

    T* = argmax_T  MI(F, M o T),   MI = sum_{f,m} p(f, m) log( p(f, m) / (p(f) p(m)) )

with ``p`` the joint histogram of intensities over random sample points, Parzen-smoothed (Mattes et al., 2003).
Mutual information rewards a *predictable* relation between intensities, not equal intensities, so it works
across contrasts (bright CSF in T2 against dark CSF in T1). The search starts from a centred initial transform and
runs a coarse-to-fine pyramid; the optimiser's scales come from the physical shift a unit step of each parameter
causes, so that radians and millimetres are comparable.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from sambook.errors import RegistrationError

MIN_OVERLAP = 0.5  # share of the fixed brain that must land inside the moving image after registration


@dataclass
class RegistrationResult:
    """What :func:`register_rigid` found: ``transform`` maps T2 (fixed) points to moving points."""

    transform: sitk.Euler3DTransform
    metric_history: list[float] = field(default_factory=list)  # metric value per optimiser iteration
    level_starts: list[int] = field(default_factory=list)  # iteration index where each pyramid level began
    stop_condition: str = ""
    seconds: float = 0.0


def check_image(image: sitk.Image, case: str, modality: str) -> None:
    """Refuse images registration cannot use: empty (constant) voxels or non-invertible geometry."""
    direction = np.array(image.GetDirection()).reshape(image.GetDimension(), -1)
    if not np.all(np.array(image.GetSpacing()) > 0) or abs(np.linalg.det(direction)) < 1e-6:
        raise RegistrationError(case, modality, "non-invertible geometry (zero spacing or singular direction)")
    stats = sitk.StatisticsImageFilter()
    stats.Execute(image)
    if stats.GetMaximum() - stats.GetMinimum() <= 0:
        raise RegistrationError(case, modality, "empty image (all voxels equal)")


def shrink_schedule(spacing_mm: float, coarsest_mm: float = 8.0) -> tuple[list[int], list[float]]:
    """Pyramid levels (shrink factors, smoothing sigmas in voxels) whose coarsest spacing stays <= ``coarsest_mm``."""
    factors = [f for f in (4, 2, 1) if f == 1 or f * spacing_mm <= coarsest_mm]
    return factors, [f / 2 if f > 1 else 0.0 for f in factors]


def overlap(fixed: sitk.Image, moving: sitk.Image, transform: sitk.Transform) -> float:
    """Share of the fixed image's foreground (above its mean) that ``transform`` maps inside the moving image."""
    foreground = sitk.GetArrayViewFromImage(fixed) > float(np.mean(sitk.GetArrayViewFromImage(fixed)))
    index = np.argwhere(foreground)[::7]
    if len(index) == 0:
        return 0.0
    points = [fixed.TransformIndexToPhysicalPoint([int(i) for i in idx[::-1]]) for idx in index]
    inside = [moving.TransformPhysicalPointToContinuousIndex(transform.TransformPoint(p)) for p in points]
    size = np.array(moving.GetSize()) - 1
    inside = np.array(inside)
    return float(np.mean(np.all((inside >= 0) & (inside <= size), axis=1)))


def register_rigid(
    fixed: sitk.Image,
    moving: sitk.Image,
    *,
    case: str = "?",
    modality: str = "?",
    init: str = "moments",
    samples: int = 50_000,
    iterations: int = 200,
    seed: int = 0,
    initial: sitk.Transform | None = None,
    on_iteration: Callable[[int, float], None] | None = None,
) -> RegistrationResult:
    """Register ``moving`` to ``fixed`` (T2) rigidly; raise :class:`RegistrationError` naming case and modality
    on empty images, bad geometry, a metric failure or a result that leaves the images without overlap.

    The metric is estimated on about ``samples`` random points per level (seeded by ``seed``).
    ``init`` chooses the centred starting transform: ``"moments"`` (centres of mass) or ``"geometry"`` (grid
    centres); ``initial`` overrides it with a given transform (chapter `registration` uses it to show a bad start).
    """
    for image, name in ((fixed, "t2 (fixed)"), (moving, modality)):
        check_image(image, case, name)
    fixed = sitk.Cast(fixed, sitk.sitkFloat32)
    moving = sitk.Cast(moving, sitk.sitkFloat32)
    if initial is None:
        mode = {
            "moments": sitk.CenteredTransformInitializerFilter.MOMENTS,
            "geometry": sitk.CenteredTransformInitializerFilter.GEOMETRY,
        }[init]
        initial = sitk.CenteredTransformInitializer(fixed, moving, sitk.Euler3DTransform(), mode)
    if overlap(fixed, moving, initial) == 0.0:
        raise RegistrationError(case, modality, "the images share no overlap at the initial transform")

    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=50)
    method.SetMetricSamplingStrategy(method.RANDOM)
    # About ``samples`` random points at the finest level, whatever the resolution (1 mm or 4 mm grids). ITK reads
    # seed 0 as sitk.sitkWallClock (new points every run), so seed s is passed as s + 1: equal seeds, equal results.
    method.SetMetricSamplingPercentage(min(1.0, samples / np.prod(fixed.GetSize())), seed + 1)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=2.0,
        minStep=1e-3,
        numberOfIterations=iterations,
        relaxationFactor=0.6,
        gradientMagnitudeTolerance=1e-6,
    )
    method.SetOptimizerScalesFromPhysicalShift()
    factors, sigmas = shrink_schedule(min(fixed.GetSpacing()))
    method.SetShrinkFactorsPerLevel(factors)
    method.SetSmoothingSigmasPerLevel(sigmas)
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    method.SetInitialTransform(sitk.Euler3DTransform(initial), inPlace=False)

    result = RegistrationResult(sitk.Euler3DTransform())
    method.AddCommand(
        sitk.sitkMultiResolutionIterationEvent, lambda: result.level_starts.append(len(result.metric_history))
    )

    def record() -> None:
        value = method.GetMetricValue()
        result.metric_history.append(value)
        if on_iteration is not None:
            on_iteration(len(result.metric_history) - 1, value)

    method.AddCommand(sitk.sitkIterationEvent, record)
    start = time.perf_counter()
    try:
        found = method.Execute(fixed, moving)
    except RuntimeError as error:
        reason = str(error).strip().splitlines()[-1]
        raise RegistrationError(case, modality, f"the metric failed ({reason})") from None
    result.seconds = time.perf_counter() - start
    result.stop_condition = method.GetOptimizerStopConditionDescription()
    result.transform = sitk.Euler3DTransform(sitk.CompositeTransform(found).GetNthTransform(0))
    if not np.isfinite(method.GetMetricValue()) or overlap(fixed, moving, result.transform) < MIN_OVERLAP:
        raise RegistrationError(case, modality, "did not converge: the result leaves the images without overlap")
    return result


def resample_to(fixed: sitk.Image, moving: sitk.Image, transform: sitk.Transform) -> sitk.Image:
    """The moving image on the fixed grid: ``M(T(x))`` at every fixed voxel centre ``x`` (linear, 0 outside)."""
    return sitk.Resample(moving, fixed, transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
