"""Command line: ``python -m sambook <command> ...``.

Each command lives in the module that does the work; that module provides ``add_arguments(parser)`` and
``main(args) -> int`` (or the two functions named in the registry). The registry maps a command name to its module
and a one-line help.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS: dict[str, tuple[str, ...]] = {
    "phantom": ("sambook.data.phantom_cli", "write offline multimodal glioma phantom cases (BraTS 2021 layout)"),
    "register": ("sambook.registration.batch", "register T1, T1ce and FLAIR rigidly to T2 for every case"),
    "params": ("sambook.params", "count parameters as in the CMAA paper's Table 3"),
    "train": ("sambook.train.cli", "train a model from a YAML config", "add_train_arguments", "main_train"),
    "evaluate": ("sambook.train.cli", "Dice and HD95 (3D Dice for AFTer-SAM) of a trained run",
                 "add_evaluate_arguments", "main_evaluate"),
    "pretrain": ("sambook.pretrain", "pretrain the book's mini SAM on phantom tissue classes and synthetic anomalies"),
    "init-gap": ("sambook.init_gap", "Table 1 models from the pretrained vs a random mini SAM, over seeds"),
    "bench": ("sambook.bench", "training images/s and peak memory of the Table 1 models"),
    "estimate": ("sambook.estimate.cli", "peak GPU memory and FLOPs of a step, traced on fake tensors"),
    "bench-cache": ("sambook.bench_cache", "AFTer-SAM epoch time with and without the frozen-feature cache"),
    "bench-attention": ("sambook.estimate.bench", "CPU time of SAM's encoder, stock vs lean attention"),
    "score": ("sambook.commands.score", "BraTS legacy and lesion-wise scores (WT, TC, ET) of a folder of predictions"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sambook", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text, *functions) in COMMANDS.items():
        module = importlib.import_module(module_name)
        add, run = functions or ("add_arguments", "main")
        command = sub.add_parser(name, help=help_text, description=help_text)
        getattr(module, add)(command)
        command.set_defaults(_main=getattr(module, run))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args._main(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
