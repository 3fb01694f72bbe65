"""``python -m sambook estimate``: peak GPU memory and FLOPs of a step, traced on fake tensors (chapter
`training_runs`)."""

from __future__ import annotations

import argparse
import json

from sambook.estimate.report import format_result, result
from sambook.estimate.trace import DTYPES, Setting, estimate, model_names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, choices=model_names())
    parser.add_argument("--backbone", default="vit_b", choices=["mini", "vit_b", "vit_l", "vit_h"])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--size", type=int, default=256, help="image side in pixels")
    parser.add_argument("--slices", type=int, help="slices per group (aftersam)")
    parser.add_argument("--dtype", default="fp32", choices=list(DTYPES))
    parser.add_argument("--attention", default="stock", choices=["stock", "lean"])
    parser.add_argument("--checkpointing", action="store_true", help="recompute encoder blocks in backward")
    parser.add_argument("--inference", action="store_true", help="forward only, no grad")
    parser.add_argument("--num-classes", type=int, default=1)
    parser.add_argument("--json", action="store_true")


def main(args: argparse.Namespace) -> int:
    setting = Setting(
        model=args.model,
        backbone=args.backbone,
        batch=args.batch,
        size=args.size,
        slices=args.slices,
        dtype=args.dtype,
        attention=args.attention,
        checkpointing=args.checkpointing,
        inference=args.inference,
        num_classes=args.num_classes,
    )
    res = result(estimate(setting))
    print(json.dumps(res, indent=2) if args.json else format_result(res))
    return 0
