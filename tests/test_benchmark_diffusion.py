"""Benchmark 07's shipped-U-Net path, on a tiny run written to a temporary folder."""
import pytest
import torch

import genmodels_course as gm
from genmodels_course import weights

TINY = ["--profile", "cpu", "--save-weights", "--steps", "3", "--set", "img_n_train=256", "--set", "T=50",
        "--set", "n_fd=20", "--set", "n_ddpm=4", "--set", "n_confident=20", "--set", "img_channels=[8,8,8]",
        "--set", "img_batch=16", "--eta", "1"]


@pytest.fixture
def bench07(shipping_benchmark):
    return shipping_benchmark("07_diffusion.py", ("unet_mnist",))


@pytest.mark.skipif(not gm.runtime.cpu_has_bf16(), reason="this CPU has no native bf16")
def test_unet_trained_under_cpu_bf16_is_saved_in_fp32_terms_and_remeasured_alike(bench07, tmp_path,
                                                                                 data_available):
    if gm.runtime.device().type != "cpu":
        pytest.skip("--cpu-bf16 is a CPU option")
    result = bench07.main(TINY + ["--cpu-bf16"])
    assert result["weights"] == "unet_mnist.safetensors" and result["train_steps"] == 3
    assert gm.runtime.autocast_dtype() is None  # the switch is off again after training
    meta = weights.manifest("unet_mnist", tmp_path)
    assert meta["config"]["channels"] == [8, 8, 8] and "--cpu-bf16" in meta["command"]
    assert meta["training"]["autocast"].startswith("bfloat16")
    assert meta["metrics"]["n_confident"] == 20 and abs(sum(meta["metrics"]["class_shares"]) - 1) < 1e-3
    assert result["targets_met"]["every digit in [6%, 14%]"] is False  # three steps do not draw every digit
    model, _ = weights.load("unet_mnist")
    assert all(p.dtype == torch.float32 for p in model.parameters())  # fp16 on disk, fp32 in use
    # TINY's measuring sizes, without the model's (the remeasure reads those from the manifest)
    again = bench07.main(["--profile", "cpu", "--remeasure", "--set", "img_n_train=256", "--set", "T=50",
                          "--set", "n_fd=20", "--set", "n_ddpm=4", "--set", "n_confident=20", "--eta", "1"])
    for key in ("confident", "fd_ddim50", "fd_ddpm1000_n", "fd_floor"):
        assert again[key] == pytest.approx(meta["metrics"][key], abs=1e-3), key
    # the remeasure's printout names the shipped model's sizes, not the settings' defaults
    assert again["img_channels"] == [8, 8, 8] and again["train_steps"] == 3 and again["img_batch"] == 16


def test_cpu_bf16_is_refused_where_the_cpu_lacks_it(bench07, monkeypatch, data_available):
    monkeypatch.setattr(gm.runtime, "cpu_has_bf16", lambda: False)
    with pytest.raises(RuntimeError, match="no native bf16"):
        bench07.main(TINY + ["--cpu-bf16"])


def test_min_snr_training_is_named_in_the_manifest(bench07, tmp_path, data_available):
    result = bench07.main(TINY + ["--min-snr-gamma", "5"])
    meta = weights.manifest("unet_mnist", tmp_path)
    assert result["train_steps"] == 3 and "--min-snr-gamma 5" in meta["command"]
    assert meta["training"]["loss"].startswith("eq. 7.8 weighted by min(SNR, 5) / SNR")
    with pytest.raises(SystemExit):  # argparse names the flag and its bad value
        bench07.main(TINY + ["--min-snr-gamma", "five"])
    with pytest.raises(SystemExit):  # refused at parsing, before data are loaded or a step runs
        bench07.main(TINY + ["--min-snr-gamma", "-1"])
