"""Sphinx extension: each script once per page.

sphinx-thebe adds its inline configuration (``const THEBE_JS_URL = ...``) each time Sphinx reads sources, and
Jupyter Book's build reads them more than once, so pages declared the same ``const`` twice and the browser
stopped that script with "Identifier 'THEBE_JS_URL' has already been declared". Identical script entries are
dropped from the page's list, first one kept.
"""

from __future__ import annotations

from sphinx.application import Sphinx


def _key(script) -> tuple:
    """What makes two entries the same script; an inline script's file is ``None`` or ``""`` depending on who
    added it."""
    if isinstance(script, str):  # an old-style entry: a file name
        return (script,)
    return (script.filename or None, script.priority, *sorted(script.attributes.items()))


def unique(scripts: list) -> list:
    """``scripts`` without repeats (same file, priority and attributes, inline body included), order kept."""
    first: dict[tuple, object] = {}
    for script in scripts:
        first.setdefault(_key(script), script)
    return list(first.values())


def _dedupe(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    if "script_files" in context:
        context["script_files"] = unique(context["script_files"])


def setup(app: Sphinx) -> dict:
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
