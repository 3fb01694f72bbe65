"""``python -m sambook pretrain CONFIG``: reproduce the book's mini SAM (chapter `foundation_model`).

The result goes to ``data_root()/pretrain/<config>/`` (or ``--out``), never into the repository's
``data/checkpoints/``: the committed mini SAM stays the one its provenance file describes. To use a fresh one, name
it in a config (``checkpoint: PATH``); it is never announced as the book's.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sambook.config import load_pretrain_config as load_config
from sambook.errors import RunError
from sambook.foundation.pretrain import pretrain
from sambook.models.checkpoint import COMMITTED, MINI_CHECKPOINT
from sambook.paths import data_root


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", type=Path, help="configs/pretrain_cpu.yaml or configs/pretrain_ci.yaml")
    parser.add_argument("--out", type=Path, help="output folder (default: data_root()/pretrain/<config>)")
    parser.add_argument("--overwrite", action="store_true", help="replace a checkpoint already in the output folder")


def output_folder(config: Path, out: Path | None, *, overwrite: bool) -> Path:
    """Where ``pretrain`` writes: refuses the repository's ``data/checkpoints/`` and, unless ``overwrite``, a folder
    that already holds a mini SAM."""
    out = out or data_root() / "pretrain" / config.stem
    if out.resolve() == COMMITTED.resolve():
        raise RunError(out, "is the repository's data/checkpoints/, which keeps the committed mini SAM: choose --out")
    if (out / MINI_CHECKPOINT).exists() and not overwrite:
        raise RunError(out / MINI_CHECKPOINT, "exists; pass --overwrite to replace it, or choose another --out")
    return out


def main(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)  # a bad recipe is refused before any folder is chosen
    out = output_folder(args.config, args.out, overwrite=args.overwrite)
    provenance = pretrain(cfg, out)
    last = provenance["history"][-1]
    print(
        f"{out / MINI_CHECKPOINT}: {provenance['wall_seconds'] / 60:.1f} min on {provenance['device']}, "
        f"last pretext loss {last['train_loss']:.3f}, sha256 {provenance['sha256'][:12]}"
    )
    return 0
