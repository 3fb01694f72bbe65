"""Sphinx extension: after the build, one line per chapter saying how it got its outputs, how long it ran and how
long its slowest cell took against the per-cell timeout.

myst-nb logs "Executing notebook" and "Executed notebook in N seconds" while it reads each chapter; this table
at the end adds the chapters taken from the cache (with the run time of the execution that filled it) and the
total, so a slow chapter is found without scrolling the log. myst-nb executes with nbclient's per-cell timing off;
this extension turns it on (``record_timing``, an nbclient option that jupyter-cache passes through), so every
chapter executed in this build also reports its slowest cell (``tools/cell_times.py`` reads the same timing).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

from cell_times import cell_seconds
from myst_nb.core.execute import cache as cache_execution
from myst_nb.core.execute import direct as direct_execution
from myst_nb.sphinx_ import NbMetadataCollector
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

MARGIN = 3  # a cell should need at most a third of the per-cell timeout (a slower or busier machine still passes)


def slowest_cell(notebook) -> tuple[float, str] | None:
    """(seconds, first line) of the slowest timed code cell of an executed notebook, or None."""
    timed = [
        (seconds, (cell.source.splitlines() or [""])[0][:50])
        for cell in notebook.cells
        if cell.cell_type == "code" and (seconds := cell_seconds(cell)) is not None
    ]
    return max(timed, default=None)


_building: dict[str, Sphinx] = {}  # the application of the build under way


def _timed(execute: Callable) -> Callable:
    """myst-nb's notebook execution with per-cell timing, remembering each chapter's slowest cell."""

    @functools.wraps(execute)
    def run(notebook, *args, **kwargs):
        result = execute(notebook, *args, **{**kwargs, "record_timing": True})
        env = _building["app"].env
        env.slowest_cells = {**getattr(env, "slowest_cells", {}), env.docname: slowest_cell(notebook)}
        return result

    return run


def format_report(
    exec_data: dict[str, dict],
    build_start: float,
    slowest: dict[str, tuple[float, str] | None] | None = None,
    timeout: float | None = None,
) -> list[str]:
    """Lines of the report for ``{docname: myst-nb exec_data}``: executed now, from the cache, or failed; with
    ``slowest`` (docname -> slowest cell) and the per-cell ``timeout``, the slowest cell of each executed chapter."""
    slowest = slowest or {}
    lines = [f"{'chapter':32s} {'seconds':>8s}  how"]
    total = 0.0
    for docname, data in sorted(exec_data.items()):
        runtime = data.get("runtime")
        if not data.get("succeeded", False):
            how = f"FAILED ({data.get('error')})"
        elif data.get("mtime", 0.0) < build_start:
            how = "not executed now: from the cache (seconds of its last execution)"
        else:
            how = f"executed ({data.get('method')})"
            total += runtime or 0.0
            if slowest.get(docname) and timeout:
                seconds, line = slowest[docname]
                flag = "  OVER A THIRD OF THE TIMEOUT" if seconds * MARGIN > timeout else ""
                how += (
                    f"; slowest cell {seconds:.1f} s ({100 * seconds / timeout:.0f} % of {timeout:.0f} s): {line}{flag}"
                )
        seconds = "-" if runtime is None else f"{runtime:8.1f}"
        lines.append(f"{docname:32s} {seconds:>8s}  {how}")
    lines.append(f"{'executed in this build':32s} {total:8.1f}")
    return lines


def _start(app: Sphinx) -> None:
    app.env.execution_report_start = time.time()
    app.env.slowest_cells = {}
    _building["app"] = app
    for module in (cache_execution, direct_execution):
        if not hasattr(module.single_nb_execution, "__wrapped__"):
            module.single_nb_execution = _timed(module.single_nb_execution)


def _report(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None:
        return
    metadata = NbMetadataCollector.get_doc_data(app.env)
    exec_data = {doc: data["exec_data"] for doc, data in metadata.items() if data.get("exec_data")}
    start = getattr(app.env, "execution_report_start", 0.0)
    slowest = getattr(app.env, "slowest_cells", {})
    for line in format_report(exec_data, start, slowest, app.config.nb_execution_timeout):
        logger.info(line)


def setup(app: Sphinx) -> dict:
    app.connect("builder-inited", _start)
    app.connect("build-finished", _report)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
