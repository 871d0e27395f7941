"""Cases for chapter 1's exercises (naive Bayes by counting, Bayes' rule in log space, conditioning a table)."""
from __future__ import annotations

import torch

from .. import classic
from . import Case, register


def _nb_cases():
    g = torch.Generator().manual_seed(1)
    cases = []
    for n, d, k, alpha in [(30, 5, 3, 1.0), (50, 12, 4, 0.5), (8, 3, 2, 2.0)]:
        x = (torch.rand(n, d, generator=g) < 0.3).float()
        y = torch.arange(n) % k                      # every class present
        cases.append(Case(args=(x, y, k), kwargs={"alpha": alpha}, note=f"N={n}, D={d}, K={k}, alpha={alpha}"))
    x = torch.zeros(6, 4)
    x[:3, 0] = 1
    cases.append(Case(args=(x, torch.tensor([0, 0, 0, 1, 1, 1]), 2), kwargs={"alpha": 1.0},
                          note="a pixel that is always off in one class: smoothing keeps theta away from 0"))
    return cases


def _posterior_cases():
    g = torch.Generator().manual_seed(2)
    return [
        Case(args=(torch.randn(4, 3, generator=g),), note="small log-joints"),
        Case(args=(torch.randn(5, 10, generator=g) * 50 - 1000,), note="log-joints near -1000, like 784 pixels"),
        Case(args=(torch.tensor([[0.0, -2.0], [800.0, 790.0]]),), note="large positive log-joints"),
        Case(args=(torch.randn(1, 1, generator=g),), note="a single class: log-posterior 0"),
    ]


def _condition_cases():
    g = torch.Generator().manual_seed(3)
    t4 = torch.rand((2, 2, 2, 2), generator=g) + 0.05
    t4 = t4 / t4.sum()
    t3 = torch.rand((2, 2, 2), generator=g) + 0.05
    t3 = t3 / t3.sum()
    return [
        Case(args=(t4, torch.tensor([1, -1, 0, 1])), note="2x2 grid, one hidden pixel"),
        Case(args=(t4, torch.tensor([-1, 0, -1, 1])), note="2x2 grid, two hidden pixels"),
        Case(args=(t4, torch.tensor([-1, -1, -1, -1])), note="nothing observed: the joint itself"),
        Case(args=(t3, torch.tensor([0, 1, -1])), note="three pixels, last hidden"),
        Case(args=(t4, torch.tensor([-1, 1, 1, 0])), note="first pixel hidden"),
    ]


register(
    "classic.fit_bernoulli_nb", reference=classic.fit_bernoulli_nb, cases=_nb_cases,
    hint="Count: N_k examples per class and N_kd of them with pixel d on. log_prior = log(N_k / N); "
         "theta = (N_kd + alpha) / (N_k + 2 * alpha). One-hot labels make both a matrix product.",
)
register(
    "classic.log_posterior", reference=classic.log_posterior, cases=_posterior_cases,
    hint="Normalise each row in log space: subtract m = max over classes, then "
         "log_joint - (m + log(sum(exp(log_joint - m)))). Sum over dim=1 (classes) and keep the dimension.",
)
register(
    "classic.condition_table", reference=classic.condition_table, cases=_condition_cases,
    hint="Index the table with the observed values and ':' for hidden pixels, e.g. table[1, :, 0, 1], "
         "then divide that slice by its sum (which is p(x_observed)).",
)
