"""The training loop shared by every model of the book (chapter `fusing_modalities`; multi-GPU and resuming: chapter
`training_runs`).

One epoch: shuffle (seeded by ``seed + epoch``, so a resumed run sees the same order), forward, loss, backward,
optimizer step (AdamW by default), scheduler step; then evaluation on the test split, a row of metrics in
``metrics.csv`` and ``metrics.json``, and a checkpoint ``state.pt`` written atomically with model, optimizer,
scheduler, gradient scaler, random states and history. ``resume=True`` continues from that checkpoint: an
interruption loses at most the epoch in progress. On a GPU the forward runs under autocast (bf16 where supported,
else fp16 with a gradient scaler). Under ``torchrun`` the same code trains with DistributedDataParallel; only
rank 0 writes.
"""

from __future__ import annotations

import csv
import json
import math
import pickle
import random
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from sambook.atomic import atomic_path
from sambook.config import TrainConfig
from sambook.errors import CheckpointError, RunError
from sambook.evaluate.metrics import aggregate, score_batch
from sambook.train import distributed
from sambook.train.losses import SegmentationLoss

STATE = "state.pt"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def autocast_dtype(device: torch.device, dtype: str) -> torch.dtype | None:
    """bf16 on GPUs that support it, else fp16; None (fp32) on CPU or with ``dtype="fp32"``."""
    if device.type != "cuda" or dtype == "fp32":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _logits(output) -> torch.Tensor:
    return output if isinstance(output, torch.Tensor) else output[0]


@torch.no_grad()
def evaluate(
    model: nn.Module,
    dataset: Dataset,
    *,
    batch_size: int = 16,
    classes: tuple[int, ...] = (1,),
    device: torch.device | None = None,
) -> dict[str, float]:
    """Mean Dice (%) and HD95 (mm) of ``model`` over ``dataset`` (see :mod:`sambook.evaluate.metrics`)."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    rows = []
    for batch in DataLoader(dataset, batch_size=batch_size):
        logits = _logits(model(batch["image"].to(device)))
        rows += score_batch(logits, batch["label"], batch["spacing"], classes)
    model.train(was_training)
    return aggregate(rows)


def make_optimizer(
    params: list[nn.Parameter], *, name: str, lr: float, weight_decay: float, betas: tuple[float, float]
) -> torch.optim.Optimizer:
    """``"adamw"`` (CMAA paper; decoupled weight decay) or ``"adam"`` (AFTer-SAM paper; L2 weight decay)."""
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; choose adamw or adam")


def make_scheduler(
    optimizer: torch.optim.Optimizer, *, epochs: int, lr: float, schedule: dict | None
) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-epoch learning rate: cosine annealing to 0 (``schedule=None``), or the AFTer-SAM paper's step,
    ``{"final_epochs": k, "final_lr": lr_k}``: ``lr`` until the last k epochs, ``lr_k`` during them."""
    if schedule is None:
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, 1))
    unknown = set(schedule) - {"final_epochs", "final_lr"}
    if unknown:
        raise ValueError(f"unknown schedule keys {sorted(unknown)}; known: final_epochs, final_lr")
    switch, factor = epochs - int(schedule["final_epochs"]), float(schedule["final_lr"]) / lr
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0 if epoch < switch else factor)


def _write_metrics(out: Path, history: list[dict]) -> None:
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(history, indent=1))
    with atomic_path(out / "metrics.csv") as tmp:
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(history[0]))
            writer.writeheader()
            writer.writerows(history)


def _rng_state() -> dict:
    """Every random state as tensors and plain numbers, so that ``torch.load(weights_only=True)`` reads it back."""
    version, python_state, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": {"version": version, "state": torch.tensor(python_state, dtype=torch.int64), "gauss": gauss},
        "numpy": {
            "name": name,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }


def _set_rng_state(state: dict) -> None:
    python, numpy_state = state["python"], state["numpy"]
    random.setstate((python["version"], tuple(python["state"].tolist()), python["gauss"]))
    np.random.set_state(
        (
            numpy_state["name"],
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["pos"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])


#: What a run's ``state.pt`` holds (written by :func:`fit`).
STATE_KEYS = ("model", "optimizer", "scheduler", "scaler", "rng", "epoch", "history")


def load_state(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """A run's ``state.pt``, read with ``weights_only=True`` (tensors and plain values only: no code runs from the
    file); a missing, empty, truncated, foreign or incomplete file is a :class:`CheckpointError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: run state is missing")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: empty file (0 bytes): the run state was never written whole")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(
            f"{path}: refused: the file holds more than tensors and plain values, and loading it could run code "
            f"({first[:200]})"
        ) from None
    except Exception as error:  # zip, EOF and torch errors all mean a damaged file to the reader
        raise CheckpointError(f"{path}: unreadable or truncated run state ({type(error).__name__}: {error})") from None
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
        raise CheckpointError(f"{path}: not a run state (expected a mapping with a 'model' state dict)")
    missing = [k for k in STATE_KEYS if k not in state]
    if missing:
        raise CheckpointError(f"{path}: incomplete run state: no {', '.join(missing)}")
    return state


def fit_arguments(cfg: TrainConfig) -> dict:
    """The keyword arguments of :func:`fit` that a resolved config sets, loss included."""
    return {
        "epochs": cfg.epochs,
        "batch_size": cfg.batch_size,
        "lr": cfg.lr,
        "weight_decay": cfg.weight_decay,
        "optimizer_name": cfg.optimizer,
        "betas": cfg.betas,
        "schedule": cfg.schedule,
        "seed": cfg.seed,
        "dtype": cfg.dtype,
        "num_workers": cfg.num_workers,
        "loss_fn": SegmentationLoss(cfg.lambda_dice, cfg.lambda_ce, cfg.lambda_iou),
    }


def load_model_state(model: nn.Module, state: dict[str, torch.Tensor], source: str | Path) -> None:
    """Load a run's own model state strictly: a missing or unexpected key is an error naming ``source`` and it."""
    expected, given = set(model.state_dict()), set(state)
    missing, unexpected = sorted(expected - given), sorted(given - expected)
    if missing or unexpected:
        raise CheckpointError(
            f"{source}: the state does not fit the model: missing keys {missing[:5]}"
            f"{' ...' if len(missing) > 5 else ''}, unexpected keys {unexpected[:5]}"
            f"{' ...' if len(unexpected) > 5 else ''}"
        )
    model.load_state_dict(state)


def fit(
    model: nn.Module,
    train_set: Dataset,
    test_set: Dataset | None,
    *,
    out: str | Path,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float = 0.01,
    optimizer_name: str = "adamw",
    betas: tuple[float, float] = (0.9, 0.999),
    schedule: dict | None = None,
    loss_fn: nn.Module | None = None,
    seed: int = 0,
    dtype: str = "auto",
    resume: bool = False,
    classes: tuple[int, ...] = (1,),
    num_workers: int = 0,
    progress: bool = True,
    stop_after: Callable[[int], bool] | None = None,
) -> list[dict]:
    """Train ``model`` (only parameters with ``requires_grad``) and return the per-epoch history.

    ``optimizer_name``/``betas``/``schedule``: see :func:`make_optimizer` and :func:`make_scheduler` (defaults: AdamW,
    cosine). ``stop_after(epoch)`` returning True ends the run after that epoch's checkpoint (used to test resuming).
    """
    out = Path(out)
    dist = distributed.setup()
    device = dist.device
    model.to(device)
    seed_everything(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, name=optimizer_name, lr=lr, weight_decay=weight_decay, betas=betas)
    scheduler = make_scheduler(optimizer, epochs=epochs, lr=lr, schedule=schedule)
    amp = autocast_dtype(device, dtype)
    scaler = torch.amp.GradScaler("cuda", enabled=amp == torch.float16)
    loss_fn = loss_fn or SegmentationLoss()
    history: list[dict] = []
    start_epoch = 0
    if resume and (out / STATE).is_file():
        state = load_state(out / STATE, map_location=device)
        load_model_state(model, state["model"], out / STATE)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        _set_rng_state(state["rng"])
        history, start_epoch = state["history"], state["epoch"] + 1
    trained = distributed.wrap(model, dist)

    for epoch in range(start_epoch, epochs):
        trained.train()
        sampler = distributed.sampler(train_set, dist, seed + epoch)
        generator = torch.Generator().manual_seed(seed + epoch)
        loader = DataLoader(
            train_set,
            batch_size=batch_size,
            shuffle=sampler is None,
            sampler=sampler,
            generator=generator,
            num_workers=num_workers,
            drop_last=False,
        )
        started, losses = time.perf_counter(), []
        for step, batch in enumerate(
            tqdm(loader, desc=f"epoch {epoch + 1}/{epochs}", disable=not (progress and dist.is_main), leave=False)
        ):
            images, labels = batch["image"].to(device), batch["label"].to(device)
            with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                loss = loss_fn(trained(images), labels)
            value = loss.item()
            if not math.isfinite(value):  # before the step: the last checkpoint stays the last good state
                raise RunError(
                    out,
                    f"epoch {epoch + 1}, step {step + 1}: the loss is {value}; training stopped (the last checkpoint "
                    "is the last finite state): lower lr, or check the inputs for NaN/Inf",
                )
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            losses.append(value)
        scheduler.step()
        row = {
            "epoch": epoch + 1,
            "train_loss": float(np.mean(losses)),
            "lr": scheduler.get_last_lr()[0],
            "seconds": time.perf_counter() - started,
        }
        if test_set is not None and dist.is_main:
            scores = evaluate(model, test_set, batch_size=batch_size, classes=classes, device=device)
            row.update(test_dice=scores["dice"], test_hd95=scores["hd95"])
        history.append(row)
        if dist.is_main:
            # The whole model: frozen weights may be a random initialisation that no file reproduces.
            state = {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "rng": _rng_state(),
                "epoch": epoch,
                "history": history,
            }
            out.mkdir(parents=True, exist_ok=True)
            with atomic_path(out / STATE) as tmp:
                torch.save(state, tmp)
            _write_metrics(out, history)
        distributed.barrier(dist)
        if stop_after is not None and stop_after(epoch):
            break
    distributed.teardown(dist)
    return history
