"""Chapter 2: autoencoders, denoising autoencoders and how to measure a latent space.

An autoencoder is an encoder ``z = f(x)`` and a decoder ``x_hat = g(z)`` trained to
reconstruct their input (2.16). It learns a latent space but no distribution on it, so
``g(z)`` for a ``z`` drawn "somewhere" is often not a digit: the measures below
(:func:`confident_fraction`, :func:`continuity`) make that visible. A denoising
autoencoder reconstructs the clean ``x`` from a corrupted ``x_tilde`` (2.17).

Shapes: images ``x (N, 1, 28, 28)`` in [0, 1] (any ``(N, ...)`` works), codes ``z (N, d)``.
"""
from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from . import metrics
from .metrics import psnr  # noqa: F401  (2.18), the package's one PSNR, used by chapter 2 as gm.autoencoders.psnr
from .nn import MLP


@dataclasses.dataclass
class AEConfig:
    """An MLP autoencoder: ``d_in`` pixels, ``hidden`` widths (mirrored in the decoder), ``z_dim`` latents."""

    image_shape: tuple = (1, 28, 28)
    hidden: tuple = (512, 256)
    z_dim: int = 2


class Autoencoder(nn.Module):
    """``encode``: images ``(N, 1, 28, 28)`` -> codes ``(N, d)``; ``decode``: codes -> logits of the image shape."""

    def __init__(self, config: AEConfig | None = None):
        super().__init__()
        self.config = config = config or AEConfig()
        if config.z_dim < 1:
            raise ValueError(f"AEConfig expects z_dim >= 1, got {config.z_dim}")
        d_in = math.prod(config.image_shape)
        self.encoder = MLP(d_in, list(config.hidden), config.z_dim)
        self.decoder = MLP(config.z_dim, list(reversed(config.hidden)), d_in)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1:] != tuple(self.config.image_shape):
            raise ValueError(f"Autoencoder.encode expects images of shape (N, {', '.join(map(str, self.config.image_shape))}), got {tuple(x.shape)}")
        return self.encoder(x.flatten(1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Logits of the pixels (``sigmoid`` gives the image): ``(N, d) -> (N, 1, 28, 28)``."""
        if z.dim() != 2 or z.shape[1] != self.config.z_dim:
            raise ValueError(f"Autoencoder.decode expects codes of shape (N, {self.config.z_dim}), got {tuple(z.shape)}")
        return self.decoder(z).view(-1, *self.config.image_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
        return torch.cat([torch.sigmoid(self(x[i:i + batch_size])) for i in range(0, len(x), batch_size)])

    @torch.no_grad()
    def codes(self, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
        return torch.cat([self.encode(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])


def reconstruction_loss(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The autoencoder's loss (2.16): binary cross-entropy summed over pixels, averaged over the batch.

    ``x`` holds grey levels in [0, 1] (BCE accepts them as soft targets); ``logits`` the decoder's output.
    """
    if logits.shape != x.shape:
        raise ValueError(f"reconstruction_loss expects logits and x of the same shape, got {tuple(logits.shape)} and {tuple(x.shape)}")
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1).mean()


def corrupt(x: torch.Tensor, eps: torch.Tensor, keep: torch.Tensor, sigma: float) -> torch.Tensor:
    """The corruption of (2.17): ``x_tilde = keep * clamp(x + sigma * eps, 0, 1)``.

    ``eps`` is standard Gaussian noise and ``keep`` a 0/1 mask of the pixels kept (masking
    noise), both of ``x``'s shape and passed in, so the corruption is deterministic given them.
    """
    return keep * (x + sigma * eps).clamp(0.0, 1.0)


def denoising_loss(model: nn.Module, x: torch.Tensor, eps: torch.Tensor, keep: torch.Tensor,
                   sigma: float) -> torch.Tensor:
    """The denoising autoencoder's loss: reconstruct the CLEAN ``x`` from ``corrupt(x, eps, keep, sigma)``.

    ``model`` maps images to logits of the same shape. Returns a scalar (2.16 with 2.17).
    """
    return reconstruction_loss(model(corrupt(x, eps, keep, sigma)), x)


def corruption_noise(x: torch.Tensor, mask_prob: float, generator: torch.Generator | None = None):
    """Draw ``(eps, keep)`` for :func:`corrupt`: Gaussian noise and a mask that drops ``mask_prob`` of the pixels."""
    if not 0.0 <= mask_prob < 1.0:
        raise ValueError(f"corruption_noise expects 0 <= mask_prob < 1, got {mask_prob}")
    eps = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    keep = (torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) >= mask_prob).to(x.dtype)
    return eps, keep


# ------------------------------------------------------------------ measuring a latent space
@torch.no_grad()
def confident_fraction(x: torch.Tensor, threshold: float = 0.9, dataset: str = "mnist") -> float:
    """The fraction of images ``(N, 1, 28, 28)`` that the package's classifier labels with
    probability at least ``threshold``: a rough "looks like some digit" score."""
    if x.dim() != 4 or x.shape[0] == 0:
        raise ValueError(f"confident_fraction expects a non-empty batch of images (N, 1, 28, 28), got {tuple(x.shape)}")
    return metrics.confident_classes(x, dataset, threshold)["share_confident"]


def fitted_gaussian_codes(codes: torch.Tensor, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` codes from the Gaussian fitted to ``codes (N, d)`` (its mean and covariance):
    the most charitable way to "sample" an autoencoder, which has no prior."""
    if codes.dim() != 2 or codes.shape[0] < 2:
        raise ValueError(f"fitted_gaussian_codes expects codes of shape (N, d) with N >= 2, got {tuple(codes.shape)}")
    d = codes.shape[1]
    mean = codes.mean(0)
    cov = torch.cov(codes.T, correction=0).reshape(d, d) + 1e-6 * torch.eye(d, device=codes.device, dtype=codes.dtype)
    L = torch.linalg.cholesky(cov)
    eps = torch.randn(n, d, generator=generator, device=codes.device, dtype=codes.dtype)
    return mean + eps @ L.T


@torch.no_grad()
def continuity(decode, codes: torch.Tensor, step: float = 0.05,
               generator: torch.Generator | None = None) -> float:
    """How much the image changes for a small move in the latent space.

    For each code, move it by ``step`` times the codes' overall spread (the root mean
    variance per dimension) in a random direction, decode both, and return the mean RMS
    pixel change. Small = continuous. ``decode`` maps ``(N, d)`` codes to images in [0, 1].
    """
    if codes.dim() != 2 or codes.shape[0] < 2:
        raise ValueError(f"continuity expects codes of shape (N, d) with N >= 2, got {tuple(codes.shape)}")
    scale = codes.var(0).mean().sqrt()
    u = torch.randn(codes.shape, generator=generator, device=codes.device, dtype=codes.dtype)
    u = u / u.norm(dim=1, keepdim=True)
    a, b = decode(codes), decode(codes + step * scale * u)
    return float((a - b).pow(2).flatten(1).mean(1).sqrt().mean())
