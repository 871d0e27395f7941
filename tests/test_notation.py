"""Equation numbers are the book's: one series per chapter, and every reference resolves.

For each ``notebooks/NN_*.ipynb`` (chapter ``NN``):

* every ``\\tag{...}`` in its markdown is ``<chapter>.<n>``;
* the tags of a chapter are ``<chapter>.1, <chapter>.2, ...`` in reading order: unique,
  increasing and without gaps;
* every reference ``(N.M)`` in its prose (markdown cells, and comments in code cells),
  including lists such as ``(1.5, 1.7)`` or ``(3.3) and (3.4)``, names a tag that exists
  somewhere in the book.

Fast and offline: it only reads files. ``test_checker_catches_broken_toy_book`` proves the
checker fails on a toy book with each kind of mistake.
"""
from __future__ import annotations

import io
import json
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

_TAG = re.compile(r"\\tag\{([^}]*)\}")
# A parenthesised group that starts with an equation number: "(1.5)", "(1.5, 1.7)",
# "(1.8, 1.9)". Numbers glued to other characters ("(0.5x)", "f(0.5)") do not count.
_GROUP = re.compile(r"(?<![\w$])\((\d+\.\d+(?:\s*(?:,|and)\s*\d+\.\d+)*)\)")
_NUMBER = re.compile(r"\d+\.\d+")


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _code_comments(code: str) -> str:
    """The comments of a code cell (equation references in code live there)."""
    lines = [line for line in code.splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        tokens = tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline)
        return "\n".join(t.string for t in tokens if t.type == tokenize.COMMENT)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return ""


def check_book(chapters: dict[int, list[dict]]) -> list[str]:
    """Problems with the equation numbers of a book: ``{chapter: [cells]}`` -> messages."""
    problems: list[str] = []
    tags: set[str] = set()
    for chapter, cells in chapters.items():
        found = [t.strip() for c in cells if c.get("cell_type") == "markdown"
                 for t in _TAG.findall(_source(c))]
        numbers = []
        for t in found:
            m = re.fullmatch(rf"{chapter}\.(\d+)", t)
            if m is None:
                problems.append(f"chapter {chapter}: tag ({t}) is not of the form ({chapter}.n)")
            else:
                numbers.append(int(m.group(1)))
            tags.add(t)
        if numbers != list(range(1, len(numbers) + 1)):
            problems.append(f"chapter {chapter}: tags run {numbers}, expected "
                            f"{list(range(1, len(numbers) + 1))} (unique, in order, from 1)")
    for chapter, cells in chapters.items():
        for i, c in enumerate(cells):
            text = _source(c)
            if c.get("cell_type") == "code":
                text = _code_comments(text)
            elif c.get("cell_type") != "markdown":
                continue
            text = _TAG.sub("", text)
            for group in _GROUP.findall(text):
                for ref in _NUMBER.findall(group):
                    if ref not in tags:
                        problems.append(f"chapter {chapter}, cell {i}: ({ref}) refers to "
                                        "no equation of the book")
    return problems


def _book() -> dict[int, list[dict]]:
    chapters = {}
    for path in NOTEBOOKS:
        with open(path, encoding="utf-8") as f:
            chapters[int(path.name[:2])] = json.load(f)["cells"]
    return chapters


def test_equation_numbers_and_references():
    assert NOTEBOOKS, "no chapter notebooks found"
    problems = check_book(_book())
    assert not problems, "\n".join(problems)


def _md(text: str) -> dict:
    return {"cell_type": "markdown", "source": text}


def test_checker_catches_broken_toy_book():
    good = {
        1: [_md("$$ a = b \\tag{1.1} $$"), _md("$$ c \\tag{1.2} $$ as (1.1) says")],
        2: [_md("$$ d \\tag{2.1} $$ from (1.1, 1.2) and (2.1)"),
            {"cell_type": "code", "source": "x = f(0.5)  # eq. (2.1)\ny = (0.5)\n"}],
    }
    assert check_book(good) == []
    broken = {
        1: [_md("$$ a \\tag{1.2} $$"), _md("$$ b \\tag{1.1} $$")],  # out of order
        2: [_md("$$ c \\tag{2.1} $$ $$ d \\tag{2.1} $$")],  # duplicate
        3: [_md("$$ e \\tag{3.0} $$")],  # not numbered from 1
        4: [_md("$$ f \\tag{5.1} $$")],  # another chapter's number
        5: [_md("see (5.7) and (1.1, 9.9)"),  # references to no equation
            {"cell_type": "code", "source": "z = 1  # by (7.3)\n"}],
    }
    problems = check_book(broken)
    text = "\n".join(problems)
    assert "chapter 1: tags run [2, 1]" in text
    assert "chapter 2: tags run [1, 1]" in text
    assert "chapter 3: tags run [0]" in text
    assert "chapter 4: tag (5.1) is not of the form (4.n)" in text
    for ref in ("5.7", "9.9", "7.3"):
        assert f"({ref}) refers to no equation" in text
    assert "(1.1) refers" not in text


def test_references_bib_parses_with_unique_keys():
    # every chapter appends to the one bibliography; a merge that drops a brace breaks the
    # whole book build with an error far from its cause
    import pathlib
    import re

    import pybtex.database

    path = pathlib.Path(__file__).resolve().parents[1] / "book" / "references.bib"
    keys = re.findall(r"^@\w+\{([^,\s]+),", path.read_text(), flags=re.M)
    db = pybtex.database.parse_file(str(path))  # raises on a syntax error, with the line
    assert len(db.entries) == len(keys) == len(set(keys))


def test_no_tag_in_a_multiline_display():
    # Sphinx wraps a $$ block that holds a line break (\\) in a split environment, where
    # MathJax refuses \tag and shows an error on the page instead of the equation
    import json
    import pathlib
    import re

    bad = []
    for path in sorted((pathlib.Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "markdown":
                for block in re.findall(r"\$\$(.*?)\$\$", "".join(cell["source"]), flags=re.S):
                    if "\\\\" in block and "\\tag" in block:
                        bad.append(f"{path.name} cell {cell.get('id')}: {block.strip()[:60]}")
    assert not bad, "a tagged display equation with a line break (split it, or drop the \\\\):\n" + "\n".join(bad)
