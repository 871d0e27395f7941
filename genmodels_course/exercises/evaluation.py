"""Cases for chapter 9's exercises: the Frechet distance of two Gaussians, the unbiased MMD^2,
and the precision of samples.

All three return one number. The learner may return a 0-d tensor or a Python float: the
checker compares the value (one number, not a vector of them) at this chapter's tolerances.
"""
from __future__ import annotations

import functools

import torch

from .. import evaluation
from . import Case, compare_outputs, register


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _one_number(atol: float, rtol: float):
    """A ``compare`` that accepts a 0-d (or one-element) tensor, a numpy or a Python number."""
    def compare(got, expected):
        if isinstance(got, torch.Tensor) and got.numel() != 1:
            return (f"the output should be one number (a 0-d tensor or a float), got a tensor of shape "
                    f"{tuple(got.shape)} (did you forget to sum or average?)")
        return compare_outputs(got, float(expected), atol, rtol)
    return compare


def _random_cov(d: int, g: torch.Generator, scale: float = 1.0) -> torch.Tensor:
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    return scale * (a @ a.T / d + 0.1 * torch.eye(d, dtype=torch.float64))


def _fd_cases():
    g = _gen(0)
    mu, cov = torch.randn(4, generator=g, dtype=torch.float64), _random_cov(4, g)
    va, vb = torch.tensor([1.0, 2.0, 0.5]).double(), torch.tensor([0.5, 4.0, 3.0]).double()
    low_rank = torch.randn(3, 5, generator=g, dtype=torch.float64)
    return [
        Case(args=(mu, cov, mu.clone(), cov.clone()), note="two identical Gaussians: the distance is 0"),
        Case(args=(torch.zeros(3).double(), va.diag(), torch.tensor([1.0, -1.0, 0.0]).double(), vb.diag()),
             note="diagonal covariances: |mu1 - mu2|^2 + sum (sqrt(a_i) - sqrt(b_i))^2"),
        Case(args=(mu, cov, mu + 0.5, _random_cov(4, g, 2.0)), note="random full covariances, D = 4"),
        Case(args=(torch.randn(10, generator=g, dtype=torch.float64), _random_cov(10, g),
                   torch.randn(10, generator=g, dtype=torch.float64), _random_cov(10, g, 0.3)),
             note="random full covariances, D = 10"),
        Case(args=(torch.tensor([0.5]).double(), torch.tensor([[2.0]]).double(),
                   torch.tensor([-1.0]).double(), torch.tensor([[0.5]]).double()),
             note="D = 1: (m1 - m2)^2 + (s1 - s2)^2 with s the standard deviations"),
        Case(args=(torch.zeros(5).double(), low_rank.T @ low_rank / 3, torch.ones(5).double(), _random_cov(5, g)),
             note="a rank-deficient covariance (from 3 points in D = 5), as small samples give"),
    ]


def _rbf(x: torch.Tensor, y: torch.Tensor, bandwidth: float = 1.0) -> torch.Tensor:
    """A Gaussian kernel's Gram matrix ``exp(-|x - y|^2 / (2 bandwidth^2))``: ``(N, M)``."""
    return torch.exp(-torch.cdist(x, y).pow(2) / (2 * bandwidth ** 2))


def _mmd_cases():
    g = _gen(1)

    def normal(n, d, shift=0.0, scale=1.0):
        return shift + scale * torch.randn(n, d, generator=g, dtype=torch.float64)

    linear = functools.partial(evaluation.polynomial_kernel, degree=1, gamma=1.0, coef=0.0)
    return [
        Case(args=(normal(30, 5), normal(25, 5, 0.5), evaluation.polynomial_kernel),
             note="KID's cubic kernel, 30 and 25 points (two different sizes)"),
        Case(args=(normal(20, 3), normal(20, 3, 1.0), linear), note="the linear kernel x . y"),
        Case(args=(normal(15, 2), normal(15, 2), _rbf),
             note="a Gaussian kernel, one distribution (an unbiased estimate may be negative)"),
        Case(args=(normal(40, 4), normal(10, 4, 0.0, 2.0), _rbf), note="a Gaussian kernel, wider spread"),
        Case(args=(normal(2, 3), normal(3, 3, 1.0), evaluation.polynomial_kernel), note="the fewest points: 2 and 3"),
    ]


def _precision_cases():
    g = _gen(2)

    def normal(n, d, shift=0.0, scale=1.0):
        return shift + scale * torch.randn(n, d, generator=g, dtype=torch.float64)

    real = normal(60, 2)
    return [
        Case(args=(real, normal(50, 2, 0.5, 1.5)), note="k = 3 (the default), 2-D points, a wider fake set"),
        Case(args=(real, normal(40, 2, 0.0, 0.5)), kwargs={"k": 1}, note="k = 1, a narrower fake set"),
        Case(args=(normal(80, 8), normal(70, 8, 0.3, 1.2)), kwargs={"k": 5}, note="k = 5, D = 8"),
        Case(args=(real, real[:20].clone()), note="fakes that are copies of real points: precision 1"),
        Case(args=(real, normal(10, 2, 50.0)), note="fakes far from every real point: precision 0"),
    ]


register(
    "evaluation.frechet_distance", reference=evaluation.gaussian_frechet_distance, cases=_fd_cases,
    atol=1e-6, rtol=1e-6, compare=_one_number(1e-6, 1e-6),
    hint="d^2 = |mu1 - mu2|^2 + tr(C1) + tr(C2) - 2 tr((C1 C2)^{1/2}), all in float64. C1 C2 is not "
         "symmetric: take S = C1^{1/2} (eigh: V diag(sqrt(w)) V^T), then tr((C1 C2)^{1/2}) = sum of sqrt "
         "of the eigenvalues of S C2 S (clamp tiny negative ones to 0). The square root is of the "
         "matrix, not of its entries, and the cross term has a factor 2.")
register(
    "evaluation.mmd2_unbiased", reference=evaluation.mmd2_unbiased, cases=_mmd_cases,
    atol=1e-8, rtol=1e-8, compare=_one_number(1e-8, 1e-8),
    hint="K_aa = kernel(a, a), K_bb = kernel(b, b), K_ab = kernel(a, b). Average K_aa over the "
         "n (n - 1) pairs i != j: (K_aa.sum() - K_aa.diagonal().sum()) / (n * (n - 1)); the same for "
         "K_bb with m; then subtract 2 * K_ab.mean() (all n m pairs count). Keeping the diagonal "
         "gives the biased estimate.")
register(
    "evaluation.precision", reference=evaluation.precision, cases=_precision_cases,
    atol=1e-9, rtol=0.0, compare=_one_number(1e-9, 0.0),
    hint="The balls are around the REAL points: radius_i = distance from real_i to its k-th nearest "
         "other real point. torch.cdist(real, real) has zeros on its diagonal, so take the (k+1)-th "
         "smallest value of each row (topk(k + 1, largest=False).values[:, k]). A fake point counts "
         "when its distance to some real_i is <= radius_i; return the share of such fake points.")
