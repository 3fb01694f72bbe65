"""The training loop shared by every model of the book (chapter `fusing_modalities`; multi-GPU and resuming: chapter
`training_runs`).

One epoch: shuffle (seeded by ``seed + epoch``, so a resumed run sees the same order), forward, loss, backward,
optimizer step (AdamW by default), scheduler step (cosine down to a floor, so the last epoch still trains); then
evaluation on the **validation** split (never the test split: nothing is selected on it), a row of metrics in
``metrics.csv`` and ``metrics.json``, and a checkpoint ``state.pt`` written atomically with model, optimizer, scheduler,
gradient scaler, random states and history. ``resume=True`` continues from that checkpoint: an interruption loses at
most the epoch in progress. ``report_epoch="validation"`` also keeps the weights of the epoch with the best validation
Dice in ``best.pt`` and ends with them in the model (``"last"``: the last epoch's). On a GPU the forward runs under
autocast (bf16 where supported, else fp16 with a gradient scaler). Under ``torchrun`` the same code trains with
DistributedDataParallel; only rank 0 writes.
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
BEST = "best.pt"  # the validation-selected epoch's model (report_epoch: validation)
REPORT_EPOCHS = ("last", "validation")


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
    optimizer: torch.optim.Optimizer, *, epochs: int, lr: float, schedule: dict | None, min_lr: float | None = None
) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-epoch learning rate: cosine annealing from ``lr`` towards the floor ``min_lr`` (default lr / 100), which
    it would reach one epoch after the last, so that every epoch trains with more than the floor (``schedule=None``;
    ``min_lr=0`` is the plain cosine to 0), or the AFTer-SAM paper's step, ``{"final_epochs": k, "final_lr": lr_k}``:
    ``lr`` until the last k epochs, ``lr_k`` during them."""
    if schedule is None:
        floor = lr / 100 if min_lr is None else min_lr
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, 1), eta_min=floor)
    unknown = set(schedule) - {"final_epochs", "final_lr"}
    if unknown:
        raise ValueError(f"unknown schedule keys {sorted(unknown)}; known: final_epochs, final_lr")
    switch, factor = epochs - int(schedule["final_epochs"]), float(schedule["final_lr"]) / lr
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0 if epoch < switch else factor)


def reported_epoch(history: list[dict], report_epoch: str) -> int:
    """The epoch whose weights a run reports: the last, or the one with the best validation Dice (ties: the later,
    as :func:`fit` keeps it)."""
    if report_epoch == "last":
        return history[-1]["epoch"]
    return max(history, key=lambda row: (row["val_dice"], row["epoch"]))["epoch"]


def _write_metrics(out: Path, history: list[dict]) -> None:
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(history, indent=1))
    with atomic_path(out / "metrics.csv") as tmp:
        with open(tmp, "w", newline="") as handle:
            columns = list(dict.fromkeys(key for row in history for key in row))  # a score only some epochs have
            writer = csv.DictWriter(handle, fieldnames=columns, restval="")
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
        "min_lr": cfg.min_lr,
        "report_epoch": cfg.report_epoch,
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
    val_set: Dataset | None,
    *,
    out: str | Path,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float = 0.01,
    optimizer_name: str = "adamw",
    betas: tuple[float, float] = (0.9, 0.999),
    schedule: dict | None = None,
    min_lr: float | None = None,
    loss_fn: nn.Module | None = None,
    seed: int = 0,
    dtype: str = "auto",
    resume: bool = False,
    classes: tuple[int, ...] = (1,),
    num_workers: int = 0,
    progress: bool = True,
    stop_after: Callable[[int], bool] | None = None,
    validate: Callable[[], dict[str, float]] | None = None,
    report_epoch: str = "last",
    eval_prefix: str = "val",
) -> list[dict]:
    """Train ``model`` (only parameters with ``requires_grad``) and return the per-epoch history.

    ``val_set`` (the third argument): the validation slices scored after every epoch (Dice and HD95 as
    ``val_dice``/``val_hd95``; ``eval_prefix`` renames them, e.g. for a learning curve that selects nothing);
    ``validate()`` instead returns such scores itself (AFTer-SAM: 3D Dice of whole validation volumes), after every
    epoch when ``report_epoch="validation"`` and after the last epoch only otherwise.
    ``report_epoch``: ``"last"`` or ``"validation"`` (the model ends with the best validation Dice's weights).
    ``optimizer_name``/``betas``/``schedule``/``min_lr``: see :func:`make_optimizer` and :func:`make_scheduler`
    (defaults: AdamW, cosine to lr / 100). ``stop_after(epoch)`` returning True ends the run after that epoch's
    checkpoint (used to test resuming).
    """
    if report_epoch not in REPORT_EPOCHS:
        raise ValueError(f"report_epoch {report_epoch!r}; choose one of {REPORT_EPOCHS}")
    if report_epoch == "validation" and val_set is None and validate is None:
        raise ValueError("report_epoch 'validation' needs a validation set (val_set or validate)")
    out = Path(out)
    dist = distributed.setup()
    device = dist.device
    model.to(device)
    seed_everything(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, name=optimizer_name, lr=lr, weight_decay=weight_decay, betas=betas)
    scheduler = make_scheduler(optimizer, epochs=epochs, lr=lr, schedule=schedule, min_lr=min_lr)
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
        started, losses, epoch_lr = time.perf_counter(), [], optimizer.param_groups[0]["lr"]
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
            "lr": epoch_lr,  # the rate this epoch trained with
            "seconds": time.perf_counter() - started,
        }
        # validate(): after every epoch when it selects the reported epoch, else after the last one only (whole
        # volumes are costly to predict, and a score that selects nothing is needed once).
        validating = validate is not None and (report_epoch == "validation" or epoch + 1 == epochs)
        if dist.is_main and (val_set is not None or validating):
            scores = validate() if validating else {}
            if val_set is not None:
                scores = evaluate(model, val_set, batch_size=batch_size, classes=classes, device=device)
            row.update({f"{eval_prefix}_{k}": v for k, v in scores.items() if k in ("dice", "hd95")})
        history.append(row)
        key = f"{eval_prefix}_dice"
        is_best = report_epoch == "validation" and row[key] >= max(r[key] for r in history)
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
            if is_best:
                with atomic_path(out / BEST) as tmp:
                    torch.save({"model": state["model"], "epoch": epoch + 1}, tmp)
            with atomic_path(out / STATE) as tmp:
                torch.save(state, tmp)
            _write_metrics(out, history)
        distributed.barrier(dist)
        if stop_after is not None and stop_after(epoch):
            break
    if report_epoch == "validation" and (out / BEST).is_file():
        load_model_state(model, torch.load(out / BEST, map_location=device, weights_only=True)["model"], out / BEST)
    distributed.teardown(dist)
    return history
