"""The command line that every benchmark shares (benchmarks/_common.py)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import _common  # noqa: E402

from genmodels_course import settings  # noqa: E402


def test_set_overrides_settings_with_json_values_and_keeps_tuples():
    args, profile, s = _common.setup("t", settings.diffusion, ["--profile", "cpu", "--save-weights",
                                     "--set", "img_channels=[32,64,64]", "--set", "img_lr=0.0005",
                                     "--set", "n_fd=123", "--train-seconds", "60"])
    assert s["img_channels"] == (32, 64, 64) and s["img_lr"] == 0.0005 and s["n_fd"] == 123
    assert args.train_seconds == 60.0 and args.save_weights


def test_set_rejects_unknown_keys_and_malformed_items(capsys):
    with pytest.raises(SystemExit):
        _common.setup("t", settings.diffusion, ["--profile", "cpu", "--set", "img_chanels=[1]"])
    err = capsys.readouterr().err
    assert "img_chanels" in err and "img_channels" in err  # the list of real keys helps the typo
    with pytest.raises(SystemExit):
        _common.setup("t", settings.diffusion, ["--profile", "cpu", "--set", "no-equals-sign"])
    assert "KEY=VALUE" in capsys.readouterr().err
