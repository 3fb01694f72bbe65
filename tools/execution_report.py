"""Sphinx extension: after the build, one line per chapter saying how it got its outputs and how long it ran.

myst-nb logs "Executing notebook" and "Executed notebook in N seconds" while it reads each chapter; this table
at the end adds the chapters taken from the cache (with the run time of the execution that filled it) and the
total, so a slow chapter is found without scrolling the log.
"""

from __future__ import annotations

import time

from myst_nb.sphinx_ import NbMetadataCollector
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)


def format_report(exec_data: dict[str, dict], build_start: float) -> list[str]:
    """Lines of the report for ``{docname: myst-nb exec_data}``: executed now, from the cache, or failed."""
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
        seconds = "-" if runtime is None else f"{runtime:8.1f}"
        lines.append(f"{docname:32s} {seconds:>8s}  {how}")
    lines.append(f"{'executed in this build':32s} {total:8.1f}")
    return lines


def _start(app: Sphinx) -> None:
    app.env.execution_report_start = time.time()


def _report(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None:
        return
    metadata = NbMetadataCollector.get_doc_data(app.env)
    exec_data = {doc: data["exec_data"] for doc, data in metadata.items() if data.get("exec_data")}
    start = getattr(app.env, "execution_report_start", 0.0)
    for line in format_report(exec_data, start):
        logger.info(line)


def setup(app: Sphinx) -> dict:
    app.connect("builder-inited", _start)
    app.connect("build-finished", _report)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
