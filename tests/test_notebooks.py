"""The book's own conventions: notebooks without outputs, a Colab cell first, a profile cell second, and a
table of contents that lists exactly the chapters that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part.get("chapters", [])]
    return files


def _code_cells(path: Path) -> list[dict]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def test_there_are_chapters():
    assert NOTEBOOKS, "book/ holds no notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path: Path):
    for cell in _code_cells(path):
        assert not cell.get("outputs"), f"{path.name}: a code cell has outputs; strip them before committing"
        assert cell.get("execution_count") is None, f"{path.name}: a code cell has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_opens_with_colab_cell_for_this_repository(path: Path):
    repo_url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    first = "".join(_code_cells(path)[0]["source"])
    assert 'if "google.colab" in sys.modules:' in first, f"{path.name}: first code cell is not the Colab cell"
    assert f'REPO = "{repo_url}"' in first, f"{path.name}: Colab cell's REPO differs from _config.yml ({repo_url})"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_colab_cell_is_collapsed_under_a_note(path: Path):
    cells = json.loads(path.read_text())["cells"]
    index = next(i for i, c in enumerate(cells) if c["cell_type"] == "code")
    tags = cells[index].get("metadata", {}).get("tags", [])
    assert "hide-input" in tags, f"{path.name}: the Colab cell is not collapsed (cell tag hide-input)"
    note = cells[index - 1] if index else None
    assert note and note["cell_type"] == "markdown" and "Colab" in "".join(note["source"]), (
        f"{path.name}: no one-line note about the collapsed Colab cell right above it"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_prose_names_chapters_not_numbers(path: Path):
    """The table of contents is not numbered, so prose refers to chapters by title (a link), never by number."""
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "markdown":
            found = re.findall(r"(?i)\bchapters?\s+\d", "".join(cell["source"]))
            assert not found, f"{path.name}: chapter numbers in prose: {found}"


@pytest.mark.parametrize("name", ["README.md", "book/intro.md", "data/README.md"])
def test_documents_name_chapters_not_numbers(name: str):
    found = re.findall(r"(?i)\bchapters?\s+\d", (ROOT / name).read_text())
    assert not found, f"{name}: chapter numbers (the table of contents is not numbered): {found}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_announces_its_profile(path: Path):
    second = "".join(_code_cells(path)[1]["source"])
    assert "announce()" in second, f"{path.name}: second code cell does not print the profile (announce())"


def test_toc_lists_exactly_the_existing_chapters():
    listed = _toc_files()
    for entry in listed:
        matches = list(ROOT.glob(entry + ".*"))
        assert matches, f"_toc.yml lists {entry}, which does not exist"
    on_disk = {str(p.relative_to(ROOT).with_suffix("")) for p in NOTEBOOKS}
    missing = on_disk - set(listed)
    assert not missing, f"chapters missing from _toc.yml: {sorted(missing)}"


def test_toc_parts_are_the_books_parts():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    allowed = ["Foundations", "Segment Anything", "Multimodal fusion", "Volumes", "Training runs", "Labs"]
    captions = [part["caption"] for part in toc["parts"]]
    assert captions == [c for c in allowed if c in captions], f"unexpected parts or order: {captions}"


def test_labs_page_opens_every_lab_in_colab_from_this_repository():
    """book/labs.md links each lab's committed student notebook (labs/student/<lab>/) in Colab; masters stay out."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = config["repository"]["url"].removeprefix("https://github.com/")
    page = (ROOT / "book" / "labs.md").read_text()
    labs = sorted(p.stem for p in (ROOT / "labs").glob("*.ipynb"))
    assert labs, "labs/ holds no master notebook"
    for lab in labs:
        path = f"labs/student/{lab}/{lab}.ipynb"
        assert (ROOT / path).is_file(), f"{path} is not committed (run make labs)"
        url = f"https://colab.research.google.com/github/{repo}/blob/{config['repository']['branch']}/{path}"
        assert url in page, f"book/labs.md does not open {lab} in Colab ({url})"
    assert "labs" in config["exclude_patterns"], "_config.yml must keep labs/ (masters, hidden tests) out of the book"
