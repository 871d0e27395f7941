"""The exercise machinery: ``check`` a learner's function against the reference.

A chapter module registers each exercise when it is imported::

    exercises.register("vae.gaussian_kl", reference=gaussian_kl, cases=_kl_cases,
                       hint="KL = 1/2 sum(sigma^2 + mu^2 - 1 - log sigma^2) over the last dim.")

and a notebook checks the learner's version, then goes on with whichever function is right::

    gaussian_kl = gm.exercises.check("vae.gaussian_kl", gaussian_kl)

Nothing the learner writes can crash the notebook here: exceptions, wrong shapes, wrong
dtypes and NaNs are reported in plain words, and the reference is returned instead.
"""
from __future__ import annotations

import copy
import dataclasses
import importlib
import inspect
import math
import textwrap
import traceback
from typing import Any, Callable

import numpy as np
import torch


@dataclasses.dataclass
class Case:
    """One test input: ``fn(*args, **kwargs)``; ``note`` says what the case probes."""

    args: tuple = ()
    kwargs: dict = dataclasses.field(default_factory=dict)
    note: str = ""


@dataclasses.dataclass
class Exercise:
    name: str
    reference: Callable
    cases: Callable[[], list]
    hint: str
    atol: float = 1e-5
    rtol: float = 1e-4
    compare: Callable[[Any, Any], str | None] | None = None


@dataclasses.dataclass
class Verdict:
    """The outcome of a check: ``passed`` and a message for the learner."""

    passed: bool
    message: str

    def __bool__(self):
        return self.passed


_REGISTRY: dict[str, Exercise] = {}


def register(name: str, reference: Callable, cases: Callable[[], list], hint: str, *,
             atol: float = 1e-5, rtol: float = 1e-4,
             compare: Callable[[Any, Any], str | None] | None = None) -> None:
    """Add an exercise. ``cases()`` returns a list of :class:`Case` (built lazily, seeded)."""
    if "." not in name:
        raise ValueError(f"exercise names look like '<module>.<function>', got {name!r}")
    _REGISTRY[name] = Exercise(name, reference, cases, hint, atol, rtol, compare)


def _lookup(name: str) -> Exercise:
    if name not in _REGISTRY:
        module = name.split(".")[0]
        try:
            importlib.import_module(f"genmodels_course.{module}")
        except ModuleNotFoundError:
            pass
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY)) or "none loaded yet"
        raise KeyError(f"no exercise named {name!r}; known exercises: {known}")
    return _REGISTRY[name]


def names() -> list[str]:
    """The names of all registered exercises (importing every chapter module first)."""
    import genmodels_course as gm

    for module in gm._CHAPTER_MODULES:
        try:
            importlib.import_module(f"genmodels_course.{module}")
        except ModuleNotFoundError:
            pass
    return sorted(_REGISTRY)


# ---------------------------------------------------------------- comparing outputs
def _describe(x) -> str:
    if isinstance(x, torch.Tensor):
        return f"tensor of shape {tuple(x.shape)} and dtype {x.dtype}"
    if isinstance(x, np.ndarray):
        return f"array of shape {x.shape} and dtype {x.dtype}"
    return type(x).__name__


def compare_outputs(got, expected, atol: float = 1e-5, rtol: float = 1e-4, where: str = "output") -> str | None:
    """Return ``None`` when ``got`` matches ``expected``, else a sentence saying what differs."""
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return f"the {where} should be a {type(expected).__name__} of {len(expected)} items, got {_describe(got)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            problem = compare_outputs(g, e, atol, rtol, f"{where}[{i}]")
            if problem:
                return problem
        return None
    if isinstance(expected, dict):
        if not isinstance(got, dict) or set(got) != set(expected):
            return f"the {where} should be a dict with keys {sorted(expected)}, got {_describe(got)}"
        for k in expected:
            problem = compare_outputs(got[k], expected[k], atol, rtol, f"{where}[{k!r}]")
            if problem:
                return problem
        return None
    if isinstance(expected, (torch.Tensor, np.ndarray)):
        as_tensor = torch.as_tensor
        if isinstance(expected, torch.Tensor) and not isinstance(got, torch.Tensor):
            return f"the {where} should be a torch tensor, got {_describe(got)}"
        if isinstance(expected, np.ndarray) and not isinstance(got, (np.ndarray, torch.Tensor)):
            return f"the {where} should be an array, got {_describe(got)}"
        g, e = as_tensor(got).detach().cpu(), as_tensor(expected).detach().cpu()
        if tuple(g.shape) != tuple(e.shape):
            return (f"the {where} has shape {tuple(g.shape)} but should have shape {tuple(e.shape)}"
                    " (check which dimension you sum or average over)")
        if g.dtype.is_floating_point != e.dtype.is_floating_point or g.dtype == torch.bool and e.dtype != torch.bool:
            return f"the {where} has dtype {g.dtype} but should have dtype {e.dtype}"
        if g.dtype.is_floating_point:
            if torch.isnan(g).any() and not torch.isnan(e).any():
                return f"the {where} contains NaN (a log of zero or a division by zero?)"
            if torch.isinf(g).any() and not torch.isinf(e).any():
                return f"the {where} contains infinite values (an overflow: try the log-sum-exp trick)"
            if not torch.allclose(g.double(), e.double(), atol=atol, rtol=rtol, equal_nan=True):
                err = (g.double() - e.double()).abs().nan_to_num(0.0).max().item()
                return f"the {where} has the right shape but wrong values (largest difference {err:.3g})"
            return None
        if not torch.equal(g, e.to(g.dtype)):
            return f"the {where} has the right shape but wrong values"
        return None
    if isinstance(expected, (int, float, np.number)) and not isinstance(expected, bool):
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if not isinstance(got, (int, float, np.number)) or isinstance(got, bool):
            return f"the {where} should be a number, got {_describe(got)}"
        if math.isnan(float(got)) and not math.isnan(float(expected)):
            return f"the {where} is NaN"
        if not math.isclose(float(got), float(expected), rel_tol=rtol, abs_tol=atol):
            return f"the {where} is {float(got):.6g} but should be {float(expected):.6g}"
        return None
    if got != expected:
        return f"the {where} is {got!r} but should be {expected!r}"
    return None


def _short_error(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = ""
    for frame in reversed(frames):
        if "genmodels_course" not in frame.filename:
            where = f" (line {frame.lineno}: `{(frame.line or '').strip()}`)"
            break
    return f"{type(exc).__name__}: {exc}{where}"


def evaluate(name: str, fn: Callable) -> Verdict:
    """Run ``fn`` against the reference of exercise ``name`` on all its cases, silently."""
    ex = _lookup(name)
    if not callable(fn):
        return Verdict(False, f"expected a function for {name!r}, got {type(fn).__name__}")
    cases = ex.cases()
    for i, case in enumerate(cases, 1):
        label = f"case {i}/{len(cases)}" + (f" ({case.note})" if case.note else "")
        expected = ex.reference(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
        try:
            got = fn(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
        except NotImplementedError:
            return Verdict(False, "not implemented yet: replace `raise NotImplementedError` with your code")
        except Exception as exc:  # the learner's bug must never crash the notebook
            return Verdict(False, f"{label}: your function raised {_short_error(exc)}")
        try:
            if ex.compare is not None:
                problem = ex.compare(got, expected)
            else:
                problem = compare_outputs(got, expected, ex.atol, ex.rtol)
        except Exception as exc:
            problem = f"its output could not be compared with the reference ({_short_error(exc)})"
        if problem:
            return Verdict(False, f"{label}: {problem}")
    return Verdict(True, f"all {len(cases)} cases match the reference")


def check(name: str, fn: Callable) -> Callable:
    """Check the learner's ``fn``; print a verdict; return ``fn`` if right, else the reference."""
    ex = _lookup(name)
    verdict = evaluate(name, fn)
    if verdict.passed:
        print(f"[{name}] correct: {verdict.message}.")
        return fn
    print(f"[{name}] not yet: {verdict.message}.")
    print(textwrap.fill(f"Hint: {ex.hint}", width=100, subsequent_indent="      "))
    print(f"The notebook continues with the reference; gm.exercises.solution({name!r}) prints it.")
    return ex.reference


def solution(name: str) -> None:
    """Print the source of the reference implementation of exercise ``name``."""
    ex = _lookup(name)
    try:
        source = inspect.getsource(ex.reference)
    except (OSError, TypeError):
        source = f"(source not available for {ex.reference!r})"
    print(textwrap.dedent(source))
