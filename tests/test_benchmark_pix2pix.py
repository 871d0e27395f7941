"""Benchmark 06's shipped-Pix2Pix path, on a tiny run written to a temporary folder."""
import pytest

from genmodels_course import weights

TINY = ["--set", "size=32", "--set", "n_facades=16", "--set", "n_test=8", "--set", "p2p_batch=4",
        "--set", "p2p_steps=3", "--set", "p2p_width=4", "--set", "judge_steps=3", "--set", "judge_width=4"]


@pytest.fixture
def bench06(shipping_benchmark):
    return shipping_benchmark("06_pix2pix_cyclegan.py", ("pix2pix_facades",))


def test_shipped_pix2pix_is_saved_measured_and_remeasured_alike(bench06, tmp_path, data_available):
    if not (data_available / "facades" / "train").is_dir():
        pytest.skip("no facades in GENMODELS_DATA")
    result = bench06.main(["--profile", "cpu", "--save-weights"] + TINY)
    assert result["weights"] == "pix2pix_facades.safetensors" and result["p2p_steps"] == 3
    meta = weights.manifest("pix2pix_facades", tmp_path)
    assert meta["config"] == {"in_channels": 3, "out_channels": 3, "width": 4, "depth": 5,
                              "dropout": 0.5, "norm": "batch"}
    m = meta["metrics"]
    assert m["n_test"] == 8 and m["size"] == 32 and 0 < m["l1"] < 2 and m["psnr_db"] > 0
    # three steps of training are far from real photographs, by the judge too
    assert m["fd"] > m["fd_floor"] and m["label_l1"] > m["real_label_l1"]
    G, _ = weights.load("pix2pix_facades")
    assert sum(p.numel() for p in G.parameters()) > 0 and G.depth == 5
    # --remeasure on the shipped (fp16) weights gives the numbers the saving run measured on them
    again = bench06.main(["--profile", "cpu", "--remeasure"] + TINY)
    for key in ("l1", "psnr_db", "ssim", "fd", "label_l1", "fd_floor"):
        assert again[key] == pytest.approx(m[key], abs=1e-3), key
    assert weights.manifest("pix2pix_facades", tmp_path)["metrics_command"].endswith(" ".join(TINY))


def test_save_weights_refuses_the_quick_profile(bench06, capsys):
    with pytest.raises(SystemExit):
        bench06.main(["--profile", "quick", "--save-weights"])
    assert "untrained" in capsys.readouterr().err
