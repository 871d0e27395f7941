"""Cases for chapter 7's exercises: q_sample, the reverse posterior, one DDPM step (float64, exact schedules)."""
from __future__ import annotations

import torch

from .. import diffusion
from . import Case, register


def _schedule_for_cases() -> diffusion.NoiseSchedule:
    return diffusion.NoiseSchedule.linear(T=50, beta_start=1e-3, beta_end=0.2, dtype=torch.float64)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _q_sample_cases():
    s = _schedule_for_cases()
    g = _gen(0)
    x_img = torch.rand(4, 1, 5, 5, generator=g, dtype=torch.float64) * 2 - 1
    x_2d = torch.randn(6, 2, generator=g, dtype=torch.float64)
    return [
        Case(args=(x_img, torch.tensor([0, 10, 25, 49]), torch.randn(4, 1, 5, 5, generator=g, dtype=torch.float64), s),
             note="images, several t in one batch"),
        Case(args=(x_2d, torch.tensor([3, 3, 7, 0, 49, 20]), torch.randn(6, 2, generator=g, dtype=torch.float64), s),
             note="2-D points"),
        Case(args=(x_img[:1], torch.tensor([0]), torch.zeros(1, 1, 5, 5, dtype=torch.float64), s),
             note="t = 0 with zero noise: x_t = sqrt(alphas_cumprod[0]) x_0"),
        Case(args=(x_2d, torch.full((6,), 49), torch.randn(6, 2, generator=g, dtype=torch.float64), s),
             note="last step: almost pure noise"),
    ]


def _posterior_cases():
    s = _schedule_for_cases()
    g = _gen(1)
    x0 = torch.randn(5, 3, generator=g, dtype=torch.float64)
    xt = torch.randn(5, 3, generator=g, dtype=torch.float64)
    im0 = torch.rand(3, 1, 4, 4, generator=g, dtype=torch.float64)
    imt = torch.randn(3, 1, 4, 4, generator=g, dtype=torch.float64)
    return [
        Case(args=(x0, xt, torch.tensor([1, 5, 20, 40, 49]), s), note="vectors, mixed t"),
        Case(args=(im0, imt, torch.tensor([2, 30, 49]), s), note="images"),
        Case(args=(x0, xt, torch.tensor([0, 0, 1, 0, 2]), s), note="t = 0: variance 0 and mean x_0"),
    ]


def _posterior_compare(got, expected):
    if not isinstance(got, tuple) or len(got) != 2:
        return "expected a tuple (mean, variance)"
    for name, a, b in (("mean", got[0], expected[0]), ("variance", got[1], expected[1])):
        if not isinstance(a, torch.Tensor):
            return f"the {name} must be a tensor, got {type(a).__name__}"
        try:
            a_b, b_b = torch.broadcast_tensors(a, b)
        except RuntimeError:
            return f"the {name} has shape {tuple(a.shape)}, which does not broadcast with {tuple(b.shape)}"
        if a.shape[0] != b.shape[0]:
            return f"the {name} must keep the batch dimension {b.shape[0]}, got shape {tuple(a.shape)}"
        if torch.isnan(a_b.double()).any():
            return f"the {name} contains NaN"
        if not torch.allclose(a_b.double(), b_b.double(), atol=1e-6, rtol=1e-5):
            err = (a_b.double() - b_b.double()).abs().max().item()
            return f"the {name} is off by up to {err:.3g}"
    return None


def _ddpm_step_cases():
    s = _schedule_for_cases()
    g = _gen(2)
    xt = torch.randn(4, 1, 4, 4, generator=g, dtype=torch.float64)
    eps = torch.randn(4, 1, 4, 4, generator=g, dtype=torch.float64)
    z = torch.randn(4, 1, 4, 4, generator=g, dtype=torch.float64)
    x2 = torch.randn(5, 2, generator=g, dtype=torch.float64)
    e2 = torch.randn(5, 2, generator=g, dtype=torch.float64)
    z2 = torch.randn(5, 2, generator=g, dtype=torch.float64)
    return [
        Case(args=(e2, x2, torch.tensor([1, 10, 20, 35, 49]), z2, s), note="2-D points, t > 0"),
        Case(args=(eps, xt, torch.tensor([3, 17, 30, 49]), z, s), note="images"),
        Case(args=(e2, x2, torch.tensor([0, 0, 4, 0, 9]), z2, s), note="t = 0 adds no noise"),
    ]


register(
    "diffusion.q_sample", reference=diffusion.q_sample, cases=_q_sample_cases, atol=1e-6, rtol=1e-5,
    hint="x_t = sqrt(abar_t) * x0 + sqrt(1 - abar_t) * noise with abar_t = schedule.alphas_cumprod[t], "
         "reshaped to (B, 1, ..., 1) so that it broadcasts over the pixels.",
)
register(
    "diffusion.posterior_mean_variance", reference=diffusion.posterior_mean_variance, cases=_posterior_cases,
    compare=_posterior_compare,
    hint="mean = coef1[t] * x0 + coef2[t] * x_t with coef1 = sqrt(abar_{t-1}) beta_t / (1 - abar_t) and "
         "coef2 = sqrt(alpha_t)(1 - abar_{t-1}) / (1 - abar_t); variance = beta_t (1 - abar_{t-1}) / (1 - abar_t). "
         "Use schedule.alphas_cumprod_prev for abar_{t-1} (it is 1 at t = 0).",
)
register(
    "diffusion.ddpm_step", reference=diffusion.ddpm_step, cases=_ddpm_step_cases, atol=1e-6, rtol=1e-5,
    hint="x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) * eps) / sqrt(alpha_t) + sqrt(beta_tilde_t) * noise, "
         "and no noise where t == 0 (beta_tilde is schedule.posterior_variance).",
)
