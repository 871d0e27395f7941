import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    # Tests run in the quick profile and draw static figures unless told otherwise.
    os.environ.setdefault("GENMODELS_QUICK", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def data_available():
    """Skip a test that needs the real data sets when GENMODELS_DATA is not set."""
    folder = os.environ.get("GENMODELS_DATA")
    if not folder or not (Path(folder) / "MNIST" / "raw").exists():
        pytest.skip("GENMODELS_DATA does not point at a folder with MNIST (see README)")
    return Path(folder)


@pytest.fixture
def shipping_benchmark(monkeypatch, tmp_path):
    """``shipping_benchmark("05_minimax_gans.py", names)``: that benchmark script as a module,
    with ``gm.weights.save``, ``load`` and ``update_metrics`` reading and writing the weights
    named in ``names`` in ``tmp_path`` instead of the package (every other shipped model, such
    as the classifiers that score them, still comes from the package)."""
    import importlib.util

    from genmodels_course import weights

    bench = ROOT / "benchmarks"
    monkeypatch.syspath_prepend(str(bench))  # for the scripts' `from _common import ...`

    def redirect(original, names):
        def call(name, *args, **kwargs):
            if name in names:
                kwargs["folder"] = tmp_path
            return original(name, *args, **kwargs)
        return call

    def load(script: str, names: tuple):
        spec = importlib.util.spec_from_file_location(script.removesuffix(".py"), bench / script)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for fn in ("save", "load", "update_metrics"):
            monkeypatch.setattr(weights, fn, redirect(getattr(weights, fn), names))
        return module

    return load
