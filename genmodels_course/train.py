"""The one training loop every chapter uses.

A chapter writes only what is particular to its model, the *step*: it takes a batch (and,
if it wants it, the 0-based step index ``i``) and returns the loss (and, optionally, a dict
of other numbers to log). :func:`fit` does the rest: device-side batches, autocast,
backward, gradient clipping, the optimizer and its learning-rate scheduler, an exponential
moving average of the weights, a progress bar, a history, a guard against NaN losses, and
atomic checkpoints from which an interrupted run resumes exactly.

    def step(batch):
        (x,) = batch
        return loss_fn(model, x)

    history = fit(model, step, Batches(x_train, batch_size=128), optimizer=opt, epochs=5)
"""
from __future__ import annotations

import copy
import dataclasses
import inspect
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from . import runtime


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; the model holds the last weights known to be finite."""


class History(dict):
    """Logged values: ``history["loss"]`` is a list of floats, ``history["step"]`` the steps."""

    def log(self, step: int, values: dict) -> None:
        self.setdefault("step", []).append(int(step))
        for k, v in values.items():
            self.setdefault(k, []).append(float(v))

    def last(self, key: str = "loss") -> float:
        return self[key][-1]

    def mean(self, key: str = "loss", last: int = 50) -> float:
        values = self[key][-last:]
        return sum(values) / len(values)


class EMA:
    """An exponential moving average of a model's weights (``decay`` close to 1).

    Sampling from the averaged weights usually gives better images than the raw ones
    (diffusion, GANs); ``module`` is the averaged copy, ``copy_to(model)`` overwrites a model.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for e, p in zip(self.module.parameters(), model.parameters()):
            e.lerp_(p.detach(), 1.0 - self.decay)
        for e, b in zip(self.module.buffers(), model.buffers()):
            e.copy_(b)

    def copy_to(self, model: nn.Module) -> None:
        model.load_state_dict(self.module.state_dict())

    def state_dict(self) -> dict:
        return self.module.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state)


# ---------------------------------------------------------------- checkpoints
def _plain(config):
    if config is None:
        return None
    if dataclasses.is_dataclass(config):
        return {"__class__": type(config).__name__, **dataclasses.asdict(config)}
    if isinstance(config, dict):
        return dict(config)
    raise TypeError(f"config must be a dataclass or a dict, got {type(config).__name__}")


def save_checkpoint(path, **state) -> Path:
    """Write ``state`` to ``path`` atomically: a temporary file in the same folder, then a rename.

    A crash during the write leaves the previous checkpoint intact. Configs (dataclasses)
    are stored as plain dicts so that loading needs no pickled classes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if "config" in state:
        state["config"] = _plain(state["config"])
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def load_checkpoint(path, map_location=None) -> dict:
    """Load a checkpoint with ``weights_only=True`` (tensors and plain Python values only)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    return torch.load(path, map_location=map_location or "cpu", weights_only=True)


# ---------------------------------------------------------------- the loop
@dataclasses.dataclass
class Checkpointing:
    """Where and how often :func:`fit` checkpoints: ``fit(..., checkpoint=Checkpointing(path))``.

    ``path``: the file; if it exists the run resumes from it. ``every``: steps between
    writes (default: a tenth of the run; the last step is always written). ``config``: a
    dataclass (or dict) stored with the weights. ``generators``: named ``torch.Generator``
    objects the step draws from, whose states are saved and restored so that a resumed run
    draws the same noise as an uninterrupted one.
    """

    path: str | os.PathLike
    every: int | None = None
    config: object = None
    generators: dict | None = None

    def __post_init__(self):
        self.path = Path(self.path)
        if self.every is not None and self.every <= 0:
            raise ValueError(f"Checkpointing.every must be positive, got {self.every}")


def _as_checkpointing(checkpoint) -> Checkpointing | None:
    if checkpoint is None or isinstance(checkpoint, Checkpointing):
        return checkpoint
    if isinstance(checkpoint, (str, os.PathLike)):
        return Checkpointing(checkpoint)
    raise TypeError("checkpoint must be a path or a gm.train.Checkpointing(path, every=..., config=...)")


def _as_dict(optimizer) -> dict:
    if optimizer is None:
        return {}
    if isinstance(optimizer, torch.optim.Optimizer):
        return {"opt": optimizer}
    if isinstance(optimizer, dict) and all(isinstance(o, torch.optim.Optimizer) for o in optimizer.values()):
        return dict(optimizer)
    raise TypeError("optimizer must be a torch optimizer or a dict of them")


def _as_schedulers(scheduler) -> dict:
    if scheduler is None:
        return {}
    kinds = torch.optim.lr_scheduler.LRScheduler
    if isinstance(scheduler, kinds):
        return {"sched": scheduler}
    if isinstance(scheduler, dict) and all(isinstance(s, kinds) for s in scheduler.values()):
        return dict(scheduler)
    raise TypeError("scheduler must be a torch.optim.lr_scheduler object (stepped once per step) or a dict of them")


def _takes_index(step: Callable) -> bool:
    """True when ``step`` has two required positional parameters: ``step(batch, i)``."""
    try:
        params = inspect.signature(step).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    required = [p for p in params if p.kind in positional and p.default is inspect.Parameter.empty]
    return len(required) >= 2


def _to_float(v) -> float:
    return float(v.detach().float().item()) if isinstance(v, torch.Tensor) else float(v)


def _finite_params(model: nn.Module) -> bool:
    return all(torch.isfinite(p).all() for p in model.parameters())


def fit(model: nn.Module, step: Callable, batches, *, optimizer=None, steps: int | None = None,
        epochs: float | None = None, scheduler=None, grad_clip: float | None = None,
        ema: EMA | None = None, manual: bool = False, amp: bool = True, checkpoint=None,
        log_every: int | None = None, guard_every: int = 50, desc: str = "train",
        progress: bool = True, history: History | None = None,
        max_seconds: float | None = None) -> History:
    """Train ``model`` for ``steps`` optimizer steps (or ``epochs`` passes over ``batches``).

    * ``step(batch)`` or ``step(batch, i)`` (``i``: the 0-based step index, for warm-ups and
      schedules of the step's own) returns a loss tensor, or ``(loss, logs)``; with
      ``manual=True`` it updates the weights itself (GANs: several optimizers) and returns a
      dict of logs. Logged values may be 0-d tensors: they are read only on logged steps.
    * ``batches`` is a :class:`genmodels_course.data.Batches` (anything with ``next_batch()``,
      ``len()`` and ``state_dict()`` works).
    * ``scheduler``: a ``torch.optim.lr_scheduler`` object, or a dict of them (one per
      optimizer), stepped once after every training step.
    * ``checkpoint``: a path or a :class:`Checkpointing`; if the file exists the run resumes
      from it, and it is rewritten (atomically) every ``Checkpointing.every`` steps and at
      the end.
    * Logged values are read every ``log_every`` steps (default: every step on a CPU, every
      10th on a GPU, where each read is a sync). A NaN or infinite value among them raises
      :class:`NonFiniteLossError` after restoring the last snapshot (taken every
      ``guard_every`` steps) whose weights were finite.
    * ``max_seconds``: stop after this much wall time even if ``steps`` are not done (a
      benchmark with a fixed time budget); ``history.steps_done`` says how many ran.
    """
    if (steps is None) == (epochs is None):
        raise ValueError("give exactly one of steps=... or epochs=...")
    if steps is None:
        if epochs <= 0:
            raise ValueError(f"epochs must be positive, got {epochs}")
        steps = max(1, math.ceil(epochs * len(batches)))
    if steps <= 0:
        raise ValueError(f"steps must be positive, got {steps}")
    optimizers, schedulers = _as_dict(optimizer), _as_schedulers(scheduler)
    if not optimizers and not manual:
        raise ValueError("fit needs optimizer=... (or manual=True when step updates the weights itself)")
    ckpt = _as_checkpointing(checkpoint)
    generators = dict(ckpt.generators or {}) if ckpt is not None else {}
    with_index = _takes_index(step)
    history = history if history is not None else History()
    start = 0
    if ckpt is not None and ckpt.path.exists():
        state = load_checkpoint(ckpt.path, map_location=next(model.parameters()).device)
        model.load_state_dict(state["model"])
        for k, opt in optimizers.items():
            opt.load_state_dict(state["optimizers"][k])
        for k, sched in schedulers.items():
            sched.load_state_dict(state["schedulers"][k])
        for k, g in generators.items():
            g.set_state(state["generators"][k].cpu())
        if ema is not None and state.get("ema") is not None:
            ema.load_state_dict(state["ema"])
        batches.load_state_dict(state["batches"])
        torch.set_rng_state(state["torch_rng"].cpu())
        history.clear()
        history.update({k: list(v) for k, v in state["history"].items()})
        start = int(state["step"])
    every = (ckpt.every if ckpt is not None else None) or max(1, steps // 10)
    if log_every is None:  # every step on the CPU; on a GPU, every 10th to avoid a sync per step
        log_every = 10 if runtime.device().type == "cuda" else 1
    if log_every <= 0 or guard_every <= 0:
        raise ValueError("log_every and guard_every must be positive")
    if max_seconds is not None and max_seconds <= 0:
        raise ValueError(f"max_seconds must be positive, got {max_seconds}")
    deadline = None if max_seconds is None else time.monotonic() + max_seconds

    def write_checkpoint(done: int):
        save_checkpoint(ckpt.path, model=model.state_dict(),
                        optimizers={k: o.state_dict() for k, o in optimizers.items()},
                        schedulers={k: s.state_dict() for k, s in schedulers.items()},
                        generators={k: g.get_state() for k, g in generators.items()},
                        ema=ema.state_dict() if ema is not None else None,
                        batches=batches.state_dict(), torch_rng=torch.get_rng_state(),
                        history=dict(history), step=done, config=ckpt.config)

    snapshot = copy.deepcopy(model.state_dict())
    model.train()
    bar = runtime.progress_bar(range(start, steps), desc=desc, initial=start, total=steps, disable=not progress,
               dynamic_ncols=True, leave=True)
    for i in bar:
        batch = batches.next_batch()
        done = i + 1
        # past max_seconds this step is the last one: logged and checkpointed like the final step
        out_of_time = deadline is not None and time.monotonic() >= deadline
        last = done == steps or out_of_time
        # Reading a number off the GPU forces a sync, so values are read (and checked for
        # NaN) only on logged steps; the guard's snapshot covers the steps in between.
        read = done % log_every == 0 or last
        with runtime.autocast(enabled=amp):
            out = step(batch, i) if with_index else step(batch)
        if manual:
            if not isinstance(out, dict):
                raise TypeError("with manual=True, step(batch) must return a dict of logged values")
            loss, raw = None, out
        else:
            loss, raw = (out if isinstance(out, tuple) else (out, {}))
            if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
                raise TypeError("step(batch) must return a scalar loss tensor (or (loss, logs))")
            raw = {"loss": loss, **raw}
        if read:
            logs = {k: _to_float(v) for k, v in raw.items()}
            bad = [k for k, v in logs.items() if not math.isfinite(v)]
            if bad:
                model.load_state_dict(snapshot)
                raise NonFiniteLossError(
                    f"{desc}: {', '.join(bad)} became {logs[bad[0]]} at step {i}. The model now holds the "
                    f"last weights known to be finite (from step {max(0, i - i % guard_every)} or later). "
                    "Try a smaller learning rate, gradient clipping (grad_clip=1.0), or check the data for NaNs.")
        if not manual:
            for opt in optimizers.values():
                opt.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            for opt in optimizers.values():
                opt.step()
        for sched in schedulers.values():
            sched.step()
        if ema is not None:
            ema.update(model)
        if done % guard_every == 0 and _finite_params(model):
            snapshot = copy.deepcopy(model.state_dict())
        if read:
            history.log(done, logs)
            bar.set_postfix({k: f"{v:.4g}" for k, v in list(logs.items())[:4]}, refresh=False)
        if ckpt is not None and (done % every == 0 or last):
            write_checkpoint(done)
        if out_of_time:
            break
    bar.close()
    history.steps_done = done if start < steps else start
    return history
