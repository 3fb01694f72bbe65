"""The build's helpers in tools/: the per-profile configuration and its cache key, the offline-assets check,
script deduplication and the execution report."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import book_config  # noqa: E402 (from tools/, put on the path above)
import cell_times  # noqa: E402 (from tools/, put on the path above)
import execution_report  # noqa: E402 (from tools/, put on the path above)
import offline_assets  # noqa: E402 (from tools/, put on the path above)
import unique_scripts  # noqa: E402 (from tools/, put on the path above)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A miniature project: one library file, one config, one checkpoint."""
    (tmp_path / "sambook").mkdir()
    (tmp_path / "sambook" / "a.py").write_text("x = 1\n")
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "c.yaml").write_text("epochs: 1\n")
    (tmp_path / "data" / "checkpoints").mkdir(parents=True)
    (tmp_path / "data" / "checkpoints" / "m.pth").write_bytes(b"\0weights")
    return tmp_path


def test_cache_folder_differs_per_profile(project: Path):
    assert book_config.cache_folder("ci", project) != book_config.cache_folder("cpu", project)
    assert book_config.cache_folder("ci", project).name.startswith("ci-")


@pytest.mark.parametrize(
    "edit", ["sambook/a.py", "configs/c.yaml", "data/checkpoints/m.pth", "sambook/new.py", "results/claims-cpu.json"]
)
def test_any_dependency_change_moves_the_cache(project: Path, edit: str):
    before = book_config.cache_folder("ci", project)
    (project / edit).parent.mkdir(parents=True, exist_ok=True)
    (project / edit).write_bytes((project / edit).read_bytes() + b"#" if (project / edit).exists() else b"y = 2\n")
    assert book_config.cache_folder("ci", project) != before


def test_unrelated_files_keep_the_cache(project: Path):
    before = book_config.cache_folder("ci", project)
    (project / "README.md").write_text("prose\n")
    (project / "sambook" / "notes.txt").write_text("not code\n")
    assert book_config.cache_folder("ci", project) == before


def test_cache_mode_sets_the_folder_force_mode_does_not(project: Path):
    base = {"execute": {"execute_notebooks": "force", "timeout": 10}, "sphinx": {"local_extensions": {"e": "tools"}}}
    cached = book_config.build_config(base, "ci", "cache", project)
    assert cached["execute"] == {
        "execute_notebooks": "cache",
        "timeout": 10,
        "cache": str(project / book_config.cache_folder("ci", project)),
    }
    assert Path(cached["sphinx"]["local_extensions"]["e"]).is_absolute()
    forced = book_config.build_config(base, "ci", "force", project)
    assert forced["execute"] == {"execute_notebooks": "force", "timeout": 10}
    assert base["execute"]["execute_notebooks"] == "force", "the parsed _config.yml was modified"


def test_unknown_execute_mode_is_refused(project: Path):
    with pytest.raises(ValueError, match="'auto'.*cache"):
        book_config.build_config({}, "ci", "auto", project)


def test_stale_caches_are_older_versions_of_the_same_profile(project: Path):
    current = project / book_config.cache_folder("ci", project)
    for folder in (current, project / "_build/.jupyter_cache/ci-000000000000", project / "_build/.jupyter_cache/cpu-1"):
        folder.mkdir(parents=True)
    assert book_config.stale_caches("ci", project) == [project / "_build/.jupyter_cache/ci-000000000000"]


def test_generated_config_of_the_book_keeps_everything_else(tmp_path: Path):
    out = tmp_path / "_config.ci.yml"
    assert book_config.main(["--profile", "ci", "--execute", "force", "--out", str(out)]) == 0
    written, base = yaml.safe_load(out.read_text()), yaml.safe_load((ROOT / "_config.yml").read_text())
    assert {k: v for k, v in written.items() if k not in ("execute", "sphinx")} == {
        k: v for k, v in base.items() if k not in ("execute", "sphinx")
    }
    assert written["sphinx"]["config"] == base["sphinx"]["config"]


def test_remote_assets_finds_scripts_and_style_sheets_from_other_sites():
    html = """<script src="https://cdn.example/a.js"></script><script defer src='//cdn.example/b.js'></script>
    <script src="../_static/c.js"></script><link rel="stylesheet" href="http://cdn.example/d.css">
    <link rel="canonical" href="https://example.org/page.html"><a href="https://colab.research.google.com/x">
    <link href="https://cdn.example/e.css" rel="stylesheet" />"""
    assert offline_assets.remote_assets(html) == [
        "https://cdn.example/a.js",
        "//cdn.example/b.js",
        "http://cdn.example/d.css",
        "https://cdn.example/e.css",
    ]


def test_the_books_scripts_are_configured_local():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]
    for name in [config["mathjax_path"], *config["nb_ipywidgets_js"]]:
        assert "//" not in name and name.startswith("vendor/"), f"_config.yml: {name} is not served by the book"


def test_unique_scripts_keeps_the_first_of_each():
    from sphinx.builders.html._assets import _JavaScript

    scripts = [
        _JavaScript("a.js"),
        _JavaScript(None, body="const X = 1"),
        _JavaScript("b.js"),
        _JavaScript("", body="const X = 1"),
        _JavaScript("a.js"),
        _JavaScript("a.js", priority=200),
    ]
    kept = unique_scripts.unique(scripts)
    assert [(s.filename, s.priority, s.attributes) for s in kept] == [
        ("a.js", 500, {}),
        (None, 500, {"body": "const X = 1"}),
        ("b.js", 500, {}),
        ("a.js", 200, {}),
    ]


def test_execution_report_tells_executed_cached_and_failed_chapters():
    start = 1000.0
    lines = execution_report.format_report(
        {
            "book/b": {"runtime": 12.5, "mtime": 1001.0, "method": "cache", "succeeded": True},
            "book/a": {"runtime": 30.0, "mtime": 10.0, "method": "cache", "succeeded": True},
            "book/c": {
                "runtime": 2.0,
                "mtime": 1002.0,
                "method": "force",
                "succeeded": False,
                "error": "CellTimeoutError",
            },
        },
        start,
    )
    assert lines[1].startswith("book/a") and "from the cache" in lines[1] and "30.0" in lines[1]
    assert lines[2].startswith("book/b") and "executed (cache)" in lines[2]
    assert "FAILED (CellTimeoutError)" in lines[3]
    assert lines[-1].split()[-1] == "12.5", "only chapters executed in this build count in the total"


def test_execution_report_names_each_executed_chapters_slowest_cell_against_the_timeout():
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("text"),
        nbformat.v4.new_code_cell("fit()\nmore"),
        nbformat.v4.new_code_cell("print(1)"),
        nbformat.v4.new_code_cell("never run"),
    ]
    for cell, (start, end) in zip(notebook.cells[1:3], [("00:00:00", "00:21:00"), ("00:30:00", "00:30:01")]):
        cell.metadata.execution = {
            "iopub.execute_input": f"2026-12-01T{start}Z",
            "shell.execute_reply": f"2026-12-01T{end}Z",
        }
    assert execution_report.slowest_cell(notebook) == (1260.0, "fit()")
    data = {
        "book/a": {"runtime": 1300.0, "mtime": 1001.0, "method": "force", "succeeded": True},
        "book/b": {"runtime": 5.0, "mtime": 1001.0, "method": "force", "succeeded": True},
    }
    lines = execution_report.format_report(data, 1000.0, {"book/a": (1260.0, "fit()"), "book/b": (1.0, "x")}, 3600)
    assert "slowest cell 1260.0 s (35 % of 3600 s): fit()  OVER A THIRD OF THE TIMEOUT" in lines[1]
    assert "slowest cell 1.0 s (0 % of 3600 s): x" in lines[2] and "OVER" not in lines[2]


def test_vendor_check_names_the_missing_files(tmp_path: Path):
    from sphinx.errors import ExtensionError

    class App:
        srcdir = str(tmp_path)

    class Config:
        def __init__(self):
            self.offline_assets_dir = "offline"
            self.mathjax_path = "vendor/mathjax/tex-mml-svg.js"
            self.nb_ipywidgets_js = {"vendor/requirejs/require.js": {}}
            self.html_static_path: list[str] = []

    config = Config()
    with pytest.raises(ExtensionError, match="tex-mml-svg.js.*require.js.*make vendor"):
        offline_assets._serve_vendor_folder(App(), config)
    for name in (config.mathjax_path, *config.nb_ipywidgets_js):
        (tmp_path / "offline" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "offline" / name).write_text("//")
    offline_assets._serve_vendor_folder(App(), config)
    assert config.html_static_path == [str(tmp_path / "offline")]
    config.mathjax_path = "https://cdn.example/mathjax.js"
    with pytest.raises(ExtensionError, match="another site"):
        offline_assets._serve_vendor_folder(App(), config)


def _sleeping_notebook(path: Path, seconds: float) -> Path:
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell(f"import time\ntime.sleep({seconds})"),
    ]
    nbformat.write(notebook, path)
    return path


def test_cell_times_measures_each_cell(tmp_path: Path):
    rows = cell_times.time_notebook(_sleeping_notebook(tmp_path / "n.ipynb", 0.3), timeout=60)
    assert [(number, first) for number, first, _ in rows] == [(0, "x = 1"), (1, "import time")]
    assert rows[1][2] >= 0.3 > rows[0][2]


def test_cell_times_fails_when_the_margin_is_not_met(tmp_path: Path, capsys):
    path = _sleeping_notebook(tmp_path / "n.ipynb", 0.2)
    timeout = yaml.safe_load((ROOT / "_config.yml").read_text())["execute"]["timeout"]
    assert cell_times.main([str(path), "--margin", str(timeout / 0.1)]) == 1
    assert "slowest cell" in capsys.readouterr().out
