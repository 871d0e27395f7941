"""Latent diffusion (chapter 8): an autoencoder from 28x28 pixels to a few channels at
7x7, in whose latent space the conditional denoiser of :mod:`guidance` runs.

The autoencoder is trained first and then frozen (Rombach et al. 2022). Its encoder gives
``z = E(x)``, shape ``(B, c, 7, 7)``, divided by one fitted scale so that the latents
have about unit variance, the scale the noise schedule assumes; its decoder maps a
latent back to an image in [0, 1]. A 4x7x7 latent has 196 numbers against 784 pixels,
and the denoiser's convolutions run on 49 positions instead of 784: each of the many
sampling steps is about 16 times cheaper.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["LatentAutoencoder", "make_ae_step"]


class LatentAutoencoder(nn.Module):
    """``encode``: ``(B, 1, 28, 28)`` in [0, 1] -> ``(B, channels, 7, 7)`` (scaled);
    ``decode``: back to ``(B, 1, 28, 28)`` in [0, 1]; ``decode_logits`` before the sigmoid.

    The latent is deterministic; a small penalty on its size during training
    (:func:`make_ae_step`) keeps it from drifting to large values, and :meth:`fit_scale`
    then sets the one number that brings it to unit variance."""

    def __init__(self, channels: int = 4, width: int = 32):
        super().__init__()
        if channels < 1 or width < 1:
            raise ValueError("channels and width must be positive")
        w = width
        self.channels = channels
        self.encoder = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1), nn.SiLU(),
            nn.Conv2d(w, 2 * w, 4, stride=2, padding=1), nn.SiLU(),       # 14x14
            nn.Conv2d(2 * w, 2 * w, 4, stride=2, padding=1), nn.SiLU(),   # 7x7
            nn.Conv2d(2 * w, channels, 3, padding=1))
        self.decoder = nn.Sequential(
            nn.Conv2d(channels, 2 * w, 3, padding=1), nn.SiLU(),
            nn.ConvTranspose2d(2 * w, 2 * w, 4, stride=2, padding=1), nn.SiLU(),  # 14x14
            nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1), nn.SiLU(),      # 28x28
            nn.Conv2d(w, 1, 3, padding=1))
        self.register_buffer("scale", torch.ones(()))

    def raw_encode(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"expected images (B, 1, 28, 28) in [0, 1], got {shape}")
        return self.encoder(x)

    def encode(self, x: Tensor) -> Tensor:
        return self.raw_encode(x) / self.scale

    def decode_logits(self, z: Tensor) -> Tensor:
        if not isinstance(z, Tensor) or z.ndim != 4 or tuple(z.shape[1:]) != (self.channels, 7, 7):
            shape = tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__
            raise ValueError(f"expected latents (B, {self.channels}, 7, 7), got {shape}")
        return self.decoder(z * self.scale)

    def decode(self, z: Tensor) -> Tensor:
        return torch.sigmoid(self.decode_logits(z))

    @torch.no_grad()
    def fit_scale(self, x: Tensor, batch_size: int = 1000) -> float:
        """Set ``scale`` to the standard deviation of the raw latents of ``x``; returns it."""
        z = torch.cat([self.raw_encode(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
        self.scale.fill_(float(z.std()))
        return float(self.scale)

    @torch.no_grad()
    def encode_dataset(self, x: Tensor, batch_size: int = 1000) -> Tensor:
        return torch.cat([self.encode(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])


def make_ae_step(ae: LatentAutoencoder, latent_penalty: float = 1e-3):
    """A training step on batches ``(x,)``: binary cross-entropy of the reconstruction
    (summed over pixels, averaged over the batch) plus ``latent_penalty * mean(z^2)``
    per latent entry, summed over the latent's entries."""

    def step(batch):
        x = batch[0]
        z = ae.raw_encode(x)
        rec = F.binary_cross_entropy_with_logits(ae.decoder(z), x, reduction="sum") / len(x)
        reg = latent_penalty * (z ** 2).sum() / len(x)
        return rec + reg, {"reconstruction": rec.detach()}

    return step
