"""Each chapter's sizes have one definition (``genmodels_course/settings.py``) that its
notebook and its benchmark both read."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import genmodels_course as gm
from genmodels_course import runtime, settings

ROOT = Path(__file__).resolve().parents[1]
_CALL = re.compile(r"\bsettings\.(?!py\b)(\w+)")  # settings.vae, not settings.py


def _notebook_code(path: Path) -> str:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")


def test_every_notebook_and_benchmark_has_a_chapter_function():
    notebooks = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    benchmarks = {p.stem for p in (ROOT / "benchmarks").glob("[0-9]*.py")}
    assert notebooks <= set(settings.CHAPTERS), f"no settings function for {notebooks - set(settings.CHAPTERS)}"
    assert benchmarks <= notebooks, f"benchmarks without a notebook: {benchmarks - notebooks}"
    for name in settings.CHAPTERS.values():
        assert callable(getattr(settings, name))


@pytest.mark.parametrize("stem", sorted(settings.CHAPTERS))
def test_notebook_and_benchmark_read_the_same_settings_function(stem):
    name = settings.CHAPTERS[stem]
    notebook = ROOT / "notebooks" / f"{stem}.ipynb"
    if not notebook.exists():
        pytest.skip(f"{notebook.name} is not in this tree")
    code = _notebook_code(notebook)
    assert f"gm.settings.{name}()" in code, f"{notebook.name} should read its sizes with gm.settings.{name}()"
    assert set(_CALL.findall(code)) == {name}, f"{notebook.name} reads other chapters' settings"
    assert "runtime.pick(" not in code, f"{notebook.name} defines sizes of its own (runtime.pick)"
    benchmark = ROOT / "benchmarks" / f"{stem}.py"
    if benchmark.exists():
        source = benchmark.read_text(encoding="utf-8")
        assert set(_CALL.findall(source)) == {name}, f"{benchmark.name} should read settings.{name}"
        assert "runtime.pick(" not in source and "PROFILES = {" not in source, \
            f"{benchmark.name} defines sizes of its own"


@pytest.mark.parametrize("name", sorted(settings.CHAPTERS.values()))
@pytest.mark.parametrize("benchmark", [False, True])
def test_every_profile_has_the_same_keys(name, benchmark):
    fn = getattr(settings, name)
    keys = {p: set(fn(profile=p, benchmark=benchmark)) for p in runtime.PROFILES}
    assert keys["quick"] == keys["cpu"] == keys["gpu"], {p: sorted(k ^ keys["cpu"]) for p, k in keys.items()}
    # the benchmark's overrides only add keys it alone reads, never drop the notebook's
    assert set(fn(profile="cpu")) <= set(fn(profile="cpu", benchmark=True))


@pytest.mark.parametrize("name", sorted(settings.CHAPTERS.values()))
def test_benchmark_overrides_name_one_profile_each(name):
    overrides = getattr(settings, f"_{name.upper()}_BENCHMARK", None)
    if overrides is None:
        for p in runtime.PROFILES:
            assert getattr(settings, name)(profile=p, benchmark=True) == getattr(settings, name)(profile=p)
        return
    assert set(overrides) == set(runtime.PROFILES)
    for p in runtime.PROFILES:
        got = getattr(settings, name)(profile=p, benchmark=True)
        assert all(got[k] == v for k, v in overrides[p].items())


def test_settings_follow_the_active_profile(monkeypatch):
    monkeypatch.setenv("GENMODELS_QUICK", "1")
    assert gm.settings.diffusion() == gm.settings.diffusion(profile="quick")
    assert gm.settings.diffusion().img_steps == 25
    assert gm.settings.diffusion(profile="cpu").img_steps == 150
    cfg = gm.settings.vae(profile="gpu", benchmark=True)
    assert isinstance(cfg, runtime.Settings) and cfg.main_steps == 60_000 and cfg.nll_k == 5_000
    assert gm.settings.vae(profile="gpu").main_steps == 20_000
    with pytest.raises(ValueError, match="profile"):
        gm.settings.tour(profile="tpu")
