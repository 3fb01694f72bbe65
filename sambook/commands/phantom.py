"""``python -m sambook phantom``: write offline phantom cases (defaults from the active profile)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from sambook.data.phantom import generate
from sambook.paths import data_root
from sambook.profiles import get_profile


def positive(kind: type) -> Callable[[str], float]:
    """An argparse type: a number of ``kind`` above zero (``--spacing 0`` and ``--cases 0`` are refused)."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text} is not above 0")
        return value

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, help="output root (default: data_root()/phantom/<profile>)")
    parser.add_argument("--cases", type=positive(int), help="number of cases (default: the profile's phantom_cases)")
    parser.add_argument("--seed", type=int, help="dataset seed (default: the profile's seed)")
    parser.add_argument("--spacing", type=positive(float), help="T2 grid spacing in mm (default: the profile's)")
    parser.add_argument("--no-tumour", action="store_true", help="tumour-free cases (used for pretraining)")
    parser.add_argument("--profile", help="ci, cpu or gpu (default: $SAMBOOK_PROFILE)")


def main(args: argparse.Namespace) -> int:
    profile = get_profile(args.profile)
    out = args.out or data_root() / "phantom" / profile.name
    cases = profile.phantom_cases if args.cases is None else args.cases
    seed = profile.seed if args.seed is None else args.seed
    spacing = profile.phantom_spacing_mm if args.spacing is None else args.spacing
    start = time.perf_counter()
    folders = generate(out, cases=cases, seed=seed, spacing_mm=spacing, with_tumour=not args.no_tumour, verbose=True)
    print(f"{len(folders)} cases in {out} (spacing {spacing} mm, seed {seed}) — {time.perf_counter() - start:.1f} s")
    return 0
