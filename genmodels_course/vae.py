"""Variational autoencoders: the ELBO, the reparameterisation trick and the IWAE bound.

Chapter 3 of the book. The notation follows the chapter: an observation ``x``, a latent
code ``z`` with prior ``p(z) = N(0, I)``, a decoder ``p(x|z)`` (here a product of Bernoullis
whose *logits* the network outputs) and an encoder ``q(z|x) = N(mu, diag(exp(logvar)))``.

The pieces, each tied to an equation of the chapter:

* :func:`gaussian_kl`         KL(q(z|x) || p(z)) in closed form, eq. (3.4)
* :func:`reparameterise`      z = mu + sigma * eps, eq. (3.5)
* :func:`bernoulli_nll`       -log p(x|z) from logits, eq. (3.6)
* :func:`negative_elbo`       -ELBO = reconstruction + beta * KL, eqs. (3.3) and (3.8)
* :func:`iwae_bound`          log (1/k) sum_i w_i with log-sum-exp, eq. (3.7)
* :class:`VAE`                an MLP encoder and decoder, configured by :class:`VAEConfig`
* :func:`log_weights`, :func:`iwae_nll`   importance weights and the test NLL estimate
* :func:`active_units`, :func:`kl_per_unit`, :func:`free_bits_kl`, :func:`kl_warmup`   posterior collapse
* :func:`aggregate_posterior_log_prob`     the aggregate posterior against the prior
* :func:`make_step`, :func:`inpaint`      a training step for ``gm.train.fit``; in-painting

The Gaussian decoder of section 3.11 (a mean and a variance for every pixel) is in
:mod:`genmodels_course.vae_gaussian`.
"""
from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from .nn import MLP

LOG_2PI = math.log(2 * math.pi)


def _check_pair(mu: torch.Tensor, logvar: torch.Tensor, fn: str) -> None:
    if not isinstance(mu, torch.Tensor) or not isinstance(logvar, torch.Tensor):
        raise ValueError(f"{fn} expects torch tensors mu and logvar, got {type(mu).__name__} and {type(logvar).__name__}")
    if mu.shape != logvar.shape:
        raise ValueError(f"{fn} expects mu and logvar of the same shape (..., d), got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    if mu.dim() == 0 or mu.shape[-1] == 0:
        raise ValueError(f"{fn} expects tensors with a latent dimension d >= 1 as the last axis, got shape {tuple(mu.shape)}")


# ------------------------------------------------------------------ the ELBO's pieces
def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL( N(mu, diag(exp(logvar))) || N(0, I) ), eq. (3.4).

    ``mu``, ``logvar``: ``(..., d)``. Returns ``(...,)``: the KL summed over the last
    (latent) dimension, one value per example:
    ``1/2 * sum(sigma^2 + mu^2 - 1 - log sigma^2)``.
    """
    _check_pair(mu, logvar, "gaussian_kl")
    return 0.5 * (logvar.exp() + mu.pow(2) - 1.0 - logvar).sum(dim=-1)


def _kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """The KL (3.4) of each latent unit apart: ``(..., d) -> (..., d)``, summing to :func:`gaussian_kl`.

    Each unit is read as a Gaussian of its own (a trailing latent axis of size 1).
    """
    return gaussian_kl(mu.unsqueeze(-1), logvar.unsqueeze(-1))


def reparameterise(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor | None = None,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """A sample ``z = mu + sigma * eps`` with ``sigma = exp(logvar / 2)``, eq. (3.5).

    ``mu``, ``logvar``: ``(..., d)``; ``eps``: standard normal noise of a shape that
    broadcasts against them (for example ``(N, k, d)`` against ``(N, 1, d)``). When ``eps``
    is ``None`` it is drawn from ``generator``. The randomness lives in ``eps`` alone, so
    gradients flow to ``mu`` and ``logvar``.
    """
    _check_pair(mu, logvar, "reparameterise")
    if eps is None:
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    else:
        try:
            torch.broadcast_shapes(mu.shape, eps.shape)
        except RuntimeError:
            raise ValueError(f"reparameterise expects eps of a shape that broadcasts against mu {tuple(mu.shape)}, "
                             f"got {tuple(eps.shape)}") from None
    return mu + torch.exp(0.5 * logvar) * eps


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """-log p(x|z) for a product of Bernoullis given by ``logits``, eq. (3.6).

    ``logits``, ``x``: ``(N, ...)`` with ``x`` in ``[0, 1]``. Returns ``(N,)``: the
    negative log-likelihood summed over every dimension but the first. Computed as
    ``softplus(l) - x * l``, which never takes the log of zero (equal to torch's
    ``binary_cross_entropy_with_logits`` with ``reduction="none"``, summed). With a
    ``mask`` of the shape of ``x`` (1 observed, 0 missing) only observed pixels count:
    the decoder factorises over pixels, so this is ``-log p(x_obs | z)``.
    """
    if logits.shape != x.shape:
        raise ValueError(f"bernoulli_nll expects logits and x of the same shape (N, ...), got {tuple(logits.shape)} and {tuple(x.shape)}")
    if x.dim() < 1 or x.shape[0] == 0:
        raise ValueError(f"bernoulli_nll expects a non-empty batch (N, ...), got shape {tuple(x.shape)}")
    if x.min() < 0 or x.max() > 1:
        raise ValueError("bernoulli_nll expects data x in [0, 1] (binary pixels or probabilities)")
    if mask is not None and mask.shape != x.shape:
        raise ValueError(f"bernoulli_nll expects a mask of the shape of x {tuple(x.shape)}, got {tuple(mask.shape)}")
    nll = F.softplus(logits) - x * logits
    if mask is not None:
        nll = nll * mask
    return nll.reshape(x.shape[0], -1).sum(dim=1)


def gaussian_log_prob(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))), summed over the last dimension. Shapes broadcast; ``(..., d) -> (...,)``."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar)).sum(dim=-1)


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I), summed over the last dimension: ``(..., d) -> (...,)``."""
    return -0.5 * (LOG_2PI + z.pow(2)).sum(dim=-1)


def negative_elbo(logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                  beta: float = 1.0) -> torch.Tensor:
    """The one-sample negative ELBO per example, eqs. (3.3) and (3.8).

    ``logits``, ``x``: ``(N, ...)`` (the decoder's output for a reparameterised sample and
    the binary data); ``mu``, ``logvar``: ``(N, d)``. Returns ``(N,)``:
    ``-log p(x|z) + beta * KL(q(z|x) || p(z))``; ``beta = 1`` is the ELBO itself.
    """
    if mu.dim() != 2 or mu.shape[0] != x.shape[0]:
        raise ValueError(f"negative_elbo expects mu and logvar of shape (N, d) with N = {x.shape[0]}, got {tuple(mu.shape)}")
    return bernoulli_nll(logits, x) + beta * gaussian_kl(mu, logvar)


def iwae_bound(log_w: torch.Tensor) -> torch.Tensor:
    """The importance-weighted bound ``log (1/k) sum_i w_i`` from log-weights, eq. (3.7).

    ``log_w``: ``(..., k)`` with ``log w_i = log p(x, z_i) - log q(z_i|x)``. Returns
    ``(...,)``. Uses log-sum-exp, so weights of ``exp(-500)`` or ``exp(+500)`` are fine.
    With ``k = 1`` this is the one-sample ELBO estimate.
    """
    if not isinstance(log_w, torch.Tensor) or log_w.dim() == 0 or log_w.shape[-1] == 0:
        shape = tuple(log_w.shape) if isinstance(log_w, torch.Tensor) else type(log_w).__name__
        raise ValueError(f"iwae_bound expects log-weights of shape (..., k) with k >= 1, got {shape}")
    return torch.logsumexp(log_w, dim=-1) - math.log(log_w.shape[-1])


# ------------------------------------------------------------------ the model
@dataclasses.dataclass
class VAEConfig:
    """Sizes of a :class:`VAE`; stored (as a dict) inside checkpoints."""

    x_shape: tuple = (1, 28, 28)
    z_dim: int = 16
    hidden: tuple = (512, 256)

    def __post_init__(self):
        self.x_shape, self.hidden = tuple(self.x_shape), tuple(self.hidden)
        if self.z_dim < 1:
            raise ValueError(f"VAEConfig.z_dim must be >= 1, got {self.z_dim}")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"VAEConfig.hidden must be a non-empty tuple of positive widths, got {self.hidden}")


class VAE(nn.Module):
    """A VAE with MLP encoder ``x -> (mu, logvar)`` and decoder ``z -> logits``.

    Shapes: ``encode: (N, *x_shape) -> (N, d), (N, d)``; ``decode: (N, d) -> (N, *x_shape)``.
    The decoder's hidden widths mirror the encoder's.
    """

    def __init__(self, config: VAEConfig | None = None):
        super().__init__()
        self.config = config or VAEConfig()
        d_x = math.prod(self.config.x_shape)
        self.encoder = MLP(d_x, list(self.config.hidden), 2 * self.config.z_dim)
        self.decoder = MLP(self.config.z_dim, list(reversed(self.config.hidden)), d_x)

    @property
    def z_dim(self) -> int:
        return self.config.z_dim

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if tuple(x.shape[1:]) != self.config.x_shape or x.shape[0] == 0:
            raise ValueError(f"VAE.encode expects a non-empty batch of shape (N, {', '.join(map(str, self.config.x_shape))}), got {tuple(x.shape)}")
        mu, logvar = self.encoder(x.flatten(1)).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"VAE.decode expects codes of shape (N, {self.z_dim}), got {tuple(z.shape)}")
        return self.decoder(z).view(z.shape[0], *self.config.x_shape)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        """One reparameterised pass: returns ``(logits, mu, logvar)``."""
        mu, logvar = self.encode(x)
        z = reparameterise(mu, logvar, generator=generator)
        return self.decode(z), mu, logvar

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Bernoulli means ``sigmoid(decode(z))`` for ``z ~ p(z)``: ``(n, *x_shape)`` in [0, 1]."""
        p = next(self.parameters())
        z = torch.randn(n, self.z_dim, generator=generator, device=p.device, dtype=p.dtype)
        return torch.sigmoid(self.decode(z))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Bernoulli means of ``p(x | z = mu(x))``: ``(N, *x_shape)`` in [0, 1]."""
        return torch.sigmoid(self.decode(self.encode(x)[0]))


# ------------------------------------------------------------------ training
def kl_warmup(step: int, warmup_steps: int) -> float:
    """The KL weight of a linear warm-up: ``min(1, step / warmup_steps)`` (1 when ``warmup_steps = 0``)."""
    if warmup_steps < 0:
        raise ValueError(f"kl_warmup expects warmup_steps >= 0, got {warmup_steps}")
    return 1.0 if warmup_steps == 0 else min(1.0, step / warmup_steps)


def free_bits_kl(kl_per_dim: torch.Tensor, lam: float) -> torch.Tensor:
    """The free-bits KL term, eq. (3.9): ``sum_j max(lam, mean_n KL_nj)``, a scalar.

    ``kl_per_dim``: ``(N, d)``, the KL of each latent dimension for each example. A unit
    whose batch-average KL is below ``lam`` nats gets no gradient pushing it further down.
    """
    if kl_per_dim.dim() != 2 or kl_per_dim.shape[0] == 0:
        raise ValueError(f"free_bits_kl expects a non-empty (N, d) tensor, got {tuple(kl_per_dim.shape)}")
    if lam < 0:
        raise ValueError(f"free_bits_kl expects lam >= 0 nats, got {lam}")
    return kl_per_dim.mean(dim=0).clamp(min=lam).sum()


def make_step(model: VAE, beta: float = 1.0, warmup_steps: int = 0, free_bits: float = 0.0,
              binarize: bool = True, generator: torch.Generator | None = None):
    """A training step for ``gm.train.fit``: ``step((x,), i) -> (loss, {"rec": ..., "kl": ...})``.

    ``x`` in [0, 1] is binarised afresh at every call (dynamic binarisation) when
    ``binarize``. The loss is the batch mean of ``rec + w * beta * KL`` where ``w`` follows
    :func:`kl_warmup` at the step index ``i`` that ``fit`` passes; with ``free_bits > 0`` the
    KL term is :func:`free_bits_kl` instead. The logged ``kl`` is always the plain KL, so
    runs can be compared.
    """

    def step(batch, i):
        x = batch[0]
        if binarize:
            x = torch.bernoulli(x, generator=generator)
        mu, logvar = model.encode(x)
        z = reparameterise(mu, logvar, generator=generator)
        rec = bernoulli_nll(model.decode(z), x).mean()
        kl_dims = _kl_per_dim(mu, logvar)
        kl = kl_dims.sum(dim=1).mean()
        kl_term = free_bits_kl(kl_dims, free_bits) if free_bits > 0 else kl
        weight = beta * kl_warmup(i, warmup_steps)
        return rec + weight * kl_term, {"rec": rec.detach(), "kl": kl.detach()}

    return step


# ------------------------------------------------------------------ evaluation
@torch.no_grad()
def log_weights(model: VAE, x: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Importance log-weights ``log p(x|z_i) + log p(z_i) - log q(z_i|x)``, ``z_i ~ q(z|x)``.

    ``x``: ``(N, *x_shape)`` binary. Returns ``(N, k)``. Memory grows as ``N * k * D``, so
    callers batch over images and over k (see :func:`iwae_nll`).
    """
    if k < 1:
        raise ValueError(f"log_weights expects k >= 1 samples, got {k}")
    mu, logvar = model.encode(x)
    n, d = mu.shape
    eps = torch.randn(n, k, d, generator=generator, device=mu.device, dtype=mu.dtype)
    z = reparameterise(mu[:, None], logvar[:, None], eps)                       # (N, k, d)
    logits = model.decode(z.reshape(n * k, d))
    x_rep = x[:, None].expand(n, k, *x.shape[1:]).reshape(n * k, *x.shape[1:])
    log_px_z = -bernoulli_nll(logits, x_rep).view(n, k)
    return log_px_z + standard_normal_log_prob(z) - gaussian_log_prob(z, mu[:, None], logvar[:, None])


@torch.no_grad()
def iwae_nll(model: VAE, x: torch.Tensor, k: int = 1000, batch_size: int = 64, k_chunk: int = 250,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Per-example negative log-likelihood estimates ``-L_k(x)`` (nats), eq. (3.7).

    ``x``: ``(N, *x_shape)`` binary. Returns ``(N,)``. ``-L_k`` is an upper bound on
    ``-log p(x)`` in expectation and tightens as ``k`` grows; k = 1 gives ``-ELBO``.
    Works in blocks of ``batch_size`` images times ``k_chunk`` samples.
    """
    if x.shape[0] == 0:
        raise ValueError("iwae_nll expects a non-empty batch of images")
    was_training = model.training
    model.eval()
    out = []
    for i in range(0, x.shape[0], batch_size):
        xb = x[i:i + batch_size]
        chunks = [log_weights(model, xb, min(k_chunk, k - j), generator) for j in range(0, k, k_chunk)]
        out.append(-iwae_bound(torch.cat(chunks, dim=1)))
    model.train(was_training)
    return torch.cat(out)


@torch.no_grad()
def posterior_means(model: VAE, x: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """``mu(x)`` and ``logvar(x)`` for a whole data set, in batches: ``(N, d)`` each."""
    mus, logvars = zip(*(model.encode(x[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)))
    return torch.cat(mus), torch.cat(logvars)


@torch.no_grad()
def active_units(model: VAE, x: torch.Tensor, threshold: float = 0.01) -> tuple[int, torch.Tensor]:
    """Count the latent units the model uses: ``Var_x(E_q[z_j | x]) > threshold``.

    The activity statistic of Burda et al. (2016). Returns ``(count, variances)`` with
    ``variances`` of shape ``(d,)``. A collapsed unit has ``q(z_j|x) = p(z_j)`` for every
    ``x``, so its posterior mean does not move with the input.
    """
    if x.shape[0] < 2:
        raise ValueError(f"active_units needs at least 2 examples to measure a variance, got {x.shape[0]}")
    mu, _ = posterior_means(model, x)
    var = mu.var(dim=0)
    return int((var > threshold).sum()), var


@torch.no_grad()
def kl_per_unit(model: VAE, x: torch.Tensor) -> torch.Tensor:
    """The KL (3.4) of each latent unit, averaged over the data ``x``: ``(d,)`` in nats.

    A collapsed unit has ``q(z_j|x) = p(z_j)`` for every ``x`` and a KL of exactly 0; the
    sum over units is the average rate ``KL(q(z|x) || p(z))``.
    """
    mu, logvar = posterior_means(model, x)
    return _kl_per_dim(mu, logvar).mean(dim=0)


@torch.no_grad()
def aggregate_posterior_log_prob(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                                 chunk: int = 4096) -> torch.Tensor:
    """log q(z) of the aggregate posterior ``q(z) = 1/N sum_n q(z | x_n)``, a mixture of N Gaussians.

    ``z``: ``(M, d)`` points; ``mu``, ``logvar``: ``(N, d)`` the encoder's outputs on a data
    set. Returns ``(M,)`` on the device of ``mu``. Computed in chunks of ``chunk`` points.
    """
    if z.dim() != 2 or mu.dim() != 2 or z.shape[1] != mu.shape[1]:
        raise ValueError(f"aggregate_posterior_log_prob expects z (M, d) and mu, logvar (N, d), got {tuple(z.shape)} and {tuple(mu.shape)}")
    z = z.to(mu.device, mu.dtype)
    out = [torch.logsumexp(gaussian_log_prob(zc[:, None], mu[None], logvar[None]), dim=1) - math.log(mu.shape[0])
           for zc in z.split(chunk)]
    return torch.cat(out)


def inpaint(model: VAE, x: torch.Tensor, mask: torch.Tensor, steps: int = 100, lr: float = 0.05,
            init: float = 0.0) -> torch.Tensor:
    """Fill in pixels where ``mask == 0`` through the latent space.

    Finds, for each image, the code that best explains the *observed* pixels under the prior,
    ``z* = argmax_z log p(x_obs | z) + log p(z)`` (the decoder factorises over pixels, so
    ``log p(x_obs | z)`` is its log-likelihood summed over the observed pixels only), by
    ``steps`` Adam steps started at the encoder's mean of the image with ``init`` in the
    holes. Returns ``x`` with the decoder's probabilities ``sigmoid(decode(z*))`` in the
    missing pixels. ``x``, ``mask``: ``(N, *x_shape)``. The model's weights are not changed.
    """
    if mask.shape != x.shape:
        raise ValueError(f"inpaint expects a mask of the same shape as x {tuple(x.shape)}, got {tuple(mask.shape)}")
    if steps < 1:
        raise ValueError(f"inpaint expects steps >= 1, got {steps}")
    mask = mask.to(x.dtype)
    with torch.no_grad():
        z = model.encode(x * mask + init * (1 - mask))[0].clone()
    z.requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            logits = model.decode(z)
            nll_obs = bernoulli_nll(logits, x, mask)
            loss = (nll_obs - standard_normal_log_prob(z)).sum()
            (z.grad,) = torch.autograd.grad(loss, z)
            opt.step()
    with torch.no_grad():
        return x * mask + torch.sigmoid(model.decode(z)) * (1 - mask)
