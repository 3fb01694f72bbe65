"""Command line: ``python -m sambook <command> ...``.

Each command is a thin module in :mod:`sambook.commands` with ``add_arguments(parser)`` and ``main(args) -> int``;
only the module of the command given is imported, so ``python -m sambook X`` loads what X needs and no more.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: command -> (module in sambook.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "phantom": ("phantom", "write offline multimodal glioma phantom cases (BraTS 2021 layout)"),
    "register": ("register", "register T1, T1ce and FLAIR rigidly to T2 for every case"),
    "params": ("params", "count parameters as in the CMAA paper's Table 3"),
    "train": ("train", "train a model from a YAML config"),
    "evaluate": ("evaluate", "Dice and HD95 (3D Dice for AFTer-SAM) of a trained run"),
    "pretrain": ("pretrain", "pretrain the book's mini SAM on phantom tissue classes and synthetic anomalies"),
    "init-gap": ("init_gap", "Table 1 models from the pretrained vs a random mini SAM, over seeds"),
    "bench": ("bench", "training images/s and peak memory of the Table 1 models"),
    "estimate": ("estimate", "peak GPU memory and FLOPs of a step, traced on fake tensors"),
    "bench-cache": ("bench_cache", "AFTer-SAM epoch time with and without the frozen-feature cache"),
    "bench-attention": ("bench_attention", "CPU time of SAM's encoder, stock vs lean attention"),
    "claims": ("claims", "train every claim of the papers over seeds; write the claims ledger's results file"),
    "predict": ("predict", "segment new, unlabelled cases (BraTS 2021 or 2023 folders) with a trained run"),
    "score": ("score", "score NIfTI predictions against ground truths with the BraTS rules (legacy, lesion-wise)"),
    "gpu-check": (
        "gpu_check",
        "every GPU path on this device: configs/gpu/ memory vs estimates, attention, cache, DDP",
    ),
}


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    """The parser with every command listed; only the module of the command named in ``argv`` is imported."""
    parser = argparse.ArgumentParser(prog="python -m sambook", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    wanted = next((a for a in argv if not a.startswith("-")), None)
    for name, (module_name, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        if name == wanted:
            module = importlib.import_module(f"sambook.commands.{module_name}")
            module.add_arguments(command)
            command.set_defaults(_main=module.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a command; a project error (:mod:`sambook.errors`) prints its message, not a traceback, and exits 2."""
    from sambook.errors import SambookError

    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    try:
        return int(args._main(args) or 0)
    except SambookError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
