"""A VAE whose decoder outputs a mean and a variance for x: the Gaussian decoder (chapter 3).

Section 3.11 of the book. The encoder, the prior and the KL term are those of
:mod:`genmodels_course.vae`; only the likelihood changes. For continuous pixels the decoder
is ``p(x | z) = N(x; mu_theta(z), diag(sigma_theta^2(z)))`` with three choices for the
variance:

* ``variance="pixel"``: the decoder outputs a log-variance for every pixel of every image;
* ``variance="shared"``: one learned log-variance for all pixels (a learned weight on the
  squared error);
* ``variance=<float>``: a fixed variance, not learned (``1.0`` is "plain MSE / 2").

The pieces:

* :func:`gaussian_nll`          ``-log N(x; mean, diag(exp(logvar)))`` per image, eq. (3.10)
* :func:`dequantise`            256-level pixels ``k / 255`` to ``(k + u) / 256``, ``u ~ U[0, 1)``
* :class:`GaussianDecoderVAE`   encoder ``x -> (mu, logvar_z)``, decoder ``z -> (mean, logvar)``
* :func:`make_gaussian_step`    a training step for ``gm.train.fit``
* :func:`elbo_terms`            reconstruction and KL per test image, one sample of ``z``
* :func:`bits_per_dim`          the negative ELBO of dequantised data in bits per 8-bit pixel
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .nn import MLP
from .vae import VAEConfig, gaussian_kl, reparameterise

LOG_2PI = math.log(2 * math.pi)

__all__ = ["gaussian_nll", "dequantise", "GaussianDecoderVAE", "make_gaussian_step",
           "elbo_terms", "bits_per_dim"]


def gaussian_nll(x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``-log N(x; mean, diag(exp(logvar)))`` per example, eq. (3.10).

    ``x``, ``mean``: ``(N, ...)``; ``logvar`` broadcasts to ``x`` (a scalar, one value per
    pixel, or ``(N, ...)``). Returns ``(N,)``: ``1/2 sum_i [log 2 pi + logvar_i +
    (x_i - mean_i)^2 / exp(logvar_i)]`` over every dimension but the first, in nats. A
    density, not a probability: it can be negative when the variance is small.
    """
    if not all(isinstance(t, torch.Tensor) for t in (x, mean, logvar)):
        raise ValueError("gaussian_nll expects torch tensors x, mean and logvar")
    if mean.shape != x.shape or x.dim() < 1 or x.shape[0] == 0:
        raise ValueError(f"gaussian_nll expects x and mean of one same non-empty shape (N, ...), "
                         f"got {tuple(x.shape)} and {tuple(mean.shape)}")
    try:
        logvar = torch.broadcast_to(logvar, x.shape)
    except RuntimeError:
        raise ValueError(f"gaussian_nll expects a logvar that broadcasts to {tuple(x.shape)}, "
                         f"got {tuple(logvar.shape)}") from None
    nll = 0.5 * (LOG_2PI + logvar + (x - mean).pow(2) * torch.exp(-logvar))
    return nll.reshape(x.shape[0], -1).sum(dim=1)


def dequantise(x: torch.Tensor, levels: int = 256, generator: torch.Generator | None = None
               ) -> torch.Tensor:
    """Uniform dequantisation: pixels ``k / (levels - 1)`` become ``(k + u) / levels``.

    ``x``: any shape, in ``[0, 1]``. A continuous density on the result is a bound on the
    probability of the discrete pixels: ``log P(k) >= log p(x) - D log(levels)``
    (Theis et al., 2016), which :func:`bits_per_dim` uses.
    """
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError("dequantise expects pixels in [0, 1]")
    k = torch.round(x * (levels - 1))
    u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return (k + u) / levels


class GaussianDecoderVAE(nn.Module):
    """A VAE with an MLP encoder ``x -> (mu, logvar_z)`` and a Gaussian MLP decoder.

    ``decode(z) -> (mean, logvar)``: ``mean = sigmoid(.)`` of shape ``(N, *x_shape)`` in
    ``(0, 1)``; ``logvar`` of the same shape (``variance="pixel"``) or a 0-d tensor
    (``"shared"``, or a fixed float). Learned log-variances are kept above ``min_logvar``
    by a softplus: a variance allowed to go to zero on a pixel that is always (nearly) the
    same would send the likelihood to infinity.
    """

    def __init__(self, config: VAEConfig | None = None, variance: str | float = "pixel",
                 min_logvar: float = -10.0):
        super().__init__()
        self.config = config or VAEConfig()
        if not (variance in ("pixel", "shared") or
                (isinstance(variance, (int, float)) and not isinstance(variance, bool) and variance > 0)):
            raise ValueError(f"GaussianDecoderVAE expects variance 'pixel', 'shared' or a fixed "
                             f"variance > 0, got {variance!r}")
        self.variance, self.min_logvar = variance, float(min_logvar)
        d_x = math.prod(self.config.x_shape)
        out = 2 * d_x if variance == "pixel" else d_x
        self.encoder = MLP(d_x, list(self.config.hidden), 2 * self.config.z_dim)
        self.decoder = MLP(self.config.z_dim, list(reversed(self.config.hidden)), out)
        if variance == "shared":
            # starts at sigma^2 = 1; read as logvar = 10 * raw: Adam moves a parameter by
            # about lr per step, and this one number must travel several nats
            self.raw_logvar = nn.Parameter(torch.zeros(()))
        elif variance != "pixel":
            self.register_buffer("fixed_logvar", torch.tensor(math.log(variance)))

    @property
    def z_dim(self) -> int:
        return self.config.z_dim

    def _floor(self, raw: torch.Tensor) -> torch.Tensor:
        return self.min_logvar + F.softplus(raw - self.min_logvar)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if tuple(x.shape[1:]) != self.config.x_shape or x.shape[0] == 0:
            raise ValueError(f"GaussianDecoderVAE.encode expects a non-empty batch of shape "
                             f"(N, {', '.join(map(str, self.config.x_shape))}), got {tuple(x.shape)}")
        mu, logvar = self.encoder(x.flatten(1)).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"GaussianDecoderVAE.decode expects codes of shape (N, {self.z_dim}), "
                             f"got {tuple(z.shape)}")
        shape = (z.shape[0], *self.config.x_shape)
        h = self.decoder(z)
        if self.variance == "pixel":
            m, raw = h.chunk(2, dim=-1)
            return torch.sigmoid(m).view(shape), self._floor(raw).view(shape)
        logvar = self._floor(10 * self.raw_logvar) if self.variance == "shared" else self.fixed_logvar
        return torch.sigmoid(h).view(shape), logvar

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        """One reparameterised pass: ``(mean, logvar, mu, logvar_z)``."""
        mu, logvar_z = self.encode(x)
        mean, logvar = self.decode(reparameterise(mu, logvar_z, generator=generator))
        return mean, logvar, mu, logvar_z

    @torch.no_grad()
    def sample(self, n: int, noise: bool = False, generator: torch.Generator | None = None
               ) -> torch.Tensor:
        """``n`` images from ``z ~ p(z)``: the decoder's means (``noise=False``) or full
        samples ``mean + sigma * eps`` of ``p(x | z)`` (``noise=True``), ``(n, *x_shape)``."""
        p = next(self.parameters())
        z = torch.randn(n, self.z_dim, generator=generator, device=p.device, dtype=p.dtype)
        mean, logvar = self.decode(z)
        if not noise:
            return mean
        eps = torch.randn(mean.shape, generator=generator, device=p.device, dtype=p.dtype)
        return mean + torch.exp(0.5 * logvar) * eps

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """The decoder's mean at ``z = mu(x)``: ``(N, *x_shape)``."""
        return self.decode(self.encode(x)[0])[0]


def make_gaussian_step(model: GaussianDecoderVAE, dequantise_data: bool = True,
                       generator: torch.Generator | None = None):
    """A training step for ``gm.train.fit``: ``step((x,)) -> (loss, {"rec", "kl", "sigma"})``.

    ``x`` in ``[0, 1]`` is dequantised afresh at each call (``dequantise_data``). The loss
    is the batch mean of the negative ELBO ``gaussian_nll + KL`` (eqs. 3.3, 3.4, 3.10);
    ``sigma`` logs the decoder's standard deviation averaged over pixels.
    """

    def step(batch):
        x = batch[0]
        if dequantise_data:
            x = dequantise(x, generator=generator)
        mean, logvar, mu, logvar_z = model(x, generator=generator)
        rec = gaussian_nll(x, mean, logvar).mean()
        kl = gaussian_kl(mu, logvar_z).mean()
        sigma = torch.exp(0.5 * logvar.detach()).mean()
        return rec + kl, {"rec": rec.detach(), "kl": kl.detach(), "sigma": sigma}

    return step


@torch.no_grad()
def elbo_terms(model: GaussianDecoderVAE, x: torch.Tensor, generator: torch.Generator | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(rec, kl)``, each ``(N,)`` in nats: ``-log p(x | z)`` for one ``z ~ q(z | x)`` and
    ``KL(q(z | x) || p(z))``. ``x`` is used as given (dequantise it first)."""
    mean, logvar, mu, logvar_z = model(x, generator=generator)
    return gaussian_nll(x, mean, logvar), gaussian_kl(mu, logvar_z)


def bits_per_dim(neg_elbo: torch.Tensor, n_dims: int, levels: int = 256) -> float:
    """The mean negative ELBO of dequantised data, ``(N,)`` nats, as an upper bound on the
    discrete data's bits per pixel: ``(neg_elbo + D log levels) / (D log 2)``."""
    return float((neg_elbo.mean() + n_dims * math.log(levels)) / (n_dims * math.log(2)))
