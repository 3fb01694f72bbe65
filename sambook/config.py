"""Configurations: small YAML files, one per paper experiment (``configs/``), read into one dataclass per kind of
run: :class:`TrainConfig` (every model that trains on a task) and :class:`PretrainConfig` (the book's mini SAM).

Fields left out (or ``null``) take the active profile's value, so one file serves the ``ci``, ``cpu`` and ``gpu``
profiles; ``configs/gpu/`` pins the papers' settings.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sambook.config_io import read_yaml
from sambook.errors import ConfigError
from sambook.profiles import Profile, get_profile

#: MONAI baselines (chapter `how_it_compares`; sambook.models.baselines): each a kind on the Table 1 slices
#: (``unet``), on volumes slice by slice (``unet_per_slice``) and in 3D (``unet_3d``).
BASELINE_NETWORKS = ("unet", "attention_unet", "swin_unetr", "unetr")
BASELINE_MODELS = frozenset(f"{n}{layout}" for n in BASELINE_NETWORKS for layout in ("", "_per_slice", "_3d"))
#: Kinds that train on volumes (their epochs default to the profile's ``volume_epochs``).
VOLUME_MODELS = frozenset(
    {"aftersam", "aftersam_prompted"}
    | {f"{n}_per_slice" for n in BASELINE_NETWORKS}
    | {f"{n}_3d" for n in BASELINE_NETWORKS}
)
PROMPTS = ("none", "box", "point", "points3")  # AFTer-SAM Table 3 (sambook.datasets.prompts); text: not reproducible


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
    # Baselines and the prompt ablation (chapter `how_it_compares`); None takes the profile's value.
    width: int | None = None  # w of the MONAI baselines (sambook.models.baselines)
    patch_3d: tuple[int, int, int] | None = None  # (D, H, W) patch / sliding window of the 3D baselines
    prompt: str = "none"  # aftersam_prompted: none | box | point | points3, from the middle slice's ground truth
    prompt_encoder: str = "trained"  # aftersam_prompted: trained | frozen sparse-prompt embeddings
    estimate: dict | None = None  # informational: `python -m sambook estimate` figures (configs/gpu/); not read

    def resolved(self, profile: Profile | None = None) -> TrainConfig:
        """A copy with every profile-dependent field filled in."""
        profile = profile or get_profile()
        volumes = self.model in VOLUME_MODELS
        defaults = {
            "backbone": profile.backbone,
            "image_size": profile.baseline_image_size if self.model in BASELINE_MODELS else profile.image_size,
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
            "width": profile.baseline_width,
            "patch_3d": profile.patch_3d,
        }
        resolved = dataclasses.replace(self, **{k: v for k, v in defaults.items() if getattr(self, k) is None})
        resolved.betas = tuple(resolved.betas)
        resolved.patch_3d = tuple(resolved.patch_3d)
        check_train_config(resolved)  # a config object made in code is checked like a file
        return resolved

    def to_dict(self) -> dict:
        """Plain YAML-safe values (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


# Allowed values, kept here (a base module) and checked against their owners by tests/test_reliability.py:
BACKBONES = ("vit_b", "vit_l", "vit_h", "mini")  # sambook.models.sam_core.SAM_CONFIGS
ATTENTIONS = ("stock", "lean")  # sambook.models.lean_attention.ATTENTIONS
MODALITY_NAMES = ("t1", "t1ce", "t2", "flair")  # sambook.data.modalities.MODALITIES
DATASETS = ("phantom", "segthor")  # AFTer-SAM's volumes (sambook.train.volumes.load_volumes)
OPTIMIZERS = ("adamw", "adam")  # sambook.train.loop.make_optimizer
SLICE_MODELS = ("sam", "early", "cmaa")  # CMAA Table 1, on the phantom's slices: whole tumour or its sub-regions
#: Classes a Table 1 model can be trained for: 1 (whole tumour) or 4 (background + NCR, ED, ET).
SLICE_CLASSES = (1, 4)
#: Classes of AFTer-SAM's datasets, background included (checked when training starts: the estimator builds
#: AFTer-SAM for any number of classes).
DATASET_CLASSES = {"phantom": 4, "segthor": 5}

#: A rule: (test of a value, what is allowed, in words).
Rule = tuple[Callable[[object], bool], str]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)


def integer(minimum: int) -> Rule:
    return (lambda v: _is_int(v) and v >= minimum), f"an integer >= {minimum}"


def number(minimum: float, *, strict: bool = False, maximum: float | None = None) -> Rule:
    def test(v: object) -> bool:
        return _is_number(v) and (v > minimum if strict else v >= minimum) and (maximum is None or v <= maximum)

    low = f"{'>' if strict else '>='} {minimum}"
    return test, f"a finite number {low}" + (f" and <= {maximum}" if maximum is not None else "")


def choice(values: tuple) -> Rule:
    return (lambda v: v in values and not isinstance(v, bool)), f"one of {', '.join(map(str, values))}"


def optional(rule: Rule) -> Rule:
    test, allowed = rule
    return (lambda v: v is None or test(v)), f"{allowed}, or null (the profile's value)"


BOOLEAN: Rule = (lambda v: isinstance(v, bool), "true or false")
TEXT: Rule = (lambda v: isinstance(v, str) and v != "", "a non-empty string")
BETAS: Rule = (
    lambda v: isinstance(v, (list, tuple)) and len(v) == 2 and all(_is_number(b) and 0 <= b < 1 for b in v),
    "a pair [beta1, beta2] of numbers in [0, 1)",
)
SCHEDULE: Rule = (
    lambda v: (
        v is None
        or (
            isinstance(v, dict)
            and set(v) == {"final_epochs", "final_lr"}
            and integer(0)[0](v["final_epochs"])
            and number(0, strict=True)[0](v["final_lr"])
        )
    ),
    "null (cosine) or {final_epochs: an integer >= 0, final_lr: a number > 0}",
)

#: One rule per key of :class:`TrainConfig` (tests/test_reliability.py checks that none is left out).
TRAIN_RULES: dict[str, Rule] = {
    "model": TEXT,
    "modality": choice(MODALITY_NAMES),
    "backbone": optional(choice(BACKBONES)),
    "checkpoint": ((lambda v: v is None or (isinstance(v, str) and v != "")), '"auto", a file path, or null'),
    "image_size": optional(integer(16)),
    "num_classes": integer(1),
    "adapter_blocks": optional(integer(1)),
    "adapter_zero_init": BOOLEAN,
    "separate_encoders": BOOLEAN,
    "batch_size": optional(integer(1)),
    "epochs": optional(integer(1)),
    "lr": optional(number(0, strict=True)),
    "weight_decay": number(0),
    "optimizer": choice(OPTIMIZERS),
    "betas": BETAS,
    "schedule": SCHEDULE,
    "lambda_dice": number(0),
    "lambda_ce": number(0),
    "lambda_iou": number(0),
    "split": choice(("patient", "slice")),
    "dtype": choice(("auto", "fp32")),
    "seed": optional(integer(0)),
    "num_workers": integer(0),
    "attention": choice(ATTENTIONS),
    "checkpointing": BOOLEAN,
    "dataset": choice(DATASETS),
    "data_dir": optional(TEXT),
    "neighbours": optional(integer(0)),
    "interval": optional(integer(1)),
    "fusion_blocks": optional(integer(0)),
    "fusion_heads": optional(integer(1)),
    "fresh": BOOLEAN,
    "lora_rank": optional(integer(1)),
    "decoder_lora": BOOLEAN,
    "groups_per_volume": integer(1),
    "elastic": BOOLEAN,
    "cache": BOOLEAN,
    "min_lr": optional(number(0)),
    "val_share": number(0, maximum=0.9),
    "report_epoch": choice(("last", "validation")),
    "axial": BOOLEAN,
    "position_embedding": choice(("factorised", "full")),
    "width": optional(integer(1)),
    "patch_3d": (
        (
            lambda v: (
                v is None or (isinstance(v, list | tuple) and len(v) == 3 and all(type(n) is int and n > 0 for n in v))
            )
        ),
        "three positive integers (D, H, W) or null",
    ),
    "prompt": choice(PROMPTS),
    "prompt_encoder": choice(("trained", "frozen")),
    "estimate": ((lambda v: v is None or isinstance(v, dict)), "a mapping or null (informational)"),
}


def check_values(data: dict, rules: dict[str, Rule], source: str) -> None:
    """Raise one :class:`ConfigError` for the first key whose value breaks its rule, naming ``source``, the key,
    the value and what is allowed."""
    for key, value in data.items():
        test, allowed = rules[key]
        if not test(value):
            hint = ""
            if isinstance(value, str):
                try:
                    float(value)
                    hint = " (YAML reads a number like 1e-4 as text: write 1.0e-4)"
                except ValueError:
                    pass
            raise ConfigError(f"{source}: {key}: {value!r} is not allowed; expected {allowed}{hint}")


def check_train_config(cfg: TrainConfig, source: str = "config") -> None:
    """Every rule of :data:`TRAIN_RULES` and the rules between keys; raises :class:`ConfigError` naming ``source``."""
    check_values(dataclasses.asdict(cfg), TRAIN_RULES, source)
    if cfg.cache and cfg.elastic:
        raise ConfigError(f"{source}: the feature cache is exact only without input augmentation; set elastic: false")
    if cfg.cache and cfg.num_workers > 0:
        raise ConfigError(f"{source}: the feature cache fills in the main process only; set num_workers: 0")
    if cfg.dataset == "segthor" and not cfg.data_dir:
        raise ConfigError(f"{source}: dataset segthor needs data_dir (the folder holding train/Patient_XX/)")
    if cfg.model in SLICE_MODELS and cfg.num_classes not in SLICE_CLASSES:
        raise ConfigError(
            f"{source}: num_classes: {cfg.num_classes} is not allowed for model {cfg.model}; expected 1 (whole tumour) "
            "or 4 (background, necrotic core, oedema, enhancing)"
        )
    if cfg.schedule is not None and cfg.epochs is not None and cfg.schedule["final_epochs"] > cfg.epochs:
        raise ConfigError(
            f"{source}: schedule: final_epochs {cfg.schedule['final_epochs']} is more than epochs ({cfg.epochs})"
        )


def check_dataset_classes(cfg: TrainConfig, source: str = "config") -> None:
    """AFTer-SAM predicts one channel per label of its dataset (background included): checked before training."""
    if cfg.model == "aftersam" and cfg.num_classes != DATASET_CLASSES[cfg.dataset]:
        raise ConfigError(
            f"{source}: num_classes: {cfg.num_classes} is not allowed for model aftersam on dataset {cfg.dataset}; "
            f"expected {DATASET_CLASSES[cfg.dataset]} (background and its labels)"
        )


def config_from_dict(data: dict, source: str = "config") -> TrainConfig:
    """A config from its keys, validated (:func:`check_train_config`): unknown keys, wrong types, values out of range
    and inconsistent settings are each an error naming ``source``, the key, the value and what is allowed."""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{source}: unknown keys {unknown}; known keys: {sorted(known)}")
    if "model" not in data:
        raise ConfigError(f"{source}: no 'model' key (sam, early, cmaa or aftersam)")
    check_values(data, TRAIN_RULES, source)  # before the dataclass turns a bad value into a deep error
    cfg = TrainConfig(**data)
    cfg.betas = tuple(cfg.betas)
    check_train_config(cfg, source)
    if cfg.prompt != "none" and cfg.model != "aftersam_prompted":
        raise ConfigError(f"{source}: prompt {cfg.prompt!r} needs model aftersam_prompted, not {cfg.model!r}")
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


PRETRAIN_RULES: dict[str, Rule] = {
    "model": choice(("pretrain",)),
    "cases": integer(1),
    "spacing_mm": number(0, strict=True),
    "image_size": integer(16),
    "slices_per_case": integer(1),
    "epochs": integer(1),
    "batch_size": integer(1),
    "lr": number(0, strict=True),
    "anomaly_probability": number(0, maximum=1),
    "mix_probability": number(0, maximum=1),
    "seed": integer(0),
}


def pretrain_config_from_dict(data: dict, source: str = "config") -> PretrainConfig:
    """A pretraining recipe from its keys; unknown keys and bad values are an error naming ``source`` and the key."""
    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(PretrainConfig)})
    if unknown:
        raise ConfigError(f"{source}: unknown keys {unknown}")
    check_values(data, PRETRAIN_RULES, source)
    return PretrainConfig(**data)


def load_pretrain_config(path: str | Path) -> PretrainConfig:
    """Read a pretraining recipe (``configs/pretrain_*.yaml``)."""
    return pretrain_config_from_dict(read_yaml(path), str(path))
