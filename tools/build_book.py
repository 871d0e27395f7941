#!/usr/bin/env python
"""Build the course book (Jupyter Book 1) into ``_build/html``, ready to read offline.

Usage (from anywhere; ``make book`` calls exactly this)::

    .venv/bin/python tools/build_book.py            # profile of this machine (cpu or gpu)
    GENMODELS_QUICK=1 .venv/bin/python tools/build_book.py   # the quick profile (CI)
    .venv/bin/python tools/build_book.py --all      # re-read every page
    .venv/bin/python tools/build_book.py --reuse-cache  # prose edits: keep executed outputs

What it does, in order:

1. checks that every file listed in ``_toc.yml`` exists (a missing one would fail the
   build with a less readable warning), so adding a chapter stays one line in the toc;
2. copies MathJax 3 from the ``django-static-mathjax`` package into
   ``_build/_site_extra/_mathjax``; ``_config.yml`` lists that folder in
   ``html_extra_path``, so the site serves MathJax and its fonts itself instead of from a CDN;
3. writes ``_build/_config.<profile>.yml``: ``_config.yml`` with the execution cache set
   to ``_build/.jupyter_cache/<profile>``, because the cache is keyed on the notebook's
   code only and a quick run must never be shown as a full one. For the same reason, when
   the package's code changed since the last build, that profile's cache is emptied and
   every page is read again: outputs always come from the code in the working tree;
4. checks that no key is repeated in ``book/references.bib`` (every chapter appends to it);
5. runs ``jupyter-book build`` with warnings as errors (``-W -n --keep-going``) and the
   environment ``GENMODELS_STATIC=1`` (explorers draw static figures, progress bars leave
   one line each), matplotlib's inline backend (figures become images) and a matplotlib
   config folder of the build's own (``_build/.matplotlib``, emptied first), passing
   ``GENMODELS_QUICK`` and ``GENMODELS_DATA`` through; the working tree's package comes
   first on ``PYTHONPATH`` so the notebooks import this checkout's ``genmodels_course``;
6. scans the built HTML for scripts, styles, fonts or images loaded from another host
   and fails if it finds any.

The exit status is 0 only when all of that succeeded.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"
HTML = BUILD / "html"
EXTRA = BUILD / "_site_extra"          # must match html_extra_path in _config.yml
MATHJAX_DEST = EXTRA / "_mathjax"      # must match mathjax_path in _config.yml
STATE = BUILD / ".book_state.json"     # profile and package fingerprint of the last build
MPLCONFIG = BUILD / ".matplotlib"      # the kernels' matplotlib config and font cache
BIBLIOGRAPHY = ROOT / "book" / "references.bib"

# Parts of the MathJax "es5" distribution the site needs: the tex-chtml bundle, the pieces
# it may load on demand (TeX extensions, menu, accessibility, speech rules) and the CHTML
# fonts. The other combined bundles (svg, mml, full) are left out to keep the site small.
MATHJAX_FILES = ("tex-chtml.js", "core.js", "loader.js", "startup.js")
MATHJAX_DIRS = ("a11y", "adaptors", "input", "output", "sre", "ui")


def fail(message: str) -> "NoReturn":  # noqa: F821
    print(f"build_book: {message}", file=sys.stderr)
    raise SystemExit(1)


def read_yaml(path: Path) -> dict:
    import yaml  # installed with jupyter-book

    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict):
        fail(f"{path} does not hold a YAML mapping")
    return data


def toc_files(toc: dict) -> list[str]:
    """Every ``file:`` entry of a jb-book toc, root first, in reading order."""
    found: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("file"), str):
                found.append(node["file"])
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key, []) or []:
                    walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    if "root" not in toc:
        fail("_toc.yml has no 'root:' entry")
    found.append(toc["root"])
    walk({k: v for k, v in toc.items() if k != "root"})
    return found


def check_toc(root: Path = ROOT) -> list[Path]:
    """The source file of every toc entry; fails with the list of entries that have none."""
    sources, missing = [], []
    for entry in toc_files(read_yaml(root / "_toc.yml")):
        stem = root / entry
        candidates = [stem] if stem.suffix else [stem.with_suffix(s) for s in (".md", ".ipynb", ".rst")]
        hit = next((c for c in candidates if c.is_file()), None)
        if hit is None:
            missing.append(entry)
        else:
            sources.append(hit)
    if missing:
        fail("_toc.yml lists files that do not exist (give the path without extension, "
             "relative to the repository root): " + ", ".join(missing))
    return sources


def mathjax_source() -> Path:
    """The ``es5`` folder of MathJax 3 shipped by the PyPI package ``django-static-mathjax``."""
    spec = importlib.util.find_spec("mathjax")
    if spec is not None and spec.origin:
        es5 = Path(spec.origin).parent / "static" / "mathjax" / "es5"
        if (es5 / "tex-chtml.js").is_file():
            return es5
    fail("MathJax 3 not found: install the book's dependencies "
         "(pip install 'django-static-mathjax>=3.2', or pip install -e '.[book]').")


def install_mathjax(dest: Path = MATHJAX_DEST) -> Path:
    """Copy the MathJax files the site needs into ``dest`` (idempotent, cheap when up to date)."""
    src = mathjax_source()
    stamp = dest / ".source"
    if stamp.is_file() and stamp.read_text() == str(src) and (dest / "tex-chtml.js").is_file():
        return dest
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name in MATHJAX_FILES:
        shutil.copy2(src / name, dest / name)
    for name in MATHJAX_DIRS:
        shutil.copytree(src / name, dest / name)
    licence = src.parent / "LICENSE"
    if licence.is_file():
        shutil.copy2(licence, dest / "LICENSE")
    stamp.write_text(str(src))
    return dest


def active_profile(env: dict) -> str:
    """Same rule as ``genmodels_course.runtime.profile`` (without importing the package)."""
    if env.get("GENMODELS_QUICK", "").strip().lower() in ("1", "true", "yes", "on"):
        return "quick"
    try:
        import torch
    except ImportError:
        return "cpu"
    return "gpu" if torch.cuda.is_available() else "cpu"


def package_fingerprint(root: Path = ROOT) -> str:
    """A hash of the package's Python sources and of its shipped weights and manifests:
    executed outputs depend on all of them (a chapter prints what its shipped model draws)."""
    package = root / "genmodels_course"
    paths = list(package.rglob("*.py")) + [p for p in (package / "shipped").glob("*") if p.is_file()]
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def cache_dir(profile: str) -> Path:
    return BUILD / ".jupyter_cache" / profile


def duplicate_bib_keys(path: Path = BIBLIOGRAPHY) -> list[str]:
    """Keys defined more than once in a BibTeX file (compared case-insensitively, like BibTeX)."""
    if not path.is_file():
        return []
    keys = re.findall(r"^\s*@(\w+)\s*[{(]\s*([^,\s]+)\s*,", path.read_text(encoding="utf-8"), re.M)
    seen: dict[str, int] = {}
    for kind, key in keys:
        if kind.lower() not in ("comment", "string", "preamble"):
            seen[key.lower()] = seen.get(key.lower(), 0) + 1
    return sorted(key for key, count in seen.items() if count > 1)


def write_profile_config(profile: str) -> Path:
    """``_config.yml`` with the execution cache moved to a folder of this profile."""
    import yaml

    config = read_yaml(ROOT / "_config.yml")
    config.setdefault("execute", {})["cache"] = str(cache_dir(profile))
    path = BUILD / f"_config.{profile}.yml"
    path.write_text("# generated by tools/build_book.py from _config.yml: do not edit\n"
                    + yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


# A resource the browser fetches on its own (script, stylesheet, font, image, frame) with an
# absolute URL. Plain links (<a href>) are fine: they only load when the reader clicks.
_REMOTE = re.compile(
    r"""<(?:script|img|iframe|source|embed)\b[^>]*?\bsrc\s*=\s*["']((?:https?:)?//[^"']+)["']"""
    r"""|<link\b(?=[^>]*\brel\s*=\s*["'](?:stylesheet|preload|modulepreload|icon|prefetch|preconnect|dns-prefetch)["'])"""
    r"""[^>]*?\bhref\s*=\s*["']((?:https?:)?//[^"']+)["']"""
    r"""|url\(\s*["']?((?:https?:)?//[^"')]+)""",
    re.IGNORECASE,
)


def remote_resources(html_dir: Path = HTML, pages: list[str] | None = None) -> dict[str, list[str]]:
    """``{page: [remote URLs]}`` for every built page or stylesheet that loads something remote.

    ``pages`` (paths relative to ``html_dir``) limits the scan of sub-folders to the pages of
    the current toc: Sphinx leaves the HTML of pages removed from the toc in place.
    """
    offenders: dict[str, list[str]] = {}
    files = list(html_dir.glob("*.html")) + list((html_dir / "_static").rglob("*.css"))
    if pages is None:
        files += [p for p in html_dir.rglob("*.html") if p.parent != html_dir]
    else:
        files += [html_dir / page for page in pages if (html_dir / page).is_file()]
    for path in sorted(set(files)):
        if path.is_relative_to(html_dir / "_mathjax"):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        urls = sorted({next(g for g in m.groups() if g) for m in _REMOTE.finditer(text)})
        # XML namespaces in inline SVG are identifiers, not downloads.
        urls = [u for u in urls if not u.startswith("http://www.w3.org/")]
        if urls:
            offenders[str(path.relative_to(html_dir))] = urls
    return offenders


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--all", action="store_true", help="re-read and re-render every page")
    parser.add_argument("--reuse-cache", action="store_true",
                        help="keep executed notebooks even if the package changed since they ran "
                             "(faster when only prose changed; outputs may be stale)")
    parser.add_argument("--no-check", action="store_true",
                        help="skip the scan of the built HTML for remote resources")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    check_toc()
    duplicates = duplicate_bib_keys()
    if duplicates:
        fail(f"{BIBLIOGRAPHY.relative_to(ROOT)} defines these keys more than once: "
             f"{', '.join(duplicates)}; keep one entry per key (cite the existing one)")
    pages = [entry + ".html" for entry in toc_files(read_yaml(ROOT / "_toc.yml"))]
    install_mathjax()

    env = dict(os.environ)
    env["GENMODELS_STATIC"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    # Kernels draw with the inline backend, so every figure becomes an image output on the
    # page (a non-interactive backend such as Agg, often set in the caller's environment,
    # would show nothing).
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    # Kernels get a matplotlib config folder of their own, emptied each build: a font cache
    # that another matplotlib left in ~/.cache/matplotlib (one that lacked the fonts bundled
    # with matplotlib) put "findfont: ... not found" warnings on seven pages and drew the
    # figures' math in a fallback font. A user's matplotlibrc must not restyle the book either.
    shutil.rmtree(MPLCONFIG, ignore_errors=True)
    MPLCONFIG.mkdir(parents=True)
    env["MPLCONFIGDIR"] = str(MPLCONFIG)
    profile = active_profile(env)
    config = write_profile_config(profile)

    # Sphinx re-reads a page only when its source changed. After a switch of profile every
    # page must be read again (from that profile's cache); after a change in the package,
    # every notebook must also run again (its cache is keyed on the notebook's code only).
    state = {"profile": profile, "package": package_fingerprint()}
    try:
        last = json.loads(STATE.read_text())
    except (OSError, ValueError):
        last = {}
    cache, cache_stamp = cache_dir(profile), cache_dir(profile).with_suffix(".package")
    stale = not cache_stamp.is_file() or cache_stamp.read_text() != state["package"]
    if args.reuse_cache:
        state["package"] = last.get("package")  # pages may show outputs of older code
        rebuild_all = args.all or last.get("profile") != profile
    else:
        if stale:
            if cache.exists():
                print(f"build_book: the package changed since the {profile} cache was filled: "
                      "re-executing every chapter", flush=True)
                shutil.rmtree(cache)
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache_stamp.write_text(state["package"])  # what fills the cache from now on
        rebuild_all = args.all or last != state
    exe = Path(sys.executable).with_name("jupyter-book")
    jb = [str(exe)] if exe.is_file() else [sys.executable, "-m", "jupyter_book.cli.main"]
    cmd = jb + ["build", str(ROOT), "--path-output", str(ROOT), "--config", str(config),
                "--toc", str(ROOT / "_toc.yml"), "-W", "-n", "--keep-going"]
    if rebuild_all:
        cmd.append("--all")
    print(f"build_book: profile {profile}; data {env.get('GENMODELS_DATA', '(default cache)')}",
          flush=True)
    print("build_book: " + " ".join(cmd), flush=True)
    result = subprocess.run(cmd, cwd=ROOT, env=env)
    if result.returncode != 0:
        STATE.unlink(missing_ok=True)  # the next build re-reads everything
        fail(f"jupyter-book failed (exit {result.returncode}); warnings count as errors")
    STATE.write_text(json.dumps(state))

    if not (HTML / "_mathjax" / "tex-chtml.js").is_file():
        fail("MathJax was not copied into the site (is html_extra_path still in _config.yml?)")
    if not args.no_check:
        offenders = remote_resources(HTML, pages)
        if offenders:
            lines = [f"  {page}: {', '.join(urls)}" for page, urls in sorted(offenders.items())]
            fail("the built site loads resources from the network:\n" + "\n".join(lines))
    print(f"build_book: done in {time.perf_counter() - start:.0f} s ({profile} profile): "
          f"{HTML / 'index.html'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
