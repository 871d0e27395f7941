import random

import numpy as np
import pytest
import torch

import genmodels_course as gm


def test_profile_follows_environment(monkeypatch):
    monkeypatch.setenv("GENMODELS_QUICK", "1")
    assert gm.runtime.profile() == "quick"
    monkeypatch.setenv("GENMODELS_QUICK", "0")
    expected = "gpu" if torch.cuda.is_available() else "cpu"
    assert gm.runtime.profile() == expected


def test_pick_uses_cpu_as_base_and_profile_overrides(monkeypatch):
    monkeypatch.setenv("GENMODELS_QUICK", "1")
    cfg = gm.runtime.pick(quick=dict(epochs=1), cpu=dict(epochs=3, n=500), gpu=dict(epochs=30), lr=1e-3)
    assert cfg == {"epochs": 1, "n": 500, "lr": 1e-3}
    assert cfg.epochs == 1 and cfg.lr == 1e-3
    monkeypatch.delenv("GENMODELS_QUICK")
    cfg = gm.runtime.pick(quick=dict(epochs=1), cpu=dict(epochs=3), gpu=dict(epochs=30))
    assert cfg.epochs == (30 if torch.cuda.is_available() else 3)
    with pytest.raises(AttributeError, match="no setting 'missing'"):
        cfg.missing
    with pytest.raises(TypeError, match="expects a dict"):
        gm.runtime.pick(quick=[1, 2])


def test_seed_everything_repeats_all_generators():
    gm.runtime.seed_everything(123)
    first = (random.random(), np.random.rand(), torch.rand(3))
    gm.runtime.seed_everything(123)
    second = (random.random(), np.random.rand(), torch.rand(3))
    assert first[0] == second[0] and first[1] == second[1]
    assert torch.equal(first[2], second[2])


def test_generator_is_seeded_and_on_device():
    a = torch.rand(4, generator=gm.runtime.generator(7, "cpu"))
    b = torch.rand(4, generator=gm.runtime.generator(7, "cpu"))
    assert torch.equal(a, b)
    assert gm.runtime.generator(0).device.type == gm.runtime.device().type


def test_autocast_is_a_noop_on_cpu():
    if gm.runtime.device().type == "cuda":
        pytest.skip("CPU-only behaviour")
    with gm.runtime.autocast():
        y = torch.ones(2, 2) @ torch.ones(2, 2)
    assert y.dtype == torch.float32
    assert "profile=" in gm.runtime.describe()


def test_autocast_dtype_goes_by_compute_capability(monkeypatch):
    # A T4 (sm75, Colab's free GPU) may report emulated bf16 support: it must get fp32.
    assert gm.runtime.autocast_dtype(capability=(7, 5)) is None
    assert gm.runtime.autocast_dtype(capability=(8, 0)) is torch.bfloat16  # A100
    assert gm.runtime.autocast_dtype(capability=(9, 0)) is torch.bfloat16  # H100
    # The same through the device path, with a patched CUDA device.
    monkeypatch.setattr(gm.runtime, "device", lambda: torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a, **k: (7, 5))
    assert gm.runtime.autocast_dtype() is None
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a, **k: (8, 6))
    assert gm.runtime.autocast_dtype() is torch.bfloat16


def test_progress_bar_is_text_where_widgets_cannot_show(monkeypatch):
    from tqdm.std import tqdm as text_tqdm

    monkeypatch.setenv("GENMODELS_STATIC", "1")
    bar = gm.runtime.progress_bar(range(3), disable=True)
    assert isinstance(bar, text_tqdm) and type(bar) is gm.runtime.FinalLineBar
    assert list(bar) == [0, 1, 2]
    monkeypatch.delenv("GENMODELS_STATIC")
    bar = gm.runtime.progress_bar(range(3), disable=True)  # no kernel here: a terminal bar
    assert type(bar) is text_tqdm


def test_progress_bar_on_a_static_page_leaves_one_final_line(monkeypatch):
    import io

    monkeypatch.setenv("GENMODELS_STATIC", "1")
    out = io.StringIO()
    bar = gm.runtime.progress_bar(range(200), desc="VAE", file=out, mininterval=0)
    for i in bar:
        bar.set_postfix({"loss": f"{1 / (i + 1):.3g}"})  # refreshes: would draw a frame
    text = out.getvalue()
    assert "\r" not in text and text.count("\n") == 1, repr(text)
    assert text.startswith("VAE: 100%") and "200/200" in text and "loss=0.005" in text
    assert "[00:" in text  # the elapsed time

    quiet = io.StringIO()
    for _ in gm.runtime.progress_bar(range(5), file=quiet, leave=False):
        pass
    assert quiet.getvalue() == ""  # leave=False: a bar that leaves nothing, not even a frame


def test_pick_reads_a_named_profile(monkeypatch):
    monkeypatch.setenv("GENMODELS_QUICK", "1")
    kw = dict(quick=dict(epochs=1), cpu=dict(epochs=3, n=500), gpu=dict(epochs=30), lr=1e-3)
    assert gm.runtime.pick(**kw, profile="gpu") == {"epochs": 30, "n": 500, "lr": 1e-3}
    assert gm.runtime.pick(**kw, profile="cpu").epochs == 3
    assert gm.runtime.pick(**kw, profile=None).epochs == 1  # None: the active profile
    with pytest.raises(ValueError, match="expects one of"):
        gm.runtime.pick(**kw, profile="large")


def test_cpu_bf16_is_off_by_default_and_scoped(monkeypatch):
    monkeypatch.setattr(gm.runtime, "device", lambda: torch.device("cpu"))
    monkeypatch.setattr(gm.runtime, "cpu_has_bf16", lambda: True)
    assert gm.runtime.autocast_dtype() is None
    with gm.runtime.cpu_bf16():
        assert gm.runtime.autocast_dtype() is torch.bfloat16
        with gm.runtime.autocast():
            y = torch.ones(2, 2) @ torch.ones(2, 2)
        assert y.dtype == torch.bfloat16
        with gm.runtime.cpu_bf16(False):  # nested: off inside, back on after
            assert gm.runtime.autocast_dtype() is None
        assert gm.runtime.autocast_dtype() is torch.bfloat16
    assert gm.runtime.autocast_dtype() is None
    with pytest.raises(ValueError), gm.runtime.cpu_bf16():
        raise ValueError("an error inside the block")
    assert gm.runtime.autocast_dtype() is None  # switched off again after an error


def test_cpu_bf16_refuses_a_cpu_without_native_bf16(monkeypatch):
    monkeypatch.setattr(gm.runtime, "cpu_has_bf16", lambda: False)
    with pytest.raises(RuntimeError, match="no native bf16.*--cpu-bf16"):
        with gm.runtime.cpu_bf16():
            pass
    monkeypatch.setattr(gm.runtime, "device", lambda: torch.device("cpu"))
    with gm.runtime.cpu_bf16(False):  # asking for fp32 needs nothing
        assert gm.runtime.autocast_dtype() is None
