"""House rules of the package (DESIGN.md) that a grep can check."""
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "genmodels_course"
MAX_LINES = 420  # "a few hundred lines": about 400, with a little room
WAITING: dict = {}  # a module allowed over the limit for now (name -> lines); keep it empty


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py"))


def test_no_module_is_longer_than_one_sitting():
    counts = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in _modules()}
    too_long = {name: n for name, n in counts.items() if n > WAITING.get(name, MAX_LINES)}
    assert not too_long, f"split these modules by idea (at most {MAX_LINES} lines each): {too_long}"


def test_library_code_never_reseeds_the_global_generator():
    # Randomness in the package goes through explicit torch.Generator objects; only
    # runtime.seed_everything (and runtime.seeded, which restores the state) may seed torch.
    pattern = re.compile(r"\btorch\.(cuda\.)?manual_seed(_all)?\(|\bseed_everything\(")
    offenders = []
    for path in _modules():
        if path.name == "runtime.py":
            continue
        text = path.read_text()
        for n, line in enumerate(text.splitlines(), 1):
            if pattern.search(line) and not line.lstrip().startswith("#"):
                offenders.append(f"{path.relative_to(PACKAGE)}:{n}: {line.strip()}")
    assert not offenders, "use a torch.Generator instead of reseeding torch:\n" + "\n".join(offenders)
