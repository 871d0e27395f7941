"""Every chapter notebook is committed clean and starts with the Colab install cell.

For each ``notebooks/*.ipynb``:

* it is valid nbformat (version 4);
* it has no outputs and no execution counts (outputs belong to the book build, not git);
* its first cell is markdown with the chapter title (``# ...``);
* its first code cell installs the package from the repository named in ``_config.yml``
  (``repository: url:``), the one place the URL is written;
* no cell installs or upgrades torch (Colab's torch matches its GPU driver and must stay).

Fast and offline: it only reads files.
"""
from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

_TORCH = re.compile(r"(?<![\w.-])torch(?:vision|audio)?(?![\w-])", re.IGNORECASE)
# Flags that let pip replace what is installed (and so pull a new torch as a dependency).
_UPGRADE = re.compile(r"(?<![\w-])(?:-U|--upgrade|--force-reinstall|--ignore-installed|-I)(?![\w-])")


def repository_url() -> str:
    with open(ROOT / "_config.yml", encoding="utf-8") as f:
        config = yaml.safe_load(f)
    url = (config.get("repository") or {}).get("url", "")
    assert url.startswith("https://"), "_config.yml must name the repository (repository: url:)"
    return url.rstrip("/")


def install_commands(source: str) -> list[str]:
    """The package-install commands a code cell runs, comments left out.

    Two forms: shell or magic lines (``!pip install x``, ``%pip install x``, conda too), and
    Python calls whose string literals spell ``pip ... install ...``
    (``subprocess.check_call([sys.executable, "-m", "pip", "install", "x"])``).
    """
    commands, python_lines = [], []
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith(("!", "%")):
            shell = stripped.lstrip("!%").split("#", 1)[0]
            if re.search(r"\b(pip|conda|mamba|uv)\b.*\binstall\b", shell):
                commands.append(shell)
            python_lines.append("")  # keep line numbers; magics are not Python
        else:
            python_lines.append(line)
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO("\n".join(python_lines) + "\n").readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        # Not tokenizable: fall back to the lines themselves, comments cut off.
        text = "\n".join(line.split("#", 1)[0] for line in python_lines)
        if re.search(r"\bpip\b", text) and re.search(r"\binstall\b", text):
            commands.append(text)
        return commands
    strings = [tok.string.strip("'\"") for tok in tokens if tok.type == tokenize.STRING]
    words = " ".join(strings)
    if re.search(r"\bpip\b", words) and re.search(r"\binstall\b", words):
        commands.append(words)
    return commands


def code_cells(nb) -> list:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


# ------------------------------------------------------------------ the helper itself
def test_install_commands_reads_code_not_comments():
    cell = ('# Torch is never reinstalled: the package asks only for torch>=2.1\n'
            'import importlib.util, subprocess, sys\n'
            'if importlib.util.find_spec("genmodels_course") is None:\n'
            '    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q",\n'
            '                           "git+https://github.com/o/r"])\n')
    (command,) = install_commands(cell)
    assert "git+https://github.com/o/r" in command and not _TORCH.search(command)
    assert _TORCH.search(install_commands("!pip install -q torch==2.3 torchvision")[0])
    assert _TORCH.search(install_commands('%pip install "torch>=2"')[0])
    assert _UPGRADE.search(install_commands('subprocess.run(["pip", "install", "-U", "x"])')[0])
    assert install_commands("import torch\nprint(torch.__version__)") == []
    assert not _TORCH.search("pip install genmodels-course torchmetrics-free")


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks in notebooks/"


# ------------------------------------------------------------------ every notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_valid_and_has_no_outputs(path):
    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    assert nb.nbformat == 4, f"{path.name}: nbformat {nb.nbformat}, expected 4"
    nbformat.validate(nb)
    dirty = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
             and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not dirty, (f"{path.name}: cells {dirty} have outputs or execution counts; "
                       "clear them before committing (jupyter nbconvert --clear-output --inplace)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_opens_with_title_and_install_cell(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.cells and nb.cells[0].cell_type == "markdown", f"{path.name}: first cell is not markdown"
    assert nb.cells[0].source.lstrip().startswith("# "), f"{path.name}: first cell has no '# Title'"
    cells = code_cells(nb)
    assert cells, f"{path.name}: no code cells"
    first = cells[0].source
    url = repository_url()
    assert url in first, f"{path.name}: the first code cell does not install the package from {url}"
    assert "find_spec" in first and "genmodels_course" in first, (
        f"{path.name}: the install cell must install only when genmodels_course is missing")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_never_installs_torch(path):
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(code_cells(nb)):
        for command in install_commands(cell.source):
            assert not _TORCH.search(command), f"{path.name}, code cell {i}: installs torch: {command}"
            assert not _UPGRADE.search(command), (
                f"{path.name}, code cell {i}: upgrades what is installed (may replace torch): {command}")


# Code cells are held to PEP 8's 79 characters a line. At 1280 pixels, the book's code box
# (13 px monospace, _static/course.css) shows 83 characters before it cuts a line off, and
# Colab's cells about as many; tests/test_book.py checks in the browser that no box overflows.
CODE_LINE_LIMIT = 79


def long_code_lines(nb, limit: int = CODE_LINE_LIMIT) -> list[str]:
    """``"cell k, line j (n chars)"`` for every code line longer than ``limit``."""
    found = []
    for k, cell in enumerate(code_cells(nb)):
        for j, line in enumerate(cell.source.splitlines(), start=1):
            if len(line) > limit:
                found.append(f"code cell {k}, line {j} ({len(line)} chars): {line.strip()[:60]}...")
    return found


def test_long_code_lines_are_found():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1\n" + "y = " + "1" * 90)])
    (found,) = long_code_lines(nb)
    assert found.startswith("code cell 0, line 2 (94 chars)")
    fits = nbformat.v4.new_code_cell("x" * CODE_LINE_LIMIT)
    assert long_code_lines(nbformat.v4.new_notebook(cells=[fits])) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_code_lines_fit_the_code_box(path):
    nb = nbformat.read(path, as_version=4)
    found = long_code_lines(nb)
    assert not found, (f"{path.name}: {len(found)} code lines over {CODE_LINE_LIMIT} characters "
                       "(the book's code box cuts them off; wrap them):\n" + "\n".join(found))
