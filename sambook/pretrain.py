"""Pretraining the book's own miniature SAM offline (chapter "Where a foundation model comes from").

Both papers freeze a *pretrained* SAM encoder. Offline there is no SAM checkpoint, so the book makes a stand-in:
the ``mini`` SAM (the official classes, smaller) trained end to end on a pretext task whose labels the phantom gives
for free — **brain tissue classes** (background, CSF, grey matter, white matter) — from single random modalities
and random slices, with strong intensity and geometric augmentation. Tumour labels are never used: pretraining
cases are generated **without tumours**, from a seed range disjoint from the downstream datasets'.

``python -m sambook pretrain CONFIG`` writes ``sam_mini_phantom.pth`` (the official key layout, so one loader
serves it and the official files) and ``sam_mini_phantom.json`` (provenance: code version, config, seed, device,
wall time, per-epoch pretext metrics, the checkpoint's SHA-256).
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
import yaml
from torch import nn
from torch.utils.data import Dataset

from sambook.atomic import atomic_path
from sambook.data.grids import arrays, to_t2_grid
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

#: Seed of the pretraining phantom. Downstream datasets use the profiles' seed (0): other case seeds, other ids.
PRETRAIN_SEED = 1_000_003


@dataclass
class PretrainConfig:
    cases: int = 12  # tumour-free phantom cases
    spacing_mm: float = 2.0
    image_size: int = 128
    slices_per_case: int = 40  # random slices drawn per case and epoch
    epochs: int = 12
    batch_size: int = 16
    lr: float = 5e-4
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


def augment(image: torch.Tensor, label: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Strong, label-preserving augmentation of one slice (1, S, S): contrast, gamma-like warp, inversion, noise,
    flips and 90-degree rotations."""
    r = torch.rand(6, generator=g)
    image = image * (0.6 + 0.8 * r[0]) + (r[1] - 0.5)  # contrast and brightness
    if r[2] < 0.3:
        image = -image  # inverted contrast: the encoder must not rely on one modality's polarity
    image = torch.sign(image) * image.abs() ** (0.7 + 0.6 * r[3])  # monotone intensity warp
    image = image + 0.1 * r[4] * torch.randn(image.shape, generator=g)
    k = int(r[5] * 4)
    image, label = torch.rot90(image, k, (-2, -1)), torch.rot90(label, k, (-2, -1))
    if torch.rand(1, generator=g) < 0.5:
        image, label = image.flip(-1), label.flip(-1)
    return image, label


class TissueSlices(Dataset):
    """Random (case, modality, axial slice) samples with tissue labels, resized to ``size``. Each item draws its
    choices from a generator seeded from torch's global one, so a run seeded by the loop is reproducible."""

    def __init__(self, images: list[np.ndarray], tissues: list[np.ndarray], *, size: int, per_case: int):
        self.images, self.tissues, self.size = images, tissues, size
        self.length = len(images) * per_case

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, item: int) -> dict:
        g = torch.Generator().manual_seed(int(torch.randint(1 << 62, (1,))))
        c = item % len(self.images)
        tissue = self.tissues[c]
        brain_slices = np.flatnonzero((tissue > 0).mean(axis=(1, 2)) > 0.05)
        z = int(brain_slices[torch.randint(len(brain_slices), (1,), generator=g)])
        m = int(torch.randint(4, (1,), generator=g))
        image, label, _ = resize_slice(self.images[c][m, z][None], tissue[z], self.size)  # as downstream slices
        image, label = augment(torch.from_numpy(image), torch.from_numpy(label.astype(np.int64)), g)
        return {"image": image.float(), "label": label, "spacing": torch.ones(2)}


class PretrainSAM(nn.Module):
    """The whole mini SAM, trained end to end on tissue classes: grey slice (B, 1, H, W) -> 4 class logits."""

    def __init__(self, image_size: int):
        super().__init__()
        self.sam = build_sam("mini", image_size=image_size)
        for p in self.sam.prompt_encoder.parameters():
            p.requires_grad_(False)
        self.decoder = PromptFreeDecoder(self.sam.prompt_encoder, self.sam.mask_decoder, num_classes=4)

    def forward(self, x: torch.Tensor) -> Prediction:
        embeddings = self.sam.image_encoder(x.expand(-1, 3, -1, -1))
        return Prediction(*self.decoder(embeddings, x.shape[-2:]))


def code_version() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def pretrain(cfg: PretrainConfig, out: Path, *, progress: bool = True) -> dict:
    """Run the recipe; write the checkpoint and its provenance into ``out``; return the provenance."""
    start = time.perf_counter()
    images, tissues, case_ids = pretext_volumes(cfg)
    seed_everything(cfg.seed)
    model = PretrainSAM(cfg.image_size)
    dataset = TissueSlices(images, tissues, size=cfg.image_size, per_case=cfg.slices_per_case)
    history = fit(model, dataset, None, out=out / "run", epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                  seed=cfg.seed, loss_fn=SegmentationLoss(), progress=progress)
    checkpoint = out / MINI_CHECKPOINT
    with atomic_path(checkpoint) as tmp:
        torch.save(model.sam.state_dict(), tmp)
    provenance = {"code_version": code_version(), "config": dataclasses.asdict(cfg), "seed": cfg.seed,
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
