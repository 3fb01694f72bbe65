"""``python -m sambook register DATA_DIR --out OUT``: rigid registration of T1, T1ce and FLAIR to T2 for every case,
with its TRE report (chapter `registration`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sambook.atomic import write_text
from sambook.data.loaders import LAYOUTS
from sambook.registration.batch import REPORT, register_dataset, table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data_dir", type=Path, help="dataset root (BraTS 2021 layout by default)")
    parser.add_argument("--out", type=Path, required=True, help="where the registered dataset is written")
    parser.add_argument("--layout", choices=LAYOUTS, default="brats2021")
    parser.add_argument("--skip", action="store_true", help="data already co-registered: resample only")
    parser.add_argument("--jobs", type=int, default=1, help="cases registered in parallel (processes)")


def main(args: argparse.Namespace) -> int:
    reports = register_dataset(args.data_dir, args.out, layout=args.layout, skip=args.skip, jobs=args.jobs)
    print("TRE after registration, median / p95 in mm (median before), per modality")
    print(table(reports))
    write_text(args.out / REPORT, json.dumps(reports, indent=1))
    failed = [r["case"] for r in reports if "error" in r]
    if failed:
        print(f"{len(failed)} case(s) failed: {', '.join(failed)}")
    return 1 if failed else 0
