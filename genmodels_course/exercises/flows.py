"""Cases for chapter 4's exercises: the causal mask, the affine coupling and its inverse,
one Langevin step.

The coupling's forward pass feeds the flow's training loss, so its checker also compares
gradients with the reference's (``grad=``); so does the inverse, which sampling
back-propagates through in some uses.
"""
from __future__ import annotations

import torch

from .. import autoregressive, ebm, flows
from . import Case, register


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _mask_cases():
    return [
        Case(args=(3, "A"), note="3x3, type A (the centre is hidden)"),
        Case(args=(3, "B"), note="3x3, type B (the centre is seen)"),
        Case(args=(5, "A"), note="5x5, type A"),
        Case(args=(7, "B"), note="7x7, type B"),
        Case(args=(1, "A"), note="1x1, type A: nothing can be seen"),
    ]


def _coupling_cases():
    g = _gen(0)

    def case(n, d, half=True, scale=1.0):
        mask = (torch.arange(d) < d // 2).float() if half else (torch.arange(d) % 2).float()
        return (torch.randn(n, d, generator=g), mask,
                scale * torch.randn(n, d, generator=g), torch.randn(n, d, generator=g))

    return [
        Case(args=case(4, 2), note="2-D points, the first coordinate kept"),
        Case(args=case(3, 6, half=False), note="D = 6, every other coordinate kept"),
        Case(args=(torch.randn(2, 4, generator=g), torch.zeros(4), torch.zeros(2, 4),
                   torch.zeros(2, 4)), note="log_s = t = 0 and no mask: the identity"),
        Case(args=case(5, 4, scale=3.0), note="large log-scales"),
    ]


def _langevin_cases():
    g = _gen(1)
    return [
        Case(args=(torch.randn(5, 2, generator=g), torch.randn(5, 2, generator=g), 0.1,
                   torch.randn(5, 2, generator=g)), note="5 points in 2-D, step_size = 0.1"),
        Case(args=(torch.zeros(3, 2), torch.ones(3, 2), 0.5, torch.zeros(3, 2)),
             note="no noise: a plain gradient step of size step_size / 2"),
        Case(args=(torch.zeros(4, 3), torch.zeros(4, 3), 0.04, torch.ones(4, 3)),
             note="no gradient: the noise is scaled by sqrt(step_size)"),
    ]


register(
    "flows.causal_mask", reference=autoregressive.causal_mask, cases=_mask_cases,
    hint="Start from zeros of shape (k, k) and put ones on every row above the centre "
         "c = k // 2 and on the centre row left of the centre (mask[c, :c]); type 'B' "
         "also gets mask[c, c] = 1. Return a float tensor.")
register(
    "flows.coupling_forward", reference=flows.coupling_forward, cases=_coupling_cases,
    grad=("x", "log_s", "t"),
    hint="Where mask == 1 keep x; where mask == 0 use x * exp(log_s) + t. The log-det is "
         "the sum over the last dim of log_s where mask == 0 only: ((1 - mask) * "
         "log_s).sum(-1). Return (y, log_det) with shapes (N, D) and (N,).")
register(
    "flows.coupling_inverse", reference=flows.coupling_inverse, cases=_coupling_cases,
    grad=("y", "log_s", "t"),
    hint="Undo the affine map where mask == 0: x = (y - t) * exp(-log_s) (subtract the "
         "shift first, then divide by the scale); where mask == 1, x = y.")
register(
    "flows.langevin_step", reference=ebm.langevin_step, cases=_langevin_cases,
    grad=("x", "grad_energy", "noise"),
    hint="x - (step_size / 2) * grad_energy + sqrt(step_size) * noise: half the step on "
         "the gradient, and the square root of the step on the noise.")
