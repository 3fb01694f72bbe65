"""Grade a folder of submissions without Docker: ``python labs/grade_labs.py AUTOGRADER.zip FOLDER --out scores.csv``.

Each ``*.ipynb`` in FOLDER is executed and scored by otter-grader's non-containerised runner
(``otter.api.grade_submission``, what ``otter run`` does for one file) with the public and hidden tests of the
autograder archive built by ``make labs``. The CSV has one row per submission: the file, the points of every
question, the total, the maximum and the percentage. Run with the Python of ``.venv-labs`` (``make labs-grade``).
"""

from __future__ import annotations

import argparse
import csv
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path


def grade(submission: str | Path, autograder: str | Path, *, debug: bool = False) -> dict:
    """Points of one submission: ``{<question>: points, ..., "total", "max", "percent", "error"}``, scored by
    otter (public and hidden tests). ``error`` is set when grading could not run at all (every score is then 0);
    with ``debug``, also when a cell of the submission raises (otter otherwise grades past failing cells)."""
    from otter.api import grade_submission

    try:
        results = grade_submission(str(submission), str(autograder), quiet=True, debug=debug)
    except Exception as error:  # noqa: BLE001 -- debug mode raises whatever a cell of the submission raised
        return {"total": 0.0, "max": 0.0, "percent": 0.0, "error": f"{type(error).__name__}: {error}"}
    scores = {name: float(results.get_score(name)) for name in results.test_files}
    total, possible = float(results.total), float(results.possible)
    error = results.catastrophic_error
    return {
        **scores,
        "total": total,
        "max": possible,
        "percent": round(100 * total / possible, 2) if possible else 0.0,
        "error": "" if error is None else f"{type(error).__name__}: {error}",
    }


def grade_folder(autograder: Path, folder: Path, jobs: int = 2) -> list[dict]:
    """One row per ``*.ipynb`` of ``folder``: ``{"file", <question>: points, ..., "total", "max", "percent"}``."""
    submissions = sorted(folder.glob("*.ipynb"))
    if not submissions:
        raise SystemExit(f"{folder}: no .ipynb submission to grade")
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        rows = list(pool.map(grade, submissions, [autograder] * len(submissions)))
    return [{"file": path.name, **row} for path, row in zip(submissions, rows)]


def write_csv(rows: list[dict], out: Path) -> None:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("autograder", type=Path, help="the lab's autograder zip (_build/labs/autograder/<lab>.zip)")
    parser.add_argument("folder", type=Path, help="folder of submitted .ipynb files")
    parser.add_argument("--out", type=Path, default=Path("scores.csv"), help="CSV to write (default scores.csv)")
    parser.add_argument("--jobs", type=int, default=2, help="submissions graded in parallel (default 2)")
    args = parser.parse_args(argv)
    if not args.autograder.is_file():
        raise SystemExit(f"{args.autograder}: no such autograder zip (run `make labs` first)")
    rows = grade_folder(args.autograder, args.folder, args.jobs)
    write_csv(rows, args.out)
    for row in rows:
        print(f"{row['file']:40s} {row['total']:6.2f} / {row['max']:.2f}  ({row['percent']:.1f} %) {row['error']}")
    print(f"scores of {len(rows)} submissions written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
