"""Volumes as AFTer-SAM sees them: groups of neighbouring slices (chapter `aftersam_volumes`).

For slice d of a volume with D slices, the group holds N_A + 1 slices at interval N_f centred on d (paper: N_A = 8,
N_f = 1):

    a_n = d - N_f · (floor(N_A / 2) - n),   n = 0 .. N_A,   clamped to [0, D - 1]

The paper is silent about the edges; the book clamps (the first slice repeats below the volume, the last above),
never wraps around. The model predicts the middle slice of each group, n = floor(N_A / 2) (:func:`middle_index`, used
by the datasets and the model alike, so that for odd N_A too the label is slice d's and so are the kept tokens);
sliding d over the volume gives the 3D prediction.

On the phantom the volumes are the registered cases of chapter `registration`, one modality (FLAIR by default),
z-scored over the
brain, padded to a square and resized in-plane to the profile's image size; labels are the sub-regions (0-3).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from sambook.data.grids import arrays
from sambook.data.loaders import list_cases, load_case
from sambook.data.modalities import MODALITIES, brain_mask
from sambook.datasets.augment import apply_seeded
from sambook.datasets.slices import normalise, registered_phantom, resize_slice
from sambook.profiles import Profile, get_profile


def middle_index(slices: int) -> int:
    """The position in a group of ``slices`` = N_A + 1 slices of the slice the group is centred on: floor(N_A / 2).
    For odd N_A the group has one more slice above d than below it."""
    return (slices - 1) // 2


def neighbour_indices(d: int, depth: int, neighbours: int, interval: int) -> list[int]:
    """Slice indices of the group centred on ``d`` (N_A = ``neighbours``, N_f = ``interval``), clamped."""
    half = middle_index(neighbours + 1)
    return [min(max(d - interval * (half - n), 0), depth - 1) for n in range(neighbours + 1)]


@dataclass
class Resampling:
    """A case resampled before grouping (SegTHOR: to 2.5 x 1.0 x 1.0 mm): its native grid and the working grid
    (SimpleITK order x, y, z; both grids share their direction)."""

    native_size: tuple[int, int, int]
    native_spacing: tuple[float, float, float]
    native_origin: tuple[float, float, float]
    direction: tuple[float, ...]
    working_spacing: tuple[float, float, float]
    working_origin: tuple[float, float, float]


@dataclass
class VolumeSet:
    images: list[np.ndarray]  # per case (D, S, S) float32
    labels: list[np.ndarray]  # per case (D, S, S) uint8, internal codes
    case_ids: list[str]
    shapes: list[tuple[int, int, int]]  # (D, H, W) before the in-plane pad-and-resize (the working grid)
    spacing_mm: list[tuple[float, float]]  # in-plane (y, x) spacing after resizing
    original_labels: list[np.ndarray] = field(default_factory=list)  # per case, on its original grid (scoring)
    resampling: list[Resampling | None] = field(default_factory=list)  # per case; None: working grid = original


def build_volumes(profile: Profile | None = None, *, modality: str = "flair", registered=None) -> VolumeSet:
    """Every registered case of the profile's phantom (or ``registered``) as a resized single-modality volume."""
    profile = profile or get_profile()
    root = registered if registered is not None else registered_phantom(profile)
    out = VolumeSet([], [], [], [], [])
    channel = MODALITIES.index(modality)
    for case_id in list_cases(root, "brats2021"):
        case = load_case(root, case_id)
        images, labels = arrays(case)
        brain = brain_mask(images[2])
        volume = normalise(images[channel], brain)
        pairs = [resize_slice(volume[z][None], labels[z], profile.image_size) for z in range(len(volume))]
        out.images.append(np.stack([p[0][0] for p in pairs]))
        out.labels.append(np.stack([p[1] for p in pairs]))
        out.case_ids.append(case_id)
        out.shapes.append(labels.shape)
        spacing = np.array(case.images["t2"].GetSpacing())[[1, 0]] * pairs[0][2]
        out.spacing_mm.append(tuple(float(s) for s in spacing))
        out.original_labels.append(labels.astype(np.uint8))
        out.resampling.append(None)  # the registered grid is the working grid
    return out


def group(volume: np.ndarray, d: int, neighbours: int, interval: int) -> np.ndarray:
    """The slice group centred on d: (N_A + 1, S, S)."""
    return volume[neighbour_indices(d, len(volume), neighbours, interval)]


class GroupDataset(Dataset):
    """Training items: one random slice group per volume per epoch (AFTer-SAM's sampling), or
    ``groups_per_volume`` of them (more steps per epoch for small datasets).

    Items: ``{"image": (N, 1, S, S), "label": (S, S) of the middle slice, "spacing": (2,), "case", "index"}``.
    The slice d is drawn from the slices that hold brain, with torch's global generator (seeded by the loop).
    ``transform`` is an optional MONAI dictionary transform applied to the group and its label together
    (e.g. ``Rand2DElasticd``), with the N slices as channels, its randomness drawn from torch's generator
    (:func:`sambook.datasets.augment.apply_seeded`).
    """

    def __init__(
        self,
        volumes: VolumeSet,
        cases: list[int],
        *,
        neighbours: int,
        interval: int,
        transform=None,
        groups_per_volume: int = 1,
    ):
        self.volumes, self.cases, self.groups_per_volume = volumes, list(cases), groups_per_volume
        self.neighbours, self.interval, self.transform = neighbours, interval, transform
        self.brain_slices = [np.flatnonzero(np.abs(volumes.images[c]).mean(axis=(1, 2)) > 0.05) for c in self.cases]

    def __len__(self) -> int:
        return len(self.cases) * self.groups_per_volume

    def case_of(self, item: int) -> int:
        """The volume (index into ``volumes``) that item ``item`` draws from."""
        return self.cases[item % len(self.cases)]

    def __getitem__(self, item: int) -> dict:
        c = self.case_of(item)
        candidates = self.brain_slices[item % len(self.cases)]
        d = int(candidates[torch.randint(len(candidates), (1,)).item()])
        sample = {
            "image": torch.from_numpy(group(self.volumes.images[c], d, self.neighbours, self.interval)),
            "label": torch.from_numpy(self.volumes.labels[c][d].astype(np.int64))[None],
        }
        if self.transform is not None:
            sample = apply_seeded(self.transform, sample)
        return {
            "image": torch.as_tensor(sample["image"]).float()[:, None],
            "label": torch.as_tensor(sample["label"])[0].round().long(),
            "spacing": torch.tensor(self.volumes.spacing_mm[c]),
            "case": self.volumes.case_ids[c],
            "index": d,
        }


class AllGroups(Dataset):
    """Every slice group of some volumes, in order (evaluation and volume inference)."""

    def __init__(self, volumes: VolumeSet, cases: list[int], *, neighbours: int, interval: int):
        self.volumes, self.neighbours, self.interval = volumes, neighbours, interval
        self.items = [(c, d) for c in cases for d in range(len(volumes.images[c]))]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, item: int) -> dict:
        c, d = self.items[item]
        return {
            "image": torch.from_numpy(group(self.volumes.images[c], d, self.neighbours, self.interval))[:, None],
            "label": torch.from_numpy(self.volumes.labels[c][d].astype(np.int64)),
            "spacing": torch.tensor(self.volumes.spacing_mm[c]),
            "case": self.volumes.case_ids[c],
            "index": d,
        }


def to_original_grid(labels: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Undo the in-plane pad-and-resize of :func:`build_volumes`: (D, S, S) -> (D, H, W), nearest neighbour."""
    depth, height, width = shape
    side = max(height, width)
    full = F.interpolate(torch.from_numpy(labels.astype(np.float32))[:, None], size=(side, side), mode="nearest")
    top, left = (side - height) // 2, (side - width) // 2
    return full[:, 0, top : top + height, left : left + width].numpy().astype(np.uint8)


def resample_to_native(labels: np.ndarray, resampling: Resampling) -> np.ndarray:
    """Labels (D', H', W') on a case's working grid back onto its native grid (D, H, W), nearest neighbour."""
    image = sitk.GetImageFromArray(labels.astype(np.uint8))
    image.SetSpacing(resampling.working_spacing)
    image.SetOrigin(resampling.working_origin)
    image.SetDirection(resampling.direction)
    native = sitk.Resample(
        image,
        list(resampling.native_size),
        sitk.Transform(),
        sitk.sitkNearestNeighbor,
        resampling.native_origin,
        resampling.native_spacing,
        resampling.direction,
        0,
        sitk.sitkUInt8,
    )
    return sitk.GetArrayFromImage(native)


def to_case_grid(labels: np.ndarray, volumes: VolumeSet, case: int) -> np.ndarray:
    """A predicted label map (D', S, S) of case ``case`` on that case's original grid: the in-plane pad-and-resize
    undone (:func:`to_original_grid`), then the resampling (:func:`resample_to_native`) where there was one."""
    working = to_original_grid(labels, volumes.shapes[case])
    resampling = volumes.resampling[case] if volumes.resampling else None
    return working if resampling is None else resample_to_native(working, resampling)
