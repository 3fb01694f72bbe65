"""Configurations: small YAML files, one per paper experiment (``configs/``), read into one dataclass per kind of
run: :class:`TrainConfig` (every model that trains on a task) and :class:`PretrainConfig` (the book's mini SAM).

Fields left out (or ``null``) take the active profile's value, so one file serves the ``ci``, ``cpu`` and ``gpu``
profiles; ``configs/gpu/`` pins the papers' settings.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from sambook.config_io import read_yaml
from sambook.errors import ConfigError
from sambook.profiles import Profile, get_profile


@dataclass
class TrainConfig:
    model: str  # sam | early | cmaa (Table 1, 2D slices) | aftersam (volumes)
    modality: str = "flair"  # for the single-modality model and AFTer-SAM's phantom volumes
    backbone: str | None = None  # profile's when None
    checkpoint: str | None = "auto"  # "auto", a path, or null for random initialisation
    image_size: int | None = None
    num_classes: int = 1  # 1: whole tumour (binary), 4: background + NCR, ED, ET
    adapter_blocks: int | None = None
    adapter_zero_init: bool = True  # CMAA's adapters start at zero (training starts from two plain SAM branches)
    separate_encoders: bool = False  # CMAA: the T2-based branch gets its own frozen copy of the encoder
    batch_size: int | None = None
    epochs: int | None = None
    lr: float | None = None
    weight_decay: float = 0.01  # AdamW's default
    optimizer: str = "adamw"  # adamw (CMAA paper) | adam (AFTer-SAM paper)
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: dict | None = None  # None: cosine; {final_epochs, final_lr}: the AFTer-SAM paper's step
    min_lr: float | None = None  # the cosine schedule's floor (None: lr / 100), so the last epoch still trains
    lambda_dice: float = 1.0
    lambda_ce: float = 1.0
    lambda_iou: float = 0.0  # SAM's IoU-prediction term; both papers train with Dice + CE only
    split: str = "patient"  # patient | slice
    val_share: float = 0.2  # training patients held out for validation (seeded); the test split selects nothing
    report_epoch: str = "last"  # last | validation: test scores of the last epoch or of the best validation epoch
    dtype: str = "auto"  # auto (bf16/fp16 autocast on GPU, fp32 on CPU) | fp32
    seed: int | None = None
    num_workers: int = 0
    attention: str = "stock"  # stock | lean (sambook.models.lean_attention; same weights, no N x N matrix)
    checkpointing: bool = False  # recompute SAM encoder blocks in the backward pass (sambook.models.grad_checkpointing)
    # AFTer-SAM only (model: aftersam); None takes the profile's value.
    dataset: str = "phantom"  # phantom (the book's volumes) | segthor (sambook.datasets.segthor)
    data_dir: str | None = None  # the SegTHOR folder (holding train/Patient_XX/)
    neighbours: int | None = None  # N_A
    interval: int | None = None  # N_f
    fusion_blocks: int | None = None  # L; 0 is the 2D baseline
    fusion_heads: int | None = None  # M, fresh fusion blocks only (SAM-derived blocks keep SAM's heads)
    fresh: bool = False  # new fusion blocks instead of SAM's last L blocks
    axial: bool = True  # false: fusion blocks without attention across slices (the fair 2D baseline)
    position_embedding: str = "factorised"  # factorised e_(h,w) + e_n | full e_((h,w),n) (the paper's table)
    lora_rank: int | None = None
    decoder_lora: bool = False  # Table 4: LoRA on the decoder instead of full fine-tuning
    groups_per_volume: int = 1  # slice groups drawn per volume and epoch (paper: 1)
    elastic: bool = True  # MONAI elastic deformation of each group (paper); excludes the cache
    cache: bool = False  # frozen-feature cache (sambook.models.feature_cache); needs elastic: false
    estimate: dict | None = None  # informational: `python -m sambook estimate` figures (configs/gpu/); not read

    def resolved(self, profile: Profile | None = None) -> TrainConfig:
        """A copy with every profile-dependent field filled in."""
        profile = profile or get_profile()
        volumes = self.model == "aftersam"
        defaults = {
            "backbone": profile.backbone,
            "image_size": profile.image_size,
            "adapter_blocks": profile.adapter_blocks,
            "batch_size": profile.batch_size,
            "epochs": profile.volume_epochs if volumes else profile.epochs,
            "lr": profile.lr,
            "min_lr": (self.lr or profile.lr) / 100,
            "seed": profile.seed,
            "neighbours": profile.neighbours,
            "interval": profile.interval,
            "fusion_blocks": profile.fusion_blocks,
            "fusion_heads": profile.fusion_heads if self.fresh else None,  # SAM-derived blocks: SAM's heads
            "lora_rank": profile.lora_rank,
        }
        resolved = dataclasses.replace(self, **{k: v for k, v in defaults.items() if getattr(self, k) is None})
        resolved.betas = tuple(resolved.betas)
        return resolved

    def to_dict(self) -> dict:
        """Plain YAML-safe values (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def config_from_dict(data: dict, source: str = "config") -> TrainConfig:
    """A config from its keys; unknown keys and inconsistent settings are an error naming ``source``."""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{source}: unknown keys {unknown}; known keys: {sorted(known)}")
    if "model" not in data:
        raise ConfigError(f"{source}: no 'model' key (sam, early, cmaa or aftersam)")
    cfg = TrainConfig(**data)
    if cfg.cache and cfg.elastic:
        raise ConfigError(f"{source}: the feature cache is exact only without input augmentation; set elastic: false")
    if cfg.report_epoch not in ("last", "validation"):
        raise ConfigError(f"{source}: report_epoch {cfg.report_epoch!r}; choose last or validation")
    if cfg.dataset == "segthor" and not cfg.data_dir:
        raise ConfigError(f"{source}: dataset segthor needs data_dir (the folder holding train/Patient_XX/)")
    return cfg


def load_config(path: str | Path) -> TrainConfig:
    """Read a YAML config; unknown keys are an error that names them and the file."""
    return config_from_dict(read_yaml(path), str(path))


@dataclass
class PretrainConfig:
    """A pretraining recipe; the defaults are the ``cpu`` recipe of ``configs/pretrain_cpu.yaml``."""

    model: str = "pretrain"  # the kind :func:`sambook.build.build_model` builds

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


def pretrain_config_from_dict(data: dict, source: str = "config") -> PretrainConfig:
    """A pretraining recipe from its keys; unknown keys are an error naming ``source``."""
    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(PretrainConfig)})
    if unknown:
        raise ConfigError(f"{source}: unknown keys {unknown}")
    return PretrainConfig(**data)


def load_pretrain_config(path: str | Path) -> PretrainConfig:
    """Read a pretraining recipe (``configs/pretrain_*.yaml``)."""
    return pretrain_config_from_dict(read_yaml(path), str(path))
