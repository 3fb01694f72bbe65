"""``python -m sambook bench-attention``: CPU time of SAM's encoder, stock vs lean attention (chapter
`training_runs`)."""

from __future__ import annotations

import argparse
import json

from sambook.bench.attention import time_encoders


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backbone", default="vit_b", choices=["mini", "vit_b", "vit_l", "vit_h"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024], help="input sizes (pixels)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")


def main(args: argparse.Namespace) -> int:
    rows = [time_encoders(args.backbone, size, batch=args.batch, repeats=args.repeats) for size in args.sizes]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(
        f"CPU time per encoder forward (median of {args.repeats}, batch {args.batch}, "
        f"{rows[0]['threads']} threads, fp32, no grad) — measured on this machine"
    )
    for row in rows:
        print(
            f"  {row['backbone']} {row['size']}x{row['size']}: stock {row['stock_s']:.3f} s   "
            f"lean {row['lean_s']:.3f} s   lean/stock {row['lean_s'] / row['stock_s']:.2f}"
        )
    return 0
