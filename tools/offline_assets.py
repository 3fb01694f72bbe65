"""Sphinx extension: the book's pages load every script and style sheet from the book's own files.

MathJax, require.js and the ipywidgets HTML manager are fetched from the npm registry by ``make vendor`` into
``offline_assets_dir`` (``_build/offline/vendor/...``); this extension serves that folder as static files (added
after Jupyter Book's own ``_static`` handling, which would otherwise list every MathJax file on every page), checks
before the build that the files the configuration names are there, and fails the build if a written page still
loads a script or style sheet from another site.
"""

from __future__ import annotations

import re
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ExtensionError

# <script ... src="http://..."> or <link ... href="https://..."> (also protocol-relative "//host/...").
_REMOTE = re.compile(r"<(script|link)\b[^>]*\b(?:src|href)=[\"']((?:https?:)?//[^\"']+)[\"'][^>]*>", re.IGNORECASE)


def remote_assets(html: str) -> list[str]:
    """URLs of scripts and style sheets that ``html`` loads from another site (links to pages are not assets)."""
    found = []
    for match in _REMOTE.finditer(html):
        tag, url = match.group(1).lower(), match.group(2)
        if tag == "link" and not re.search(
            r"\brel=[\"']?(stylesheet|preload|modulepreload)", match.group(0), re.IGNORECASE
        ):
            continue
        found.append(url)
    return found


def _local_files(config: Config) -> list[str]:
    """The static files (relative to ``_static``) that the configuration loads on pages."""
    return [config.mathjax_path, *config.nb_ipywidgets_js]


def _serve_vendor_folder(app: Sphinx, config: Config) -> None:
    folder = (Path(app.srcdir) / config.offline_assets_dir).resolve()
    missing = [name for name in _local_files(config) if "//" not in name and not (folder / name).is_file()]
    remote = [name for name in _local_files(config) if "//" in name]
    if remote:
        raise ExtensionError(
            f"_config.yml: scripts configured from another site: {remote}; serve them from "
            f"{config.offline_assets_dir} (make vendor)"
        )
    if missing:
        raise ExtensionError(f"{folder}: missing {missing}; run `make vendor` to fetch them from the npm registry")
    config.html_static_path.append(str(folder))


def _check_written_pages(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    problems = []
    for page in sorted(Path(app.outdir).rglob("*.html")):
        for url in remote_assets(page.read_text(encoding="utf-8")):
            problems.append(f"{page.relative_to(app.outdir)}: {url}")
    if problems:
        raise ExtensionError("pages load scripts or style sheets from another site:\n  " + "\n  ".join(problems))


def setup(app: Sphinx) -> dict:
    app.add_config_value("offline_assets_dir", "_build/offline", "html")
    app.connect("config-inited", _serve_vendor_folder, priority=900)
    app.connect("build-finished", _check_written_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
