"""Linear latent-variable models whose likelihood is exact: probabilistic PCA.

The generative model (Tipping and Bishop, 1999), in the book's notation::

    z ~ N(0, I_q),    x | z ~ N(W z + mu, sigma2 I_D),    so    x ~ N(mu, C),  C = W W^T + sigma2 I_D.

Everything a VAE must approximate is available in closed form here: the marginal
``log p(x)``, the posterior ``p(z|x)`` and the maximum-likelihood fit. Chapter 3 uses it
to test the ELBO and the IWAE bound against the truth; chapter 2 uses it as the
probabilistic version of PCA.

Shapes: data ``x`` is ``(N, D)``, codes ``z`` are ``(N, q)``, ``W`` is ``(D, q)``.
"""
from __future__ import annotations

import dataclasses
import math

import torch

LOG_2PI = math.log(2 * math.pi)


@dataclasses.dataclass
class PPCA:
    """A probabilistic PCA model: loading matrix ``W (D, q)``, mean ``mu (D,)``, noise variance ``sigma2``."""

    W: torch.Tensor
    mu: torch.Tensor
    sigma2: float

    def __post_init__(self):
        if self.W.dim() != 2 or self.mu.shape != (self.W.shape[0],):
            raise ValueError(f"PPCA expects W of shape (D, q) and mu of shape (D,), got {tuple(self.W.shape)} and {tuple(self.mu.shape)}")
        if not self.sigma2 > 0:
            raise ValueError(f"PPCA expects a noise variance sigma2 > 0, got {self.sigma2}")

    @property
    def D(self) -> int:
        return self.W.shape[0]

    @property
    def q(self) -> int:
        return self.W.shape[1]

    def _check_x(self, x: torch.Tensor, fn: str) -> None:
        if x.dim() != 2 or x.shape[1] != self.D:
            raise ValueError(f"PPCA.{fn} expects data of shape (N, {self.D}), got {tuple(x.shape)}")

    def covariance(self) -> torch.Tensor:
        """The marginal covariance ``C = W W^T + sigma2 I``: ``(D, D)``."""
        return self.W @ self.W.T + self.sigma2 * torch.eye(self.D, dtype=self.W.dtype, device=self.W.device)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """The exact marginal ``log p(x) = log N(x; mu, C)``: ``(N, D) -> (N,)``."""
        self._check_x(x, "log_prob")
        L = torch.linalg.cholesky(self.covariance())
        r = torch.linalg.solve_triangular(L, (x - self.mu).T, upper=False)      # (D, N)
        logdet = 2 * torch.log(torch.diagonal(L)).sum()
        return -0.5 * (self.D * LOG_2PI + logdet + r.pow(2).sum(dim=0))

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The exact posterior ``p(z|x) = N(M^-1 W^T (x - mu), sigma2 M^-1)``, ``M = W^T W + sigma2 I``.

        Returns the means ``(N, q)`` and the covariance ``(q, q)`` (the same for every x).
        """
        self._check_x(x, "posterior")
        M = self.W.T @ self.W + self.sigma2 * torch.eye(self.q, dtype=self.W.dtype, device=self.W.device)
        mean = torch.linalg.solve(M, self.W.T @ (x - self.mu).T).T
        return mean, self.sigma2 * torch.linalg.inv(M)

    def log_joint(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``log p(x|z) + log p(z)``. ``x``: ``(N, D)``; ``z``: ``(N, q)`` or ``(N, k, q)``; returns ``(N,)`` or ``(N, k)``."""
        self._check_x(x, "log_joint")
        if z.shape[-1] != self.q or z.shape[0] != x.shape[0] or z.dim() not in (2, 3):
            raise ValueError(f"PPCA.log_joint expects z of shape (N, {self.q}) or (N, k, {self.q}) with N = {x.shape[0]}, got {tuple(z.shape)}")
        xs = x if z.dim() == 2 else x[:, None]
        resid = xs - (z @ self.W.T + self.mu)
        log_px_z = -0.5 * (self.D * (LOG_2PI + math.log(self.sigma2)) + resid.pow(2).sum(-1) / self.sigma2)
        log_pz = -0.5 * (self.q * LOG_2PI + z.pow(2).sum(-1))
        return log_px_z + log_pz

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``n`` pairs from the model: returns ``x (n, D)`` and ``z (n, q)``."""
        z = torch.randn(n, self.q, generator=generator, dtype=self.W.dtype, device=self.W.device)
        noise = torch.randn(n, self.D, generator=generator, dtype=self.W.dtype, device=self.W.device)
        return z @ self.W.T + self.mu + math.sqrt(self.sigma2) * noise, z


def fit_ppca(x: torch.Tensor, q: int) -> PPCA:
    """The maximum-likelihood probabilistic PCA of ``x (N, D)`` with ``q`` latent dimensions.

    Closed form (Tipping and Bishop, 1999): with eigenvalues ``l_1 >= ... >= l_D`` and
    eigenvectors ``U`` of the sample covariance, ``sigma2`` is the mean of the discarded
    eigenvalues and ``W = U_q (L_q - sigma2 I)^(1/2)``. This choice (rotation R = I) gives
    orthogonal columns, so ``W^T W`` and the posterior covariance are diagonal.
    """
    if x.dim() != 2 or x.shape[0] < 2:
        raise ValueError(f"fit_ppca expects data of shape (N, D) with N >= 2, got {tuple(x.shape)}")
    D = x.shape[1]
    if not 1 <= q < D:
        raise ValueError(f"fit_ppca expects 1 <= q < D = {D} latent dimensions, got q = {q}")
    mu = x.mean(dim=0)
    S = (x - mu).T @ (x - mu) / x.shape[0]
    evals, evecs = torch.linalg.eigh(S)                       # ascending
    evals, evecs = evals.flip(0).clamp(min=0), evecs.flip(1)
    sigma2 = float(evals[q:].mean())
    if sigma2 <= 0:
        raise ValueError("fit_ppca: the data lie in a q-dimensional subspace, so the noise variance is 0; use a smaller q")
    W = evecs[:, :q] * (evals[:q] - sigma2).clamp(min=0).sqrt()
    return PPCA(W=W, mu=mu, sigma2=sigma2)
