"""The book builds with no warnings and its pages work in a browser with no network.

Slow (it executes every chapter in the quick profile), so it carries the ``book`` marker:
``pytest -m book tests/test_book.py``. It

1. runs ``tools/build_book.py`` with ``GENMODELS_QUICK=1`` into the repository's ``_build``;
2. serves ``_build/html`` from ``127.0.0.1`` and opens every page of ``_toc.yml`` in
   headless Chromium (Debian's ``/usr/bin/chromium`` driven by Playwright; override the
   path with ``CHROMIUM_PATH``), recording every request; and checks that

   * no request goes to a host other than 127.0.0.1 (requests elsewhere are aborted);
   * no local file is missing (HTTP status >= 400) and no script throws;
   * MathJax typeset the formulas (``mjx-container`` elements, its fonts loaded from the
     site, no raw ``$$``, ``\\(`` or ``\\[`` left in the text);
   * every ``<img>`` loaded (``naturalWidth > 0``);
   * every chapter page has a Colab launch link into the repository of ``_config.yml``;
   * every figure is there: each chapter page shows, inside its cell outputs, at least as
     many loaded images as its executed notebook has image outputs, and that is at least
     the number of cells that draw (``plt.show()``, a ``gm.viz`` plot, an explorer);
   * no progress bar left its frames (one line per bar), no cell wrote anything else to
     stderr (a warning, a log record), no widget view the offline page cannot render, and
     no code box is wider than the page lets it be;
   * the notation page also typesets when opened as a file (no server).

Without Chromium or Playwright the browser checks are skipped, unless ``CI`` is set:
there they must run.
"""
from __future__ import annotations

import functools
import http.server
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.book

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
    "--disable-default-apps", "--disable-domain-reliability", "--no-pings",
]
TIMEOUT_MS = 90_000  # two shared CPU cores: MathJax on a long page takes a while


def _load_build_book():
    spec = importlib.util.spec_from_file_location("build_book", ROOT / "tools" / "build_book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_book = _load_build_book()


def _repository_url() -> str:
    config = build_book.read_yaml(ROOT / "_config.yml")
    return config["repository"]["url"].rstrip("/")


def _pages() -> list[str]:
    """The HTML path of every toc entry, relative to the site root."""
    return [entry + ".html" for entry in build_book.toc_files(build_book.read_yaml(ROOT / "_toc.yml"))]


# --------------------------------------------------------------------------- the build
@pytest.fixture(scope="module")
def site() -> Path:
    env = dict(os.environ, GENMODELS_QUICK="1")
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "build_book.py")],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    if result.returncode != 0:
        log = (result.stdout + result.stderr)[-8000:]
        pytest.fail(f"tools/build_book.py failed (exit {result.returncode}):\n{log}")
    return HTML


def test_build_succeeds_and_serves_mathjax_locally(site):
    for page in _pages():
        assert (site / page).is_file(), f"{page} was not built"
    assert (site / "_mathjax" / "tex-chtml.js").is_file()
    fonts = list((site / "_mathjax" / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    assert len(fonts) > 10, "MathJax's CHTML fonts were not copied into the site"
    # MathJax stays out of _static: the theme would link every script there into every page.
    assert not list((site / "_static").rglob("tex-chtml.js"))
    assert build_book.remote_resources(site, _pages()) == {}


def test_remote_resource_scan_catches_a_cdn_script(tmp_path):
    (tmp_path / "_static").mkdir()
    (tmp_path / "a.html").write_text(
        '<a href="https://colab.research.google.com/x">fine: a link</a>'
        '<script src="https://cdn.example.org/require.js"></script>'
        '<link rel="stylesheet" href="//fonts.example.com/css">')
    (tmp_path / "_static" / "b.css").write_text("@font-face { src: url('https://x.org/f.woff2') }")
    found = build_book.remote_resources(tmp_path)
    assert found == {"a.html": ["//fonts.example.com/css", "https://cdn.example.org/require.js"],
                     "_static/b.css": ["https://x.org/f.woff2"]}


def test_duplicate_bibliography_keys_are_found(tmp_path):
    bib = tmp_path / "refs.bib"
    bib.write_text("% a comment\n@article{Kingma2014,\n title={A}}\n@book{other, title={B}}\n"
                   "@inproceedings{kingma2014 ,\n title={C}}\n@comment{other,}\n")
    assert build_book.duplicate_bib_keys(bib) == ["kingma2014"]
    assert build_book.duplicate_bib_keys(ROOT / "book" / "references.bib") == []


def test_cache_is_emptied_when_code_or_shipped_weights_change(tmp_path):
    """Executed outputs show what the package's code and shipped models produce: a change to
    either must re-execute the pages (the cache is keyed on the notebooks' code alone)."""
    shipped = tmp_path / "genmodels_course" / "shipped"
    shipped.mkdir(parents=True)
    (tmp_path / "genmodels_course" / "mod.py").write_text("x = 1\n")
    (shipped / "net.safetensors").write_bytes(b"weights")
    before = build_book.package_fingerprint(tmp_path)
    (shipped / "net.safetensors").write_bytes(b"retrained weights")
    after_weights = build_book.package_fingerprint(tmp_path)
    (tmp_path / "genmodels_course" / "mod.py").write_text("x = 2\n")
    after_code = build_book.package_fingerprint(tmp_path)
    assert len({before, after_weights, after_code}) == 3


def test_toc_lists_only_existing_files():
    sources = build_book.check_toc(ROOT)
    assert sources[0].name in ("intro.md",), "the book opens with book/intro.md"
    assert all(path.is_file() for path in sources)


# --------------------------------------------------------------------------- the browser
class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory):
    missing = []
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"Chromium ({CHROMIUM}; apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("Playwright for Python (pip install playwright; no 'playwright install')")
    if missing:
        message = "browser test needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message + " (required in CI)")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM,
            headless=True, args=CHROMIUM_ARGS, service_workers="block")
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="module")
def visits(browser_context, server):
    """Open every page once; return what the browser saw, page by page."""
    remote: list[str] = []

    def route(route):
        url = route.request.url
        if urlparse(url).hostname == "127.0.0.1":
            route.continue_()
        else:
            remote.append(url)
            route.abort()

    browser_context.route("**/*", route)
    results = {}
    for page_path in _pages():
        page = browser_context.new_page()
        seen = {"requests": [], "bad": [], "errors": []}
        page.on("request", lambda r, s=seen: s["requests"].append(r.url))
        page.on("requestfailed", lambda r, s=seen: s["bad"].append(f"{r.url} ({r.failure})"))
        page.on("response", lambda r, s=seen: r.status >= 400 and s["bad"].append(f"{r.url} ({r.status})"))
        page.on("pageerror", lambda e, s=seen: s["errors"].append(str(e)))
        page.goto(server + page_path, wait_until="load")
        # Wait for MathJax (when the page loads it) to finish typesetting and for fonts.
        seen["mathjax"] = page.evaluate(
            """async () => {
                 // Sphinx puts MathJax (its config object first) only on pages with math.
                 if (!window.MathJax) return "absent";
                 for (let i = 0; i < 300 && !(MathJax.startup && MathJax.startup.promise); i++)
                   await new Promise(r => setTimeout(r, 100));
                 if (!(MathJax.startup && MathJax.startup.promise)) return "not started";
                 await MathJax.startup.promise;
                 await document.fonts.ready;
                 return "typeset";
               }""")
        page.evaluate("() => document.querySelectorAll('img').forEach(i => { i.loading = 'eager'; })")
        page.wait_for_function("() => Array.from(document.images).every(i => i.complete)")
        seen.update(page.evaluate(
            """() => {
                 const main = document.querySelector('main') || document.body;
                 const clone = main.cloneNode(true);
                 clone.querySelectorAll('pre, code, script, style, mjx-container, .highlight')
                      .forEach(n => n.remove());
                 return {
                   mjx: document.querySelectorAll('mjx-container').length,
                   // formulas MathJax could not typeset (it shows the error in their place)
                   math_errors: Array.from(document.querySelectorAll('mjx-merror'))
                       .map(e => e.getAttribute('data-mjx-error') || e.textContent),
                   text: clone.textContent,
                   broken_images: Array.from(document.images)
                       .filter(i => i.naturalWidth === 0).map(i => i.currentSrc || i.src),
                   n_images: document.images.length,
                   mathjax_fonts: Array.from(document.fonts)
                       .filter(f => f.family.replace(/["']/g, '').startsWith('MJX'))
                       .map(f => [f.family, f.status]),
                   links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
                   output_images: Array.from(document.querySelectorAll('.cell_output img'))
                       .filter(i => i.complete && i.naturalWidth > 0 && i.clientWidth > 0).length,
                   output_texts: Array.from(document.querySelectorAll('.cell_output pre'))
                       .map(p => p.textContent),
                   output_tables: document.querySelectorAll('.cell_output table').length,
                   // a Markdown table that a cell displayed but the page did not parse
                   raw_tables: Array.from(document.querySelectorAll('.cell_output p'))
                       .filter(p => /[|]\\s*(---|\\u2014)\\s*[|]/.test(p.textContent))
                       .map(p => p.textContent.slice(0, 80)),
                   widgets: document.querySelectorAll(
                       'script[type="application/vnd.jupyter.widget-view+json"], '
                       + '.jupyter-widgets, .widget-area').length,
                   // search fields a reader sees at this width (the theme can add a second)
                   search_fields: Array.from(document.querySelectorAll('.search-button-field'))
                       .filter(b => b.getClientRects().length > 0
                                    && getComputedStyle(b).visibility !== 'hidden').length,
                   header_px: (document.querySelector('header.bd-header') || {}).offsetHeight || 0,
                   // every code block of the page: notebook cells and Markdown fences
                   overflowing_code: Array.from(document.querySelectorAll('main div.highlight pre'))
                       .filter(p => p.scrollWidth > p.clientWidth + 1)
                       .map(p => p.textContent.split('\\n')
                            .reduce((a, b) => a.length >= b.length ? a : b, '')),
                 };
               }"""))
        page.close()
        results[page_path] = seen
    browser_context.unroute("**/*")
    results["__remote__"] = remote
    return results


def test_site_also_works_from_file_urls(browser_context, site):
    """Opening _build/html/index.html straight from disk (no server) still typesets math."""
    remote: list[str] = []

    def route(route):
        if urlparse(route.request.url).scheme in ("file", "data", "blob"):
            route.continue_()
        else:
            remote.append(route.request.url)
            route.abort()

    page = browser_context.new_page()
    page.route("**/*", route)
    page.goto((site / "book" / "notation.html").as_uri(), wait_until="load")
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
    page.evaluate("async () => { await MathJax.startup.promise; await document.fonts.ready; }")
    n_math, fonts = page.evaluate(
        """() => [document.querySelectorAll('mjx-container').length,
                  Array.from(document.fonts).filter(f => f.family.replace(/["']/g, '').startsWith('MJX'))
                       .map(f => f.status)]""")
    page.close()
    assert not remote, f"requests left the machine: {remote}"
    assert n_math > 20
    assert "loaded" in fonts and "error" not in fonts, fonts


def test_no_request_leaves_the_machine(visits):
    remote = sorted(set(visits["__remote__"]))
    for page, seen in visits.items():
        if page == "__remote__":
            continue
        for url in seen["requests"]:
            scheme = urlparse(url).scheme
            if scheme not in ("data", "blob", "about") and urlparse(url).hostname != "127.0.0.1":
                remote.append(f"{url} (from {page})")
    assert not remote, "pages requested resources from the network:\n" + "\n".join(sorted(set(remote)))


def test_local_resources_load_and_scripts_run(visits):
    problems = [f"{page}: {item}" for page, seen in visits.items() if page != "__remote__"
                for item in seen["bad"] + seen["errors"]]
    assert not problems, "\n".join(problems)


def test_math_is_typeset_by_the_local_mathjax(visits):
    notation = visits["book/notation.html"]
    assert notation["mjx"] > 20, "the notation table was not typeset"
    used = [family for family, status in notation["mathjax_fonts"] if status == "loaded"]
    assert used, f"no MathJax font loaded: {notation['mathjax_fonts']}"
    assert any("/_mathjax/output/chtml/fonts/" in url for url in notation["requests"])
    for page, seen in visits.items():
        if page == "__remote__":
            continue
        assert seen["mathjax"] != "not started", f"{page}: MathJax did not load or start"
        failed = [family for family, status in seen["mathjax_fonts"] if status == "error"]
        assert not failed, f"{page}: MathJax fonts failed to load: {failed}"
        for raw in ("$$", "\\(", "\\["):
            assert raw not in seen["text"], f"{page}: untypeset math ({raw!r}) left in the text"
        if seen["mathjax"] == "typeset":
            assert seen["mjx"] > 0, f"{page}: MathJax loaded but typeset nothing"
        assert not seen["math_errors"], f"{page}: MathJax could not typeset: {seen['math_errors']}"


def test_every_image_loads(visits):
    broken = {page: seen["broken_images"] for page, seen in visits.items()
              if page != "__remote__" and seen["broken_images"]}
    assert not broken, f"images that did not load: {broken}"
    chapters = [seen for page, seen in visits.items() if page.startswith("notebooks/")]
    if chapters:  # every chapter has figures: make sure the check above saw some
        assert sum(seen["n_images"] for seen in chapters) > 0, "no figure on any chapter page"


def test_chapters_have_a_colab_button(visits):
    repo = urlparse(_repository_url()).path.strip("/")  # genmodels-course/genmodels-course
    chapters = [page for page in visits if page.startswith("notebooks/")]
    for page in chapters:
        notebook = page[: -len(".html")] + ".ipynb"
        expected = f"https://colab.research.google.com/github/{repo}/blob/"
        links = [url for url in visits[page]["links"] if url.startswith(expected)]
        assert links, f"{page}: no Colab launch link into {repo}"
        assert any(url.endswith("/" + notebook) for url in links), f"{page}: Colab link {links} misses {notebook}"


# --------------------------------------------------------------------------- figures & co
EXECUTED = ROOT / "_build" / "jupyter_execute"
# A cell draws when it shows a matplotlib figure, calls a plotting function of gm.viz
# (every public one draws, except image_grid, which returns an array) or an explorer.
_DRAWS = re.compile(r"\bplt\.show\(|\bgm\.viz\.(?!image_grid\b|use_house_style\b)\w+\("
                    r"|\bgm\.widgets\.explorer\(")
# A tqdm line: "<desc>: 42%|####      | 21/50 [...]" (or "21/50 [" when the total is unknown).
_BAR = re.compile(r"^(?P<desc>.*?):?\s*(?:\d+%\|.*?\|\s*)?\d+(?:/\d+)?\s*\[\d")
_WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def drawing_cells(notebook: dict) -> int:
    return sum(1 for cell in notebook["cells"] if cell["cell_type"] == "code"
               and _DRAWS.search("".join(cell["source"])))


def image_outputs(notebook: dict) -> int:
    return sum(1 for cell in notebook["cells"] if cell["cell_type"] == "code"
               for out in cell.get("outputs", [])
               if any(k.startswith("image/") for k in out.get("data", {})))


def bar_frames(text: str) -> list[str]:
    """The progress bars of one output block that left more than one line (their frames)."""
    counts: dict[str, int] = {}
    for line in text.replace("\r", "\n").split("\n"):
        match = _BAR.match(line.strip())
        if match:
            counts[match["desc"]] = counts.get(match["desc"], 0) + 1
    return [f"{desc!r} x{n}" for desc, n in counts.items() if n > 1]


def _executed(page: str) -> dict:
    path = EXECUTED / (page[: -len(".html")] + ".ipynb")
    assert path.is_file(), f"{path} missing: the book build keeps its executed notebooks there"
    nb = json.loads(path.read_text(encoding="utf-8"))
    if any(c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code"):
        return nb
    # After an edit of the prose only, myst-nb renders the page from its execution cache but
    # writes this copy without outputs: read the outputs from the cache (the quick profile's).
    import nbformat
    from jupyter_cache import get_cache

    source = nbformat.read(ROOT / (page[: -len(".html")] + ".ipynb"), as_version=4)
    _, merged = get_cache(ROOT / "_build" / ".jupyter_cache" / "quick").merge_match_into_notebook(source)
    return json.loads(nbformat.writes(merged))


def _text(out: dict) -> str:
    """An output's text (nbformat stores it as a string or as a list of lines)."""
    text = out.get("text", "")
    return "".join(text) if isinstance(text, list) else text


def stray_stderr(notebook: dict) -> list[str]:
    """The lines that cells wrote to stderr other than progress bars (warnings, log records)."""
    lines = []
    for cell in notebook["cells"]:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                text = _text(out)
                lines += [line.strip() for line in text.replace("\r", "\n").split("\n")
                          if line.strip() and not _BAR.match(line.strip())]
    return lines


def test_helpers_count_what_they_should():
    nb = {"cells": [
        {"cell_type": "code", "source": ["gm.viz.show_images(x)\n", "plt.show()"],
         "outputs": [{"output_type": "display_data", "data": {"image/png": "", "text/plain": ""}}]},
        {"cell_type": "code", "source": ["g = gm.viz.image_grid(x)"], "outputs": []},
        {"cell_type": "code", "source": ["gm.widgets.explorer(r, controls={}, static={})"],
         "outputs": [{"output_type": "stream", "text": "hi"}]},
        {"cell_type": "markdown", "source": ["plt.show()"]}]}
    assert drawing_cells(nb) == 2 and image_outputs(nb) == 1
    frames = "VAE:  10%|#         | 5/50 [00:01<00:09]\nVAE:  20%|##        | 10/50 [00:02<00:08]\n"
    assert bar_frames(frames) == ["'VAE' x2"]
    assert bar_frames("swiss roll: 41%|####1     | 41/100 [00:03<00:04, 12it/s]\r"
                      "swiss roll: 42%|####2     | 42/100 [00:03<00:04, 12it/s]") == ["'swiss roll' x2"]
    one = "VAE: 100%|##########| 50/50 [00:05<00:00, 9.9it/s, loss=1.2]\nMLP: 100%|#| 3/3 [00:00<00:00]\n"
    assert bar_frames(one) == []
    font = "findfont: Font family ['STIXGeneral'] not found. Falling back to DejaVu Sans.\n"
    logged = {"cells": [{"cell_type": "code", "source": [], "outputs": [
        {"output_type": "stream", "name": "stderr", "text": one + font},
        {"output_type": "stream", "name": "stdout", "text": "loss 0.1\n"}]}]}
    assert stray_stderr(logged) == [font.strip()]
    logged["cells"][0]["outputs"][0]["text"] = one
    assert stray_stderr(logged) == []


def _chapter_visits(visits) -> dict:
    chapters = {page: seen for page, seen in visits.items() if page.startswith("notebooks/")}
    assert chapters, "no chapter pages were visited"
    return chapters


def test_every_figure_is_on_its_page(visits):
    problems = []
    for page, seen in _chapter_visits(visits).items():
        source = json.loads((ROOT / (page[: -len(".html")] + ".ipynb")).read_text(encoding="utf-8"))
        n_draw, n_images = drawing_cells(source), image_outputs(_executed(page))
        if n_images < n_draw:
            problems.append(f"{page}: {n_draw} cells draw, but the executed notebook holds only "
                            f"{n_images} image outputs (is the kernel's matplotlib backend inline?)")
        if seen["output_images"] < n_images:
            problems.append(f"{page}: the executed notebook has {n_images} image outputs, the page "
                            f"shows {seen['output_images']} loaded images in its cell outputs")
    assert not problems, "\n".join(problems)


def test_progress_bars_leave_one_line(visits):
    problems = [f"{page}: {frames}" for page, seen in _chapter_visits(visits).items()
                for text in seen["output_texts"] for frames in bar_frames(text)]
    for page in _chapter_visits(visits):
        for cell in _executed(page)["cells"]:
            for out in cell.get("outputs", []):
                text = _text(out)
                if "\r" in text:
                    problems.append(f"{page}: an output holds carriage returns (bar frames): "
                                    f"{text[:80]!r}")
    assert not problems, "progress bars left their frames on the page:\n" + "\n".join(problems)


def test_no_warnings_in_cell_outputs(visits):
    """A reader should not meet log records or warnings between the cells (only bars)."""
    problems = [f"{page}: {line[:100]!r}" for page in _chapter_visits(visits)
                for line in stray_stderr(_executed(page))]
    assert not problems, ("cells wrote warnings to the page (fix their cause; a font warning "
                          "means a stale matplotlib font cache):\n" + "\n".join(problems[:20]))


def test_no_widget_the_page_cannot_render(visits):
    problems = [f"{page}: {seen['widgets']} widget views" for page, seen in visits.items()
                if page != "__remote__" and seen["widgets"]]
    for page in _chapter_visits(visits):
        for cell in _executed(page)["cells"]:
            for out in cell.get("outputs", []):
                if _WIDGET_MIME in out.get("data", {}):
                    problems.append(f"{page}: a widget output ({out['data'].get('text/plain', '')!r})")
    assert not problems, ("the book serves no widget manager, so widget outputs show as empty "
                          "boxes:\n" + "\n".join(problems))


def test_code_fits_its_box(visits):
    problems = [f"{page}: {line.strip()[:70]!r}" for page, seen in visits.items()
                if page != "__remote__" for line in seen["overflowing_code"]]
    assert not problems, "code boxes wider than the page (lines cut off):\n" + "\n".join(problems)


FIGURE_MAX_PX = 850  # 8 inches at the house style's 100 dpi, plus what a tight bbox adds


def figure_widths(notebook: dict) -> list[int]:
    """The width in CSS pixels at which each image output of a notebook is shown."""
    import base64
    import struct

    widths = []
    for cell in notebook["cells"]:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/png" not in data:
                continue
            meta = (out.get("metadata") or {}).get("image/png", {})
            if "width" in meta:
                widths.append(int(meta["width"]))
            else:  # no display size: the PNG's own width (bytes 16-20 of its IHDR chunk)
                png = base64.b64decode("".join(data["image/png"])[:64])
                widths.append(struct.unpack(">I", png[16:20])[0])
    return widths


def test_figures_fit_the_text_column(visits):
    problems = []
    for page in _chapter_visits(visits):
        wide = [w for w in figure_widths(_executed(page)) if w > FIGURE_MAX_PX]
        if wide:
            problems.append(f"{page}: figures {wide} px wide; the page shrinks them and their "
                            "text becomes unreadable (keep figsize widths at 8 inches or less)")
    assert not problems, "\n".join(problems)


def test_displayed_tables_render_as_tables(visits):
    """Tables that cells display as Markdown (chapters 7 and 9) become HTML tables, not pipes."""
    raw = {p: v["raw_tables"] for p, v in visits.items() if p != "__remote__" and v["raw_tables"]}
    assert not raw, f"Markdown tables shown as raw text: {raw}"
    for stem in ("07_diffusion", "09_evaluating_generative_models"):
        pages = [v for p, v in visits.items() if stem in p]
        if pages:
            assert pages[0]["output_tables"] >= 1, f"{stem}: its table is missing from the page"


def test_one_search_field_and_no_empty_header_bar(visits):
    """pydata-sphinx-theme 0.17 put a second search field in a full-width bar above the
    book theme's sidebar (which has its own); _config.yml empties that bar."""
    problems = [f"{page}: {seen['search_fields']} search fields, header bar {seen['header_px']} px"
                for page, seen in visits.items()
                if page != "__remote__" and (seen["search_fields"] != 1 or seen["header_px"] > 0)]
    assert not problems, "\n".join(problems)
