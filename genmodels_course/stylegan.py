"""Chapter 5, section 5.9: tricks of the larger GANs (BigGAN, StyleGAN), small enough to try.

The truncation trick (BigGAN) trades diversity for typical samples, adaptive instance
normalisation (StyleGAN) injects a style into feature maps, and spherical interpolation
walks the latent space where Gaussian noise actually lives.
"""
from __future__ import annotations

import torch

__all__ = ["truncated_noise", "adain", "interpolate_latents"]


def truncated_noise(n: int, z_dim: int, threshold: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Standard normal noise ``(n, z_dim)`` with every entry resampled until ``|z_i| <= threshold``
    (BigGAN's truncation trick: a smaller threshold trades diversity for typical-looking samples)."""
    if not threshold > 0:
        raise ValueError(f"threshold should be positive, got {threshold}")
    z = torch.randn(n, z_dim, generator=generator)
    bad = z.abs() > threshold
    while bad.any():
        z[bad] = torch.randn(int(bad.sum()), generator=generator)
        bad = z.abs() > threshold
    return z


def adain(h: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Adaptive instance normalisation (StyleGAN's style input): ``(N, C, H, W)`` feature maps,
    ``scale`` and ``bias`` ``(N, C)`` from the style. Each channel of each image is normalised
    to zero mean and unit variance, then given the style's own scale and bias."""
    if h.dim() != 4 or scale.shape != h.shape[:2] or bias.shape != h.shape[:2]:
        raise ValueError(f"adain expects h (N, C, H, W) and scale, bias (N, C); got {tuple(h.shape)}, "
                         f"{tuple(scale.shape)}, {tuple(bias.shape)}")
    mean = h.mean(dim=(2, 3), keepdim=True)
    std = (h.var(dim=(2, 3), keepdim=True, unbiased=False) + eps).sqrt()
    return scale[:, :, None, None] * (h - mean) / std + bias[:, :, None, None]


def interpolate_latents(z0: torch.Tensor, z1: torch.Tensor, n: int, spherical: bool = True) -> torch.Tensor:
    """``n`` points from ``z0`` to ``z1`` (both ``(z_dim,)``), endpoints included: ``(n, z_dim)``.

    ``spherical=True`` uses slerp, which keeps the norm near sqrt(z_dim) where Gaussian noise
    lives; a straight line passes through the low-norm middle that G rarely saw in training.
    """
    if z0.shape != z1.shape or z0.dim() != 1 or n < 2:
        raise ValueError("interpolate_latents expects two (z_dim,) vectors and n >= 2")
    t = torch.linspace(0, 1, n, dtype=z0.dtype, device=z0.device)[:, None]
    if not spherical:
        return (1 - t) * z0 + t * z1
    cos = (z0 @ z1) / (z0.norm() * z1.norm())
    omega = torch.arccos(cos.clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so) * z0 + (torch.sin(t * omega) / so) * z1
