"""``python -m sambook claims --seeds 0 1 2``: train every claim of the ledger under the active profile and write
``results/claims-<profile>.json`` with its provenance (:mod:`sambook.claims`, chapter `claims_ledger`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from sambook.claims import CLAIMS, ledger_rows, run_claims
from sambook.profiles import get_profile
from sambook.results import results_file, write_results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="one run per variant and seed")
    parser.add_argument("--claim", action="append", choices=[c.key for c in CLAIMS], help="only these claims")
    parser.add_argument("--out", type=Path, help="results file (default: results/claims-<profile>.json)")
    parser.add_argument(
        "--runs",
        type=Path,
        help="keep the run folders here (default: a temporary folder); finished runs of the same config found "
        "there are reused, so an interrupted command picks up where it stopped; other runs there (unfinished, or "
        "of another config) are replaced",
    )


def main(args: argparse.Namespace) -> int:
    profile = get_profile()
    out = args.out or results_file("claims", profile.name)
    if out.exists():
        print(f"{out} exists: move it away or pass --out (results are never overwritten without being asked)")
        return 1
    results = run_claims(  # the file holds every claim measured so far, "complete" once all are
        args.seeds,
        profile=profile,
        keys=args.claim,
        out=args.runs,
        on_claim=lambda partial: write_results(partial, out),
    )
    write_results(results, out)
    for row in ledger_rows(results):
        print(f"[{row['verdict']}] {row['paper']}: {row['claim']}\n    offline: {row['offline']}")
    print(f"{out}: {results['seconds'] / 60:.1f} min, seeds {results['seeds']}, profile {results['profile']}")
    return 0
