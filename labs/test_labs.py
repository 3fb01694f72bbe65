"""The labs are not hollow (``make labs-check``, after ``make labs``; run with the Python of ``.venv-labs``).

For every lab, graded by otter-grader without Docker from the autograder zip that ``make labs`` built:

* the solution notebook scores full marks on every question, graded in otter's debug mode (a cell that raises fails
  the grading), in at most 60 s;
* the committed student notebook (``labs/student/<lab>/``, what Colab opens) executes top to bottom from its folder
  without an error, its ``grader.check`` cells running the public tests, and scores 0 on every question;
* the master's plausible wrong answers (``labs/wrong_answers/<lab>.yaml``, one per question, each put in place of
  that question's solution) lose points on every question.

All the wrong answers of a lab go into one submission; that this tells which question rejects which wrong answer
rests on a rule checked here statically: a question's tests take only names that its own answer cell defines, and
no answer cell uses a name another question's answer cell defines.
Static checks: the Colab cell, no outputs, 3 to 5 questions each with public and hidden tests, the committed
student copies up to date.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat
import pytest
import yaml

LABS = Path(__file__).resolve().parent
sys.path.insert(0, str(LABS))
from build_labs import BUILD, PUBLISHED, ROOT, masters  # noqa: E402
from grade_labs import grade  # noqa: E402

MASTERS = masters()
# LABS=name,name restricts the graded labs (while writing one); CI grades them all.
NAMES = os.environ["LABS"].split(",") if os.environ.get("LABS") else [m.stem for m in MASTERS]
# Per-cell timeout of a lab run: a hang fails the check. The labs' target of 60 s per solution on 2 cores is a
# figure that `make labs-check` prints (_build/labs/check.txt), not a timed assertion (busy machines vary).
CELL_TIMEOUT = 300
CHECK = re.compile(r'grader\.check\("([^"]+)"\)')


def _source(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def questions(master: Path) -> list[dict]:
    """The questions of a master: name, solution code cells and test code cells (v1 raw-cell format)."""
    found, current, block = [], None, None
    for cell in nbformat.read(master, as_version=4).cells:
        text = _source(cell).strip()
        if cell.cell_type == "raw" and text.startswith("# BEGIN QUESTION"):
            current = {"name": yaml.safe_load(text.split("\n", 1)[1])["name"], "solution": [], "tests": []}
        elif cell.cell_type == "raw" and text.startswith("# END QUESTION"):
            found.append(current)
            current = None
        elif cell.cell_type == "raw" and text.startswith("# BEGIN "):
            block = text.split()[2].lower()  # solution | tests
        elif cell.cell_type == "raw" and text.startswith("# END "):
            block = None
        elif current is not None and cell.cell_type == "code" and block in ("solution", "tests"):
            current[block].append(text)
    return found


def defined_names(code: str) -> set[str]:
    """Names a cell defines at top level (functions, classes, assignments, imports)."""
    names = set()
    for node in ast.parse(code).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def used_names(code: str) -> set[str]:
    return {n.id for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def wrong_answers(lab: str) -> dict[str, dict]:
    return yaml.safe_load((LABS / "wrong_answers" / f"{lab}.yaml").read_text())


def wrong_submission(solutions: Path, lab: str, out: Path) -> Path:
    """The solution notebook with every question's answer cell replaced by that question's wrong answer."""
    nb = nbformat.read(solutions, as_version=4)
    wrong = wrong_answers(lab)
    pending = []
    replaced = set()
    for cell in nb.cells:
        if "otter_assign_solution_cell" in cell.metadata.get("tags", []):
            pending.append(cell)
        match = CHECK.search(_source(cell)) if cell.cell_type == "code" else None
        if match:
            assert len(pending) == 1, f"{lab}: question {match[1]} has {len(pending)} answer cells, expected one"
            pending.pop().source = wrong[match[1]]["code"]
            replaced.add(match[1])
    assert replaced == set(wrong), f"{lab}: wrong answers for {sorted(set(wrong) - replaced)} found no question"
    nbformat.write(nb, out)
    return out


def execute(notebook: Path) -> dict:
    """Run a notebook top to bottom in its folder, as a student does; ``error`` names the first failing cell."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(notebook, as_version=4)
    try:
        NotebookClient(
            nb, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(notebook.parent)}}
        ).execute()
    except CellExecutionError as error:
        return {"error": f"{error.ename}: {error.evalue}"}
    return {"error": ""}


def _timed_grade(submission: Path, autograder: Path | None, debug: bool) -> dict:
    """Grade ``submission`` (``autograder`` None: only execute it)."""
    start = time.perf_counter()
    row = execute(submission) if autograder is None else grade(submission, autograder, debug=debug)
    return {**row, "seconds": time.perf_counter() - start}


@pytest.fixture(scope="module")
def graded() -> dict[tuple[str, str], dict]:
    """Every lab's solution, student and wrong submissions, graded in parallel (LABS_JOBS workers, default 2)."""
    tmp = Path(tempfile.mkdtemp(prefix="labs-check-"))
    jobs = []
    for lab in NAMES:
        autograder = BUILD / "autograder" / f"{lab}.zip"
        assert autograder.is_file(), f"{autograder} missing: run `make labs` first"
        folder = tmp / lab
        folder.mkdir()
        solution = folder / f"{lab}.ipynb"
        solution.write_bytes((BUILD / "solutions" / lab / f"{lab}.ipynb").read_bytes())
        student = folder / "student" / f"{lab}.ipynb"
        shutil.copytree(PUBLISHED / lab, student.parent)  # the copy that Colab opens, with its public tests
        (folder / "wrong").mkdir()
        wrong = wrong_submission(solution, lab, folder / "wrong" / f"{lab}.ipynb")
        jobs += [
            (lab, "solution", solution, autograder, True),
            (lab, "student", student, autograder, False),
            (lab, "wrong", wrong, autograder, False),
            (lab, "student-run", student, None, False),
        ]
    with ProcessPoolExecutor(max_workers=int(os.environ.get("LABS_JOBS", "2"))) as pool:
        rows = pool.map(_timed_grade, [j[2] for j in jobs], [j[3] for j in jobs], [j[4] for j in jobs])
        results = {(lab, kind): row for (lab, kind, *_), row in zip(jobs, rows)}
    lines = []
    for (lab, kind), row in sorted(results.items()):
        score = f"{row['total']:5.1f} / {row['max']:4.1f}" if "total" in row else "executed   "
        lines.append(f"{lab:18s} {kind:11s} {score} in {row['seconds']:5.1f} s {row['error']}")
    (BUILD / "check.txt").write_text("\n".join(lines) + "\n")  # make labs-check prints it
    return results


def test_there_are_six_to_eight_labs():
    assert 6 <= len(MASTERS) <= 8, f"{len(MASTERS)} labs in {LABS}"


@pytest.mark.parametrize("master", MASTERS, ids=lambda p: p.stem)
def test_master_opens_with_colab_cell_and_has_no_outputs(master: Path):
    repo_url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    nb = json.loads(master.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    first = _source(code[0])
    assert 'if "google.colab" in sys.modules:' in first, f"{master.name}: first code cell is not the Colab cell"
    assert f'REPO = "{repo_url}"' in first, f"{master.name}: Colab cell's REPO differs from _config.yml"
    assert "labs/requirements.txt" in first, f"{master.name}: Colab cell does not install otter-grader"
    assert f"/labs/student/{master.stem}" in first, f"{master.name}: Colab cell does not enter the lab's folder"
    for cell in code:
        assert not cell.get("outputs") and cell.get("execution_count") is None, f"{master.name}: outputs committed"


@pytest.mark.parametrize("master", MASTERS, ids=lambda p: p.stem)
def test_questions_are_graded_by_public_and_hidden_tests(master: Path):
    found = questions(master)
    assert 3 <= len(found) <= 5, f"{master.name}: {len(found)} questions"
    for q in found:
        assert len(q["solution"]) == 1, f"{master.name}: question {q['name']} needs exactly one answer cell"
        hidden = [t.lstrip().startswith("# HIDDEN") for t in q["tests"]]
        assert any(hidden) and not all(hidden), f"{master.name}: {q['name']} needs public and hidden tests"


@pytest.mark.parametrize("master", MASTERS, ids=lambda p: p.stem)
def test_questions_are_independent(master: Path):
    found = questions(master)
    defined = {q["name"]: defined_names(q["solution"][0]) for q in found}
    for q in found:
        for test in q["tests"]:
            function = next(n for n in ast.parse(test).body if isinstance(n, ast.FunctionDef))
            arguments = {a.arg for a in function.args.args}
            assert arguments <= defined[q["name"]], (
                f"{master.name}: a test of {q['name']} takes {sorted(arguments - defined[q['name']])}, "
                "which its own answer cell does not define"
            )
        others = set().union(*(names for name, names in defined.items() if name != q["name"]))
        borrowed = used_names(q["solution"][0]) & others - defined[q["name"]]
        assert not borrowed, f"{master.name}: the answer to {q['name']} uses {sorted(borrowed)} of another question"


@pytest.mark.parametrize("master", MASTERS, ids=lambda p: p.stem)
def test_every_question_has_a_wrong_answer(master: Path):
    wrong = wrong_answers(master.stem)
    assert set(wrong) == {q["name"] for q in questions(master)}, f"{master.name}: wrong answers do not match"
    for name, entry in wrong.items():
        assert entry.get("mistake") and entry.get("code"), f"{master.name}: {name} needs 'mistake' and 'code'"


def test_committed_student_notebooks_are_up_to_date():
    """``make labs`` rewrote labs/student/; it must equal what is committed (else: run make labs, commit)."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    status = subprocess.run(
        ["git", "status", "--porcelain", "--", str(PUBLISHED)], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert not status.strip(), f"labs/student/ differs from what make labs builds; commit it:\n{status}"
    assert sorted(p.name for p in PUBLISHED.iterdir() if p.is_dir()) == [m.stem for m in MASTERS]


@pytest.mark.parametrize("lab", NAMES)
def test_solution_scores_full_marks(graded, lab: str):
    row = graded[lab, "solution"]
    assert not row["error"], f"{lab}: the solution notebook failed: {row['error']}"
    for name in (q["name"] for q in questions(LABS / f"{lab}.ipynb")):
        assert name in row, f"{lab}: question {name} was not graded"
    assert row["total"] == row["max"] > 0, f"{lab}: the solution scores {row['total']} / {row['max']}"


@pytest.mark.parametrize("lab", NAMES)
def test_student_notebook_runs_and_scores_zero(graded, lab: str):
    run = graded[lab, "student-run"]
    assert not run["error"], f"{lab}: the student notebook does not run top to bottom: {run['error']}"
    row = graded[lab, "student"]
    assert not row["error"], f"{lab}: grading the student notebook failed: {row['error']}"
    for name in (q["name"] for q in questions(LABS / f"{lab}.ipynb")):
        assert row[name] == 0, f"{lab}: the unanswered question {name} scores {row[name]}"


@pytest.mark.parametrize("lab", NAMES)
def test_wrong_answers_are_rejected(graded, lab: str):
    row, full = graded[lab, "wrong"], graded[lab, "solution"]
    assert not row["error"], f"{lab}: grading the wrong answers failed: {row['error']}"
    wrong = wrong_answers(lab)
    for name in wrong:
        assert row[name] < full[name], f"{lab}: the wrong answer to {name} ({wrong[name]['mistake']}) keeps full marks"


def test_a_failing_cell_is_reported(tmp_path: Path):
    """The 'runs top to bottom' checks can fail: a cell that raises is an error, executed or debug-graded."""
    lab = NAMES[0]
    shutil.copytree(PUBLISHED / lab, tmp_path / lab)
    broken = tmp_path / lab / f"{lab}.ipynb"
    nb = nbformat.read(broken, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("raise RuntimeError('a cell that fails')"))
    nbformat.write(nb, broken)
    assert "RuntimeError" in execute(broken)["error"]
    assert grade(broken, BUILD / "autograder" / f"{lab}.zip", debug=True)["error"]
