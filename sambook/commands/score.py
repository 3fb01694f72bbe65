"""``python -m sambook score PRED_DIR GT_DIR``: BraTS scores of a folder of NIfTI predictions against ground truths
(:mod:`sambook.evaluate.folders`, whose docstring gives the matching rules, the JSON and the exit status)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sambook.atomic import atomic_path
from sambook.errors import SambookError
from sambook.evaluate.brats import RULES
from sambook.evaluate.folders import format_table, mean_scores, score_folders
from sambook.evaluate.regions import LAYOUTS

RULE_CHOICES = {"legacy": ("legacy",), "lesionwise": ("lesionwise",), "both": RULES}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pred_dir", type=Path, help="folder of predicted label maps (NIfTI)")
    parser.add_argument("gt_dir", type=Path, help="folder of ground-truth label maps (NIfTI)")
    parser.add_argument(
        "--rules",
        choices=tuple(RULE_CHOICES),
        default="both",
        help="legacy whole-volume scores, BraTS 2023 lesion-wise scores, or both (default)",
    )
    parser.add_argument(
        "--labels",
        choices=LAYOUTS,
        default="brats2021",
        help="label codes of both folders (default brats2021: 1 NCR, 2 ED, 4 ET)",
    )
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", help="write the scores to this JSON file")


def main(args: argparse.Namespace) -> int:
    rules = RULE_CHOICES[args.rules]
    try:
        cases, errors = score_folders(args.pred_dir, args.gt_dir, args.labels, rules)
    except SambookError as error:
        print(f"error: {error}")
        return 1
    mean = mean_scores(cases)
    print(format_table(cases, mean))
    for message in errors.values():
        print(f"error: {message}")
    print(f"{len(cases)} case(s) scored, {len(errors)} not (rules: {', '.join(rules)}; labels: {args.labels})")
    if args.json is not None:
        with atomic_path(args.json) as tmp:
            tmp.write_text(
                json.dumps(
                    {"cases": cases, "mean": mean, "rules": list(rules), "labels": args.labels, "errors": errors},
                    indent=1,
                )
            )
    return 0 if not errors and cases else 1
