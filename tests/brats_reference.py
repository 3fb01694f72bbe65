"""Scores of independent BraTS implementations on the cases of ``tests/brats_cases.py``, as JSON on stdout.

Run it with a Python that has the implementation (neither installs beside the book's packages: BraTS_evaluation
pins numpy and pandas below the book's, the BraTS 2023 script needs pandas < 2 and is not on the registry)::

    python tests/brats_reference.py official PATH   # PATH: a copy of the BraTS 2023 metrics script (metrics.py)
    python tests/brats_reference.py panoptica       # the BraTS_evaluation package, config_gli

Prints ``{case: {"legacy_dice", "legacy_hd95", "lesion_dice", "lesion_hd95", ...}}`` for the whole tumour (the cases
are written as label 1, so WT is the mask). ``tests/test_brats_scores.py`` holds the numbers it printed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import tempfile
from pathlib import Path

from brats_cases import cases, write_label  # beside this script, so on sys.path when it runs


def _number(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)


def official(script_dir: Path, pred: Path, gt: Path) -> dict:
    sys.path.insert(0, str(script_dir))
    import metrics  # the BraTS 2023 script

    row = metrics.get_LesionWiseResults(str(pred), str(gt), "BraTS-GLI").set_index("Labels").loc["WT"]
    return {
        "legacy_dice": float(row["Legacy_Dice"]),
        "legacy_hd95": float(row["Legacy_HD95"]),
        "lesion_dice": float(row["LesionWise_Score_Dice"]),
        "lesion_hd95": float(row["LesionWise_Score_HD95"]),
        "tp": int(row["Num_TP"]),
        "fp": int(row["Num_FP"]),
        "fn": int(row["Num_FN"]),
    }


def panoptica(pred: Path, gt: Path) -> dict:
    from brats_evaluation import config_path
    from panoptica import Panoptica_Evaluator

    evaluator = Panoptica_Evaluator.load_from_config(str(config_path("gli")))
    result = evaluator.evaluate(str(pred), str(gt))["wt"].to_dict()
    return {
        "legacy_dice": result["global_bin_dsc"],
        "legacy_hd95": result["global_bin_hd95"],
        "lesion_dice": result["sq_dsc"],
        "lesion_hd95": result["sq_hd95"],
        "tp": result["tp"],
        "fp": result["fp"],
        "fn": result["fn"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("implementation", choices=("official", "panoptica"))
    parser.add_argument("script_dir", nargs="?", type=Path, help="folder of the BraTS 2023 script (official)")
    args = parser.parse_args()
    out = {}
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(sys.stderr):  # panoptica prints
        for name, (pred, true, spacing) in cases().items():
            pred_file, gt_file = Path(tmp, f"{name}_pred.nii.gz"), Path(tmp, f"{name}_gt.nii.gz")
            write_label(pred_file, pred, spacing)
            write_label(gt_file, true, spacing)
            scores = (
                official(args.script_dir, pred_file, gt_file)
                if args.implementation == "official"
                else panoptica(pred_file, gt_file)
            )
            out[name] = {k: _number(float(v)) for k, v in scores.items()}
    json.dump(out, sys.stdout, indent=1)  # after the block: stdout is back


if __name__ == "__main__":
    main()
