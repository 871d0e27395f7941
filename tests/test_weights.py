"""Shipped weights: round trip, checksum, clear errors, manifests that match their files."""
from __future__ import annotations

import json

import pytest
import torch

import genmodels_course as gm
from genmodels_course import weights

BUILDER = "torch.nn:Linear"
CONFIG = {"in_features": 5, "out_features": 3}


def _save(folder, name="lin", dtype=torch.float16):
    torch.manual_seed(0)
    net = torch.nn.Linear(**CONFIG)
    meta = weights.save(name, net, builder=BUILDER, config=CONFIG,
                        command="python benchmarks/99_toy.py --save-weights", profile="cpu",
                        machine="a test", wall_time_s=12.0, steps=100,
                        metrics={"loss": 0.5}, dtype=dtype, folder=folder)
    return net, meta


def test_round_trip(tmp_path):
    net, meta = _save(tmp_path, dtype=torch.float32)
    model, loaded = weights.load("lin", device="cpu", folder=tmp_path)
    assert loaded == meta and weights.available(tmp_path) == ["lin"]
    x = torch.randn(4, 5)
    assert torch.equal(model(x), net(x))
    assert not model.training
    assert "benchmarks/99_toy.py --save-weights" in weights.label("lin", tmp_path)
    assert "12 s" in weights.label("lin", tmp_path)


def test_round_as_saved_gives_the_state_that_the_file_loads_into(tmp_path):
    g = torch.Generator().manual_seed(3)
    net = torch.nn.BatchNorm1d(4)  # weights, and buffers: running statistics and a step count
    with torch.no_grad():
        for v in net.state_dict().values():
            if v.is_floating_point():
                v.copy_(torch.randn(v.shape, generator=g) / 3 + 1)  # off the fp16 grid
    before = {k: v.clone() for k, v in net.state_dict().items()}
    assert weights.round_as_saved(net) is net
    rounded = net.state_dict()
    for k, v in before.items():  # every float tensor moved (buffers too), the step count did not
        assert torch.equal(rounded[k], v) == (not v.is_floating_point()), k
    weights.save("bn", net, builder="torch.nn:BatchNorm1d", config={"num_features": 4},
                 command="python benchmarks/x.py",
                 profile="cpu", machine="m", wall_time_s=1, steps=1, metrics={"a": 1}, folder=tmp_path)
    state, _ = weights.load_state_dict("bn", tmp_path)
    assert all(torch.equal(state[k].float(), rounded[k].float()) for k in state)


def test_models_built_from_a_config_dataclass(tmp_path):
    from genmodels_course import vae

    net = vae.VAE(vae.VAEConfig(z_dim=3, hidden=(8,)))
    weights.save("tiny_vae", net, builder="genmodels_course.vae:VAE",
                 config_class="genmodels_course.vae:VAEConfig",
                 config={"z_dim": 3, "hidden": [8]}, command="python benchmarks/03_elbo_vae.py",
                 profile="cpu", machine="m", wall_time_s=1, steps=1, metrics={"nll": 1.0},
                 dtype=torch.float32, folder=tmp_path)
    model, meta = weights.load("tiny_vae", device="cpu", folder=tmp_path)
    assert model.config.z_dim == 3 and meta["config_class"].endswith("VAEConfig")
    z = torch.randn(2, 3)
    assert torch.equal(model.decode(z), net.decode(z))


def test_fp16_storage_halves_the_file_and_loads_as_fp32(tmp_path):
    net, meta16 = _save(tmp_path, "half")
    _, meta32 = _save(tmp_path, "full", dtype=torch.float32)
    assert meta16["bytes"] < meta32["bytes"] and meta16["dtype"] == "float16"
    state, _ = weights.load_state_dict("half", tmp_path)
    assert state["weight"].dtype == torch.float32
    assert torch.allclose(state["weight"], net.weight.detach(), atol=1e-3)


def test_a_flipped_byte_fails_the_checksum(tmp_path):
    _save(tmp_path)
    path = tmp_path / "lin.safetensors"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(weights.WeightsError, match=r"lin\.safetensors is damaged.*99_toy\.py"):
        weights.load("lin", device="cpu", folder=tmp_path)


def test_missing_files_name_the_file_and_the_command(tmp_path):
    _save(tmp_path)
    (tmp_path / "lin.safetensors").unlink()
    with pytest.raises(weights.WeightsError, match=r"lin\.safetensors is missing.*99_toy\.py --save-weights"):
        weights.load("lin", folder=tmp_path)
    with pytest.raises(weights.WeightsError, match="no shipped weights named 'other'"):
        weights.load("other", folder=tmp_path)


def test_wrong_config_is_reported(tmp_path):
    _save(tmp_path)
    meta = json.loads((tmp_path / "lin.json").read_text())
    meta["config"] = {"in_features": 6, "out_features": 3}
    (tmp_path / "lin.json").write_text(json.dumps(meta))
    with pytest.raises(weights.WeightsError, match="do not fit"):
        weights.load("lin", folder=tmp_path)
    with pytest.raises(weights.WeightsError, match="does not rebuild"):
        weights.save("bad", torch.nn.Linear(2, 2), builder="torch.nn:Identity", config={},
                     command="x", profile="cpu", machine="m", wall_time_s=1, steps=1,
                     metrics={}, folder=tmp_path)


# ------------------------------------------------------------- what the package ships
SHIPPED = weights.available()


def test_shipped_weights_fit_in_the_package():
    total = sum(p.stat().st_size for p in weights.SHIPPED.glob("*.safetensors"))
    assert total <= weights.MAX_TOTAL_BYTES, f"shipped weights take {total / 2**20:.1f} MB"
    files = {p.stem for p in weights.SHIPPED.glob("*.safetensors")}
    assert files == set(SHIPPED), "every weights file has a manifest and every manifest a file"


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_model_loads_into_its_config(name):
    meta = weights.manifest(name)
    path = weights.SHIPPED / meta["file"]
    assert path.stat().st_size == meta["bytes"]
    assert weights._sha256(path) == meta["sha256"]
    model, _ = weights.load(name, device="cpu")
    assert sum(p.numel() for p in model.parameters()) > 0
    assert meta["metrics"], f"{name}: the manifest records no quality numbers"
    assert meta["command"].startswith("python benchmarks/"), meta["command"]


def test_update_metrics_replaces_the_numbers_and_keeps_the_weights(tmp_path):
    net, meta = _save(tmp_path)
    new = weights.update_metrics("lin", {"loss": 0.25}, command="python benchmarks/99_toy.py --remeasure",
                                 folder=tmp_path)
    again = weights.manifest("lin", tmp_path)
    assert again == new and again["metrics"] == {"loss": 0.25}
    assert again["metrics_command"].endswith("--remeasure")
    assert again["sha256"] == meta["sha256"] and again["command"] == meta["command"]
    weights.load("lin", device="cpu", folder=tmp_path)  # still loads: the checksum is unchanged
    with pytest.raises(weights.WeightsError, match="no numbers"):
        weights.update_metrics("lin", {}, command="x", folder=tmp_path)
    path = tmp_path / "lin.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(weights.WeightsError, match="damaged"):
        weights.update_metrics("lin", {"loss": 0.1}, command="x", folder=tmp_path)
    assert weights.manifest("lin", tmp_path)["metrics"] == {"loss": 0.25}


def test_a_chained_run_adds_steps_and_times_and_keeps_both_commands(tmp_path):
    _, first = _save(tmp_path)
    run = weights.chain(first, command="python benchmarks/99_toy.py --save-weights --init-from lin",
                        machine="a test", wall_time_s=3.0, steps=50)
    assert run["steps"] == 150 and run["wall_time_s"] == 15.0 and run["machine"] == "a test"
    assert run["command"] == ("python benchmarks/99_toy.py --save-weights && "
                              "python benchmarks/99_toy.py --save-weights --init-from lin")
    assert run["init_from"]["sha256"] == first["sha256"] and run["init_from"]["steps"] == 100
    net = torch.nn.Linear(**CONFIG)
    meta = weights.save("lin2", net, builder=BUILDER, config=CONFIG, profile="cpu",
                        metrics={"loss": 0.4}, folder=tmp_path, **run)
    assert "150 steps" in weights.label("lin2", tmp_path) and meta["init_from"]["name"] == "lin"
    other = weights.chain(first, command="c", machine="a GPU", wall_time_s=1, steps=1)
    assert other["machine"] == "a test, then a GPU"
    third = weights.chain(meta, command="d", machine="a test", wall_time_s=1.0, steps=10)
    assert third["steps"] == 160 and third["command"].count(" && ") == 2
    assert third["init_from"]["steps"] == 150  # the run before, and inside it the first
    assert third["init_from"]["init_from"]["sha256"] == first["sha256"]
    with pytest.raises(ValueError, match="must have trained"):
        weights.chain(first, command="c", machine="m", wall_time_s=1, steps=0)


def test_describe_machine_counts_the_cores_it_may_use(monkeypatch):
    monkeypatch.setattr(weights.torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(weights.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert weights.describe_machine().startswith("1 CPU core (")
    monkeypatch.setattr(weights.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert weights.describe_machine().startswith("2 CPU cores (")


def test_table_lists_every_model_with_its_script_time_and_size(tmp_path):
    _save(tmp_path)
    meta = weights.manifest("lin", tmp_path)
    chained = dict(meta, command="python benchmarks/07_diffusion.py --dataset fashion_mnist --save-weights && "
                                 "python benchmarks/07_diffusion.py --dataset fashion_mnist --init-from x",
                   name="chained", wall_time_s=7200)
    (tmp_path / "chained.json").write_text(json.dumps(chained))
    (tmp_path / "chained.safetensors").write_bytes((tmp_path / "lin.safetensors").read_bytes())
    rows = weights.table(tmp_path).splitlines()
    assert len(rows) == 2 + 2 + 1 and rows[-1].startswith("| all |")
    assert "| `chained` | `07_diffusion.py --dataset fashion_mnist` |" in rows[2]  # one entry per script
    assert "| `lin` | `99_toy.py` | a test | 12 s | 100 |" in rows[3]
    text = weights.readme_with_table("Intro.\n", tmp_path)
    assert text.startswith("Intro.\n\n<!-- table") and weights.table(tmp_path) in text
    assert weights.readme_with_table(text.replace("| 100 |", "| 99 |"), tmp_path) == text  # rewritten


def test_the_shipped_readme_holds_the_current_table():
    readme = (weights.SHIPPED / "README.md").read_text(encoding="utf-8")
    assert weights.readme_with_table(readme) == readme, \
        "the table in genmodels_course/shipped/README.md is stale: run `python -m genmodels_course shipped --readme`"


def test_the_command_line_prints_the_table_and_refuses_other_words():
    import subprocess
    import sys

    ok = subprocess.run([sys.executable, "-m", "genmodels_course", "shipped"], capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout == weights.table()
    bad = subprocess.run([sys.executable, "-m", "genmodels_course", "shiped"], capture_output=True, text=True)
    assert bad.returncode != 0 and "usage: python -m genmodels_course shipped" in bad.stderr
