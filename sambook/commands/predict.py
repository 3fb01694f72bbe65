"""``python -m sambook predict RUN CASE_DIR... --out OUT``: segment new, unlabelled cases with a trained run
(:mod:`sambook.predict`, whose docstring gives the steps, the files written and the error handling)."""

from __future__ import annotations

import argparse
from pathlib import Path

from sambook.data.modalities import MODALITIES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="a run directory written by `train`")
    parser.add_argument(
        "case_dirs", type=Path, nargs="*", help="case folders in the BraTS 2021 or 2023 layout (no label map needed)"
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for <case>_seg.nii.gz and <case>_seg.png")
    parser.add_argument(
        "--labels",
        choices=("brats2021", "brats2023"),
        default="brats2021",
        help="label codes written (default brats2021: 1 NCR, 2 ED, 4 ET; brats2023: ET is 3)",
    )
    for modality in MODALITIES:
        parser.add_argument(f"--{modality}", type=Path, default=None, help=f"one more case: its {modality} file")
    parser.add_argument("--case", default=None, help="name of the case given by --t1/--t1ce/--t2/--flair")
    parser.add_argument(
        "--skip-registration", action="store_true", help="modalities already co-registered: resample only"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")


def main(args: argparse.Namespace) -> int:
    from sambook.predict import gather_cases, predict_cases

    explicit = {m: getattr(args, m) for m in MODALITIES if getattr(args, m) is not None}
    if not args.case_dirs and not explicit:
        print("error: give case folders or --t2 (and the other modalities the model reads)")
        return 2
    try:
        cases, errors = gather_cases(args.case_dirs, explicit, args.case)
    except ValueError as error:
        print(f"error: {error}")
        return 2
    for case, message in errors.items():
        print(f"{case}: skipped: {message}")
    written, failed = predict_cases(
        args.run_dir,
        cases,
        args.out,
        layout=args.labels,
        register=not args.skip_registration,
        overwrite=args.overwrite,
        device=args.device,
    )
    errors.update(failed)
    print(f"{len(written)} case(s) segmented, {len(errors)} not")
    return 0 if written and not errors else 1
