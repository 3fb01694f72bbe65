"""``python -m sambook evaluate RUN_DIR``: a run's scores on its test split (:func:`sambook.train.runs.evaluate_run`);
with ``--volumes``, BraTS scores of its whole test volumes (:func:`sambook.train.run_volumes.evaluate_run_volumes`)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="a run directory written by `train`")
    parser.add_argument(
        "--current-data",
        action="store_true",
        help="score on the active profile's data even if the run was trained under another profile or data root",
    )
    parser.add_argument(
        "--volumes",
        action="store_true",
        help="score whole test volumes as BraTS regions (legacy and lesion-wise) instead of the paper's way",
    )


def main(args: argparse.Namespace) -> int:
    if args.volumes:
        from sambook.evaluate.folders import format_table
        from sambook.train.run_volumes import evaluate_run_volumes

        scores = evaluate_run_volumes(args.run_dir)
        print(format_table(scores["cases"], scores["mean"]))
        regions = ", ".join(scores["regions"])
        print(f"{args.run_dir.name}: {len(scores['cases'])} test volumes, every slice, regions {regions}")
        return 0
    from sambook.evaluate.metrics import CONVENTION
    from sambook.train.runs import evaluate_run, origin

    if args.current_data:
        now = origin()
        print(f"scoring on the active data: profile {now['profile']}, data root {now['data_root']}")
    scores = evaluate_run(args.run_dir, current_data=args.current_data)
    if scores["model"] == "aftersam":
        print(
            f"{args.run_dir.name}: 3D Dice per class "
            + ", ".join(f"{k}: {v:.1f} %" for k, v in scores["mean_per_class"].items())
            + f"; mean {scores['mean']:.1f} % over "
            f"{len(scores['per_case'])} test volumes"
        )
    else:
        print(
            f"{args.run_dir.name}: Dice {scores['dice']:.1f} %, HD95 {scores['hd95']:.2f} mm over {scores['n']} "
            f"test images ({CONVENTION})"
        )
    return 0
