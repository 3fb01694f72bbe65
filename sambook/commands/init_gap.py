"""``python -m sambook init-gap --seeds ...``: the Table 1 models from the pretrained vs a random mini SAM (chapter
`foundation_model`), written to ``results/init-gap-<profile>.json`` with its provenance (:mod:`sambook.results`)."""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict
from pathlib import Path

from sambook.datasets.slices import load_slice_splits
from sambook.foundation.init_gap import RUNS, gaps, train_init
from sambook.foundation.provenance import code_version
from sambook.models.checkpoint import resolve_checkpoint
from sambook.paths import data_root
from sambook.profiles import get_profile
from sambook.results import provenance, results_file, write_results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", type=Path, help="results file (default: results/init-gap-<profile>.json)")
    parser.add_argument("--runs", type=Path, help="run folders (default: data_root()/runs/init-gap-<profile>)")


def main(args: argparse.Namespace) -> int:
    profile = get_profile()
    out = args.out or results_file("init-gap", profile.name)
    if out.exists():
        print(f"{out} exists: move it away or pass --out (results are never overwritten without being asked)")
        return 1
    started, version = time.time(), code_version()
    checkpoint, description = resolve_checkpoint("mini")
    print(description)
    run_dirs = args.runs or data_root() / "runs" / f"init-gap-{profile.name}"
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
                out=run_dirs / f"seed{seed}-{name}-{init}",
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
    record = {
        **provenance("init-gap", started=started, profile=profile, seeds=args.seeds, version=version),
        "checkpoint": description,
        "runs": [asdict(r) for r in runs],
    }
    write_results(record, out)
    print(f"{out}: {record['seconds'] / 60:.1f} min")
    return 0
