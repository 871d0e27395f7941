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
