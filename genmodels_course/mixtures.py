"""Chapter 2: Gaussian mixtures fitted by expectation-maximisation (EM).

The model (2.13) draws a component ``k`` with probability ``weights[k]``, then
``x ~ N(means[k], covs[k])``. EM alternates the E-step, the responsibilities
``r[n, k] = p(k | x_n)`` computed in log space (2.14), and the M-step, the weighted
maximum-likelihood means, covariances and weights (2.15). Each iteration never decreases
the log-likelihood.

Shapes: data ``x (N, D)``, ``weights (K,)``, ``means (K, D)``, ``covs (K, D, D)``.
"""
from __future__ import annotations

import dataclasses
import math

import torch

LOG_2PI = math.log(2 * math.pi)


def _check_data(x, fn: str) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[0] < 1:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{fn} expects data of shape (N, D) with N >= 1, got {shape}")


@dataclasses.dataclass
class GaussianMixture:
    """A mixture of ``K`` full-covariance Gaussians in ``D`` dimensions."""

    weights: torch.Tensor
    means: torch.Tensor
    covs: torch.Tensor

    def __post_init__(self):
        K = self.weights.shape[0] if self.weights.dim() == 1 else -1
        if K < 1 or self.means.dim() != 2 or self.means.shape[0] != K or \
                self.covs.shape != (K, self.means.shape[1], self.means.shape[1]):
            raise ValueError("GaussianMixture expects weights (K,), means (K, D) and covs (K, D, D) with "
                             f"K >= 1, got {tuple(self.weights.shape)}, {tuple(self.means.shape)}, "
                             f"{tuple(self.covs.shape)}")

    @property
    def K(self) -> int:
        return self.weights.shape[0]

    @property
    def D(self) -> int:
        return self.means.shape[1]

    def component_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``log N(x_n; means[k], covs[k])`` for every pair: ``(N, D) -> (N, K)``."""
        _check_data(x, "GaussianMixture.component_log_prob")
        if x.shape[1] != self.D:
            raise ValueError(f"GaussianMixture expects data of shape (N, {self.D}), got {tuple(x.shape)}")
        L = torch.linalg.cholesky(self.covs)                                   # (K, D, D)
        diff = (x[None] - self.means[:, None]).transpose(1, 2)                 # (K, D, N)
        r = torch.linalg.solve_triangular(L, diff, upper=False)
        logdet = 2 * torch.log(torch.diagonal(L, dim1=1, dim2=2)).sum(1)       # (K,)
        return (-0.5 * (self.D * LOG_2PI + logdet[:, None] + r.pow(2).sum(1))).T

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``log p(x) = logsumexp_k (log weights[k] + log N(x; means[k], covs[k]))`` (2.13): ``(N,)``."""
        return torch.logsumexp(self.component_log_prob(x) + self.weights.log(), dim=1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Ancestral sampling: returns ``x (n, D)`` and the components ``k (n,)``."""
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.D, 1, generator=generator, dtype=self.means.dtype, device=self.means.device)
        L = torch.linalg.cholesky(self.covs)
        return self.means[k] + (L[k] @ eps)[..., 0], k


def responsibilities(log_pdf: torch.Tensor, log_weights: torch.Tensor) -> torch.Tensor:
    """The E-step (2.14): ``r[n, k] = p(k | x_n)`` from ``log_pdf (N, K)`` and ``log_weights (K,)``.

    Computed in log space: ``log r = a - logsumexp_k a`` with ``a = log_weights + log_pdf``,
    so densities of ``e^-1000`` (common in high dimension) do not underflow to 0/0.
    """
    a = log_pdf + log_weights
    return torch.exp(a - torch.logsumexp(a, dim=1, keepdim=True))


def m_step(x: torch.Tensor, resp: torch.Tensor, reg: float = 1e-6) -> GaussianMixture:
    """The M-step (2.15): weighted means, covariances (plus ``reg`` on the diagonal) and weights."""
    N, D = x.shape
    nk = resp.sum(0) + 10 * torch.finfo(x.dtype).eps                         # (K,)
    means = resp.T @ x / nk[:, None]
    diff = x[None] - means[:, None]                                          # (K, N, D)
    covs = (resp.T[:, :, None] * diff).transpose(1, 2) @ diff / nk[:, None, None]   # (K, D, D)
    covs = covs + reg * torch.eye(D, dtype=x.dtype, device=x.device)
    return GaussianMixture(nk / N, means, covs)


def init_gmm(x: torch.Tensor, K: int, generator: torch.Generator | None = None) -> GaussianMixture:
    """A standard start: ``K`` distinct data points as means, the data's covariance for all, equal weights."""
    _check_data(x, "init_gmm")
    if not isinstance(K, int) or K < 1:
        raise ValueError(f"init_gmm expects K >= 1 components, got K = {K}")
    if K > x.shape[0]:
        raise ValueError(f"init_gmm expects at most N = {x.shape[0]} components, got K = {K}")
    idx = torch.randperm(x.shape[0], generator=generator, device="cpu")[:K].to(x.device)
    cov = torch.cov(x.T, correction=0).reshape(x.shape[1], x.shape[1])
    cov = cov + 1e-6 * torch.eye(x.shape[1], dtype=x.dtype, device=x.device)
    return GaussianMixture(torch.full((K,), 1.0 / K, dtype=x.dtype, device=x.device),
                           x[idx].clone(), cov.expand(K, -1, -1).clone())


def fit_gmm(x: torch.Tensor, K: int, iters: int = 100, init: GaussianMixture | None = None,
            reg: float = 1e-6, tol: float = 0.0,
            generator: torch.Generator | None = None) -> tuple[GaussianMixture, list[float]]:
    """Fit a ``K``-component mixture to ``x (N, D)`` by EM.

    Returns the model after at most ``iters`` M-steps and the average log-likelihood of the
    data before each M-step and after the last (``history[i]``: after ``i`` M-steps). Stops
    early when an iteration gains less than ``tol`` nats per example (``tol > 0``).
    """
    _check_data(x, "fit_gmm")
    if not isinstance(K, int) or K < 1:
        raise ValueError(f"fit_gmm expects K >= 1 components, got K = {K}")
    model = init if init is not None else init_gmm(x, K, generator)
    if model.K != K or model.D != x.shape[1]:
        raise ValueError(f"fit_gmm: init has K = {model.K}, D = {model.D}; expected K = {K}, D = {x.shape[1]}")
    history = []
    for it in range(iters + 1):
        log_pdf = model.component_log_prob(x)
        history.append(float(torch.logsumexp(log_pdf + model.weights.log(), dim=1).mean()))
        if it == iters or (tol > 0 and it > 0 and history[-1] - history[-2] < tol):
            break
        model = m_step(x, responsibilities(log_pdf, model.weights.log()), reg)
    return model, history
