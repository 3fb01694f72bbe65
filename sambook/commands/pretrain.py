"""``python -m sambook pretrain CONFIG``: reproduce the book's mini SAM (chapter `foundation_model`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from sambook.config import load_pretrain_config as load_config
from sambook.foundation.pretrain import pretrain
from sambook.models.checkpoint import MINI_CHECKPOINT
from sambook.paths import data_root


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", type=Path, help="configs/pretrain_cpu.yaml or configs/pretrain_ci.yaml")
    parser.add_argument("--out", type=Path, help="output folder (default: data_root()/checkpoints)")


def main(args: argparse.Namespace) -> int:
    out = args.out or data_root() / "checkpoints"
    provenance = pretrain(load_config(args.config), out)
    last = provenance["history"][-1]
    print(
        f"{out / MINI_CHECKPOINT}: {provenance['wall_seconds'] / 60:.1f} min on {provenance['device']}, "
        f"last pretext loss {last['train_loss']:.3f}, sha256 {provenance['sha256'][:12]}"
    )
    return 0
