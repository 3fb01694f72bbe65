"""``python -m sambook train CONFIG``: train a config into a run folder (:func:`sambook.train.runs.train`)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", type=Path, help="a YAML file from configs/")
    parser.add_argument("--out", type=Path, help="run directory (default: data_root()/runs/<config>-<profile>)")
    parser.add_argument(
        "--resume", action="store_true", help="continue the run in --out (same config; only epochs, num_workers change)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace the run in --out (default: refuse)")


def main(args: argparse.Namespace) -> int:
    from sambook.config import load_config
    from sambook.paths import data_root
    from sambook.profiles import get_profile
    from sambook.train.runs import train

    profile = get_profile()
    cfg = load_config(args.config).resolved(profile)
    out = args.out or data_root() / "runs" / f"{args.config.stem}-{profile.name}"
    history = train(cfg, out, resume=args.resume, overwrite=args.overwrite)
    last = history[-1] if history else {}
    print(f"{out}: {len(history)} epochs; last: " + ", ".join(f"{k} {v:.4g}" for k, v in last.items()))
    return 0
