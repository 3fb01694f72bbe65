"""``python -m sambook bench``: training images/s and peak memory of the Table 1 models (chapter `training_runs`)."""

from __future__ import annotations

import argparse

from sambook.bench.training import bench


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", choices=("sam", "early", "cmaa"), action="append")
    parser.add_argument("--backbone", default="mini", choices=("mini", "vit_b", "vit_l", "vit_h"))
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--adapter-blocks", type=int, default=6)


def main(args: argparse.Namespace) -> int:
    for name in args.model or ("sam", "early", "cmaa"):
        r = bench(
            name,
            backbone=args.backbone,
            batch=args.batch,
            size=args.size,
            steps=args.steps,
            adapter_blocks=args.adapter_blocks,
        )
        print(
            f"{r['model']:6s} {r['backbone']} batch {r['batch']} at {r['size']}² on {r['device']}, {r['dtype']}: "
            f"{r['images_per_s']:.1f} images/s, peak {r['peak_mib']:.0f} MiB ({r['memory_kind']})"
        )
    return 0
