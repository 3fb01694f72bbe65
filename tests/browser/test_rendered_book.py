"""The built book as a reader's browser shows it: every page of ``_build/html`` opened offline in headless Chromium.

Run by ``make browser-test`` after ``make book`` (``.ci/run`` does both, on the ``ci`` build); deselected from the
plain test run (marker ``browser``). Without a built book the tests skip, except under
``SAMBOOK_BROWSER_TEST=required`` (set by ``make browser-test``), where a missing book or browser fails them.
One full-page screenshot per page is written to ``_build/screenshots/``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("SAMBOOK_BOOK_HTML", ROOT / "_build" / "html"))  # override: another build
SCREENSHOTS = ROOT / "_build" / "screenshots"
REQUIRED = os.environ.get("SAMBOOK_BROWSER_TEST") == "required"
WIDTH = 1280  # a laptop screen: the sidebar and the page's column both visible
LONGEST_SCREENSHOT = 20000  # px; longer pages are cut there

pytestmark = pytest.mark.browser


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(reason + " (SAMBOOK_BROWSER_TEST=required)")
    pytest.skip(reason)


def _pages() -> list[str]:
    """The book's pages in table-of-contents order, as paths of ``_build/html`` without ``.html``."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]


def _repository() -> str:
    """``owner/name`` of the repository the launch buttons must point at (``_config.yml``)."""
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    return urlsplit(url).path.strip("/")


@pytest.fixture(scope="module")
def browser():
    if not HTML.is_dir():
        _unavailable(f"no built book in {HTML}: run `make book` first")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("selenium is not installed (requirements-browser.txt; `make browser-deps`)")
    binary, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not binary or not driver_path:
        _unavailable(
            "chromium and chromedriver are not installed (`make browser-deps`: Debian chromium, chromium-driver)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={WIDTH},1000",
        # offline, as a reader without internet: no host name resolves
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


class Page:
    """One page loaded and settled (MathJax typeset, widgets rendered), with its console messages."""

    def __init__(self, driver, name: str):
        self.driver, self.name = driver, name
        self.path = HTML / f"{name}.html"
        if not self.path.is_file():
            pytest.fail(f"{self.path}: page of _toc.yml entry {name!r} was not built")
        driver.get(self.path.as_uri())
        driver.execute_async_script(_SETTLE)
        self.console = driver.get_log("browser")

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def screenshot(self) -> Path:
        """The whole page (cut at ``LONGEST_SCREENSHOT``): the window is made as tall as the page for the shot."""
        height = min(self.js("return document.documentElement.scrollHeight;"), LONGEST_SCREENSHOT)
        self.driver.set_window_size(WIDTH, height)
        out = SCREENSHOTS / f"{self.name.replace('/', '__')}.png"
        try:
            self.driver.save_screenshot(str(out))
        finally:
            self.driver.set_window_size(WIDTH, 1000)
        return out


# Scroll through the page (images load where they are shown), wait for MathJax's typesetting and for the widget
# manager, then call back. Runs in the page; the last argument is Selenium's callback.
_SETTLE = """
const done = arguments[arguments.length - 1];
(async () => {
  for (let y = 0; y < document.body.scrollHeight; y += 800) { window.scrollTo(0, y); await new Promise(r => setTimeout(r, 30)); }
  window.scrollTo(0, 0);
  await Promise.all(Array.from(document.images).map(img => img.complete ? null :
      new Promise(r => { img.onload = img.onerror = r; setTimeout(r, 10000); })));
  const start = Date.now();
  while (document.querySelector('script[src*="mathjax"]') && !(window.MathJax && MathJax.startup && MathJax.startup.promise)
         && Date.now() - start < 20000) { await new Promise(r => setTimeout(r, 100)); }
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  while (document.querySelector('script[type="application/vnd.jupyter.widget-view+json"]')
         && !document.querySelector('.jupyter-widgets') && Date.now() - start < 20000) {
    await new Promise(r => setTimeout(r, 100));
  }
  await new Promise(r => setTimeout(r, 300));
})().then(() => done(null), e => done(String(e)));
"""


@pytest.fixture(scope="module", params=_pages())
def page(request, browser) -> Page:
    loaded = Page(browser, request.param)
    loaded.screenshot()
    return loaded


def test_every_image_loads(page: Page):
    broken = page.js(
        "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
        ".map(i => i.getAttribute('src'))"
    )
    assert not broken, f"{page.name}: images that did not load: {broken}"


def test_every_equation_is_typeset(page: Page):
    math = page.js(
        "const m = Array.from(document.querySelectorAll('main .math'));"
        "return [m.length, m.filter(e => !e.querySelector('mjx-container')).map(e => e.textContent)];"
    )
    assert not math[1], f"{page.name}: {len(math[1])} of {math[0]} equations not typeset by MathJax: {math[1][:3]}"
    # The page's visible prose (code cells excluded: code may hold TeX in strings) keeps no raw TeX.
    text = page.js(
        "const main = document.querySelector('main').cloneNode(true);"
        "main.querySelectorAll('pre, code, mjx-assistive-mml, script').forEach(e => e.remove());"
        "return main.textContent;"
    )
    raw = [token for token in ("\\[", "\\(", "$$", "\\frac", "\\begin{") if token in text]
    assert not raw, f"{page.name}: raw TeX in the rendered text: {raw}"


def test_no_error_output_except_cells_meant_to_raise(page: Page):
    errors = page.js(
        "return Array.from(document.querySelectorAll('div.cell:not(.tag_raises-exception) "
        ".output.traceback')).map(e => e.textContent.slice(0, 300));"
    )
    assert not errors, f"{page.name}: error outputs in cells not tagged raises-exception: {errors}"


def test_nothing_printed_to_stderr(page: Page):
    stderr = page.js(
        "return Array.from(document.querySelectorAll('.output.stderr')).map(e => e.textContent.slice(0, 300));"
    )
    assert not stderr, f"{page.name}: stderr shown to readers: {stderr}"


def test_launch_buttons_point_at_this_pages_notebook(page: Page):
    notebook = ROOT / f"{page.name}.ipynb"
    launches = page.js(
        # the theme's launch menu only: a page's own text may link to other notebooks (the Labs page does)
        'return Array.from(document.querySelectorAll(\'.dropdown-launch-buttons a[href*="colab.research.google.com"], '
        '.dropdown-launch-buttons a[href*="mybinder.org"]\')).map(a => a.href);'
    )
    if not notebook.is_file():
        assert not launches, f"{page.name}: launch buttons on a page that is not a notebook: {launches}"
        return
    assert launches, f"{page.name}: no launch button (Colab, Binder)"
    wrong = [url for url in launches if f"{_repository()}/" not in url or not url.endswith(f"{page.name}.ipynb")]
    assert not wrong, f"{page.name}: launch buttons not pointing at {_repository()} {page.name}.ipynb: {wrong}"


def test_internal_links_resolve(page: Page):
    hrefs = page.js(
        "return Array.from(document.querySelectorAll('a[href], link[href], script[src], img[src]'))"
        ".map(e => e.getAttribute('href') || e.getAttribute('src'));"
    )
    ids = set(page.js("return Array.from(document.querySelectorAll('[id]')).map(e => e.id);"))
    missing = []
    for href in hrefs:
        parts = urlsplit(href)
        if parts.scheme or href.startswith("//"):
            continue  # another site (launch buttons, repository): checked elsewhere or not ours
        if not parts.path:
            if parts.fragment and unquote(parts.fragment) not in ids:
                missing.append(href)
            continue
        target = (page.path.parent / unquote(parts.path)).resolve()
        if not target.exists():
            missing.append(href)
    assert not missing, f"{page.name}: links to files or anchors that do not exist: {sorted(set(missing))}"


def test_nothing_loaded_from_another_site(page: Page):
    remote = page.js(
        "return performance.getEntriesByType('resource').map(r => r.name).filter(n => !/^(file|data|blob):/.test(n));"
    )
    assert not remote, f"{page.name}: resources requested from another site: {remote}"


def test_no_console_errors(page: Page):
    errors = [entry["message"] for entry in page.console if entry["level"] == "SEVERE"]
    assert not errors, f"{page.name}: browser console errors: {errors}"


def test_code_stays_within_the_column(page: Page):
    wide = page.js(
        "return Array.from(document.querySelectorAll('main pre'))"
        ".filter(p => p.offsetParent !== null && p.scrollWidth > p.clientWidth + 1)"
        ".map(p => p.textContent.split('\\n')[0].slice(0, 80));"
    )
    assert not wide, f"{page.name}: code or output that scrolls sideways at {WIDTH} px: {wide}"
    overflow = page.js("return document.documentElement.scrollWidth - document.documentElement.clientWidth;")
    assert overflow <= 1, f"{page.name}: the page is {overflow} px wider than the window at {WIDTH} px"


def test_saved_widgets_render(page: Page):
    views = page.js(
        "return document.querySelectorAll('script[type=\"application/vnd.jupyter.widget-view+json\"]').length;"
    )
    if not views:
        return
    rendered = page.js("return document.querySelectorAll('.jupyter-widgets').length;")
    assert rendered, f"{page.name}: {views} saved widget views, none rendered by the widget manager"
