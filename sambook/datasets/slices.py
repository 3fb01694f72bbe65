"""The 2D slice dataset the CMAA models train on (chapter `registration`).

From registered volumes (every modality on the T2 grid) the dataset takes axial slices:

* **selection** — as the paper, "several slices" per case: ``slices_per_case`` slices spread evenly through the
  tumour, plus a share of tumour-free brain slices (``tumour_free_share`` of the final set);
* **normalisation** — per modality and per case, a z-score over the brain: ``x' = (x - mean_brain) / std_brain``
  with the brain taken as the T2 voxels above their mean; background stays near ``-mean/std`` and is then set to
  0. Per-case statistics remove scanner gain differences between cases, which BraTS-style data has;
* **size** — each slice is padded to a square (keeping its aspect ratio) and resized to ``image_size`` (paper:
  256; bilinear for images, nearest for labels); the pixel spacing after resizing is kept for HD95 in mm.

Channels are ordered (T1, T1ce, T2, FLAIR): channels 0-1 form the T1-based group and 2-3 the T2-based group.
The result is cached under ``data_root()/cache/slices/<key>.npz``, where the key hashes every setting and the
registered files, so a changed setting builds a new cache and an unchanged one loads in a fraction of a second.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from sambook.atomic import atomic_path
from sambook.data.grids import arrays
from sambook.data.loaders import list_cases, load_case
from sambook.data.modalities import brain_mask
from sambook.data.phantom import ensure_phantom
from sambook.datasets.augment import apply_seeded
from sambook.datasets.validation import hold_out
from sambook.paths import data_root
from sambook.profiles import Profile, get_profile
from sambook.registration.batch import register_dataset

FORMAT_VERSION = 1  # bump when the way slices are made changes


@dataclass
class SliceSet:
    """All selected slices of a dataset, ready for training."""

    images: np.ndarray  # (N, 4, S, S) float32, channels (t1, t1ce, t2, flair)
    labels: np.ndarray  # (N, S, S) uint8, internal codes 0-3
    case_ids: np.ndarray  # (N,) str
    slice_index: np.ndarray  # (N,) int, axial index in the registered volume
    spacing_mm: np.ndarray  # (N, 2) float32, pixel spacing (y, x) after resizing

    def __len__(self) -> int:
        return len(self.labels)


def normalise(volume: np.ndarray, brain: np.ndarray) -> np.ndarray:
    """z-score of one modality over the brain voxels of its case; 0 outside the brain."""
    values = volume[brain]
    out = (volume - values.mean()) / max(float(values.std()), 1e-6)
    return np.where(brain, out, 0.0).astype(np.float32)


def select_slices(
    labels: np.ndarray, brain: np.ndarray, per_case: int, tumour_free_share: float, rng: np.random.Generator
) -> list[int]:
    """Axial indices: ``per_case`` tumour slices spread evenly, plus tumour-free brain slices for the share."""
    tumour = np.flatnonzero((labels > 0).any(axis=(1, 2)))
    picked = sorted({int(tumour[round(i)]) for i in np.linspace(0, len(tumour) - 1, min(per_case, len(tumour)))})
    free_count = int(round(len(picked) * tumour_free_share / max(1.0 - tumour_free_share, 1e-6)))
    candidates = np.flatnonzero(brain.mean(axis=(1, 2)) > 0.05)
    candidates = np.setdiff1d(candidates, tumour)
    free = rng.choice(candidates, size=min(free_count, len(candidates)), replace=False) if free_count else []
    return sorted(picked + [int(z) for z in free])


def resize_slice(image: np.ndarray, labels: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Pad (C, H, W) and (H, W) to a square, resize to ``size``; returns them and the scale factor."""
    height, width = labels.shape
    side = max(height, width)
    pad = (
        (side - height) // 2,
        side - height - (side - height) // 2,
        (side - width) // 2,
        side - width - (side - width) // 2,
    )
    img = F.pad(torch.from_numpy(image)[None], (pad[2], pad[3], pad[0], pad[1]))
    lab = F.pad(torch.from_numpy(labels.astype(np.int64))[None, None], (pad[2], pad[3], pad[0], pad[1]))
    img = F.interpolate(img, size=(size, size), mode="bilinear", align_corners=False)[0]
    lab = F.interpolate(lab.float(), size=(size, size), mode="nearest")[0, 0]
    return img.numpy(), lab.numpy().astype(np.uint8), side / size


def _fingerprint(registered: Path, case_ids: list[str]) -> list:
    return [
        [p.name, p.stat().st_size, p.stat().st_mtime_ns]
        for c in case_ids
        for p in sorted((registered / c).glob("*.nii.gz"))
    ]


def registered_phantom(profile: Profile) -> Path:
    """The profile's phantom registered to T2 (cached under ``data_root()/cache/registered/<profile>``)."""
    out = data_root() / "cache" / "registered" / profile.name
    reports = register_dataset(ensure_phantom(profile), out, jobs=min(2, os.cpu_count() or 1))
    failed = [r["error"] for r in reports if "error" in r]
    if failed:
        raise RuntimeError("registration failed: " + "; ".join(failed))
    return out


def build_slices(
    profile: Profile | None = None,
    *,
    registered: Path | None = None,
    tumour_free_share: float = 0.25,
    layout: str = "brats2021",
) -> SliceSet:
    """The slice set of a registered dataset (default: the profile's phantom, registered on first use)."""
    profile = profile or get_profile()
    registered = Path(registered) if registered is not None else registered_phantom(profile)
    case_ids = list_cases(registered, layout)
    settings = {
        "version": FORMAT_VERSION,
        "root": str(registered.resolve()),
        "size": profile.image_size,
        "per_case": profile.slices_per_case,
        "free_share": tumour_free_share,
        "seed": profile.seed,
        "layout": layout,
        "files": _fingerprint(registered, case_ids),
    }
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    cache = data_root() / "cache" / "slices" / f"{key}.npz"
    if cache.is_file():
        with np.load(cache) as saved:
            return SliceSet(**{name: saved[name] for name in saved.files})

    rng = np.random.default_rng(profile.seed)
    parts: dict[str, list] = {"images": [], "labels": [], "case_ids": [], "slice_index": [], "spacing_mm": []}
    for case_id in case_ids:
        case = load_case(registered, case_id, layout)
        volumes, labels = arrays(case)  # (4, z, y, x), (z, y, x)
        brain = brain_mask(volumes[2])
        volumes = np.stack([normalise(v, brain) for v in volumes])
        spacing = np.array(case.images["t2"].GetSpacing())[[1, 0]]  # (y, x)
        for z in select_slices(labels, brain, profile.slices_per_case, tumour_free_share, rng):
            image, label, scale = resize_slice(volumes[:, z], labels[z], profile.image_size)
            parts["images"].append(image)
            parts["labels"].append(label)
            parts["case_ids"].append(case_id)
            parts["slice_index"].append(z)
            parts["spacing_mm"].append((spacing * scale).astype(np.float32))
    slices = SliceSet(
        **{name: np.stack(values) if name != "case_ids" else np.array(values) for name, values in parts.items()}
    )
    with atomic_path(cache) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **slices.__dict__)
    return slices


def split_by_patient(slices: SliceSet, *, test_share: float = 0.25, seed: int = 0) -> dict[str, np.ndarray]:
    """Slice indices per side, whole cases on one side only (the book's default)."""
    cases = np.unique(slices.case_ids)
    rng = np.random.default_rng(seed)
    test_cases = rng.choice(cases, size=max(1, int(round(len(cases) * test_share))), replace=False)
    is_test = np.isin(slices.case_ids, test_cases)
    return {"train": np.flatnonzero(~is_test), "test": np.flatnonzero(is_test)}


def split_by_slice(slices: SliceSet, *, test_share: float = 0.25, seed: int = 0) -> dict[str, np.ndarray]:
    """The paper's split: slices shuffled and cut, so one patient's slices can land on both sides."""
    order = np.random.default_rng(seed).permutation(len(slices))
    cut = int(round(len(order) * (1 - test_share)))
    return {"train": np.sort(order[:cut]), "test": np.sort(order[cut:])}


class SliceDataset(Dataset):
    """Items ``{"image": (4, S, S) float, "label": (S, S) long, "case": str, "index": int, "spacing": (2,)}``.

    ``regions="whole"`` gives the binary whole-tumour mask (label > 0, the CMAA task); ``"subregions"`` keeps the
    internal codes 0-3. ``transform`` is an optional MONAI dictionary transform on keys "image" and "label"
    (the label then carries a channel axis of 1 during the transform, as MONAI expects).
    """

    def __init__(self, slices: SliceSet, indices: np.ndarray | None = None, *, regions: str = "whole", transform=None):
        if regions not in ("whole", "subregions"):
            raise ValueError(f"regions must be 'whole' or 'subregions', not {regions!r}")
        self.slices = slices
        self.indices = np.arange(len(slices)) if indices is None else np.asarray(indices)
        self.regions = regions
        self.transform = transform

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int) -> dict:
        i = int(self.indices[item])
        label = self.slices.labels[i].astype(np.int64)
        if self.regions == "whole":
            label = (label > 0).astype(np.int64)
        sample = {"image": torch.from_numpy(self.slices.images[i].copy()), "label": torch.from_numpy(label)}
        if self.transform is not None:
            sample["label"] = sample["label"][None]
            sample = apply_seeded(self.transform, sample)
            sample["label"] = torch.as_tensor(sample["label"])[0].round().long()
            sample["image"] = torch.as_tensor(sample["image"]).float()
        sample.update(
            case=str(self.slices.case_ids[i]),
            index=int(self.slices.slice_index[i]),
            spacing=torch.from_numpy(self.slices.spacing_mm[i].copy()),
        )
        return sample


def load_slice_splits(
    profile: Profile | None = None,
    *,
    split: str = "patient",
    test_share: float = 0.25,
    val_share: float = 0.0,
    regions: str = "whole",
    train_transform=None,
    **build_kw,
) -> dict[str, SliceDataset]:
    """``{"train": ..., "val": ..., "test": ...}`` datasets of the profile's slice set, split by patient (default) or
    slice; ``val_share`` of the training side's patients make the validation set
    (:func:`sambook.datasets.validation.hold_out`; empty when 0)."""
    profile = profile or get_profile()
    slices = build_slices(profile, **build_kw)
    splitter = {"patient": split_by_patient, "slice": split_by_slice}[split]
    sides = splitter(slices, test_share=test_share, seed=profile.seed)
    train_cases = np.unique(slices.case_ids[sides["train"]]).tolist()
    _, val_cases = hold_out(train_cases, share=val_share, seed=profile.seed)
    is_val = np.isin(slices.case_ids[sides["train"]], val_cases)
    return {
        "train": SliceDataset(slices, sides["train"][~is_val], regions=regions, transform=train_transform),
        "val": SliceDataset(slices, sides["train"][is_val], regions=regions),
        "test": SliceDataset(slices, sides["test"], regions=regions),
    }
