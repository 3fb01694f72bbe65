"""``python -m sambook params``: the CMAA paper's Table 3 beside the book's counts (chapter `sam_taken_apart`)."""

from __future__ import annotations

import argparse

from sambook.estimate.params import format_table, table3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", choices=("sam", "early", "cmaa"), action="append", help="model(s) to count (default: all three)"
    )
    parser.add_argument("--backbone", default="vit_b", choices=("mini", "vit_b", "vit_l", "vit_h"))
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--adapter-blocks", type=int, default=6)


def main(args: argparse.Namespace) -> int:
    rows = table3(args.backbone, args.image_size, args.adapter_blocks, tuple(args.model or ("sam", "early", "cmaa")))
    print(
        f"Parameters receiving a gradient in one training step ({args.backbone}, {args.image_size}x"
        f"{args.image_size}, n = {args.adapter_blocks} adapters for cmaa), beside the CMAA paper's Table 3:"
    )
    print(format_table(rows))
    return 0
