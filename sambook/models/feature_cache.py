"""Frozen-feature cache for AFTer-SAM (chapter `aftersam_volumes`).

Everything before the fusion blocks is frozen, so a slice's tokens after the frozen blocks are the same in every
epoch. :class:`FeatureCache` computes them once per (weights, case, slice) and keeps them in memory;
:class:`CachedGroups` serves slice groups as cached features and :class:`FromFeatures` runs the rest of the model
on them. The cache is exact only without augmentation of the input (an elastic deformation changes the slice, so
its features): train with the cache *or* with on-the-fly deformation, not both.

Devices: the frozen blocks run where the model is (the GPU once :func:`sambook.train.loop.fit` has moved it there),
the features are kept in host memory, and the loop moves each batch to the device as it moves images. The cache
lives in the process that reads the dataset, so it is filled in the main process only: DataLoader workers
(``num_workers > 0``) would each fill a copy of it that is dropped after every epoch, and are refused.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, get_worker_info

from sambook.datasets.volumes import GroupDataset, neighbour_indices
from sambook.models.aftersam import AfterSAM
from sambook.models.cmaa import Prediction

NO_WORKERS = (
    "the feature cache lives in the main process: DataLoader workers (num_workers > 0) would each fill a copy of "
    "it that is dropped after every epoch; set num_workers: 0 (reading cached features needs no workers)"
)


def weights_key(model: AfterSAM) -> str:
    """A hash of the frozen weights that produce the cached features."""
    digest = hashlib.sha256()
    parts = [model.encoder.patch_embed, model.frozen_blocks]
    for module in parts:
        for tensor in module.state_dict().values():
            digest.update(tensor.detach().cpu().numpy().tobytes())
    digest.update(model.encoder.pos_embed.detach().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


class FeatureCache:
    """Frozen features per slice, keyed by (weights hash, case id, slice index), computed on the model's device and
    stored in host memory."""

    def __init__(self, model: AfterSAM):
        self.model, self.key = model, weights_key(model)
        self.store: dict[tuple[str, str, int], torch.Tensor] = {}
        self.computed = 0

    def features(self, case_id: str, volume: np.ndarray, indices: list[int]) -> torch.Tensor:
        """Features (len(indices), h, w, c) of slices ``indices`` of ``volume`` (D, S, S), computing missing ones."""
        missing = sorted({d for d in indices if (self.key, case_id, d) not in self.store})
        if missing:
            device = next(self.model.parameters()).device
            slices = torch.from_numpy(volume[missing])[:, None].to(device)  # (M, 1, S, S)
            for d, feature in zip(missing, self.model.frozen_features(slices).cpu()):
                self.store[(self.key, case_id, d)] = feature
            self.computed += len(missing)
        return torch.stack([self.store[(self.key, case_id, d)] for d in indices])


class CachedGroups(Dataset):
    """A :class:`GroupDataset` whose items carry cached frozen features (N, h, w, c) as "image"."""

    def __init__(self, groups: GroupDataset, cache: FeatureCache):
        if groups.transform is not None:
            raise ValueError("the feature cache is exact only without input augmentation (transform=None)")
        self.groups, self.cache = groups, cache

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, item: int) -> dict:
        if get_worker_info() is not None:
            raise RuntimeError(NO_WORKERS)
        sample = self.groups[item]
        c = self.groups.case_of(item)
        volume = self.groups.volumes.images[c]
        indices = neighbour_indices(sample["index"], len(volume), self.groups.neighbours, self.groups.interval)
        sample["image"] = self.cache.features(sample["case"], volume, indices)
        return sample


class FromFeatures(nn.Module):
    """The trainable rest of an AFTer-SAM, run on cached features (B, N, h, w, c); shares its parameters."""

    def __init__(self, model: AfterSAM, image_size: int):
        super().__init__()
        self.model, self.size = model, (image_size, image_size)

    def forward(self, features: torch.Tensor) -> Prediction:
        return self.model.head(features, self.size)
