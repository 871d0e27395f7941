"""Where and how code runs: the device, seeding, the active profile and autocast.

The device is chosen once (cuda, then mps, then cpu) so that every chapter puts its
data and models in the same place. The *profile* decides how big an experiment is:

* ``quick``: ``GENMODELS_QUICK=1`` (tests and CI): seconds per notebook on a CPU;
* ``gpu``: CUDA is available: the full experiments of the book;
* ``cpu``: otherwise: smaller experiments that finish in minutes on a laptop.
"""
from __future__ import annotations

import contextlib
import functools
import os
import random

import numpy as np
import torch
from tqdm.std import tqdm as _TextBar

PROFILES = ("quick", "cpu", "gpu")


@functools.lru_cache(maxsize=None)
def device() -> torch.device:
    """The device every chapter uses: cuda, then mps, then cpu (chosen once per process)."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def profile() -> str:
    """``"quick"`` when ``GENMODELS_QUICK=1``, else ``"gpu"`` with CUDA, else ``"cpu"``."""
    flag = os.environ.get("GENMODELS_QUICK", "").strip().lower()
    if flag in ("1", "true", "yes", "on"):
        return "quick"
    return "gpu" if torch.cuda.is_available() else "cpu"


class Settings(dict):
    """A dict whose keys can also be read as attributes: ``cfg.epochs``."""

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(
                f"no setting {key!r}; the active profile defines {sorted(self)}") from None

    def __setattr__(self, key, value):
        self[key] = value


def pick(quick: dict | None = None, cpu: dict | None = None, gpu: dict | None = None,
         profile: str | None = None, **common) -> Settings:
    """Return the settings of the active profile (or of the one named by ``profile``).

    ``common`` holds what all profiles share, ``cpu`` is the base, and ``quick`` and ``gpu``
    override it key by key, so a notebook only writes what differs::

        cfg = pick(quick=dict(epochs=1, n=2_000), cpu=dict(epochs=3, n=None), gpu=dict(epochs=30))

    A benchmark that runs a named profile passes it: ``pick(..., profile="cpu")``.
    """
    for name, value in (("quick", quick), ("cpu", cpu), ("gpu", gpu)):
        if value is not None and not isinstance(value, dict):
            raise TypeError(f"pick({name}=...) expects a dict of settings, got {type(value).__name__}")
    if profile is not None and profile not in PROFILES:
        raise ValueError(f"pick(profile=...) expects one of {PROFILES}, got {profile!r}")
    active = profile or globals()["profile"]()
    settings = Settings(common)
    settings.update(cpu or {})
    if active == "quick":
        settings.update(quick or {})
    elif active == "gpu":
        settings.update(gpu or {})
    return settings


def seed_everything(seed: int = 0, deterministic: bool = False) -> None:
    """Seed Python's, NumPy's and torch's generators; optionally ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


@contextlib.contextmanager
def seeded(seed: int):
    """A block in which torch's CPU generator is seeded with ``seed``; its old state comes back after.

    For building a model's initial weights reproducibly inside library code without
    changing the caller's random stream (which ``seed_everything`` would)."""
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        yield


def generator(seed: int = 0, device: torch.device | str | None = None) -> torch.Generator:
    """A seeded ``torch.Generator`` on ``device`` (default: the course's device)."""
    g = torch.Generator(device=device if device is not None else globals()["device"]())
    g.manual_seed(seed)
    return g


_CPU_BF16 = False  # switched on only inside ``cpu_bf16()`` (the benchmarks' --cpu-bf16)


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX, through oneDNN)."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


@contextlib.contextmanager
def cpu_bf16(enabled: bool = True):
    """Inside this block, :func:`autocast` on a CPU runs in bf16 (about 1.5x faster training
    on a CPU with native bf16; the weights, the optimizer and the losses stay fp32). Off by
    default: the notebooks' CPU runs stay fp32. Raises where the CPU has no native bf16,
    which would be slower than fp32."""
    global _CPU_BF16
    if enabled and not cpu_has_bf16():
        raise RuntimeError("cpu_bf16: this CPU has no native bf16 (AVX512-BF16 or AMX); "
                           "run without --cpu-bf16 (plain fp32)")
    before, _CPU_BF16 = _CPU_BF16, bool(enabled)
    try:
        yield
    finally:
        _CPU_BF16 = before


def autocast_dtype(capability: tuple[int, int] | None = None) -> torch.dtype | None:
    """The autocast dtype for the course's device: bf16 on CUDA GPUs of compute capability
    8.0 or newer (A100, H100, RTX 30xx and later), else ``None`` (plain fp32); on a CPU,
    bf16 only inside :func:`cpu_bf16`.

    The choice goes by compute capability, not by ``torch.cuda.is_bf16_supported()``: on a
    T4 (Colab's free GPU, sm75) that call can report *emulated* bf16, which runs slower than
    fp32. fp16 would be fast there but needs a gradient scaler in every loop; fp32 keeps
    every chapter's loop simple and is what a T4 runs below its tensor-core peak anyway.
    ``capability`` overrides the device's own (for tests).
    """
    if capability is None:
        if device().type == "cpu":
            return torch.bfloat16 if _CPU_BF16 else None
        if device().type != "cuda":
            return None
        capability = torch.cuda.get_device_capability()
    return torch.bfloat16 if tuple(capability) >= (8, 0) else None


def autocast(enabled: bool = True):
    """Mixed precision where it pays (bf16 on CUDA sm80+, or on a CPU inside
    :func:`cpu_bf16`); a no-op context elsewhere."""
    dtype = autocast_dtype()
    if not enabled or dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device().type, dtype=dtype)


def describe() -> str:
    """One line for the top of a notebook: profile, device and torch version."""
    dev = device()
    name = torch.cuda.get_device_name(0) if dev.type == "cuda" else dev.type
    return f"profile={profile()} device={name} torch={torch.__version__}"


def static_output() -> bool:
    """True when outputs are kept as a static page (``GENMODELS_STATIC=1``: the web book)."""
    return os.environ.get("GENMODELS_STATIC", "").strip().lower() in ("1", "true", "yes", "on")


def progress_bar(iterable=None, **kwargs):
    """A tqdm progress bar that suits where the output goes.

    * a live notebook (Jupyter, Colab): tqdm's widget bar;
    * a static page (``GENMODELS_STATIC=1``, the web book): nothing while it runs, then one
      line with its final state (count, time, rate and the last ``set_postfix`` values), so a
      page never shows a bar's frames or a widget it cannot render;
    * anywhere else (a terminal, a benchmark): tqdm's text bar.
    """
    from . import widgets

    if static_output():
        return FinalLineBar(iterable, **kwargs)
    if widgets.interactive_available():
        from tqdm.auto import tqdm
    else:
        from tqdm.std import tqdm
    return tqdm(iterable, **kwargs)


class FinalLineBar(_TextBar):
    """A text bar that draws no frames: it writes its final state once, when it closes
    (and nothing at all with ``leave=False``)."""

    def display(self, msg=None, pos=None):
        return False  # no frame while running (tqdm calls this on every refresh)

    def close(self):
        if self.disable:
            return
        leave = self.pos == 0 if self.leave is None else self.leave
        self._ema_dt = lambda: None  # report the overall rate, not the last smoothed one
        line = self.__str__()
        self.leave = False  # tqdm's own close then writes nothing
        super().close()
        if leave:
            self.fp.write(line + "\n")
            self.fp.flush()
