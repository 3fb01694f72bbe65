"""Pretraining the book's own miniature SAM offline (chapter "Where a foundation model comes from").

Both papers freeze a *pretrained* SAM encoder. Offline there is no SAM checkpoint, so the book makes a stand-in:
the ``mini`` SAM (the official classes, smaller) trained end to end on a segmentation pretext task whose labels the
phantom gives for free, on single random modalities and random slices:

* **brain tissue classes** (background, CSF, grey matter, white matter) from the phantom's tissue maps, and
* **synthetic anomalies** (:func:`add_anomalies`): random blobs pasted into the brain, brighter or darker than the
  tissue they replace — SAM's "segment any object" turned into "segment any region that is no brain tissue".

Augmentation: contrast, brightness, a monotone intensity warp, noise, flips, rotations. Tumour labels are never
used: pretraining cases are generated **without tumours**, from a seed range disjoint from the downstream datasets'.

``python -m sambook pretrain CONFIG`` writes ``sam_mini_phantom.pth`` (the official key layout, so one loader
serves it and the official files; one mask token per pretext class) and ``sam_mini_phantom.json`` (provenance:
code version, config, seed, device, wall time, per-epoch pretext metrics, the checkpoint's SHA-256).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch
import torch.nn.functional as F
import yaml
from torch import nn
from torch.utils.data import Dataset

from sambook.atomic import atomic_path
from sambook.data.grids import arrays, to_t2_grid
from sambook.data.labels import TISSUE_NAMES
from sambook.data.loaders import load_case
from sambook.data.phantom import generate
from sambook.data.slices import normalise, resize_slice
from sambook.losses import SegmentationLoss
from sambook.models.checkpoint import MINI_CHECKPOINT, sha256_of
from sambook.models.fusion import Prediction
from sambook.models.prompt_free import PromptFreeDecoder
from sambook.models.sam_core import build_sam
from sambook.paths import data_root
from sambook.train.loop import fit, seed_everything

#: The pretext's classes: synthetic anomalies first, then the phantom's tissue classes (tissue code + 1). The
#: anomaly class takes the decoder's first mask token, the one a one-map prompt-free model uses: like SAM's first
#: output, it starts as an object mask.
PRETEXT_CLASSES = ("anomaly", *TISSUE_NAMES)

#: Seed of the pretraining phantom. Downstream datasets use the profiles' seed (0): other case seeds, other ids.
PRETRAIN_SEED = 1_000_003


@dataclass
class PretrainConfig:
    """A pretraining recipe; the defaults are the ``cpu`` recipe of ``configs/pretrain_cpu.yaml``."""

    cases: int = 24  # tumour-free phantom cases
    spacing_mm: float = 2.0
    image_size: int = 128
    slices_per_case: int = 60  # random slices drawn per case and epoch
    epochs: int = 16
    batch_size: int = 16
    lr: float = 5e-4
    anomaly_probability: float = 0.7  # share of slices that get synthetic anomalies (0: tissue classes only)
    mix_probability: float = 0.5  # share of inputs that mix modalities (0: one modality per input)
    seed: int = 0


def load_config(path: str | Path) -> PretrainConfig:
    data = yaml.safe_load(Path(path).read_text()) or {}
    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(PretrainConfig)})
    if unknown:
        raise ValueError(f"{path}: unknown keys {unknown}")
    return PretrainConfig(**data)


def pretext_volumes(cfg: PretrainConfig) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """Tumour-free cases, every modality brought onto the T2 grid with the phantom's ground-truth transforms
    (acceptable for pretraining; downstream chapters register), z-scored; with their tissue maps."""
    root = data_root() / "phantom" / f"pretrain-{cfg.spacing_mm:g}mm"
    folders = generate(root, cases=cfg.cases, seed=PRETRAIN_SEED, spacing_mm=cfg.spacing_mm, with_tumour=False)
    images, tissues = [], []
    for folder in folders:
        case = load_case(root, folder.name)
        volumes, _ = arrays(to_t2_grid(case, case.gt_transforms))
        brain = volumes[2] > volumes[2].mean()
        images.append(np.stack([normalise(v, brain) for v in volumes]))
        tissues.append(sitk.GetArrayFromImage(sitk.ReadImage(str(folder / f"{folder.name}_tissue.nii.gz"))))
    return images, tissues, [f.name for f in folders]


def smooth_noise(size: int, cells: int, g: torch.Generator) -> torch.Tensor:
    """Low-frequency noise (size, size) in about [-1, 1]: a random ``cells`` x ``cells`` grid, upsampled bicubically."""
    grid = torch.rand(1, 1, cells, cells, generator=g) * 2 - 1
    return F.interpolate(grid, size=(size, size), mode="bicubic", align_corners=False)[0, 0]


def add_anomalies(image: torch.Tensor, brain: torch.Tensor, g: torch.Generator, *, probability: float = 0.7,
                  max_count: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
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
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                            indexing="ij")
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


def augment(image: torch.Tensor, label: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Label-preserving augmentation of one slice (1, S, S): contrast and brightness, a monotone intensity warp,
    noise, flips and 90-degree rotations. Polarity is kept: which way a region differs is information."""
    r = torch.rand(5, generator=g)
    image = image * (0.7 + 0.6 * r[0]) + 0.6 * (r[1] - 0.5)  # contrast and brightness
    image = torch.sign(image) * image.abs() ** (0.8 + 0.4 * r[2])  # monotone intensity warp
    image = image + 0.15 * r[3] * torch.randn(image.shape, generator=g)
    k = int(r[4] * 4)
    image, label = torch.rot90(image, k, (-2, -1)), torch.rot90(label, k, (-2, -1))
    if torch.rand(1, generator=g) < 0.5:
        image, label = image.flip(-1), label.flip(-1)
    return image, label


class TissueSlices(Dataset):
    """Random (case, modality or modality mix, axial slice) samples with pretext labels (tissue classes and synthetic
    anomalies), resized to ``size``. Each item draws its
    choices from a generator seeded from torch's global one, so a run seeded by the loop is reproducible."""

    def __init__(self, images: list[np.ndarray], tissues: list[np.ndarray], *, size: int, per_case: int,
                 anomaly_probability: float = 0.7, mix_probability: float = 0.5):
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


class PretrainSAM(nn.Module):
    """The whole mini SAM, trained end to end on the pretext classes: grey slice (B, 1, H, W) -> 5 class logits."""

    def __init__(self, image_size: int):
        super().__init__()
        self.sam = build_sam("mini", image_size=image_size, num_mask_tokens=len(PRETEXT_CLASSES))
        for p in self.sam.prompt_encoder.parameters():
            p.requires_grad_(False)
        self.decoder = PromptFreeDecoder(self.sam.prompt_encoder, self.sam.mask_decoder,
                                         num_classes=len(PRETEXT_CLASSES))

    def forward(self, x: torch.Tensor) -> Prediction:
        embeddings = self.sam.image_encoder(x.expand(-1, 3, -1, -1))
        return Prediction(*self.decoder(embeddings, x.shape[-2:]))


def code_version() -> str:
    """The git commit of the library, with ``+dirty`` when ``sambook/`` or ``configs/`` have uncommitted changes."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=Path(__file__).parent,
                              check=True).stdout.strip()

    try:
        dirty = git("status", "--porcelain", "--", "../sambook", "../configs")
        return git("rev-parse", "HEAD") + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def pretrain(cfg: PretrainConfig, out: Path, *, progress: bool = True) -> dict:
    """Run the recipe; write the checkpoint and its provenance into ``out``; return the provenance."""
    start, version = time.perf_counter(), code_version()  # the code as it was when the run started
    images, tissues, case_ids = pretext_volumes(cfg)
    seed_everything(cfg.seed)
    model = PretrainSAM(cfg.image_size)
    dataset = TissueSlices(images, tissues, size=cfg.image_size, per_case=cfg.slices_per_case,
                           anomaly_probability=cfg.anomaly_probability, mix_probability=cfg.mix_probability)
    history = fit(model, dataset, None, out=out / "run", epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                  seed=cfg.seed, loss_fn=SegmentationLoss(), progress=progress)
    checkpoint = out / MINI_CHECKPOINT
    with atomic_path(checkpoint) as tmp:
        torch.save(model.sam.state_dict(), tmp)
    provenance = {"code_version": version, "config": dataclasses.asdict(cfg), "seed": cfg.seed,
                  "pretraining_cases": case_ids, "phantom_seed": PRETRAIN_SEED, "with_tumour": False,
                  "device": "cuda" if torch.cuda.is_available() else f"cpu ({torch.get_num_threads()} threads)",
                  "wall_seconds": time.perf_counter() - start, "history": history,
                  "sha256": sha256_of(checkpoint), "bytes": checkpoint.stat().st_size}
    with atomic_path(checkpoint.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(provenance, indent=1))
    return provenance


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", type=Path, help="configs/pretrain_cpu.yaml or configs/pretrain_ci.yaml")
    parser.add_argument("--out", type=Path, help="output folder (default: data_root()/checkpoints)")


def main(args: argparse.Namespace) -> int:
    out = args.out or data_root() / "checkpoints"
    provenance = pretrain(load_config(args.config), out)
    last = provenance["history"][-1]
    print(f"{out / MINI_CHECKPOINT}: {provenance['wall_seconds'] / 60:.1f} min on {provenance['device']}, "
          f"last pretext loss {last['train_loss']:.3f}, sha256 {provenance['sha256'][:12]}")
    return 0
