"""``python -m sambook gpu-check``: every GPU path of the book in one prepared run (chapter `training_runs`).

On the current device (CUDA when available), four checks, each recorded whether it passes or fails:

* **configs** — every ``configs/gpu/`` file (and its ``t4_fix``, the change that makes it fit a T4) is built through
  :func:`sambook.build.build_model` and trains a few steps on synthetic batches of the config's shape with the
  loop's own pieces: the config's precision (:func:`~sambook.train.loop.autocast_dtype`, the fp16 gradient scaler),
  attention, checkpointing, optimiser and loss (:func:`~sambook.train.loop.fit_arguments`). Recorded: the peak of
  ``torch.cuda.max_memory_allocated`` beside the config's ``estimate:`` block and a fresh
  :func:`sambook.estimate.trace.estimate` of the same step, with their ratios; seconds per step; the losses, which
  must be finite. Weights are a random initialisation: memory and time do not depend on their values.
* **attention** — the largest difference between the lean and the stock attention
  (:mod:`sambook.models.lean_attention`) on the device, in fp32 and bf16, forward and input gradient, each beside
  the stock attention's own error against an fp64 reference.
* **feature_cache** — AFTer-SAM trained by :func:`~sambook.train.loop.fit` with and without the frozen-feature
  cache (:func:`sambook.train.volumes.training_pair`), then volume inference on the device.
* **ddp** — :func:`~sambook.train.loop.fit` under DistributedDataParallel (:mod:`sambook.train.distributed`) in one
  process per visible GPU (NCCL), and the ranks' weights afterwards, which must be identical. On a CPU: two gloo
  processes; with one GPU: skipped.

``quick`` is sized to fit in 5 minutes on one GPU (not yet timed on one): fewer steps, one of the four
single-modality configs (the other three build the same network), no fresh estimate where the config's own applies
(on a CPU: none). On a CPU the same paths run at the mini size (mini backbone, 32-pixel images, batch 2), so CI
tests the command itself; there ``torch.cuda.max_memory_allocated`` does not exist and no memory is measured.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import gc
import math
import os
import platform
import socket
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch
import torch.multiprocessing as mp
from segment_anything.modeling.image_encoder import Attention
from torch.utils.data import Dataset

from sambook.build import build_model, resolve_config
from sambook.config import TrainConfig
from sambook.datasets.volumes import VolumeSet
from sambook.estimate.configs import gpu_configs, load, setting
from sambook.estimate.trace import MIB, estimate
from sambook.foundation.provenance import code_version
from sambook.models.lean_attention import set_attention
from sambook.train.loop import autocast_dtype, fit, fit_arguments, make_optimizer
from sambook.train.volumes import score_run_volumes, training_pair

#: Configs that build the same network as another one (the single modalities): left out by ``quick``.
SAME_NETWORK = ("sam_t1.yaml", "sam_t1ce.yaml", "sam_t2.yaml")
#: The mini size of a CPU run: backbone, image side, batch.
MINI = {"backbone": "mini", "image_size": 32, "batch_size": 2}


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a run does: ``steps`` timed training steps after ``warmup`` ones per config, at the paper size (GPU)
    or the mini size (CPU)."""

    device: torch.device
    quick: bool
    steps: int
    warmup: int
    mini: bool

    @classmethod
    def for_device(cls, device: torch.device, quick: bool) -> Plan:
        return cls(device, quick, steps=2 if quick else 5, warmup=1 if quick else 2, mini=device.type != "cuda")


def _fresh_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _mib(count: float | None) -> float | None:
    return None if count is None else round(count / MIB, 1)


def _ratio(measured: float | None, estimated: float | None) -> float | None:
    return None if measured is None or not estimated else round(measured / estimated, 3)


def run_keys(path: Path, change: dict, plan: Plan) -> dict:
    """The config keys a check trains: the file's, its ``change``, random weights, and at the mini size on a CPU
    (fusion and adapter blocks capped at half of the mini backbone's 6)."""
    keys = {k: v for k, v in load(path).items() if k != "estimate"}
    keys = {**keys, **change, "checkpoint": None, "cache": False}
    if plan.mini:
        keys.update(MINI)
        for name in ("adapter_blocks", "fusion_blocks"):
            if keys.get(name):
                keys[name] = min(keys[name], 3)
    return keys


def _synthetic_batch(cfg: TrainConfig, device: torch.device, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images as the loaders give them ((B, 4, S, S), or slice groups (B, N, 1, S, S) for AFTer-SAM) and labels
    (B, S, S) with every class present, made on the host and moved as the loop moves a batch."""
    g = torch.Generator().manual_seed(seed)
    b, s = cfg.batch_size, cfg.image_size
    shape = (b, cfg.neighbours + 1, 1, s, s) if cfg.model == "aftersam" else (b, 4, s, s)
    classes = max(cfg.num_classes, 2)
    labels = torch.randint(classes, (b, -(-s // 8), -(-s // 8)), generator=g)
    labels = labels.repeat_interleave(8, 1).repeat_interleave(8, 2)[:, :s, :s]  # blobs of 8 x 8 pixels
    return torch.randn(shape, generator=g).to(device), labels.to(device)


def train_steps(cfg: TrainConfig, plan: Plan) -> dict:
    """``plan.warmup + plan.steps`` training steps of ``cfg`` as :func:`~sambook.train.loop.fit` takes them."""
    device = plan.device
    _fresh_memory(device)
    baseline = torch.cuda.memory_allocated(device) if device.type == "cuda" else None
    torch.manual_seed(0)
    model = build_model(cfg).to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    arguments = fit_arguments(cfg)
    optimizer = make_optimizer(
        params, name=cfg.optimizer, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=tuple(cfg.betas)
    )
    amp = autocast_dtype(device, cfg.dtype)
    scaler = torch.amp.GradScaler("cuda", enabled=amp == torch.float16)
    loss_fn = arguments["loss_fn"].to(device)
    losses, seconds = [], []
    for step in range(plan.warmup + plan.steps):
        images, labels = _synthetic_batch(cfg, device, seed=step)
        _sync(device)
        started = time.perf_counter()
        with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            loss = loss_fn(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        losses.append(loss.item())
        _sync(device)
        if step >= plan.warmup:
            seconds.append(time.perf_counter() - started)
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    reserved = torch.cuda.max_memory_reserved(device) if device.type == "cuda" else None
    del model, optimizer, params
    _fresh_memory(device)
    return {
        "precision": str(amp or torch.float32).removeprefix("torch."),
        "losses": [round(v, 5) for v in losses],
        "finite": all(math.isfinite(v) for v in losses),
        "seconds_per_step": round(float(np.median(seconds)), 4),
        "measured_peak_mib": _mib(peak),
        "measured_reserved_mib": _mib(reserved),
        "baseline_mib": _mib(baseline),
    }


def check_config(path: Path, plan: Plan, *, change: dict | None = None) -> dict:
    """One config (with its ``change``) trained for a few steps; its memory beside the estimates."""
    change = change or {}
    noted = load(path).get("estimate") or {}
    noted = noted.get("t4_fix", {}) if change else noted
    keys = run_keys(path, change, plan)
    cfg = resolve_config(keys)
    row = {
        "config": f"configs/gpu/{path.name}" + (f" + {change}" if change else ""),
        "model": cfg.model,
        "backbone": cfg.backbone,
        "image_size": cfg.image_size,
        "batch_size": cfg.batch_size,
        "slices": cfg.neighbours + 1 if cfg.model == "aftersam" else None,
        "dtype": cfg.dtype,
        "attention": cfg.attention,
        "checkpointing": cfg.checkpointing,
        # The config's estimate describes its own size; a mini run is another step.
        "config_estimate_mib": None if plan.mini else noted.get("peak_mib"),
    }
    # quick: a fresh estimate only where a measurement needs one to compare with and the config's own does not apply
    fresh_needed = not plan.quick or (not plan.mini and row["config_estimate_mib"] is None)
    started = time.perf_counter()
    try:
        row["fresh_estimate_mib"] = round(estimate(setting(cfg.to_dict())).peak_mib, 1) if fresh_needed else None
        row["estimate_seconds"] = round(time.perf_counter() - started, 1)
        row.update(train_steps(cfg, plan))
        row["status"] = "ok" if row["finite"] else "non-finite loss"
    except torch.OutOfMemoryError as error:
        cuda = plan.device.type == "cuda"
        peak = torch.cuda.max_memory_allocated(plan.device) if cuda else None
        total = torch.cuda.get_device_properties(plan.device).total_memory if cuda else math.inf
        expected = (row["config_estimate_mib"] or row.get("fresh_estimate_mib") or 0) * MIB > total
        row.update(
            status="out of memory" + (" (expected: the estimate exceeds the card)" if expected else ""),
            measured_peak_mib=_mib(peak),
            error=str(error).splitlines()[0][:300],
        )
    except Exception as error:  # recorded, so that one broken path does not hide the others
        row.update(status="error", error=f"{type(error).__name__}: {error}"[:500], trace=traceback.format_exc()[-2000:])
    _fresh_memory(plan.device)  # after the handlers: a failed step's tensors are released with its traceback
    row["seconds"] = round(time.perf_counter() - started, 1)
    measured = row.get("measured_peak_mib") if row["status"] == "ok" else None
    row["ratio_to_config_estimate"] = _ratio(measured, row["config_estimate_mib"])
    row["ratio_to_fresh_estimate"] = _ratio(measured, row.get("fresh_estimate_mib"))
    row["ok"] = row["status"] == "ok" or row["status"].startswith("out of memory (expected")
    return row


def check_configs(plan: Plan, names: list[str] | None = None) -> tuple[list[dict], list[str]]:
    """Every GPU config (``names``: only those files) and its ``t4_fix``; returns the rows and what was skipped."""
    rows, skipped = [], []
    for path in gpu_configs():
        if names and path.name not in names and path.stem not in names:
            continue
        if plan.quick and path.name in SAME_NETWORK:
            skipped.append(f"configs/gpu/{path.name}: the same network as sam_flair.yaml")
            continue
        fix = (load(path).get("estimate") or {}).get("t4_fix", {}).get("change")
        for change in [{}] + ([fix] if fix else []):
            try:
                rows.append(check_config(path, plan, change=change))
            except Exception as error:  # e.g. a config that does not resolve: recorded, the others still run
                name = f"configs/gpu/{path.name}" + (f" + {change}" if change else "")
                rows.append(
                    {"config": name, "status": "error", "ok": False, "error": f"{type(error).__name__}: {error}"}
                )
    if plan.quick:
        what = "on a CPU (no measured memory to compare them with)" if plan.mini else "where the config's own applies"
        skipped.append(f"fresh estimates {what}")
    return rows, skipped


def _attention_module(dim: int, heads: int, grid: int) -> Attention:
    """SAM's global attention with its relative-position tables filled (they start at zero in SAM)."""
    torch.manual_seed(0)
    module = Attention(dim, num_heads=heads, qkv_bias=True, use_rel_pos=True, input_size=(grid, grid))
    with torch.no_grad():
        module.rel_pos_h.normal_(std=0.1)
        module.rel_pos_w.normal_(std=0.1)
    return module


def _run_attention(module: Attention, x: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.detach().requires_grad_(True)
    out = module(x)
    (out.float() * weight).sum().backward()
    return out.detach().double(), x.grad.detach().double()


def check_attention(plan: Plan) -> dict:
    """Lean vs stock attention on the device, fp32 and bf16 (fp16 without bf16), against an fp64 stock reference.
    ViT-B's global attention at 1024 pixels (64 x 64 tokens) on a GPU; the mini backbone's size (8 x 8 tokens) on a
    CPU."""
    device = plan.device
    dim, heads, grid = (128, 4, 8) if plan.mini else (768, 12, 64)
    module = _attention_module(dim, heads, grid)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, grid, grid, dim, generator=g).to(device)
    weight = torch.randn(1, grid, grid, dim, generator=g).to(device)
    reference = _run_attention(copy.deepcopy(module).to(device, torch.float64), x.double(), weight)
    # The loop's half precision: bf16, or fp16 on a GPU without bf16 (a T4).
    half = ("fp16", torch.float16) if device.type == "cuda" and not torch.cuda.is_bf16_supported() else None
    rows = {}
    for name, dtype in (("fp32", torch.float32), half or ("bf16", torch.bfloat16)):
        stock = copy.deepcopy(module).to(device, dtype)
        outputs = {"stock": _run_attention(stock, x.to(dtype), weight)}
        outputs["lean"] = _run_attention(set_attention(stock, "lean"), x.to(dtype), weight)
        row = {}
        for part, index in (("output", 0), ("input_gradient", 1)):
            scale = reference[index].abs().max().item()
            errors = {k: (v[index] - reference[index]).abs().max().item() for k, v in outputs.items()}
            difference = (outputs["lean"][index] - outputs["stock"][index]).abs().max().item()
            floor = (1e-5 if dtype == torch.float32 else 1e-2) * scale
            row[part] = {
                "lean_vs_stock_max_abs": difference,
                "stock_vs_fp64_max_abs": errors["stock"],
                "lean_vs_fp64_max_abs": errors["lean"],
                "reference_max_abs": scale,
                "ok": errors["lean"] <= max(2 * errors["stock"], floor),
            }
        rows[name] = row
    return {
        "shape": {"tokens": f"{grid}x{grid}", "dim": dim, "heads": heads},
        **rows,
        "ok": all(part["ok"] for row in rows.values() for part in row.values()),
    }


def _synthetic_volumes(count: int, depth: int, size: int) -> VolumeSet:
    """Volumes of noise with a bright block labelled 1 (shapes are what matters here, not anatomy)."""
    rng = np.random.default_rng(0)
    images, labels = [], []
    for _ in range(count):
        label = np.zeros((depth, size, size), np.uint8)
        label[:, size // 4 : size // 2, size // 4 : size // 2] = 1
        images.append((rng.normal(size=label.shape) + 2.0 * label).astype(np.float32))
        labels.append(label)
    ids = [f"synthetic_{i}" for i in range(count)]
    return VolumeSet(images, labels, ids, [(depth, size, size)] * count, [(1.0, 1.0)] * count)


def check_feature_cache(plan: Plan) -> dict:
    """AFTer-SAM through :func:`fit` without and with the feature cache (two epochs each), then volume inference on
    the device (:func:`~sambook.train.volumes.score_run_volumes`). ViT-B at 256 pixels on a GPU."""
    keys = {k: v for k, v in load(gpu_configs()[0].parent / "aftersam.yaml").items() if k != "estimate"}
    size = MINI["image_size"] if plan.mini else 256
    keys.update(
        checkpoint=None,
        elastic=False,
        epochs=2,
        image_size=size,
        neighbours=2,
        dataset="phantom",
        num_classes=2,
        schedule=None,  # two epochs: the paper's step schedule (its last 50 epochs) does not apply
    )
    if plan.mini:
        keys.update(backbone="mini", fusion_blocks=2)
    volumes = _synthetic_volumes(3, depth=4, size=size)
    runs = {}
    try:
        for cached in (False, True):
            cfg = resolve_config({**keys, "cache": cached})
            torch.manual_seed(0)
            model = build_model(cfg)
            trained, dataset = training_pair(cfg, model, volumes, [0, 1])
            encoded: list[int] = []

            def record(epoch: int, dataset=dataset, encoded=encoded) -> bool:
                encoded.append(dataset.cache.computed)
                return False  # never stop early

            with tempfile.TemporaryDirectory() as out:
                history = fit(
                    trained,
                    dataset,
                    None,
                    out=out,
                    progress=False,
                    stop_after=record if cached else None,
                    **fit_arguments(cfg),
                )
            scores = score_run_volumes(model, volumes, [2], cfg)
            runs["cached" if cached else "uncached"] = {
                "losses": [round(row["train_loss"], 5) for row in history],
                "model_device": str(next(model.parameters()).device),
                "dice_3d_test_volume": round(scores["mean"], 2),
                **({"slices_encoded_after_each_epoch": encoded} if cached else {}),
            }
    except Exception as error:
        return {"ok": False, "error": f"{type(error).__name__}: {error}"[:500], "trace": traceback.format_exc()[-2000:]}
    losses = runs["uncached"]["losses"] + runs["cached"]["losses"]
    return {
        "backbone": keys.get("backbone"),
        "image_size": size,
        **runs,
        "first_epoch_loss_difference": abs(runs["uncached"]["losses"][0] - runs["cached"]["losses"][0]),
        "note": "under bf16/fp16 autocast the uncached path computes the frozen features in that precision, the "
        "cache in fp32: the losses then differ at that precision's level",
        "ok": all(math.isfinite(v) for v in losses),
    }


class SyntheticSlices(Dataset):
    """Slices as :mod:`sambook.datasets.slices` serves them (image (4, S, S), label (S, S), spacing), from noise."""

    def __init__(self, count: int, size: int, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.images = torch.randn(count, 4, size, size, generator=g)
        self.labels = (self.images[:, 3] > 0.5).long()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, item: int) -> dict:
        return {"image": self.images[item], "label": self.labels[item], "spacing": torch.tensor([1.0, 1.0])}


def _ddp_worker(rank: int, world: int, port: int, keys: dict, out: str) -> None:
    """One process of :func:`check_ddp`: the loop's own setup (environment as torchrun sets it), then fit."""
    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    if not torch.cuda.is_available():
        torch.set_num_threads(max(1, torch.get_num_threads() // world))
    cfg = resolve_config(keys)
    torch.manual_seed(0)
    model = build_model(cfg)
    history = fit(
        model, SyntheticSlices(4 * world, cfg.image_size), None, out=out, progress=False, **fit_arguments(cfg)
    )
    state = {k: v.cpu() for k, v in model.state_dict().items()}
    torch.save({"state": state, "history": history, "device": str(next(model.parameters()).device)}, f"{out}/{rank}.pt")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_ddp(plan: Plan) -> dict:
    """:func:`fit` under DDP in one new process per visible GPU (NCCL), or two gloo processes on a CPU; the
    ranks' weights must be identical afterwards. The single-modality config, one epoch, batch 2 per process."""
    world = torch.cuda.device_count() if plan.device.type == "cuda" else 2
    if world < 2:
        return {"ok": True, "skipped": "one GPU visible: DistributedDataParallel needs two processes"}
    keys = {k: v for k, v in load(gpu_configs()[0].parent / "sam_flair.yaml").items() if k != "estimate"}
    keys.update(checkpoint=None, epochs=1, batch_size=2)
    if plan.mini:
        keys.update(MINI, batch_size=2)
    with tempfile.TemporaryDirectory() as out:
        try:
            # Spawned, not forked: CUDA cannot be forked once initialised, nor autograd once its threads have run.
            mp.spawn(_ddp_worker, args=(world, _free_port(), keys, out), nprocs=world, join=True)
        except Exception as error:
            return {"ok": False, "world_size": world, "error": f"{type(error).__name__}: {error}"[-1500:]}
        ranks = [torch.load(f"{out}/{r}.pt", weights_only=True) for r in range(world)]
    identical = all(
        torch.equal(ranks[0]["state"][k], other["state"][k]) for other in ranks[1:] for k in ranks[0]["state"]
    )
    losses = [row["train_loss"] for r in ranks for row in r["history"]]
    return {
        "world_size": world,
        "backend": "nccl" if plan.device.type == "cuda" else "gloo",
        "devices": [r["device"] for r in ranks],
        "losses_per_rank": [round(r["history"][-1]["train_loss"], 5) for r in ranks],
        "weights_identical_across_ranks": identical,
        "ok": identical and all(math.isfinite(v) for v in losses),
    }


def device_description(device: torch.device) -> dict:
    """The device, the versions that matter on it, and the machine."""
    info = {
        "type": device.type,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "python": platform.python_version(),
        "machine": platform.node(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(
            name=props.name,
            memory_mib=round(props.total_memory / MIB),
            capability=f"{props.major}.{props.minor}",
            visible_gpus=torch.cuda.device_count(),
            bf16=torch.cuda.is_bf16_supported(),
        )
    else:
        info.update(name=f"CPU ({torch.get_num_threads()} threads)", visible_gpus=0)
    return info


def gpu_check(*, quick: bool, command: str, configs: list[str] | None = None, device: str | None = None) -> dict:
    """The whole report (see the module docstring); ``configs``: only those files of ``configs/gpu/``."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    plan = Plan.for_device(device, quick)
    started = time.perf_counter()
    report = {
        "command": command,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "code_version": code_version(),
        "device": device_description(device),
        "quick": quick,
        "size": "mini (CPU: mini backbone, 32-pixel images, batch 2)" if plan.mini else "the configs' own",
        "steps": {"warmup": plan.warmup, "timed": plan.steps},
        "weights": "random initialisation (memory and time do not depend on the values)",
    }
    rows, skipped = check_configs(plan, configs)
    if plan.mini:
        skipped.append("memory: torch.cuda.max_memory_allocated needs CUDA (measured_peak_mib is null)")
    report["configs"] = rows
    for name, check in (("attention", check_attention), ("feature_cache", check_feature_cache), ("ddp", check_ddp)):
        check_started = time.perf_counter()
        try:
            result = check(plan)
        except Exception as error:  # recorded: the other checks still run
            result = {"ok": False, "error": f"{type(error).__name__}: {error}"[:500], "trace": traceback.format_exc()}
        report[name] = {**result, "seconds": round(time.perf_counter() - check_started, 1)}
    report["skipped"] = skipped + ([report["ddp"]["skipped"]] if "skipped" in report["ddp"] else [])
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["ok"] = all(r["ok"] for r in rows) and all(report[k]["ok"] for k in ("attention", "feature_cache", "ddp"))
    return report


def format_report(report: dict) -> str:
    """The report as a few readable lines."""
    d = report["device"]
    lines = [
        f"gpu-check on {d['name']} (torch {d['torch']}, CUDA {d['cuda']}, code {report['code_version'][:12]}), "
        f"{report['date']}, {'quick' if report['quick'] else 'full'}, size: {report['size']}",
        f"{'config':<46s} {'status':<14s} {'s/step':>7s} {'peak MiB':>9s} {'config est':>10s} {'fresh est':>10s} "
        f"{'ratio':>6s}",
    ]

    def cell(value, width: int, digits: int = 0) -> str:
        return f"{'-':>{width}s}" if value is None else f"{value:>{width}.{digits}f}"

    for r in report["configs"]:
        lines.append(
            f"{r['config']:<46.46s} {r['status'][:14]:<14s} {cell(r.get('seconds_per_step'), 7, 3)} "
            f"{cell(r.get('measured_peak_mib'), 9)} {cell(r.get('config_estimate_mib'), 10)} "
            f"{cell(r.get('fresh_estimate_mib'), 10)} {cell(r.get('ratio_to_config_estimate'), 6, 2)}"
        )
        if "error" in r:
            lines.append(f"    {r['error']}")
    a = report["attention"]
    if "error" in a:
        lines.append(f"attention: FAILED: {a['error']}")
    for name in [k for k in ("fp32", "bf16", "fp16") if k in a]:
        out = a[name]["output"]
        lines.append(
            f"attention {name} ({a['shape']['tokens']} tokens): lean vs stock {out['lean_vs_stock_max_abs']:.2e}, "
            f"stock vs fp64 {out['stock_vs_fp64_max_abs']:.2e}, lean vs fp64 {out['lean_vs_fp64_max_abs']:.2e} "
            f"(output scale {out['reference_max_abs']:.2f}) {'ok' if a[name]['output']['ok'] else 'FAILED'}"
        )
    c = report["feature_cache"]
    if "error" in c:
        lines.append(f"feature cache: FAILED: {c['error']}")
    else:
        lines.append(
            f"feature cache on {c['cached']['model_device']}: losses uncached {c['uncached']['losses']}, cached "
            f"{c['cached']['losses']}, slices encoded after each epoch {c['cached']['slices_encoded_after_each_epoch']}"
        )
    p = report["ddp"]
    if "skipped" in p:
        lines.append(f"ddp: skipped ({p['skipped']})")
    elif "error" in p:
        lines.append(f"ddp: FAILED: {p['error']}")
    else:
        lines.append(
            f"ddp: {p['world_size']} processes ({p['backend']}), weights identical across ranks: "
            f"{p['weights_identical_across_ranks']}, {p['seconds']} s"
        )
    lines += [f"skipped: {s}" for s in report["skipped"]]
    lines.append(f"{'all checks passed' if report['ok'] else 'SOME CHECKS FAILED'} in {report['seconds']} s")
    return "\n".join(lines)
