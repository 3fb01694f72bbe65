"""``make labs``: turn every otter-grader master ``labs/<lab>.ipynb`` into what a class needs.

For each master, ``otter assign`` writes

* ``_build/labs/student/<lab>/``: the student notebook and its public tests (``tests/``), also copied to
  ``labs/student/<lab>/``, the committed copy that the book's Labs page opens in Colab;
* ``_build/labs/autograder/<lab>.zip``: the autograder archive (public and hidden tests) that
  ``labs/grade_labs.py`` grades submissions with;
* ``_build/labs/solutions/<lab>/``: the solution notebook with every test, public and hidden, in ``tests/``
  (for ``labs/test_labs.py`` and the instructor).

Run with the Python of ``.venv-labs`` (the Makefile does), where otter-grader is installed.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

LABS = Path(__file__).resolve().parent
ROOT = LABS.parent
BUILD = ROOT / "_build" / "labs"
PUBLISHED = LABS / "student"  # committed: Colab opens the student notebooks from the repository


def masters() -> list[Path]:
    """The master notebooks, one per lab."""
    return sorted(LABS.glob("*.ipynb"))


def assign(master: Path, build: Path = BUILD) -> dict[str, Path]:
    """Run ``otter assign`` on one master; return where its student folder, autograder zip and solutions are."""
    lab = master.stem
    with tempfile.TemporaryDirectory(prefix=f"otter-{lab}-") as tmp:
        done = subprocess.run(
            [sys.executable, "-m", "otter", "assign", "--no-run-tests", "--no-pdfs", str(master), tmp],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            raise SystemExit(f"{master}: otter assign failed:\n{done.stdout}{done.stderr}")
        zips = list(Path(tmp, "autograder").glob("*.zip"))
        if len(zips) != 1:
            raise SystemExit(f"{master}: expected one autograder zip from otter assign, found {len(zips)}")
        out = {
            "student": build / "student" / lab,
            "autograder": build / "autograder" / f"{lab}.zip",
            "solutions": build / "solutions" / lab,
        }
        for path in out.values():
            if path.is_dir():
                shutil.rmtree(path)
            path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(Path(tmp, "student"), out["student"])
        stable_ids(out["student"] / f"{lab}.ipynb")
        shutil.copyfile(zips[0], out["autograder"])
        shutil.copytree(Path(tmp, "autograder"), out["solutions"], ignore=shutil.ignore_patterns("*.zip"))
    return out


def stable_ids(notebook: Path) -> None:
    """Number the cells (otter gives the cells it adds random ids), so that a rebuild changes nothing."""
    nb = nbformat.read(notebook, as_version=4)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{notebook.stem[:40]}-{i:03d}"
    nbformat.write(nb, notebook)


def publish(student: Path, lab: str) -> Path:
    """Replace ``labs/student/<lab>/`` with a freshly built student folder."""
    target = PUBLISHED / lab
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(student, target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labs", nargs="*", help="lab names (default: every master in labs/)")
    args = parser.parse_args(argv)
    chosen = [m for m in masters() if not args.labs or m.stem in args.labs]
    unknown = set(args.labs) - {m.stem for m in chosen}
    if unknown:
        raise SystemExit(f"no master labs/<name>.ipynb for {sorted(unknown)}")
    for master in chosen:
        out = assign(master)
        publish(out["student"], master.stem)
        print(
            f"{master.stem:18s} student {out['student'].relative_to(ROOT)}/, autograder "
            f"{out['autograder'].relative_to(ROOT)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
