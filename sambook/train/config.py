"""Training configurations: small YAML files, one per paper experiment (``configs/``).

Fields left out (or ``null``) take the active profile's value, so one file serves the ``ci``, ``cpu`` and ``gpu``
profiles; ``configs/gpu/`` pins the papers' settings.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import yaml

from sambook.profiles import Profile, get_profile


@dataclass
class TrainConfig:
    model: str  # sam | early | cmaa
    modality: str = "flair"  # for the single-modality model
    backbone: str | None = None  # profile's when None
    checkpoint: str | None = "auto"  # "auto", a path, or null for random initialisation
    image_size: int | None = None
    num_classes: int = 1  # 1: whole tumour (binary), 4: background + NCR, ED, ET
    adapter_blocks: int | None = None
    batch_size: int | None = None
    epochs: int | None = None
    lr: float | None = None
    weight_decay: float = 0.01  # AdamW's default
    lambda_dice: float = 1.0
    lambda_ce: float = 1.0
    lambda_iou: float = 1.0
    split: str = "patient"  # patient | slice
    dtype: str = "auto"  # auto (bf16/fp16 autocast on GPU, fp32 on CPU) | fp32
    seed: int | None = None
    num_workers: int = 0
    attention: str = "stock"  # stock | lean (sambook.models.lean_attention; same weights, no N x N matrix)
    checkpointing: bool = False  # recompute SAM encoder blocks in the backward pass (sambook.models.checkpointing)
    estimate: dict | None = None  # informational: `python -m sambook estimate` figures (configs/gpu/); not read

    def resolved(self, profile: Profile | None = None) -> "TrainConfig":
        """A copy with every profile-dependent field filled in."""
        profile = profile or get_profile()
        defaults = {"backbone": profile.backbone, "image_size": profile.image_size,
                    "adapter_blocks": profile.adapter_blocks, "batch_size": profile.batch_size,
                    "epochs": profile.epochs, "lr": profile.lr, "seed": profile.seed}
        return dataclasses.replace(self, **{k: v for k, v in defaults.items() if getattr(self, k) is None})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def load_config(path: str | Path) -> TrainConfig:
    """Read a YAML config; unknown keys are an error that names them and the file."""
    path = Path(path)
    data = yaml.safe_load(path.read_text()) or {}
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{path}: unknown keys {unknown}; known keys: {sorted(known)}")
    return TrainConfig(**data)
