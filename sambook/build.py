"""One builder for every model of the book: ``build_model(config)`` (chapters `fusing_modalities`,
`aftersam_volumes`, `foundation_model` and `training_runs`).

A config is a YAML path, a dict of its keys, a :class:`~sambook.config.TrainConfig` or a
:class:`~sambook.config.PretrainConfig`. Its ``model`` key picks the kind in :data:`MODEL_KINDS`; the
active profile fills in what the config leaves out. Training, evaluation, prediction, the estimator and the chapters
all build through here, so the model an estimate describes is the model that trains (like ``sam_model_registry``
in ``segment_anything/build_sam.py``, the registry keeps configuration out of the model files).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from torch import nn

from sambook.config import (
    BASELINE_NETWORKS,
    PretrainConfig,
    TrainConfig,
    config_from_dict,
    pretrain_config_from_dict,
)
from sambook.config_io import read_yaml
from sambook.errors import ConfigError
from sambook.profiles import Profile

Config = str | Path | dict | TrainConfig


def _sam(cfg: TrainConfig, verbose: bool):
    """The config's SAM: its backbone at its image size, on the weights :func:`resolve_checkpoint` picks."""
    from sambook.models.checkpoint import load_into, resolve_checkpoint
    from sambook.models.sam_core import build_sam

    sam = build_sam(
        cfg.backbone,
        image_size=cfg.image_size,
        num_mask_tokens=max(4, cfg.num_classes),
        attention=cfg.attention,
        checkpointing=cfg.checkpointing,
    )
    path, description = resolve_checkpoint(cfg.backbone, cfg.checkpoint)
    if path is not None:
        report = load_into(sam, path)
        description += f" [{report}]" if verbose else ""
    if verbose:
        print(description)
    return sam


def _single_modality(cfg: TrainConfig, verbose: bool) -> nn.Module:
    from sambook.models.table1 import SingleModalitySAM

    return SingleModalitySAM(_sam(cfg, verbose), modality=cfg.modality, num_classes=cfg.num_classes)


def _early_fusion(cfg: TrainConfig, verbose: bool) -> nn.Module:
    from sambook.models.table1 import EarlyFusionSAM

    return EarlyFusionSAM(_sam(cfg, verbose), num_classes=cfg.num_classes)


def _cmaa(cfg: TrainConfig, verbose: bool) -> nn.Module:
    from sambook.models.cmaa import CMAASAM

    return CMAASAM(
        _sam(cfg, verbose),
        adapter_blocks=cfg.adapter_blocks,
        num_classes=cfg.num_classes,
        zero_init=cfg.adapter_zero_init,
        separate_encoders=cfg.separate_encoders,
    )


def _aftersam(cfg: TrainConfig, verbose: bool) -> nn.Module:
    from sambook.models.aftersam import AfterSAM

    return AfterSAM(
        _sam(cfg, verbose),
        slices=cfg.neighbours + 1,
        fusion_blocks=cfg.fusion_blocks,
        rank=cfg.lora_rank,
        num_classes=cfg.num_classes,
        fresh=cfg.fresh,
        heads=cfg.fusion_heads,
        decoder_lora=cfg.decoder_lora,
        axial=cfg.axial,
        position=cfg.position_embedding,
    )


def _aftersam_prompted(cfg: TrainConfig, verbose: bool) -> nn.Module:
    from sambook.models.prompted import PromptedAfterSAM

    return PromptedAfterSAM(_aftersam(cfg, verbose), prompt=cfg.prompt, prompt_encoder=cfg.prompt_encoder)


def _baseline(network: str, layout: str) -> Callable[[TrainConfig, bool], nn.Module]:
    """The factory of one MONAI baseline (:mod:`sambook.models.baselines`), trained from scratch."""

    def factory(cfg: TrainConfig, verbose: bool) -> nn.Module:
        from sambook.models.baselines import build_baseline

        if cfg.lambda_iou:
            raise ConfigError(f"model {cfg.model}: the baselines predict no IoU; set lambda_iou: 0")
        model = build_baseline(
            network,
            layout,
            num_classes=cfg.num_classes,
            width=cfg.width,
            image_size=cfg.image_size,
            patch_size=cfg.patch_3d,
        )
        if verbose:
            print(f"{cfg.model}: MONAI {type(model.net).__name__}, width {cfg.width}, random initialisation")
        return model

    return factory


def _pretrain(cfg, verbose: bool) -> nn.Module:
    from sambook.models.pretext_sam import PretrainSAM

    return PretrainSAM(cfg.image_size)


#: Model kinds by the configs' ``model`` key: a function (resolved config, verbose) -> model.
MODEL_KINDS: dict[str, Callable[..., nn.Module]] = {
    "sam": _single_modality,  # CMAA Table 1: one modality
    "early": _early_fusion,  # CMAA Table 1: the four modalities through one input convolution
    "cmaa": _cmaa,  # CMAA Table 1: two branches fused by cross-modality adapters
    "aftersam": _aftersam,  # AFTer-SAM (2D baselines: fusion_blocks: 0, or the fair one axial: false)
    "pretrain": _pretrain,  # the book's mini SAM with its pretext head (chapter `foundation_model`)
    "aftersam_prompted": _aftersam_prompted,  # AFTer-SAM Table 3: prompts from the middle slice's ground truth
}
# Chapter `how_it_compares`: MONAI baselines on the Table 1 slices (unet, ...), on volumes slice by slice
# (unet_per_slice, ...) and in 3D (unet_3d, ...).
for _network in BASELINE_NETWORKS:
    MODEL_KINDS[_network] = _baseline(_network, "slices")
    MODEL_KINDS[f"{_network}_per_slice"] = _baseline(_network, "per_slice")
    MODEL_KINDS[f"{_network}_3d"] = _baseline(_network, "3d")


def resolve_config(config: Config, profile: Profile | None = None):
    """A config (path, dict or config object) as a resolved config object: the profile fills in what it leaves out."""
    if isinstance(config, (TrainConfig, PretrainConfig)):
        cfg, source = config, "config"
    else:
        source = str(config) if isinstance(config, (str, Path)) else "config"
        data = read_yaml(config) if isinstance(config, (str, Path)) else dict(config)
        is_pretrain = data.get("model") == "pretrain"
        cfg = (pretrain_config_from_dict if is_pretrain else config_from_dict)(data, source)
    if cfg.model not in MODEL_KINDS:
        raise ConfigError(f"{source}: model: unknown model {cfg.model!r}; choose one of {sorted(MODEL_KINDS)}")
    return cfg.resolved(profile) if isinstance(cfg, TrainConfig) else cfg


def build_model(config: Config, *, profile: Profile | None = None, verbose: bool = False) -> nn.Module:
    """The model of ``config`` (see the module docstring), on the weights its ``checkpoint`` names
    (``"auto"``: the official or the book's checkpoint when present; ``None``: a random initialisation)."""
    cfg = resolve_config(config, profile)
    return MODEL_KINDS[cfg.model](cfg, verbose)
