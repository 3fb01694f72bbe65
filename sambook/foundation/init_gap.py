"""Is the pretrained mini SAM a foundation? Table 1's models from a pretrained and from a random encoder (chapter
`foundation_model`).

Each Table 1 model (single modality on FLAIR, early fusion, CMAA) trains with its encoder frozen twice, from the
book's pretrained mini SAM and from a random initialisation of the same architecture, with the same data, seed,
schedule and loss. The reference run ``("sam", "scratch")`` trains the single-modality model with every weight
trainable from a random initialisation: what a network learns from the same slices on its own.

``python -m sambook init-gap --seeds 0 1 2`` repeats the comparison under several seeds (another random encoder,
another batch order) on the profile's slices, prints every run, then each model's gap per seed and on average, and
writes ``results/init-gap-<profile>.json`` (:func:`sambook.results.results_file`), which the chapter reads at the
``cpu`` profile.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from sambook.build import build_model
from sambook.datasets.slices import SliceDataset
from sambook.profiles import Profile
from sambook.train.loop import fit, seed_everything

INITS = ("pretrained", "random", "scratch")
TABLE1 = ("sam", "early", "cmaa")
#: The chapter's runs: each Table 1 model from both encoders, then the from-scratch reference.
RUNS: tuple[tuple[str, str], ...] = (*((m, i) for m in TABLE1 for i in INITS[:2]), ("sam", "scratch"))


@dataclass
class InitRun:
    model: str
    init: str
    seed: int
    dice: list[float]  # test Dice (%) after each epoch
    hd95: list[float]  # test HD95 (mm) after each epoch
    seconds: float


def build_for_init(name: str, init: str, *, profile: Profile, checkpoint: Path | None) -> nn.Module:
    """Table 1 model ``name`` on the mini backbone: ``pretrained`` loads ``checkpoint`` and freezes the encoder,
    ``random`` freezes a random encoder, ``scratch`` trains every weight of a random one."""
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; choose one of {INITS}")
    if init == "pretrained" and checkpoint is None:
        raise FileNotFoundError("no mini checkpoint: run `python -m sambook pretrain configs/pretrain_cpu.yaml`")
    model = build_model(
        {
            "model": name,
            "backbone": "mini",
            "image_size": profile.image_size,
            "checkpoint": str(checkpoint) if init == "pretrained" else None,
            "adapter_blocks": profile.adapter_blocks,
            "modality": "flair",
        },
        profile=profile,
    )
    return model.requires_grad_(True) if init == "scratch" else model


def train_init(
    name: str,
    init: str,
    data: dict[str, SliceDataset],
    *,
    profile: Profile,
    checkpoint: Path | None,
    seed: int,
    out: Path,
) -> InitRun:
    """Build (under ``seed``) and train one run with the profile's schedule; return its per-epoch test scores."""
    seed_everything(seed)
    model = build_for_init(name, init, profile=profile, checkpoint=checkpoint)
    start = time.perf_counter()
    history = fit(
        model,
        data["train"],
        data["test"],
        out=out,
        epochs=profile.epochs,
        batch_size=profile.batch_size,
        lr=profile.lr,
        seed=seed,
        progress=False,
        eval_prefix="test",  # a learning curve on the test split: nothing is selected on it
    )
    return InitRun(
        name,
        init,
        seed,
        [r["test_dice"] for r in history],
        [r["test_hd95"] for r in history],
        time.perf_counter() - start,
    )


def gaps(runs: list[InitRun]) -> dict[str, dict[int, tuple[float, float]]]:
    """Differences of final (Dice, HD95) per seed, for every pair present in ``runs``: ``"<model> pretrained -
    random"`` for each Table 1 model, and ``"cmaa random - sam scratch"`` (CMAA on a random encoder against the
    from-scratch reference)."""
    final = {(r.model, r.init, r.seed): (r.dice[-1], r.hd95[-1]) for r in runs}
    pairs = {f"{m} pretrained - random": ((m, "pretrained"), (m, "random")) for m in TABLE1}
    pairs["cmaa random - sam scratch"] = (("cmaa", "random"), ("sam", "scratch"))
    seeds = sorted({r.seed for r in runs})
    out: dict[str, dict[int, tuple[float, float]]] = {}
    for key, (a, b) in pairs.items():
        for seed in seeds:
            if (*a, seed) in final and (*b, seed) in final:
                (d1, h1), (d0, h0) = final[(*a, seed)], final[(*b, seed)]
                out.setdefault(key, {})[seed] = (d1 - d0, h1 - h0)
    return out
