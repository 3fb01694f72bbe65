"""Time every code cell of the book's chapters and compare the slowest with the per-cell timeout of
``_config.yml`` (the build itself records chapter times only).

    SAMBOOK_PROFILE=cpu python tools/cell_times.py book/*.ipynb      # or: make cell-times BOOK_PROFILE=cpu

Executes each notebook in its own folder, as the build does, without writing it; prints one line per cell that
took at least ``--show`` seconds, then the slowest cell of each chapter as a share of the timeout. Exits 1 when a
cell needs more than ``1 / --margin`` of the timeout (default: a third).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

import nbformat
import yaml
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def cell_seconds(cell: dict) -> float | None:
    """Seconds between the start of a cell's execution and its reply, from nbclient's timing metadata."""
    timing = cell.get("metadata", {}).get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not start or not end:
        return None
    return (
        datetime.fromisoformat(end.replace("Z", "+00:00")) - datetime.fromisoformat(start.replace("Z", "+00:00"))
    ).total_seconds()


def time_notebook(path: Path, timeout: int) -> list[tuple[int, str, float]]:
    """``(code cell number, first line, seconds)`` for every code cell of ``path``, executed in its folder."""
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=timeout, record_timing=True, resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    rows = []
    for number, cell in enumerate(c for c in notebook.cells if c.cell_type == "code"):
        seconds = cell_seconds(cell)
        if seconds is not None:
            rows.append((number, (cell.source.splitlines() or [""])[0][:60], seconds))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--show", type=float, default=10.0, help="list cells that took at least this many seconds")
    parser.add_argument("--margin", type=float, default=3.0, help="required ratio of the timeout to the slowest cell")
    args = parser.parse_args(argv)
    timeout = int(yaml.safe_load((ROOT / "_config.yml").read_text())["execute"]["timeout"])
    slowest = {}
    for path in args.notebooks:
        rows = time_notebook(path, timeout)
        for number, first_line, seconds in rows:
            if seconds >= args.show:
                print(f"{path.stem:24s} code cell {number:2d} {seconds:8.1f} s  {first_line}")
        slowest[path.stem] = max((seconds for _, _, seconds in rows), default=0.0)
        print(
            f"{path.stem:24s} slowest cell {slowest[path.stem]:.1f} s, {sum(s for _, _, s in rows):.1f} s in all",
            flush=True,
        )
    worst = max(slowest.values())
    print(
        f"slowest cell {worst:.1f} s: timeout {timeout} s is {timeout / max(worst, 1e-9):.1f}x it "
        f"(wanted >= {args.margin}x)"
    )
    return 0 if worst * args.margin <= timeout else 1


if __name__ == "__main__":
    sys.exit(main())
