"""``python -m sambook init-gap --seeds ...``: the Table 1 models from the pretrained vs a random mini SAM (chapter
`foundation_model`)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from sambook.atomic import atomic_path
from sambook.datasets.slices import load_slice_splits
from sambook.foundation.init_gap import RUNS, gaps, train_init
from sambook.models.checkpoint import resolve_checkpoint
from sambook.paths import data_root
from sambook.profiles import get_profile


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument(
        "--out", type=Path, help="run folders and init_gap.json (default: data_root()/runs/init-gap-PROFILE)"
    )


def main(args: argparse.Namespace) -> int:
    profile = get_profile()
    checkpoint, description = resolve_checkpoint("mini")
    print(description)
    out = args.out or data_root() / "runs" / f"init-gap-{profile.name}"
    data = load_slice_splits(profile)
    runs = []
    print(
        f"{'model':6s} {'encoder':11s} {'seed':>4s} {'Dice (%)':>9s} {'HD95 (mm)':>10s}   "
        f"({profile.epochs} epochs, profile {profile.name})"
    )
    for seed in args.seeds:
        for name, init in RUNS:
            run = train_init(
                name,
                init,
                data,
                profile=profile,
                checkpoint=checkpoint,
                seed=seed,
                out=out / f"seed{seed}-{name}-{init}",
            )
            runs.append(run)
            print(
                f"{name:6s} {init:11s} {seed:4d} {run.dice[-1]:9.1f} {run.hd95[-1]:10.1f}   {run.seconds:5.1f} s",
                flush=True,
            )
    for key, per_seed in gaps(runs).items():
        listed = ", ".join(f"{d:+.1f} / {h:+.1f} mm" for d, h in per_seed.values())
        mean_dice = sum(d for d, _ in per_seed.values()) / len(per_seed)
        mean_hd95 = sum(h for _, h in per_seed.values()) / len(per_seed)
        print(f"{key:26s} Dice / HD95 per seed: {listed};  mean {mean_dice:+.1f} / {mean_hd95:+.1f} mm")
    with atomic_path(out / "init_gap.json") as tmp:
        tmp.write_text(
            json.dumps(
                {"profile": profile.name, "checkpoint": str(checkpoint), "runs": [asdict(r) for r in runs]}, indent=1
            )
        )
    return 0
