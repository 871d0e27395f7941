import fnmatch
import pathlib
import shutil
import socket
import stat

import pytest
import torch

from genmodels_course import data


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENMODELS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_missing_data_error_names_folder_files_and_variable(tmp_path, isolated_cache, no_network, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("GENMODELS_DATA", str(empty))
    with pytest.raises(data.DataNotFoundError) as info:
        data.load_mnist(n=10)
    msg = str(info.value)
    assert str(empty / "MNIST" / "raw") in msg
    assert "train-images-idx3-ubyte.gz" in msg and "GENMODELS_DATA" in msg
    with pytest.raises(data.DataNotFoundError, match="usps.bz2"):
        data.load_usps(n=10)
    with pytest.raises(data.DataNotFoundError, match="facades"):
        data.load_facades("train")


def read_only_copy(src, dst, names, files="*"):
    """Copy the folders ``names`` of ``src`` into ``dst``, only the files matching ``files``
    (whatever else the data folder holds, extracted IDX files for instance, stays out), read-only."""
    def others(folder, entries):
        return [e for e in entries if not (pathlib.Path(folder) / e).is_dir() and not fnmatch.fnmatch(e, files)]

    for name in names:
        shutil.copytree(src / name, dst / name, ignore=others)
    for path in sorted(dst.rglob("*"), reverse=True):
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    dst.chmod(dst.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def snapshot(folder):
    return sorted((str(p.relative_to(folder)), p.stat().st_size) for p in folder.rglob("*"))


def test_mnist_from_read_only_folder_never_writes_there(data_available, tmp_path, isolated_cache, no_network,
                                                        monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    read_only_copy(data_available, ro, ["MNIST"], files="*.gz")   # the archives only: they get extracted
    before = snapshot(ro)
    monkeypatch.setenv("GENMODELS_DATA", str(ro))
    x, y = data.load_mnist(train=False, n=500, device="cpu")
    assert snapshot(ro) == before
    assert (isolated_cache / "data" / "MNIST" / "raw" / "t10k-images-idx3-ubyte").exists()
    assert x.shape == (500, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert 0.0 <= x.min() and x.max() <= 1.0 and set(y.tolist()) <= set(range(10))
    full_x, full_y = data.load_mnist(train=True, device="cpu")
    assert full_x.shape == (60000, 1, 28, 28)
    assert full_y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]  # SOURCES.md
    for p in sorted(ro.rglob("*"), reverse=True) + [ro]:
        p.chmod(p.stat().st_mode | stat.S_IWUSR)


def test_other_image_sets(data_available):
    x, y = data.load_fashion_mnist(train=False, n=100, device="cpu")
    assert x.shape == (100, 1, 28, 28) and len(data.FASHION_CLASSES) == 10
    x, y = data.load_usps(train=False, device="cpu")
    assert x.shape == (2007, 1, 16, 16) and 0 <= x.min() and x.max() <= 1
    labels, photos = data.load_facades("val", n=2, size=64, device="cpu")
    assert labels.shape == photos.shape == (2, 3, 64, 64)
    assert -1 <= photos.min() and photos.max() <= 1
    with pytest.raises(ValueError, match="split"):
        data.load_facades("nope")


def test_subset_is_deterministic():
    a, _ = data.load_digits(n=50, device="cpu", seed=3)
    b, _ = data.load_digits(n=50, device="cpu", seed=3)
    assert torch.equal(a, b) and a.shape == (50, 1, 8, 8)
    assert a.max() <= 1.0
    with pytest.raises(ValueError, match="positive"):
        data.load_digits(n=0)


def test_binarisation():
    x = torch.full((20000,), 0.3)
    b = data.binarize_dynamic(x, torch.Generator().manual_seed(0))
    assert set(b.unique().tolist()) <= {0.0, 1.0}
    assert abs(b.mean().item() - 0.3) < 0.02
    assert torch.equal(data.binarize_static(torch.tensor([0.2, 0.7])), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="\\[0, 1\\]"):
        data.binarize_dynamic(torch.tensor([2.0]))


@pytest.mark.parametrize("mix, k", [(data.ring8(), 8), (data.grid25(), 25)])
def test_mixture_log_prob_integrates_to_one_and_matches_samples(mix, k):
    assert mix.means.shape == (k, 2)
    # numerical integral of the density over a grid that covers every mode
    lo, hi = mix.means.min() - 0.5, mix.means.max() + 0.5
    n = 1500 if k == 25 else 800
    g = torch.linspace(float(lo), float(hi), n)
    xx, yy = torch.meshgrid(g, g, indexing="xy")
    pts = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)
    cell = float((g[1] - g[0]) ** 2)
    assert mix.log_prob(pts).exp().sum().item() * cell == pytest.approx(1.0, abs=0.02)
    s = mix.sample(5000, torch.Generator().manual_seed(0))
    nearest = torch.cdist(s, mix.means).argmin(1)
    assert torch.bincount(nearest, minlength=k).min() > 5000 / k * 0.7
    spread = (s - mix.means[nearest]).std().item()
    assert spread == pytest.approx(mix.sigma, rel=0.1)
    with pytest.raises(ValueError, match="\\(n, 2\\)"):
        mix.log_prob(torch.zeros(3))


def test_toy_shapes():
    assert data.two_moons(100).shape == (100, 2)
    s = data.swiss_roll(1000)
    assert s.shape == (1000, 2) and s.abs().max() < 2.0


def test_batches_cover_each_epoch_and_resume_exactly():
    x = torch.arange(10)
    b = data.Batches(x, batch_size=3, seed=0)
    assert len(b) == 3
    epoch = torch.cat([t for (t,) in b])
    assert len(epoch) == 9 and len(set(epoch.tolist())) == 9
    b2 = data.Batches(x, batch_size=3, seed=0)
    for _ in range(4):
        b2.next_batch()
    state = b2.state_dict()
    rest = [b2.next_batch()[0] for _ in range(5)]
    b3 = data.Batches(x, batch_size=3, seed=0)
    b3.load_state_dict(state)
    assert all(torch.equal(u, v) for u, v in zip(rest, [b3.next_batch()[0] for _ in range(5)]))
    assert len(data.Batches(x, batch_size=3, drop_last=False)) == 4
    with pytest.raises(ValueError, match="empty"):
        data.Batches(torch.zeros(0), batch_size=2)
    with pytest.raises(ValueError, match="same first dimension"):
        data.Batches(torch.zeros(3), torch.zeros(4), batch_size=2)


def test_tanh_range_round_trip_and_clipping():
    u = torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    t = data.to_tanh_range(u)
    assert t.min() >= -1 and t.max() <= 1
    assert torch.allclose(data.from_tanh_range(t), u, atol=1e-6)
    assert torch.equal(data.to_tanh_range(torch.tensor([0.0, 0.5, 1.0])), torch.tensor([-1.0, 0.0, 1.0]))
    assert torch.equal(data.from_tanh_range(torch.tensor([-3.0, -1.0, 0.0, 1.0, 2.0])),
                       torch.tensor([0.0, 0.0, 0.5, 1.0, 1.0]))  # clipped to [0, 1]


def _load_in_process(folder, queue):
    import os

    os.environ["GENMODELS_DATA"] = folder
    from genmodels_course import data as d

    x, y = d.load_mnist(train=False, device="cpu")
    queue.put((tuple(x.shape), float(x.sum()), int(y.sum())))


def test_processes_that_start_together_extract_the_archives_once_and_whole(data_available, tmp_path,
                                                                           isolated_cache, no_network):
    # Several benchmarks (or test workers) on a fresh writable folder of archives used to
    # race: torchvision extracts in place, and a second process read a half-written file.
    import multiprocessing as mp

    fresh = tmp_path / "fresh"
    (fresh / "MNIST" / "raw").mkdir(parents=True)
    for f in (data_available / "MNIST" / "raw").glob("*.gz"):
        shutil.copyfile(f, fresh / "MNIST" / "raw" / f.name)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_load_in_process, args=(str(fresh), queue)) for _ in range(4)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert len(set(results)) == 1 and results[0][0] == (10000, 1, 28, 28)
    leftovers = [p.name for p in (fresh / "MNIST" / "raw").iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_a_truncated_archive_gives_an_error_that_names_the_files(data_available, tmp_path, isolated_cache,
                                                                 no_network, monkeypatch):
    bad = tmp_path / "bad"
    (bad / "MNIST" / "raw").mkdir(parents=True)
    for f in (data_available / "MNIST" / "raw").glob("*.gz"):
        shutil.copyfile(f, bad / "MNIST" / "raw" / f.name)
    target = bad / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz"
    target.write_bytes(target.read_bytes()[:5000])  # a download cut short
    monkeypatch.setenv("GENMODELS_DATA", str(bad))
    with pytest.raises(data.DataNotFoundError, match="t10k-images-idx3-ubyte.gz"):
        data.load_mnist(train=False, device="cpu")
    assert not (bad / "MNIST" / "raw" / "t10k-images-idx3-ubyte").exists()  # no half file left
