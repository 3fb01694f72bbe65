"""The papers' GPU runs (``configs/gpu/*.yaml``) and their memory budgets (chapter `training_runs`).

Each file pins one experiment at the paper's sizes and carries an ``estimate:`` block written from
``python -m sambook estimate``: the estimated peak of one training step, whether it fits a T4, and where it does not,
the smallest change that makes it fit (``t4_fix``: the changed fields and the estimate that proves it).
:func:`check` re-runs the estimator and compares.
"""

from __future__ import annotations

from pathlib import Path

from sambook.config_io import read_yaml
from sambook.errors import ConfigError
from sambook.estimate.gpus import fits, gpu
from sambook.estimate.trace import Setting, estimate
from sambook.paths import CONFIGS

GPU_CONFIGS = CONFIGS / "gpu"
# The training loop's "auto" is bf16 autocast where the card supports it, else fp16: the same bytes.
_DTYPES = {"auto": "bf16", "fp32": "fp32", "bf16": "bf16", "fp16": "fp16"}


#: Model keys of a training config beyond the estimator's own settings, passed on: the traced model is the trained one.
MODEL_OPTIONS = (
    "fresh",
    "fusion_heads",
    "decoder_lora",
    "separate_encoders",
    "adapter_zero_init",
    "axial",
    "position_embedding",
)


def gpu_configs() -> list[Path]:
    return sorted(GPU_CONFIGS.glob("*.yaml"))


def load(path: str | Path) -> dict:
    """A GPU config as a dict (Table 1 files also load with :func:`sambook.config.load_config`)."""
    data = read_yaml(path)
    if "model" not in data:
        raise ConfigError(f"{path}: not a training config (no 'model' key)")
    return data


def setting(config: dict, **changes) -> Setting:
    """The estimator's setting of one training step of ``config`` (with ``changes`` to its fields applied)."""
    c = {**config, **changes}
    aftersam = c["model"] == "aftersam"
    return Setting(
        model=c["model"],
        backbone=c["backbone"],
        batch=c["batch_size"],
        size=c["image_size"],
        slices=c["neighbours"] + 1 if aftersam else None,
        dtype=_DTYPES[c.get("dtype", "auto")],
        attention=c.get("attention", "stock"),
        checkpointing=c.get("checkpointing", False),
        num_classes=c.get("num_classes", 1),
        adapter_blocks=c.get("adapter_blocks", 6),
        modality=c.get("modality", "flair"),
        fusion_blocks=c.get("fusion_blocks", 6),
        lora_rank=c.get("lora_rank", 4),
        model_options=tuple((k, c[k]) for k in MODEL_OPTIONS if c.get(k) is not None),
    )


def command(s: Setting) -> str:
    """The ``estimate`` command line of a setting."""
    parts = [f"python -m sambook estimate --model {s.model} --backbone {s.backbone} --batch {s.batch} --size {s.size}"]
    parts += [f"--slices {s.slices}"] if s.slices else []
    parts += [f"--dtype {s.dtype}", f"--attention {s.attention}"]
    parts += ["--checkpointing"] if s.checkpointing else []
    parts += [f"--num-classes {s.num_classes}"] if s.num_classes != 1 else []
    return " ".join(parts)


def annotate(config: dict, fix: dict | None = None) -> dict:
    """The ``estimate:`` block of ``config``; ``fix``: the changed fields that make a too-large run fit a T4."""
    est = estimate(setting(config))
    block = {
        "peak_mib": round(est.peak_mib),
        "gflops_per_step": round(est.flops / 1e9, 1),
        "fits_t4": fits(est.peak_mib, gpu("T4")),
        "command": command(est.setting),
    }
    if fix:
        fixed = estimate(setting(config, **fix))
        block["t4_fix"] = {
            "change": fix,
            "peak_mib": round(fixed.peak_mib),
            "fits_t4": fits(fixed.peak_mib, gpu("T4")),
            "command": command(fixed.setting),
        }
    return block


def check(path: str | Path, *, rel: float = 0.02) -> list[str]:
    """Re-estimate a config (and its ``t4_fix``); return the problems found (empty: the annotation holds)."""
    config = load(path)
    noted = config.get("estimate") or {}
    problems = []
    fix = noted.get("t4_fix", {}).get("change")
    fresh = annotate(config, fix)
    for name, old, new in (
        ("peak", noted.get("peak_mib"), fresh["peak_mib"]),
        ("t4_fix peak", noted.get("t4_fix", {}).get("peak_mib"), fresh.get("t4_fix", {}).get("peak_mib")),
    ):
        if old is not None and abs(old - new) > rel * new:
            problems.append(f"{path}: {name} noted {old} MiB, estimated {new} MiB")
    if noted.get("fits_t4") != fresh["fits_t4"]:
        problems.append(f"{path}: fits_t4 noted {noted.get('fits_t4')}, estimated {fresh['fits_t4']}")
    if not fresh["fits_t4"] and not fresh.get("t4_fix", {}).get("fits_t4"):
        problems.append(f"{path}: does not fit a T4 and states no change that makes it fit")
    return problems
