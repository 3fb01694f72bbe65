"""The pretext task the book's mini SAM is pretrained on (chapter `foundation_model`): brain tissue classes
(background, CSF, grey matter, white matter) from the phantom's tissue maps, plus synthetic anomalies
(:func:`add_anomalies`) pasted into the brain. No tumour model and no tumour label is involved: the pretraining
cases are generated without tumours, from a seed range disjoint from the downstream datasets'.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from sambook.config import PretrainConfig
from sambook.data.grids import arrays, to_t2_grid
from sambook.data.loaders import load_case
from sambook.data.modalities import brain_mask
from sambook.data.phantom import generate
from sambook.datasets.slices import normalise, resize_slice
from sambook.foundation.augment import augment
from sambook.paths import data_root

#: Seed of the pretraining phantom. Downstream datasets use the profiles' seed (0): other case seeds, other ids.
PRETRAIN_SEED = 1_000_003


def pretext_volumes(cfg: PretrainConfig) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """Tumour-free cases, every modality brought onto the T2 grid with the phantom's ground-truth transforms
    (acceptable for pretraining; downstream chapters register), z-scored; with their tissue maps."""
    root = data_root() / "phantom" / f"pretrain-{cfg.spacing_mm:g}mm"
    folders = generate(root, cases=cfg.cases, seed=PRETRAIN_SEED, spacing_mm=cfg.spacing_mm, with_tumour=False)
    images, tissues = [], []
    for folder in folders:
        case = load_case(root, folder.name)
        volumes, _ = arrays(to_t2_grid(case, case.gt_transforms))
        brain = brain_mask(volumes[2])
        images.append(np.stack([normalise(v, brain) for v in volumes]))
        tissues.append(sitk.GetArrayFromImage(sitk.ReadImage(str(folder / f"{folder.name}_tissue.nii.gz"))))
    return images, tissues, [f.name for f in folders]


def smooth_noise(size: int, cells: int, g: torch.Generator) -> torch.Tensor:
    """Low-frequency noise (size, size) in about [-1, 1]: a random ``cells`` x ``cells`` grid, upsampled bicubically."""
    grid = torch.rand(1, 1, cells, cells, generator=g) * 2 - 1
    return F.interpolate(grid, size=(size, size), mode="bicubic", align_corners=False)[0, 0]


def add_anomalies(
    image: torch.Tensor, brain: torch.Tensor, g: torch.Generator, *, probability: float = 0.7, max_count: int = 3
) -> tuple[torch.Tensor, torch.Tensor]:
    """With ``probability``, paste 1 to ``max_count`` synthetic anomalies into the ``brain`` (S, S) of one slice
    (1, S, S); returns the new image and the anomaly mask (S, S). The input is untouched.

    An anomaly is a blob of random size (3-15 % of the slice side), elongation, orientation and ragged border, whose
    intensity moves 0.8-3 z-units up or down from the tissue it replaces, with its own texture and a soft edge. No
    tumour model and no tumour label is involved: SAM learns "segment any object"; this pretext adds "segment any
    region that is no brain tissue".
    """
    image = image.clone()
    size = brain.shape[-1]
    mask = torch.zeros_like(brain)
    inside_brain = brain.nonzero()
    if torch.rand(1, generator=g) > probability or len(inside_brain) < 50:
        return image, mask
    yy, xx = torch.meshgrid(
        torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij"
    )
    for _ in range(int(torch.randint(1, max_count + 1, (1,), generator=g))):
        cy, cx = inside_brain[torch.randint(len(inside_brain), (1,), generator=g)][0].float()
        r = torch.rand(5, generator=g)
        radius = size * (0.03 + 0.12 * r[0])
        a, b = radius, radius * (0.5 + 0.5 * r[1])  # semi-axes
        angle = torch.pi * r[2]
        u = (xx - cx) * torch.cos(angle) + (yy - cy) * torch.sin(angle)
        v = -(xx - cx) * torch.sin(angle) + (yy - cy) * torch.cos(angle)
        distance = torch.sqrt((u / a) ** 2 + (v / b) ** 2) + 0.35 * smooth_noise(size, 8, g)  # < 1 inside
        alpha = torch.sigmoid((1 - distance) * (6 + 14 * r[3])) * brain  # soft edge, clipped to the brain
        sign = 1.0 if torch.rand(1, generator=g) < 0.5 else -1.0
        level = image[0, int(cy), int(cx)] + sign * (0.8 + 2.2 * r[4])
        texture = 0.3 * smooth_noise(size, 16, g)
        image[0] = image[0] * (1 - alpha) + alpha * (level + texture)
        mask |= (distance < 1) & brain
    return image, mask


def modality_weights(g: torch.Generator, mix_probability: float) -> torch.Tensor:
    """Weights (4,) of the modalities that make one grey input: one random modality, or with ``mix_probability`` a
    random convex mix of a random subset of them — what the Table 1 models' input convolutions feed the encoder
    (early fusion mixes four modalities, each CMAA branch two)."""
    if torch.rand(1, generator=g) >= mix_probability:
        return F.one_hot(torch.randint(4, (1,), generator=g), 4)[0].float()
    subset = torch.rand(4, generator=g) < 0.5
    subset[torch.randint(4, (1,), generator=g)] = True  # at least one modality
    weights = -torch.log(torch.rand(4, generator=g)) * subset  # Dirichlet(1) over the subset
    return weights / weights.sum()


def pretext_labels(tissue: torch.Tensor, anomaly: torch.Tensor) -> torch.Tensor:
    """Class indices into :data:`PRETEXT_CLASSES`: 0 where ``anomaly``, else the tissue code + 1."""
    return torch.where(anomaly, torch.zeros_like(tissue), tissue + 1)


class TissueSlices(Dataset):
    """Random (case, modality or modality mix, axial slice) samples with pretext labels (tissue classes and synthetic
    anomalies), resized to ``size``. Each item draws its
    choices from a generator seeded from torch's global one, so a run seeded by the loop is reproducible."""

    def __init__(
        self,
        images: list[np.ndarray],
        tissues: list[np.ndarray],
        *,
        size: int,
        per_case: int,
        anomaly_probability: float = 0.7,
        mix_probability: float = 0.5,
    ):
        self.images, self.tissues, self.size = images, tissues, size
        self.anomaly_probability, self.mix_probability = anomaly_probability, mix_probability
        self.length = len(images) * per_case

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, item: int) -> dict:
        g = torch.Generator().manual_seed(int(torch.randint(1 << 62, (1,))))
        c = item % len(self.images)
        volume = self.tissues[c]
        brain_slices = np.flatnonzero((volume > 0).mean(axis=(1, 2)) > 0.05)
        z = int(brain_slices[torch.randint(len(brain_slices), (1,), generator=g)])
        weights = modality_weights(g, self.mix_probability)
        grey = np.tensordot(weights.numpy(), self.images[c][:, z], axes=1).astype(np.float32)
        image, label, _ = resize_slice(grey[None], volume[z], self.size)  # as downstream slices
        tissue = torch.from_numpy(label.astype(np.int64))
        image, anomaly = add_anomalies(torch.from_numpy(image), tissue > 0, g, probability=self.anomaly_probability)
        image, label = augment(image, pretext_labels(tissue, anomaly), g)
        return {"image": image.float(), "label": label, "spacing": torch.ones(2)}
