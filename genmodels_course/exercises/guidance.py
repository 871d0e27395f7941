"""Cases for chapter 8's guidance exercises: the classifier-free guidance combination and
condition dropout."""
from __future__ import annotations

import torch

from .. import guidance
from . import Case, register


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _combine_cases():
    g = _gen(0)
    u, c = torch.randn(3, 4, 7, 7, generator=g), torch.randn(3, 4, 7, 7, generator=g)
    return [
        Case(args=(u, c, 3.0), note="w = 3: past the conditional estimate"),
        Case(args=(u, c, 0.0), note="w = 0: the unconditional estimate"),
        Case(args=(u, c, 1.0), note="w = 1: the conditional estimate"),
        Case(args=(u[:, :1], c[:, :1], 7.5), note="a large scale"),
        Case(args=(u, c, torch.tensor([0.0, 2.0, 5.0]).reshape(3, 1, 1, 1)),
             note="one scale per sample"),
    ]


def _drop_cases():
    g = _gen(1)
    c = torch.randn(6, 5, generator=g)
    null = torch.randn(5, generator=g)
    u = torch.tensor([0.05, 0.5, 0.09, 0.95, 0.1, 0.3])
    return [
        Case(args=(c, null, u, 0.1), note="rows with u < 0.1 dropped (u = 0.1 is kept)"),
        Case(args=(c, null, u, 0.0), note="p = 0: nothing dropped"),
        Case(args=(c, null, u, 1.0), note="p = 1: everything dropped"),
        Case(args=(c[:3], null, torch.rand(3, generator=g), 0.5), note="a random batch"),
    ]


register(
    "guidance.cfg_combine", reference=guidance.cfg_combine, cases=_combine_cases, grad=True,
    atol=1e-6, rtol=1e-5,
    hint="eps_uncond + w * (eps_cond - eps_uncond): w = 0 gives the unconditional estimate, "
         "w = 1 the conditional one.",
)
register(
    "guidance.drop_condition", reference=guidance.drop_condition, cases=_drop_cases,
    grad=("c", "null"), atol=1e-6, rtol=1e-5,
    hint="drop = (u < p) as a float column (B, 1); return (1 - drop) * c + drop * null "
         "(strictly less than p; null broadcasts over the rows). No in-place writes into c.",
)
