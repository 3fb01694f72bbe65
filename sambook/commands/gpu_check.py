"""``python -m sambook gpu-check [--quick] [--json FILE]``: every GPU path of the book in one prepared run (chapter
`training_runs`; what it checks: :mod:`sambook.bench.gpu_check`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sambook.atomic import atomic_path
from sambook.bench.gpu_check import format_report, gpu_check


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="fewer steps and configs, sized for 5 minutes on one GPU")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the whole report to FILE")
    parser.add_argument("--force", action="store_true", help="overwrite an existing --json FILE")
    parser.add_argument("--configs", nargs="+", metavar="NAME", help="only these files of configs/gpu/ (e.g. cmaa)")
    parser.add_argument("--device", help="a torch device (default: cuda when available, else cpu)")


def command_line(args: argparse.Namespace) -> str:
    """The command that produced a report, rebuilt from its arguments."""
    parts = ["python -m sambook gpu-check"] + (["--quick"] if args.quick else [])
    parts += ["--configs", *args.configs] if args.configs else []
    parts += [f"--device {args.device}"] if args.device else []
    parts += [f"--json {args.json}"] if args.json else []
    return " ".join(parts)


def main(args: argparse.Namespace) -> int:
    if args.json is not None and args.json.exists() and not args.force:
        raise SystemExit(f"{args.json}: exists; pass --force to overwrite it")
    report = gpu_check(quick=args.quick, command=command_line(args), configs=args.configs, device=args.device)
    print(format_report(report))
    if args.json is not None:
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(report, indent=1))
        print(f"report written to {args.json}")
    return 0 if report["ok"] else 1
