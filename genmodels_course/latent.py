"""Chapter 2's linear-Gaussian latent models: PCA, probabilistic PCA, factor analysis.

All three explain a data point ``x (D,)`` by a code ``z (q,)`` through a linear map. PCA is
a projection (no probabilities); probabilistic PCA (Tipping and Bishop, 1999) and factor
analysis are Gaussian models whose likelihood, posterior and fit are in closed form::

    z ~ N(0, I_q),   x | z ~ N(W z + mu, Psi),   so   x ~ N(mu, W W^T + Psi)      (2.5)

with ``Psi = sigma2 I`` for pPCA and a diagonal ``Psi`` for factor analysis. Chapter 3 uses
pPCA to test the ELBO and the IWAE bound against the exact likelihood.

Shapes: data ``x`` is ``(N, D)``, codes ``z`` are ``(N, q)``, ``W`` is ``(D, q)``.
Gaussian mixtures live in ``mixtures.py``, autoencoders in ``autoencoders.py``.
"""
from __future__ import annotations

import dataclasses
import math

import torch

LOG_2PI = math.log(2 * math.pi)


def _check_data(x, fn: str, min_n: int = 1) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[0] < min_n:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{fn} expects data of shape (N, D) with N >= {min_n}, got {shape}")


def _check_q(q: int, D: int, fn: str, name: str = "q") -> None:
    if not isinstance(q, int) or not 1 <= q < D:
        raise ValueError(f"{fn} expects 1 <= {name} < D = {D}, got {name} = {q}")


def gaussian_log_prob(x: torch.Tensor, mu: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """``log N(x; mu, C)`` for ``x (N, D)``, ``mu (D,)``, ``C (D, D)``: returns ``(N,)``."""
    L = torch.linalg.cholesky(C)
    r = torch.linalg.solve_triangular(L, (x - mu).T, upper=False)      # (D, N)
    logdet = 2 * torch.log(torch.diagonal(L)).sum()
    return -0.5 * (x.shape[1] * LOG_2PI + logdet + r.pow(2).sum(dim=0))


# ------------------------------------------------------------------ PCA
@dataclasses.dataclass
class PCA:
    """Principal components: ``mean (D,)``, ``components (k, D)`` (orthonormal rows, by
    decreasing variance) and ``variances (k,)`` (the eigenvalues of the sample covariance)."""

    mean: torch.Tensor
    components: torch.Tensor
    variances: torch.Tensor

    @property
    def k(self) -> int:
        return self.components.shape[0]

    def encode(self, x: torch.Tensor, k: int | None = None) -> torch.Tensor:
        """The codes ``z = U_k^T (x - mean)`` (2.3): ``(N, D) -> (N, k)``."""
        _check_data(x, "PCA.encode")
        if x.shape[1] != self.mean.shape[0]:
            raise ValueError(f"PCA.encode expects data of shape (N, {self.mean.shape[0]}), got {tuple(x.shape)}")
        return (x - self.mean) @ self.components[:k].T

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Back to data space: ``x_hat = mean + U_k z``: ``(N, k) -> (N, D)`` (``k`` from ``z``)."""
        if z.dim() != 2 or z.shape[1] > self.k:
            raise ValueError(f"PCA.decode expects codes of shape (N, k) with k <= {self.k}, got {tuple(z.shape)}")
        return self.mean + z @ self.components[: z.shape[1]]

    def reconstruct(self, x: torch.Tensor, k: int | None = None) -> torch.Tensor:
        return self.decode(self.encode(x, k))


def pca(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PCA of ``x (N, D)`` by the SVD of the centred data (2.2): ``(mean, components, variances)``.

    With ``X - mean = U S V^T``, the components are the first ``k`` rows of ``V^T`` ``(k, D)``
    and the variances ``S^2 / N`` ``(k,)``: the eigenvalues of the sample covariance
    ``S = (1/N) sum (x - mean)(x - mean)^T`` in decreasing order.
    """
    _check_data(x, "pca", min_n=2)
    if not isinstance(k, int) or not 1 <= k <= min(x.shape):
        raise ValueError(f"pca expects 1 <= k <= min(N, D) = {min(x.shape)}, got k = {k}")
    mean = x.mean(dim=0)
    _, s, vt = torch.linalg.svd(x - mean, full_matrices=False)
    return mean, vt[:k], s[:k] ** 2 / x.shape[0]


def fit_pca(x: torch.Tensor, k: int) -> PCA:
    """:func:`pca` wrapped in a :class:`PCA` object (encode, decode, reconstruct)."""
    return PCA(*pca(x, k))


def reconstruction_error(x: torch.Tensor, x_hat: torch.Tensor) -> float:
    """Mean over examples of the summed squared error ``||x - x_hat||^2`` (2.4)."""
    if x.shape != x_hat.shape:
        raise ValueError(f"reconstruction_error expects two tensors of the same shape, got {tuple(x.shape)} and {tuple(x_hat.shape)}")
    return float((x - x_hat).pow(2).flatten(1).sum(1).mean())


# ------------------------------------------------------------------ probabilistic PCA
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
        """The marginal covariance ``C = W W^T + sigma2 I`` (2.6): ``(D, D)``."""
        return self.W @ self.W.T + self.sigma2 * torch.eye(self.D, dtype=self.W.dtype, device=self.W.device)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """The exact marginal ``log p(x) = log N(x; mu, C)`` (2.6): ``(N, D) -> (N,)``."""
        self._check_x(x, "log_prob")
        return gaussian_log_prob(x, self.mu, self.covariance())

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The exact posterior ``p(z|x) = N(M^-1 W^T (x - mu), sigma2 M^-1)``, ``M = W^T W + sigma2 I`` (2.9).

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
        """Draw ``n`` pairs from the model (ancestral sampling of (2.5)): returns ``x (n, D)`` and ``z (n, q)``."""
        z = torch.randn(n, self.q, generator=generator, dtype=self.W.dtype, device=self.W.device)
        noise = torch.randn(n, self.D, generator=generator, dtype=self.W.dtype, device=self.W.device)
        return z @ self.W.T + self.mu + math.sqrt(self.sigma2) * noise, z


def ppca_ml(evals: torch.Tensor, evecs: torch.Tensor, q: int) -> tuple[torch.Tensor, float]:
    """The maximum-likelihood ``(W, sigma2)`` of pPCA from the eigen-decomposition of ``S`` (2.7, 2.8).

    ``evals (D,)`` in decreasing order, ``evecs (D, D)`` with the eigenvectors as columns.
    ``sigma2`` is the mean of the ``D - q`` discarded eigenvalues and
    ``W = U_q (L_q - sigma2 I)^(1/2)`` (the rotation R = I, so the columns are orthogonal).
    """
    D = evals.shape[0]
    sigma2 = evals[q:].mean()
    W = evecs[:, :q] * (evals[:q] - sigma2).clamp(min=0).sqrt()
    return W, float(sigma2)


def fit_ppca(x: torch.Tensor, q: int) -> PPCA:
    """The maximum-likelihood probabilistic PCA of ``x (N, D)`` with ``q`` latent dimensions.

    Closed form (Tipping and Bishop, 1999), :func:`ppca_ml` applied to the eigenvalues and
    eigenvectors of the sample covariance.
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
    W, sigma2 = ppca_ml(evals, evecs, q)
    if sigma2 <= 0:
        raise ValueError("fit_ppca: the data lie in a q-dimensional subspace, so the noise variance is 0; use a smaller q")
    return PPCA(W=W, mu=mu, sigma2=sigma2)


# ------------------------------------------------------------------ factor analysis
@dataclasses.dataclass
class FactorAnalysis:
    """Factor analysis: ``x | z ~ N(W z + mu, diag(psi))``, ``W (D, q)``, ``mu (D,)``, ``psi (D,) > 0``."""

    W: torch.Tensor
    mu: torch.Tensor
    psi: torch.Tensor

    def __post_init__(self):
        if self.W.dim() != 2 or self.mu.shape != (self.W.shape[0],) or self.psi.shape != self.mu.shape:
            raise ValueError("FactorAnalysis expects W (D, q), mu (D,) and psi (D,), got "
                             f"{tuple(self.W.shape)}, {tuple(self.mu.shape)} and {tuple(self.psi.shape)}")
        if not bool((self.psi > 0).all()):
            raise ValueError("FactorAnalysis expects every noise variance psi > 0")

    def covariance(self) -> torch.Tensor:
        """``C = W W^T + diag(psi)`` (2.10): ``(D, D)``."""
        return self.W @ self.W.T + torch.diag(self.psi)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """The exact marginal ``log N(x; mu, C)``: ``(N, D) -> (N,)``."""
        if x.dim() != 2 or x.shape[1] != self.mu.shape[0]:
            raise ValueError(f"FactorAnalysis.log_prob expects data of shape (N, {self.mu.shape[0]}), got {tuple(x.shape)}")
        return gaussian_log_prob(x, self.mu, self.covariance())

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``p(z|x) = N(G W^T Psi^-1 (x - mu), G)``, ``G = (I + W^T Psi^-1 W)^-1`` (2.11)."""
        q = self.W.shape[1]
        Wp = self.W / self.psi[:, None]                                    # Psi^-1 W
        G = torch.linalg.inv(torch.eye(q, dtype=self.W.dtype, device=self.W.device) + self.W.T @ Wp)
        return (x - self.mu) @ Wp @ G, G

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.randn(n, self.W.shape[1], generator=generator, dtype=self.W.dtype, device=self.W.device)
        noise = torch.randn(n, self.W.shape[0], generator=generator, dtype=self.W.dtype, device=self.W.device)
        return z @ self.W.T + self.mu + self.psi.sqrt() * noise, z


def fit_factor_analysis(x: torch.Tensor, q: int, iters: int = 200, min_psi: float = 1e-6,
                        tol: float = 0.0) -> tuple[FactorAnalysis, list[float]]:
    """Factor analysis of ``x (N, D)`` by EM (2.11, 2.12); starts from the pPCA solution.

    Returns the model and the average log-likelihood before each M-step and after the last
    (``iters + 1`` numbers, never decreasing up to rounding). Every step uses only the
    sample covariance ``S``: with ``B = Psi^-1 W G``, the E-step statistics are
    ``(1/N) sum (x - mu) E[z]^T = S B`` and ``(1/N) sum E[z z^T] = G + B^T S B``.
    """
    _check_data(x, "fit_factor_analysis", min_n=2)
    D = x.shape[1]
    _check_q(q, D, "fit_factor_analysis")
    if not min_psi > 0:
        raise ValueError(f"fit_factor_analysis expects min_psi > 0, got {min_psi}")
    mu = x.mean(dim=0)
    xc = x - mu
    S = xc.T @ xc / x.shape[0]
    init = fit_ppca(x, q)
    W = init.W.clone()
    psi = (torch.diagonal(S) - W.pow(2).sum(1)).clamp(min=min_psi)
    eye = torch.eye(q, dtype=x.dtype, device=x.device)
    history = []
    D_log_2pi = D * LOG_2PI
    for it in range(iters + 1):
        model = FactorAnalysis(W, mu, psi)
        # the average log-likelihood of the data from S alone (2.6 with C of 2.10): O(D^3), not O(N D^2)
        L = torch.linalg.cholesky(model.covariance())
        trace = torch.cholesky_solve(S, L).diagonal().sum()
        history.append(float(-0.5 * (D_log_2pi + 2 * torch.log(torch.diagonal(L)).sum() + trace)))
        if it == iters or (tol > 0 and it > 0 and history[-1] - history[-2] < tol):
            break
        Wp = W / psi[:, None]
        G = torch.linalg.inv(eye + W.T @ Wp)                            # E-step: posterior covariance
        B = Wp @ G
        A = S @ B                                                       # (1/N) sum (x - mu) E[z]^T
        M = G + B.T @ A                                                 # (1/N) sum E[z z^T]
        W = torch.linalg.solve(M, A.T).T                                # M-step (2.12)
        psi = (torch.diagonal(S) - (W * A).sum(1)).clamp(min=min_psi)
    return model, history

