"""Shipped weights: small models that the course's own benchmark scripts trained.

Where a chapter's live run cannot reach convincing samples on the reader's machine, the
chapter also loads weights that ``benchmarks/<chapter>.py --save-weights`` trained (on a
GPU where one was available, else in a long CPU run) and shows them under a clear label.
Each entry of the folder ``genmodels_course/shipped/`` is two files:

* ``<name>.safetensors``: the state dict (safetensors, never pickle; fp16 where it does
  not hurt), loaded back as fp32;
* ``<name>.json``: its manifest: how to build the model (``builder`` and ``config``), the
  command that trained it, the profile, the machine, the wall time, the step count, the
  benchmark's quality numbers on it and the file's sha256.

    net, manifest = gm.weights.load("vae_mnist")
    print(gm.weights.label("vae_mnist"))   # trained by `benchmarks/03_elbo_vae.py ...` on ...

A missing or damaged file raises :class:`WeightsError`, whose message names the file and
the command that trains it again.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import tempfile
from pathlib import Path

import torch

SHIPPED = Path(__file__).resolve().parent / "shipped"
MAX_TOTAL_BYTES = 20 * 2**20  # everything shipped together stays under 20 MB

_REQUIRED = ("name", "builder", "config", "command", "profile", "machine", "wall_time_s",
             "steps", "metrics", "sha256", "file", "dtype")


class WeightsError(RuntimeError):
    """A shipped model is missing, damaged or does not fit its manifest."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _atomic_write(path: Path, write) -> None:
    """Write through a temporary file in the same folder, then rename: never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; package data must be readable
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def available(folder: Path | str = SHIPPED) -> list[str]:
    """Names of the shipped models (one per manifest)."""
    return sorted(p.stem for p in Path(folder).glob("*.json"))


def manifest(name: str, folder: Path | str = SHIPPED) -> dict:
    """The manifest of ``name`` as a dict."""
    path = Path(folder) / f"{name}.json"
    if not path.is_file():
        known = ", ".join(available(folder)) or "none"
        raise WeightsError(f"no shipped weights named {name!r}: {path} does not exist "
                           f"(shipped: {known})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise WeightsError(f"{path} is not valid JSON ({exc}); restore it from the repository") from exc
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise WeightsError(f"{path} lacks the manifest fields {missing}")
    return data


def _retrain_hint(meta: dict) -> str:
    return f"train them again with `{meta['command']}` (or restore the file from the repository)"


def load_state_dict(name: str, folder: Path | str = SHIPPED, verify: bool = True) -> tuple[dict, dict]:
    """``(state_dict, manifest)`` of ``name``, fp32 tensors on the CPU, checksum verified."""
    from safetensors.torch import load_file

    meta = manifest(name, folder)
    path = Path(folder) / meta["file"]
    if not path.is_file():
        raise WeightsError(f"the weights file {path} is missing; {_retrain_hint(meta)}")
    if verify:
        found = _sha256(path)
        if found != meta["sha256"]:
            raise WeightsError(f"{path} is damaged: its sha256 is {found[:12]}..., the manifest "
                               f"says {meta['sha256'][:12]}...; {_retrain_hint(meta)}")
    try:
        state = load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types
        raise WeightsError(f"{path} cannot be read as safetensors ({exc}); {_retrain_hint(meta)}") from exc
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    return state, meta


def _resolve(builder: str):
    module_name, _, attr = builder.partition(":")
    if not attr:
        raise WeightsError(f"builder {builder!r} must read 'package.module:callable'")
    obj = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _build(builder: str, config: dict, config_class: str | None = None):
    """``builder(**config)``, or ``builder(config_class(**config))`` for models that take a
    config dataclass (``VAE(VAEConfig(...))``)."""
    if config_class:
        return _resolve(builder)(_resolve(config_class)(**config))
    return _resolve(builder)(**config)


def load(name: str, device: torch.device | str | None = None, folder: Path | str = SHIPPED):
    """Build the model that the manifest names, load its weights; returns ``(model, manifest)``.

    The model is in eval mode on ``device`` (default: the course's device).
    """
    from . import runtime

    state, meta = load_state_dict(name, folder)
    model = _build(meta["builder"], meta["config"], meta.get("config_class"))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"the weights of {name!r} do not fit {meta['builder']}({meta['config']}): "
                           f"{exc}; {_retrain_hint(meta)}") from exc
    return model.to(device if device is not None else runtime.device()).eval(), meta


def _duration(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def label(name: str, folder: Path | str = SHIPPED) -> str:
    """One line for the notebook: who trained these weights, where, how long."""
    meta = manifest(name, folder)
    return (f"shipped weights {name!r}: trained by `{meta['command']}` on {meta['machine']} "
            f"in {_duration(meta['wall_time_s'])} ({meta['steps']:,} steps, {meta['profile']} profile)")


@torch.no_grad()
def round_as_saved(model: torch.nn.Module, dtype: torch.dtype = torch.float16) -> torch.nn.Module:
    """Round every floating-point tensor of ``model``'s state (parameters and buffers, such as
    batch-norm statistics) in place to ``dtype`` and back, as :func:`save` stores them: numbers
    measured on the model afterwards are the numbers of the file that ships. Returns ``model``."""
    for v in model.state_dict().values():
        if v.is_floating_point():
            v.copy_(v.to(dtype).to(v.dtype))
    return model


def save(name: str, model: torch.nn.Module, *, builder: str, config: dict, command: str,
         config_class: str | None = None,
         profile: str, machine: str, wall_time_s: float, steps: int, metrics: dict,
         dtype: torch.dtype = torch.float16, folder: Path | str = SHIPPED, **extra) -> dict:
    """Write ``<name>.safetensors`` and its manifest (both atomically); returns the manifest.

    Floating-point tensors are stored as ``dtype`` (fp16 by default: half the size, and
    indistinguishable in samples for the course's models; pass ``torch.float32`` where the
    benchmark's numbers move). ``builder(**config)`` (or ``builder(config_class(**config))``)
    must rebuild the model.
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    state = {k: (v.detach().to("cpu", dtype) if v.is_floating_point() else v.detach().cpu()).contiguous()
             for k, v in model.state_dict().items()}
    rebuilt = _build(builder, config, config_class)
    missing = set(rebuilt.state_dict()) ^ set(state)
    if missing:
        raise WeightsError(f"{builder}({config}) does not rebuild this model: keys differ {sorted(missing)[:5]}")
    file = f"{name}.safetensors"
    _atomic_write(folder / file, lambda tmp: save_file(state, tmp))
    meta = {"name": name, "builder": builder, "config": config, "command": command,
            **({"config_class": config_class} if config_class else {}),
            "profile": profile, "machine": machine, "wall_time_s": round(float(wall_time_s), 1),
            "steps": int(steps), "metrics": metrics, "file": file,
            "dtype": str(dtype).removeprefix("torch."), "bytes": (folder / file).stat().st_size,
            "sha256": _sha256(folder / file), **extra}
    text = json.dumps(meta, indent=2, sort_keys=False) + "\n"
    _atomic_write(folder / f"{name}.json", lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    total = sum(p.stat().st_size for p in folder.glob("*.safetensors"))
    if folder.resolve() == SHIPPED.resolve() and total > MAX_TOTAL_BYTES:
        raise WeightsError(f"the shipped weights now take {total / 2**20:.1f} MB, over the "
                           f"{MAX_TOTAL_BYTES / 2**20:.0f} MB that the package may carry")
    return meta


def update_metrics(name: str, metrics: dict, *, command: str, folder: Path | str = SHIPPED) -> dict:
    """Replace the quality numbers in the manifest of ``name`` by ones measured again (after
    the package's measuring code changed), leaving the weights untouched; the manifest
    records the ``command`` that measured them as ``metrics_command``. Returns the manifest.
    The file's checksum is verified first: numbers are never attached to damaged weights."""
    load_state_dict(name, folder)  # raises WeightsError if the file is missing or damaged
    meta = manifest(name, folder)
    if not metrics:
        raise WeightsError(f"update_metrics({name!r}) got no numbers")
    meta["metrics"] = metrics
    meta["metrics_command"] = command
    text = json.dumps(meta, indent=2, sort_keys=False) + "\n"
    _atomic_write(Path(folder) / f"{name}.json", lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return meta


def chain(init: dict, *, command: str, machine: str, wall_time_s: float, steps: int) -> dict:
    """The provenance of weights that went on training shipped weights ``init`` (a manifest):
    ``{"command", "machine", "wall_time_s", "steps", "init_from"}`` for :func:`save`. The
    commands are joined with ``&&`` (run in turn, they reproduce the weights), steps and
    times add up, and ``init_from`` keeps what ``init``'s manifest said of itself (with its own
    ``init_from`` inside when it was a chain too, so every run of a longer chain is kept)."""
    if init["steps"] <= 0 or steps <= 0:
        raise ValueError(f"both runs of a chain must have trained: got {init['steps']} and {steps} steps")
    first = {k: init[k] for k in ("name", "command", "machine", "wall_time_s", "steps", "sha256")}
    first["training"] = init.get("training")
    if init.get("init_from"):
        first["init_from"] = init["init_from"]
    return {"command": f"{init['command']} && {command}",
            "machine": machine if init["machine"] == machine else f"{init['machine']}, then {machine}",
            "wall_time_s": float(init["wall_time_s"]) + float(wall_time_s),
            "steps": int(init["steps"]) + int(steps), "init_from": first}


def describe_machine() -> str:
    """A short description of this machine for a manifest: the GPU's name, or the CPU."""
    import platform

    if torch.cuda.is_available():
        return f"one {torch.cuda.get_device_name(0)} GPU"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"{cores} CPU core{'s' if cores != 1 else ''} "
            f"({platform.machine()}, torch {torch.__version__.split('+')[0]})")


def _script(command: str) -> str:
    """The benchmark script of each run of a (chained) command, with its --dataset or --model."""
    out = []
    for run in command.split("&&"):
        words = run.split()[1:]  # without "python"
        keep = [words[0].removeprefix("benchmarks/")]
        for flag in ("--dataset", "--model"):
            if flag in words[:-1]:
                keep.append(f"{flag} {words[words.index(flag) + 1]}")
        out.append(" ".join(keep))
    return " + ".join(dict.fromkeys(out))  # each distinct run once


def table(folder: Path | str = SHIPPED) -> str:
    """Every shipped model in one Markdown table: its benchmark script, the machine, the
    training time and steps, and the file's size (read from the manifests)."""
    rows = ["| name | trained by `benchmarks/...` | on | time | steps | size |",
            "| --- | --- | --- | --- | --- | --- |"]
    total = 0
    for name in available(folder):
        meta = manifest(name, folder)
        total += meta["bytes"]
        rows.append(f"| `{name}` | `{_script(meta['command'])}` | {meta['machine']} | "
                    f"{_duration(meta['wall_time_s'])} | {meta['steps']:,} | "
                    f"{meta['bytes'] / 2**20:.2f} MB ({meta['dtype']}) |")
    rows.append(f"| all | | | | | {total / 2**20:.2f} MB of {MAX_TOTAL_BYTES / 2**20:.0f} MB |")
    return "\n".join(rows) + "\n"


_BEGIN, _END = "<!-- table: python -m genmodels_course shipped --readme -->", "<!-- end of table -->"


def readme_with_table(text: str, folder: Path | str = SHIPPED) -> str:
    """``text`` (the shipped folder's README.md) with the part between its table markers
    replaced by :func:`table` (the markers are added at the end where missing)."""
    if _BEGIN not in text:
        text = text.rstrip("\n") + f"\n\n{_BEGIN}\n{_END}\n"
    head, rest = text.split(_BEGIN, 1)
    return f"{head}{_BEGIN}\n{table(folder)}{_END}{rest.split(_END, 1)[1]}"
