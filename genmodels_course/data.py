"""Data sets of the course, as tensors that live on the device.

Image sets load through torchvision's own classes from the *data folder*:
``GENMODELS_DATA`` if set, else ``~/.cache/genmodels_course/data``. When that folder is not
writable (a shared read-only copy), the archives are copied into the cache folder
(``GENMODELS_CACHE``, default ``~/.cache/genmodels_course``) and extracted there; the folder
we were pointed at is never written to. Missing files are downloaded by torchvision; when
that fails, :class:`DataNotFoundError` names the folder, the files and the variable to set.

Every loader returns float32 images in ``[0, 1]`` of shape ``(N, C, H, W)`` and int64 labels,
moved to the device once: training then slices batches on the device (:class:`Batches`).
"""
from __future__ import annotations

import math
import os
import shutil
import stat
import tempfile
from pathlib import Path

import numpy as np
import torch

from . import runtime

DATA_ENV = "GENMODELS_DATA"
CACHE_ENV = "GENMODELS_CACHE"


class DataNotFoundError(FileNotFoundError):
    """Raised when a data set is missing and cannot be downloaded."""


def cache_dir() -> Path:
    """The course's writable cache: ``GENMODELS_CACHE`` or ``~/.cache/genmodels_course``."""
    path = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "genmodels_course").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_root() -> Path:
    """The folder data sets are read from: ``GENMODELS_DATA`` or ``<cache>/data``."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    path = cache_dir() / "data"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _writable(path: Path) -> bool:
    """Writable by us *and* not marked read-only: root may write anywhere, but a folder
    whose mode has no write bit was meant to be left alone."""
    if not path.is_dir():
        return False
    return os.access(path, os.W_OK) and bool(path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _missing_error(name: str, folder: Path, files: list[str], cause: BaseException | None) -> DataNotFoundError:
    listing = "\n".join(f"  {folder / f}" for f in files)
    why = f" The download failed: {type(cause).__name__}: {cause}." if cause else ""
    return DataNotFoundError(
        f"{name} is not in the data folder {folder} and could not be downloaded.{why}\n"
        f"Expected these files:\n{listing}\n"
        f"Put them there, or set the environment variable {DATA_ENV} to a folder that holds "
        f"'{name}' in torchvision's layout (for example {DATA_ENV}=/path/to/shared/data).")


# ---------------------------------------------------------------- MNIST-like sets
_IDX_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def _atomic_copy(src: Path, target: Path, opener=open) -> None:
    """Copy ``src`` (read with ``opener``: ``gzip.open`` decompresses) to ``target`` through a
    temporary file in the same folder and a rename: another process sees the whole file or
    none of it (several benchmarks or test workers may start on a fresh folder at once)."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out, opener(src, "rb") as inp:
            shutil.copyfileobj(inp, out, 1 << 20)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _extract_idx(raw: Path) -> None:
    """Decompress each ``<idx file>.gz`` in ``raw`` whose plain file is missing."""
    import gzip

    for f in _IDX_FILES:
        if not (raw / f).exists() and (raw / f"{f}.gz").exists():
            _atomic_copy(raw / f"{f}.gz", raw / f, opener=gzip.open)


def _mnist_like(cls_name: str, folder_name: str, train: bool):
    """Build a torchvision MNIST/FashionMNIST object without writing into a read-only folder."""
    import torchvision

    cls = getattr(torchvision.datasets, cls_name)
    root = data_root()
    raw = root / folder_name / "raw"
    have_extracted = all((raw / f).exists() for f in _IDX_FILES)
    have_archives = all((raw / f"{f}.gz").exists() for f in _IDX_FILES)
    if have_extracted:
        return cls(str(root), train=train, download=False)
    if not _writable(raw if raw.exists() else root):
        # Read-only source: work in the cache, copying the archives across once.
        root = cache_dir() / "data"
        work_raw = root / folder_name / "raw"
        work_raw.mkdir(parents=True, exist_ok=True)
        if have_archives:
            for f in _IDX_FILES:
                target = work_raw / f"{f}.gz"
                if not target.exists() and not (work_raw / f).exists():
                    _atomic_copy(raw / f"{f}.gz", target)
    try:
        if have_archives:
            # we extract, not torchvision: it writes in place, and processes that start
            # together on a fresh folder would read each other's half-written files
            _extract_idx(root / folder_name / "raw")
            return cls(str(root), train=train, download=False)
        return cls(str(root), train=train, download=True)
    except Exception as exc:  # no network, a truncated or corrupt archive, ...
        raise _missing_error(cls_name, raw, [f"{f}.gz" for f in _IDX_FILES], exc) from exc


def _subset(x: torch.Tensor, y: torch.Tensor, n: int | None, seed: int = 0):
    if n is None or n >= len(x):
        return x, y
    if n <= 0:
        raise ValueError(f"n must be a positive number of examples or None, got {n}")
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n]
    return x[idx], y[idx]


def _finish(images_uint8: torch.Tensor, labels, n, device, seed=0):
    x = images_uint8.float().div_(255.0)
    if x.ndim == 3:
        x = x.unsqueeze(1)
    y = torch.as_tensor(labels, dtype=torch.long)
    x, y = _subset(x, y, n, seed)
    dev = device if device is not None else runtime.device()
    return x.contiguous().to(dev), y.to(dev)


def load_mnist(train: bool = True, n: int | None = None, device=None, seed: int = 0):
    """MNIST digits: ``x`` ``(N, 1, 28, 28)`` float32 in [0, 1], ``y`` ``(N,)`` int64.

    ``n`` takes a random subset (fixed by ``seed``), as the quick profile does.
    """
    ds = _mnist_like("MNIST", "MNIST", train)
    return _finish(ds.data, ds.targets, n, device, seed)


def load_fashion_mnist(train: bool = True, n: int | None = None, device=None, seed: int = 0):
    """Fashion-MNIST garments, same shapes as :func:`load_mnist`."""
    ds = _mnist_like("FashionMNIST", "FashionMNIST", train)
    return _finish(ds.data, ds.targets, n, device, seed)


FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def load_usps(train: bool = True, n: int | None = None, device=None, seed: int = 0):
    """USPS digits: ``x`` ``(N, 1, 16, 16)`` float32 in [0, 1], ``y`` ``(N,)`` int64."""
    import torchvision

    folder = data_root() / "usps"
    fname = "usps.bz2" if train else "usps.t.bz2"
    if (folder / fname).exists():
        # Our copy is converted from another release: torchvision's md5 would not match,
        # so read it without the download check.
        ds = torchvision.datasets.USPS(str(folder), train=train, download=False)
    else:
        target = folder if _writable(folder) or not folder.exists() and _writable(folder.parent) else cache_dir() / "data" / "usps"
        try:
            target.mkdir(parents=True, exist_ok=True)
            ds = torchvision.datasets.USPS(str(target), train=train, download=True)
        except Exception as exc:
            raise _missing_error("USPS", folder, ["usps.bz2", "usps.t.bz2"], exc) from exc
    return _finish(torch.as_tensor(np.asarray(ds.data)), ds.targets, n, device, seed)


def load_digits(n: int | None = None, device=None, seed: int = 0):
    """scikit-learn's 8x8 digits (1,797 images, shipped with scikit-learn): ``(N, 1, 8, 8)`` in [0, 1]."""
    from sklearn.datasets import load_digits as _sk_digits

    d = _sk_digits()
    x = torch.as_tensor(d.images, dtype=torch.float32) / 16.0
    y = torch.as_tensor(d.target, dtype=torch.long)
    x, y = _subset(x.unsqueeze(1), y, n, seed)
    dev = device if device is not None else runtime.device()
    return x.to(dev), y.to(dev)


def load_facades(split: str = "train", n: int | None = None, size: int = 256, device=None):
    """The pix2pix facades: ``(labels, photos)``, each ``(N, 3, size, size)`` in [-1, 1].

    Each file ``facades/<split>/<k>.jpg`` is 512x256 with the photo on the left and the
    label map on the right (pix2pix's layout); files are read in numeric order.
    """
    from PIL import Image

    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
    folder = data_root() / "facades" / split
    files = sorted(folder.glob("*.jpg"), key=lambda p: int(p.stem) if p.stem.isdigit() else p.stem)
    if not files:
        raise _missing_error("facades", folder, ["1.jpg", "2.jpg", "..."], None)
    files = files[:n] if n else files
    photos, labels = [], []
    for f in files:
        img = Image.open(f).convert("RGB")
        w, h = img.size
        if w != 2 * h:
            raise ValueError(f"{f}: expected a side-by-side pair twice as wide as high, got {w}x{h}")
        photo, label = img.crop((0, 0, h, h)), img.crop((h, 0, w, h))
        if size != h:
            photo, label = photo.resize((size, size), Image.BICUBIC), label.resize((size, size), Image.NEAREST)
        photos.append(np.asarray(photo))
        labels.append(np.asarray(label))

    def to_tensor(arrs):
        t = torch.as_tensor(np.stack(arrs)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        return t.contiguous().to(device if device is not None else runtime.device())

    return to_tensor(labels), to_tensor(photos)


# ---------------------------------------------------------------- binarisation
def binarize_dynamic(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A fresh Bernoulli draw per call: pixel intensities in [0, 1] are probabilities of 1."""
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError("binarize_dynamic expects intensities in [0, 1]; rescale the images first")
    return torch.bernoulli(x, generator=generator)


def binarize_static(x: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """A fixed binarisation: 1 where the intensity exceeds ``threshold``."""
    return (x > threshold).to(x.dtype)


# ---------------------------------------------------------------- value ranges
def to_tanh_range(x: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] -> [-1, 1]: the range of a tanh output (GAN generators) and of the
    data a diffusion model noises."""
    return 2 * x - 1


def from_tanh_range(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] -> [0, 1], clamped (for display and for metrics on [0, 1] images)."""
    return ((x + 1) / 2).clamp(0, 1)


# ---------------------------------------------------------------- 2-D toys
class GaussianMixture2D:
    """An equal-weight mixture of isotropic 2-D Gaussians with an exact log-density."""

    def __init__(self, means: torch.Tensor, sigma: float):
        self.means = torch.as_tensor(means, dtype=torch.float32)
        self.sigma = float(sigma)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``(n, 2)`` samples on the CPU (move them where you need them)."""
        k = torch.randint(len(self.means), (n,), generator=generator)
        return self.means[k] + self.sigma * torch.randn(n, 2, generator=generator)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``(n, 2) -> (n,)``: log of the mixture density at each point."""
        if x.ndim != 2 or x.shape[1] != 2:
            raise ValueError(f"log_prob expects points of shape (n, 2), got {tuple(x.shape)}")
        means = self.means.to(x)
        sq = ((x[:, None, :] - means[None]) ** 2).sum(-1)  # (n, K)
        log_comp = -sq / (2 * self.sigma**2) - math.log(2 * math.pi * self.sigma**2)
        return torch.logsumexp(log_comp, dim=1) - math.log(len(means))


def ring8(radius: float = 1.0, sigma: float = 0.01) -> GaussianMixture2D:
    """8 Gaussians evenly spaced on a circle (the PacGAN/VEEGAN ring benchmark)."""
    angles = torch.arange(8) * (2 * math.pi / 8)
    return GaussianMixture2D(radius * torch.stack([angles.cos(), angles.sin()], 1), sigma)


def grid25(sigma: float = 0.05) -> GaussianMixture2D:
    """25 Gaussians on the grid {-4, -2, 0, 2, 4}^2 (the PacGAN/VEEGAN grid benchmark)."""
    v = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
    return GaussianMixture2D(torch.cartesian_prod(v, v), sigma)


def two_moons(n: int, noise: float = 0.05, seed: int = 0) -> torch.Tensor:
    """scikit-learn's two interleaving half circles, ``(n, 2)`` float32."""
    from sklearn.datasets import make_moons

    x, _ = make_moons(n_samples=n, noise=noise, random_state=seed)
    return torch.as_tensor(x, dtype=torch.float32)


def swiss_roll(n: int, noise: float = 0.5, seed: int = 0, scale: float = 0.1) -> torch.Tensor:
    """A 2-D swiss roll (the x-z plane of scikit-learn's), scaled to about [-1.5, 1.5]^2."""
    from sklearn.datasets import make_swiss_roll

    x, _ = make_swiss_roll(n_samples=n, noise=noise, random_state=seed)
    return torch.as_tensor(x[:, [0, 2]] * scale, dtype=torch.float32)


# ---------------------------------------------------------------- batching
class Batches:
    """Mini-batches sliced from tensors that already live on the device.

    ``len(b)`` is the number of batches per epoch; ``next_batch()`` returns the next tuple
    forever, reshuffling at each epoch with the object's own generator, so a training run
    can be resumed exactly from :meth:`state_dict`. Iterating gives one epoch.
    """

    def __init__(self, *tensors: torch.Tensor, batch_size: int, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = True):
        if not tensors:
            raise ValueError("Batches needs at least one tensor")
        n = len(tensors[0])
        if any(len(t) != n for t in tensors):
            raise ValueError(f"all tensors need the same first dimension, got {[len(t) for t in tensors]}")
        if n == 0:
            raise ValueError("Batches got an empty data set")
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.tensors, self.n = tensors, n
        self.batch_size = min(batch_size, n)
        self.shuffle, self.drop_last = shuffle, drop_last
        self._gen = torch.Generator().manual_seed(seed)
        self._epoch_start_state = self._gen.get_state()
        self._order: torch.Tensor | None = None
        self._pos = 0  # batches already served in the current epoch
        self.epoch = 0

    def __len__(self) -> int:
        full, rest = divmod(self.n, self.batch_size)
        return full if self.drop_last or rest == 0 else full + 1

    def _new_epoch(self):
        self._epoch_start_state = self._gen.get_state()
        self._order = torch.randperm(self.n, generator=self._gen) if self.shuffle else torch.arange(self.n)
        self._order = self._order.to(self.tensors[0].device)
        self._pos = 0

    def next_batch(self) -> tuple:
        if self._order is None or self._pos >= len(self):
            if self._order is not None:
                self.epoch += 1
            self._new_epoch()
        idx = self._order[self._pos * self.batch_size:(self._pos + 1) * self.batch_size]
        self._pos += 1
        return tuple(t[idx] for t in self.tensors)

    def __iter__(self):
        for _ in range(len(self)):
            yield self.next_batch()

    def state_dict(self) -> dict:
        return {"epoch_start_state": self._epoch_start_state, "pos": self._pos, "epoch": self.epoch,
                "started": self._order is not None}

    def load_state_dict(self, state: dict) -> None:
        self._gen.set_state(state["epoch_start_state"])
        self.epoch = state["epoch"]
        if state["started"]:
            self._new_epoch()  # regenerates the same permutation from the saved state
            self._pos = state["pos"]
        else:
            self._order, self._pos = None, 0


def to_tanh_range(x: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] -> [-1, 1] (the range of a tanh output layer)."""
    return x * 2.0 - 1.0


def from_tanh_range(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] (a tanh output) -> [0, 1], clipped."""
    return ((x + 1.0) / 2.0).clamp(0.0, 1.0)
