"""``python -m sambook bench-cache``: AFTer-SAM epoch time with and without the frozen-feature cache (chapter
`aftersam_volumes`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sambook.bench.cache import cache_speedup
from sambook.config import load_config
from sambook.profiles import get_profile


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", type=Path, nargs="?", default=Path("configs/aftersam.yaml"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--json", action="store_true")


def main(args: argparse.Namespace) -> int:
    profile = get_profile()
    result = cache_speedup(load_config(args.config).resolved(profile), epochs=args.epochs)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    cfg = result["config"]
    print(
        f"AFTer-SAM {cfg['backbone']} {cfg['image_size']}², N_A + 1 = {cfg['neighbours'] + 1}, L = "
        f"{cfg['fusion_blocks']}, profile {profile.name}, {result['threads']} threads — measured on this machine"
    )
    print(f"{'epoch':>5s} {'uncached s':>11s} {'cached s':>9s} {'loss uncached':>14s} {'loss cached':>12s}")
    u, c = result["uncached"], result["cached"]
    for epoch, row in enumerate(zip(u["seconds"], c["seconds"], u["loss"], c["loss"]), start=1):
        print(f"{epoch:5d} {row[0]:11.2f} {row[1]:9.2f} {row[2]:14.5f} {row[3]:12.5f}")
    print(
        f"epochs 2+: {result['speedup_after_first']:.2f}x faster with the cache; {c['slices_encoded']} slices "
        f"encoded once; largest loss difference {result['max_loss_difference']:.1e}"
    )
    return 0
