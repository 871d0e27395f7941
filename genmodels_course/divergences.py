"""Maximum likelihood, the two KL divergences, and multi-modal targets (chapter 1).

Chapter 1, sections 1.11 and 1.12. Everything here works in one dimension, on a uniform
grid, in float64, so that the numbers can be checked against closed forms:

* :class:`Mixture1D`            a 1-D Gaussian mixture: ``log_prob``, ``pdf``, ``mean``,
                                ``variance``, ``sample``
* :func:`normal_log_prob`       ``log N(x; mu, sigma^2)``
* :func:`kl_normal`             ``KL(N(mu_p, s_p^2) || N(mu_q, s_q^2))`` in closed form
* :func:`kl_divergence_on_grid` ``KL(p || q) = sum_x p log(p / q) dx`` on a grid, eq. (1.15)
* :func:`fit_gaussian_by_kl`    the best single Gaussian under the forward KL
                                ``KL(p || q)`` (maximum likelihood, eq. 1.16) or the reverse
                                ``KL(q || p)`` (eq. 1.17): a brute-force search, then L-BFGS
* :func:`bimodal_toy`, :func:`binned_conditional_mean`, :func:`sample_binned_conditional`,
  :func:`red_or_blue`
                                a regression whose answer has two right values: the
                                least-squares predictor (the conditional mean) against
                                samples of the conditional distribution
"""
from __future__ import annotations

import dataclasses
import math

import torch

LOG_2PI = math.log(2 * math.pi)

__all__ = ["Mixture1D", "normal_log_prob", "kl_normal", "kl_divergence_on_grid",
           "fit_gaussian_by_kl", "bimodal_toy", "binned_conditional_mean",
           "sample_binned_conditional", "red_or_blue"]


def _as64(x) -> torch.Tensor:
    return torch.as_tensor(x, dtype=torch.float64)


def normal_log_prob(x, mu, sigma) -> torch.Tensor:
    """``log N(x; mu, sigma^2)`` elementwise (shapes broadcast), in float64."""
    x, mu, sigma = _as64(x), _as64(mu), _as64(sigma)
    return -0.5 * (LOG_2PI + 2 * torch.log(sigma) + ((x - mu) / sigma) ** 2)


@dataclasses.dataclass
class Mixture1D:
    """A 1-D Gaussian mixture ``sum_k w_k N(mu_k, sigma_k^2)``.

    ``weights``, ``means``, ``sigmas``: sequences of the same length ``K`` (the weights
    are normalised to sum to one).
    """

    weights: tuple
    means: tuple
    sigmas: tuple

    def __post_init__(self):
        w, m, s = _as64(self.weights), _as64(self.means), _as64(self.sigmas)
        if not (w.dim() == m.dim() == s.dim() == 1) or not (len(w) == len(m) == len(s) >= 1):
            raise ValueError("Mixture1D expects weights, means and sigmas of one same length K >= 1, "
                             f"got {tuple(w.shape)}, {tuple(m.shape)}, {tuple(s.shape)}")
        if (w < 0).any() or w.sum() <= 0 or (s <= 0).any():
            raise ValueError("Mixture1D expects weights >= 0 (not all zero) and sigmas > 0")
        self._w, self._m, self._s = w / w.sum(), m, s

    def log_prob(self, x) -> torch.Tensor:
        """``log p(x)`` for any shape of ``x`` (float64), by log-sum-exp over components."""
        x = _as64(x)[..., None]
        return torch.logsumexp(torch.log(self._w) + normal_log_prob(x, self._m, self._s), dim=-1)

    def pdf(self, x) -> torch.Tensor:
        return self.log_prob(x).exp()

    def mean(self) -> float:
        return float((self._w * self._m).sum())

    def variance(self) -> float:
        """The law of total variance: ``sum_k w_k (sigma_k^2 + mu_k^2) - mean^2``."""
        return float((self._w * (self._s ** 2 + self._m ** 2)).sum() - self.mean() ** 2)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` draws (float64, ``(n,)``): a component by its weight, then its Gaussian."""
        k = torch.multinomial(self._w, n, replacement=True, generator=generator)
        eps = torch.randn(n, generator=generator, dtype=torch.float64)
        return self._m[k] + self._s[k] * eps


def kl_normal(mu_p, sigma_p, mu_q, sigma_q) -> torch.Tensor:
    """``KL(N(mu_p, sigma_p^2) || N(mu_q, sigma_q^2))`` in closed form (nats, float64):
    ``log(s_q / s_p) + (s_p^2 + (mu_p - mu_q)^2) / (2 s_q^2) - 1/2``."""
    mu_p, sigma_p, mu_q, sigma_q = map(_as64, (mu_p, sigma_p, mu_q, sigma_q))
    return (torch.log(sigma_q / sigma_p) + (sigma_p ** 2 + (mu_p - mu_q) ** 2) / (2 * sigma_q ** 2)
            - 0.5)


def _spacing(grid: torch.Tensor) -> float:
    if grid.dim() != 1 or len(grid) < 2:
        raise ValueError(f"expects a 1-D grid of at least 2 points, got shape {tuple(grid.shape)}")
    steps = grid[1:] - grid[:-1]
    dx = float(steps.mean())
    if dx <= 0 or float((steps - dx).abs().max()) > 1e-6 * dx:
        raise ValueError("expects an increasing, uniformly spaced grid")
    return dx


def _kl_from_logs(log_p: torch.Tensor, log_q: torch.Tensor, dx: float) -> torch.Tensor:
    """``sum p (log p - log q) dx`` with ``0 log 0 = 0``; inf where ``p > 0 = q``."""
    p = log_p.exp()
    terms = torch.where(p > 0, p * (log_p - log_q), torch.zeros_like(p))
    return terms.sum(dim=-1) * dx


def kl_divergence_on_grid(p, q, grid) -> torch.Tensor:
    """``KL(p || q) = sum_x p(x) log(p(x) / q(x)) dx`` for densities given on a grid, eq. (1.15).

    ``p``, ``q``: density values (not log-densities) on ``grid``, a uniformly spaced 1-D
    tensor of ``G`` points; ``p`` and ``q`` may carry leading batch dimensions ``(..., G)``.
    Returns the KL in nats, ``(...)``, float64. Points where ``p = 0`` contribute nothing;
    a point where ``p > 0`` and ``q = 0`` makes the KL infinite. The grid must cover
    (nearly all of) both densities: the sum is a Riemann sum of the integral.
    """
    grid, p, q = _as64(grid), _as64(p), _as64(q)
    dx = _spacing(grid)
    if p.shape[-1] != len(grid) or q.shape[-1] != len(grid):
        raise ValueError(f"kl_divergence_on_grid expects p and q of shape (..., {len(grid)}) "
                         f"(one value per grid point), got {tuple(p.shape)} and {tuple(q.shape)}")
    if (p < 0).any() or (q < 0).any():
        raise ValueError("kl_divergence_on_grid expects densities p, q >= 0")
    return _kl_from_logs(torch.log(p), torch.log(q), dx)


def _gaussian_kl_to(log_p: torch.Tensor, grid: torch.Tensor, dx: float, mu: torch.Tensor,
                    sigma: torch.Tensor, direction: str) -> torch.Tensor:
    log_q = normal_log_prob(grid, mu[..., None], sigma[..., None])
    if direction == "forward":
        return _kl_from_logs(log_p, log_q, dx)
    return _kl_from_logs(log_q, log_p, dx)


def fit_gaussian_by_kl(p, grid, direction: str = "forward", n_mu: int = 121, n_sigma: int = 81,
                       refine: bool = True) -> tuple[float, float, float]:
    """The single Gaussian ``q = N(mu, sigma^2)`` closest to ``p`` in KL: ``(mu, sigma, kl)``.

    ``p``: density values on ``grid`` (uniform, 1-D, covering ``p``). ``direction``:
    ``"forward"`` minimises ``KL(p || q)`` (maximum likelihood, eq. 1.16: mode covering; its
    optimum is moment matching, ``mu`` and ``sigma^2`` the mean and variance of ``p``),
    ``"reverse"`` minimises ``KL(q || p)`` (eq. 1.17: mode seeking). First a brute-force
    search over ``n_mu`` means across the grid and ``n_sigma`` log-spaced standard
    deviations from ``4 dx`` to the grid's width, which finds the *global* minimum even
    where the reverse KL has several local ones; then (``refine``) L-BFGS from the best
    point in ``(mu, log sigma)``. All in float64; the KL is in nats.
    """
    if direction not in ("forward", "reverse"):
        raise ValueError(f"fit_gaussian_by_kl expects direction 'forward' or 'reverse', got {direction!r}")
    grid, p = _as64(grid), _as64(p)
    dx = _spacing(grid)
    if p.shape != grid.shape or (p < 0).any() or not float(p.sum()) > 0:
        raise ValueError(f"fit_gaussian_by_kl expects p >= 0 (not all zero) of the grid's shape "
                         f"{tuple(grid.shape)}, got {tuple(p.shape)}")
    log_p = torch.log(p / (p.sum() * dx))  # normalised on the grid
    width = float(grid[-1] - grid[0])
    mus = torch.linspace(float(grid[0]), float(grid[-1]), n_mu, dtype=torch.float64)
    sigmas = torch.logspace(math.log10(4 * dx), math.log10(width), n_sigma, dtype=torch.float64)
    best = (math.inf, None, None)
    for s in sigmas:  # one row of means at a time keeps memory at n_mu x G
        kl = _gaussian_kl_to(log_p, grid, dx, mus, s.expand(n_mu), direction)
        i = int(torch.argmin(kl))
        if float(kl[i]) < best[0]:
            best = (float(kl[i]), float(mus[i]), float(s))
    kl0, mu0, s0 = best
    if not refine or not math.isfinite(kl0):
        return mu0, s0, kl0
    params = torch.tensor([mu0, math.log(s0)], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([params], max_iter=50, tolerance_grad=1e-10,
                            tolerance_change=1e-13, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = _gaussian_kl_to(log_p, grid, dx, params[0], params[1].exp(), direction)
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        mu, sigma = float(params[0]), float(params[1].exp())
        kl = float(_gaussian_kl_to(log_p, grid, dx, params[0], params[1].exp(), direction))
    if not (math.isfinite(kl) and kl <= kl0):  # keep the search's answer if L-BFGS wandered
        return mu0, s0, kl0
    return mu, sigma, kl


# ------------------------------------------------------------------ multi-modal targets
def bimodal_toy(n: int, noise: float = 0.05, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` pairs ``(x, y)`` where ``y`` given ``x`` has two right answers.

    ``x ~ U[0, 1]``; ``y = +(0.3 + x)`` or ``-(0.3 + x)`` with probability 1/2 each, plus
    ``N(0, noise^2)``: a "colour" that is one of two values for every "grey level" ``x``.
    The conditional mean is 0, a value that no example ever takes. Returns two ``(n,)``
    float64 tensors.
    """
    if n < 1 or noise < 0:
        raise ValueError(f"bimodal_toy expects n >= 1 and noise >= 0, got n={n}, noise={noise}")
    x = torch.rand(n, generator=generator, dtype=torch.float64)
    sign = torch.randint(0, 2, (n,), generator=generator, dtype=torch.float64) * 2 - 1
    y = sign * (0.3 + x) + noise * torch.randn(n, generator=generator, dtype=torch.float64)
    return x, y


def _bins(x: torch.Tensor, x_query: torch.Tensor, bins: int) -> tuple[torch.Tensor, torch.Tensor]:
    if bins < 1 or x.dim() != 1 or len(x) == 0:
        raise ValueError(f"expects bins >= 1 and a non-empty 1-D x, got bins={bins}, shape {tuple(x.shape)}")
    lo, hi = float(x.min()), float(x.max())
    edges = torch.linspace(lo, hi, bins + 1, dtype=torch.float64)[1:-1]
    return torch.bucketize(_as64(x), edges), torch.bucketize(_as64(x_query), edges)


def binned_conditional_mean(x, y, x_query, bins: int = 20) -> torch.Tensor:
    """The least-squares predictor ``E[y | x]``, estimated by the mean of ``y`` in ``bins``
    equal-width bins of ``x``: the function that minimises the mean squared error among
    all functions of the bin. ``x``, ``y``: ``(N,)``; returns ``(len(x_query),)``."""
    x, y, x_query = _as64(x), _as64(y), _as64(x_query)
    b, bq = _bins(x, x_query, bins)
    sums = torch.zeros(bins, dtype=torch.float64).index_add_(0, b, y)
    counts = torch.zeros(bins, dtype=torch.float64).index_add_(0, b, torch.ones_like(y))
    if (counts[bq] == 0).any():
        raise ValueError("binned_conditional_mean: a query falls in a bin with no training point")
    return (sums / counts.clamp(min=1))[bq]


def sample_binned_conditional(x, y, x_query, bins: int = 20,
                              generator: torch.Generator | None = None) -> torch.Tensor:
    """One draw from the empirical ``p(y | x)`` per query: the ``y`` of a training point
    picked uniformly at random in the query's bin (a non-parametric conditional
    generative model). Same arguments as :func:`binned_conditional_mean`."""
    x, y, x_query = _as64(x), _as64(y), _as64(x_query)
    b, bq = _bins(x, x_query, bins)
    order = torch.argsort(b, stable=True)
    counts = torch.bincount(b, minlength=bins)
    starts = torch.cumsum(counts, 0) - counts
    if (counts[bq] == 0).any():
        raise ValueError("sample_binned_conditional: a query falls in a bin with no training point")
    u = torch.rand(len(bq), generator=generator, dtype=torch.float64)
    pick = starts[bq] + (u * counts[bq]).long().clamp(max=counts[bq] - 1)
    return y[order[pick]]


def red_or_blue(x: torch.Tensor, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Colour grey images red or blue at random: ``(colour, is_red)``.

    ``x``: ``(N, 1, H, W)`` in ``[0, 1]``. Each image goes, with probability 1/2, into the
    red channel or the blue one of an ``(N, 3, H, W)`` image; ``is_red`` is ``(N,)`` bool.
    Given the grey image, both colourings are right, and their average (purple at half
    the intensity) is the colouring that minimises the squared error, and is never right.
    """
    if x.dim() != 4 or x.shape[1] != 1 or x.shape[0] == 0:
        raise ValueError(f"red_or_blue expects a non-empty batch of grey images (N, 1, H, W), got {tuple(x.shape)}")
    is_red = torch.rand(x.shape[0], generator=generator, device=x.device) < 0.5
    zero = torch.zeros_like(x)
    r = torch.where(is_red[:, None, None, None], x, zero)
    return torch.cat([r, zero, x - r], dim=1), is_red
