"""Random 3D patches of whole volumes, for the 3D baselines (chapter `how_it_compares`).

Each item is one patch of size ``patch`` = (D, H, W) from one training volume: with probability
``foreground_share`` centred on a random tumour voxel (as MONAI's ``RandCropByPosNegLabeld`` with pos = neg does),
else anywhere; volumes smaller than the patch are zero-padded (label 0) at their far end. Random draws use torch's
global generator, which the training loop seeds, so a run is reproducible.

Items: ``{"image": (1, D, H, W) float, "label": (D, H, W) long, "spacing": (2,), "case"}``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from sambook.datasets.volumes import VolumeSet


def pad_to(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Zero-pad ``array`` at the far end of each axis up to at least ``shape``."""
    widths = [(0, max(0, s - n)) for n, s in zip(array.shape, shape)]
    return np.pad(array, widths) if any(w for _, w in widths) else array


class PatchDataset(Dataset):
    def __init__(
        self,
        volumes: VolumeSet,
        cases: list[int],
        *,
        patch: tuple[int, int, int],
        patches_per_volume: int = 1,
        foreground_share: float = 0.5,
    ):
        self.volumes, self.cases, self.patch = volumes, list(cases), tuple(patch)
        self.patches_per_volume, self.foreground_share = patches_per_volume, foreground_share
        self.images = [pad_to(volumes.images[c], self.patch) for c in self.cases]
        self.labels = [pad_to(volumes.labels[c], self.patch) for c in self.cases]
        self.foreground = [np.argwhere(labels > 0) for labels in self.labels]

    def __len__(self) -> int:
        return len(self.cases) * self.patches_per_volume

    def _corner(self, k: int) -> list[int]:
        shape = self.labels[k].shape
        if len(self.foreground[k]) and torch.rand(1).item() < self.foreground_share:
            centre = self.foreground[k][torch.randint(len(self.foreground[k]), (1,)).item()]
            starts = [int(c) - p // 2 for c, p in zip(centre, self.patch)]
        else:
            starts = [int(torch.randint(n - p + 1, (1,)).item()) for n, p in zip(shape, self.patch)]
        return [min(max(s, 0), n - p) for s, n, p in zip(starts, shape, self.patch)]

    def __getitem__(self, item: int) -> dict:
        k = item % len(self.cases)
        window = tuple(slice(s, s + p) for s, p in zip(self._corner(k), self.patch))
        c = self.cases[k]
        return {
            "image": torch.from_numpy(np.ascontiguousarray(self.images[k][window]))[None].float(),
            "label": torch.from_numpy(self.labels[k][window].astype(np.int64)),
            "spacing": torch.tensor(self.volumes.spacing_mm[c]),
            "case": self.volumes.case_ids[c],
        }
