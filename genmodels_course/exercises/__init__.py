"""The exercise machinery: ``check`` a learner's function against the reference.

The cases live next door, one module per chapter (``exercises/vae.py`` for the names
``"vae.*"``, ``exercises/gan.py`` for ``"gan.*"``, ...). Each registers its exercises when it
is imported, which :func:`check` does lazily from the name before the dot::

    from .. import vae
    from . import Case, register

    def _kl_cases():
        g = torch.Generator().manual_seed(0)       # randomness only through this generator
        return [Case(args=(torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g)))]

    register("vae.gaussian_kl", reference=vae.gaussian_kl, cases=_kl_cases, grad=True,
             hint="KL = 1/2 sum(sigma^2 + mu^2 - 1 - log sigma^2) over the last dim.")

and a notebook checks the learner's version, then goes on with whichever function is right::

    gaussian_kl = gm.exercises.check("vae.gaussian_kl", gaussian_kl)

Nothing the learner writes can crash the notebook here: exceptions (``SystemExit``
included), wrong shapes, wrong dtypes, NaNs and outputs cut off from the gradient are
reported in plain words, and the reference is returned instead.
"""
from __future__ import annotations

import copy
import dataclasses
import importlib
import importlib.util
import inspect
import math
import pkgutil
import textwrap
import traceback
from typing import Any, Callable

import numpy as np
import torch

__all__ = ["Case", "Exercise", "Verdict", "register", "check", "evaluate", "solution", "names",
           "compare_outputs", "DETACHED"]

# What a learner reads when the output of a loss cannot be trained through.
DETACHED = ("your output is detached from the inputs (no gradient flows back): do not use .detach(), "
            ".item(), numpy or torch.no_grad() inside the function")


@dataclasses.dataclass
class Case:
    """One test input: ``fn(*args, **kwargs)``; ``note`` says what the case probes.

    ``grad=False`` skips the gradient comparison on this case when the exercise has one
    (for inputs that sit on a kink, such as logits of exactly 0 for ``relu``/``abs``
    formulations, where correct functions may return different subgradients).
    """

    args: tuple = ()
    kwargs: dict = dataclasses.field(default_factory=dict)
    note: str = ""
    grad: bool = True


@dataclasses.dataclass
class Exercise:
    name: str
    reference: Callable
    cases: Callable[[], list]
    hint: str
    atol: float = 1e-5
    rtol: float = 1e-4
    compare: Callable[[Any, Any], str | None] | None = None
    grad: bool | tuple[str, ...] = False


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
             compare: Callable[[Any, Any], str | None] | None = None,
             grad: bool | tuple[str, ...] = False) -> None:
    """Add an exercise.

    ``name`` is ``"<chapter>.<function>"``; the cases module ``exercises/<chapter>.py`` calls
    this at import time. ``cases()`` returns a list of :class:`Case`, built lazily, with its
    randomness drawn from ``torch.Generator``s seeded inside it. ``atol`` and ``rtol`` are this
    exercise's tolerances (values and gradients); ``compare(got, expected) -> str | None``
    replaces the default comparison. ``grad`` is for functions that feed a loss: ``True``
    makes every floating-point tensor argument require gradients, a tuple of the reference's
    parameter names only those; the learner's output must then stay attached to them and
    have the reference's gradients (of a fixed random projection of the output).
    """
    if "." not in name:
        raise ValueError(f"exercise names look like '<module>.<function>', got {name!r}")
    if not (isinstance(grad, bool) or (isinstance(grad, tuple) and all(isinstance(g, str) for g in grad))):
        raise ValueError(f"grad should be True, False or a tuple of argument names, got {grad!r}")
    if isinstance(grad, tuple):
        params = inspect.signature(reference).parameters
        unknown = [g for g in grad if g not in params]
        if unknown:
            raise ValueError(f"grad names {unknown} are not arguments of {reference.__name__}{inspect.signature(reference)}")
    _REGISTRY[name] = Exercise(name, reference, cases, hint, atol, rtol, compare, grad)


def _cases_module(chapter: str) -> str | None:
    """The full name of the cases module for ``chapter``, or ``None`` when there is none."""
    if not chapter.isidentifier() or chapter.startswith("_"):
        return None
    full = f"{__name__}.{chapter}"
    return full if importlib.util.find_spec(full) is not None else None


def _lookup(name: str) -> Exercise:
    if name not in _REGISTRY:
        module = _cases_module(name.split(".")[0])
        if module is not None:
            importlib.import_module(module)
    if name not in _REGISTRY:
        known = ", ".join(names()) or "none"
        raise KeyError(f"no exercise named {name!r}; known exercises: {known}")
    return _REGISTRY[name]


def names() -> list[str]:
    """The names of all registered exercises (importing every cases module first)."""
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
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


# What a learner's code may raise and still be reported in words: every error, and also
# SystemExit (an ``exit()`` or ``sys.exit()`` left in a cell). KeyboardInterrupt passes through.
_LEARNER_ERRORS = (Exception, SystemExit)


def _short_error(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = ""
    for frame in reversed(frames):
        if "genmodels_course" not in frame.filename:
            where = f" (line {frame.lineno}: `{(frame.line or '').strip()}`)"
            break
    return f"{type(exc).__name__}: {exc}{where}"


# ---------------------------------------------------------------- comparing gradients
def _grad_targets(ex: Exercise, args: tuple, kwargs: dict) -> list[tuple[str, bool, Any]]:
    """``(label, is_positional, index_or_key)`` of the arguments that should require gradients."""
    params = [p.name for p in inspect.signature(ex.reference).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    slots = [(params[i] if i < len(params) else f"argument {i + 1}", True, i) for i in range(len(args))]
    slots += [(k, False, k) for k in kwargs]
    out = []
    for label, positional, key in slots:
        value = args[key] if positional else kwargs[key]
        if not (isinstance(value, torch.Tensor) and value.dtype.is_floating_point):
            continue
        if ex.grad is True or label in ex.grad:
            out.append((label, positional, key))
    return out


def _with_grad(ex: Exercise, case: Case):
    """Fresh copies of a case's inputs, the chosen ones requiring gradients.

    Returns ``(args, kwargs, leaves)`` where ``leaves`` maps a label to the leaf tensor whose
    ``.grad`` we read. The function gets a non-leaf view of each leaf (``leaf * 1``), so that
    in-place operations behave as they do in training code.
    """
    args, kwargs = list(copy.deepcopy(case.args)), copy.deepcopy(case.kwargs)
    leaves = {}
    for label, positional, key in _grad_targets(ex, tuple(args), kwargs):
        leaf = (args[key] if positional else kwargs[key]).detach().clone().requires_grad_(True)
        leaves[label] = leaf
        if positional:
            args[key] = leaf * 1
        else:
            kwargs[key] = leaf * 1
    return tuple(args), kwargs, leaves


def _tensors(out) -> list:
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _tensors(o)]
    if isinstance(out, dict):
        return [t for k in sorted(out, key=repr) for t in _tensors(out[k])]
    return [out]


def _projected_grads(out, expected_like, leaves: dict) -> dict:
    """Gradients of ``sum_i <out_i, R_i>`` (``R_i`` fixed Gaussian) with respect to ``leaves``."""
    g = torch.Generator().manual_seed(12345)
    total = 0.0
    for o, e in zip(_tensors(out), _tensors(expected_like)):
        if isinstance(e, torch.Tensor) and e.dtype.is_floating_point and e.requires_grad:
            r = torch.randn(tuple(e.shape), generator=g, dtype=torch.float64).to(device=o.device, dtype=o.dtype)
            total = total + (o * r).sum()
    labels = list(leaves)
    if not isinstance(total, torch.Tensor) or not total.requires_grad:
        return dict.fromkeys(labels)
    grads = torch.autograd.grad(total, [leaves[k] for k in labels], allow_unused=True)
    return dict(zip(labels, grads))


def _check_grad(ex: Exercise, fn: Callable, case: Case) -> str | None:
    """``None`` when ``fn`` has the reference's gradients on ``case``, else what is wrong."""
    with torch.enable_grad():
        args, kwargs, ref_leaves = _with_grad(ex, case)
        if not ref_leaves:
            return None
        expected = ex.reference(*args, **kwargs)
        ref_grads = _projected_grads(expected, expected, ref_leaves)
        args, kwargs, leaves = _with_grad(ex, case)
        try:
            got = fn(*args, **kwargs)
        except _LEARNER_ERRORS as exc:
            return (f"with inputs that require gradients (as in training) your function raised "
                    f"{_short_error(exc)}: {DETACHED}")
        for o, e in zip(_tensors(got), _tensors(expected)):
            if isinstance(e, torch.Tensor) and e.requires_grad:
                if not isinstance(o, torch.Tensor) or not o.requires_grad:
                    return DETACHED
        try:
            got_grads = _projected_grads(got, expected, leaves)
        except _LEARNER_ERRORS as exc:
            return (f"back-propagating through your output failed ({_short_error(exc)}); "
                    "did you modify an input in place?")
    for label, ref in ref_grads.items():
        mine = got_grads[label]
        ref = torch.zeros_like(leaves[label]) if ref is None else ref
        if mine is None:
            if ref.abs().max() > 0:
                return f"no gradient flows back to `{label}`: {DETACHED}"
            continue
        problem = compare_outputs(mine, ref, ex.atol, ex.rtol, where=f"gradient with respect to `{label}`")
        if problem:
            return (f"the values are right but {problem}: is part of the computation cut off from "
                    "the inputs (.detach(), .item(), numpy, torch.no_grad())?")
    return None


# ---------------------------------------------------------------- checking
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
        except _LEARNER_ERRORS as exc:  # the learner's bug must never crash the notebook
            return Verdict(False, f"{label}: your function raised {_short_error(exc)}")
        try:
            if ex.compare is not None:
                problem = ex.compare(got, expected)
            else:
                problem = compare_outputs(got, expected, ex.atol, ex.rtol)
            if not problem and ex.grad and case.grad:
                problem = _check_grad(ex, fn, case)
        except _LEARNER_ERRORS as exc:
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
