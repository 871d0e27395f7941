"""Chapter 4: a multi-scale flow for images (RealNVP's architecture with Glow's layers).

The MLP couplings of :mod:`genmodels_course.flows` treat an image as a list of 784 numbers.
This module keeps the change of variables (4.4)-(4.5) and changes the networks and the
layout, as RealNVP (Dinh et al., 2017) and Glow (Kingma and Dhariwal, 2018) do:

* :func:`squeeze` trades space for channels, ``(C, H, W) -> (4C, H/2, W/2)``, a permutation
  (log-determinant 0), so that a coupling can split the channels in half;
* a *step* is :class:`ActNorm2d` (a per-channel affine map with a data-dependent
  start), :class:`~genmodels_course.flows.InvertibleConv1x1` (a learned permutation of the
  channels) and :class:`ConvCoupling` (an affine coupling whose scale and shift come from
  a small convolutional network of the kept half);
* after each level but the last, half of the channels *leave* the flow and are scored by
  the standard normal at once (the multi-scale architecture): the later levels work on
  fewer numbers, and the model's latent has several resolutions.

Shapes: images ``(N, C, H, W)``; log-densities and log-determinants ``(N,)`` in nats.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from .flows import InvertibleConv1x1, bits_per_dim, logit_transform, standard_normal_log_prob

__all__ = ["GlowConfig", "Glow", "squeeze", "unsqueeze", "ActNorm2d", "ConvCoupling",
           "FlowStep", "dequantize_logit", "to_pixels", "image_bits_per_dim"]


def _check_images(x: torch.Tensor, channels: int | None = None, name: str = "x") -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"{name} should be an (N, C, H, W) tensor, got shape "
                         f"{tuple(getattr(x, 'shape', ()))}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{name} should have {channels} channels, got {x.shape[1]}")


def squeeze(x: torch.Tensor) -> torch.Tensor:
    """``(N, C, H, W) -> (N, 4C, H/2, W/2)``: each 2x2 patch becomes 4 channels."""
    _check_images(x)
    n, c, h, w = x.shape
    if h % 2 or w % 2:
        raise ValueError(f"squeeze needs an even height and width, got {h} x {w}: pad or "
                         "crop the images, or use fewer levels")
    x = x.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4)
    return x.reshape(n, 4 * c, h // 2, w // 2)


def unsqueeze(x: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`squeeze`: ``(N, 4C, H, W) -> (N, C, 2H, 2W)``."""
    _check_images(x)
    n, c4, h, w = x.shape
    if c4 % 4:
        raise ValueError(f"unsqueeze needs a multiple of 4 channels, got {c4}")
    x = x.reshape(n, c4 // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3)
    return x.reshape(n, c4 // 4, 2 * h, 2 * w)


class ActNorm2d(nn.Module):
    """Glow's actnorm for images: ``y = exp(log_a) * x + b`` with one ``(log_a, b)`` per
    channel, set on the first batch so that every channel leaves with zero mean and unit
    variance. ``log |det dy/dx| = H * W * sum(log_a)``."""

    def __init__(self, channels: int):
        super().__init__()
        self.log_a = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.b = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.register_buffer("initialised", torch.tensor(False))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _check_images(x, self.log_a.shape[1])
        if not self.initialised:
            with torch.no_grad():
                std = x.std((0, 2, 3), keepdim=True) if x.shape[0] > 1 else torch.ones_like(self.b)
                self.log_a.copy_(-torch.log(std + 1e-6))
                self.b.copy_(-x.mean((0, 2, 3), keepdim=True) * self.log_a.exp())
                self.initialised.fill_(True)
        log_det = x.shape[2] * x.shape[3] * self.log_a.sum()
        return x * self.log_a.exp() + self.b, log_det.expand(x.shape[0])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        _check_images(y, self.log_a.shape[1], "y")
        return (y - self.b) * torch.exp(-self.log_a)


class ConvCoupling(nn.Module):
    """An affine coupling over channels: the first half ``x_a`` passes unchanged and a
    convolutional network of it gives ``(log_s, t)`` for the second half,
    ``y_b = x_b * exp(log_s) + t`` (eq. 4.6 with a channel mask); the log-determinant is
    the sum of ``log_s`` over the second half's channels and pixels (4.7).

    The network is 3x3 conv, ReLU, 1x1 conv, ReLU, 3x3 conv; its last layer starts at zero
    (a new coupling is the identity) and ``log_s = scale * tanh(raw / scale)`` is bounded.
    """

    def __init__(self, channels: int, hidden: int = 64, scale: float = 2.0):
        super().__init__()
        if channels < 2:
            raise ValueError(f"a channel coupling needs at least 2 channels, got {channels}")
        self.n_keep = channels // 2
        last = nn.Conv2d(hidden, 2 * (channels - self.n_keep), 3, padding=1)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.net = nn.Sequential(nn.Conv2d(self.n_keep, hidden, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(hidden, hidden, 1), nn.ReLU(), last)
        self.scale = scale

    def _params(self, x_a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raw_s, t = self.net(x_a).chunk(2, dim=1)
        return self.scale * torch.tanh(raw_s / self.scale), t

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x_a, x_b = x[:, :self.n_keep], x[:, self.n_keep:]
        log_s, t = self._params(x_a)
        return torch.cat([x_a, x_b * log_s.exp() + t], 1), log_s.sum((1, 2, 3))

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        y_a, y_b = y[:, :self.n_keep], y[:, self.n_keep:]
        log_s, t = self._params(y_a)
        return torch.cat([y_a, (y_b - t) * torch.exp(-log_s)], 1)


class FlowStep(nn.Module):
    """One Glow step: :class:`ActNorm2d`, an invertible 1x1 convolution, a coupling."""

    def __init__(self, channels: int, hidden: int, generator: torch.Generator | None = None):
        super().__init__()
        self.layers = nn.ModuleList([ActNorm2d(channels), InvertibleConv1x1(channels, generator),
                                     ConvCoupling(channels, hidden)])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_det = 0.0
        for layer in self.layers:
            x, ld = layer(x)
            log_det = log_det + ld
        return x, log_det

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        for layer in reversed(self.layers):
            y = layer.inverse(y)
        return y


@dataclasses.dataclass
class GlowConfig:
    """``levels`` squeezes of a ``channels x size x size`` image, ``steps`` steps at each;
    ``hidden``: the width of the coupling networks."""
    channels: int = 1
    size: int = 28
    levels: int = 2
    steps: int = 6
    hidden: int = 64

    def __post_init__(self):
        if self.levels < 1 or self.steps < 1 or self.hidden < 1:
            raise ValueError(f"levels, steps and hidden must be positive, got {self}")
        if self.size % (2 ** self.levels):
            raise ValueError(f"an image of size {self.size} cannot be squeezed {self.levels} "
                             f"times (the size must be divisible by {2 ** self.levels})")


class Glow(nn.Module):
    """A multi-scale flow: at each level squeeze, run ``steps`` :class:`FlowStep`, then
    (but after the last) let half of the channels leave. ``forward(x) -> (zs, log_det)``
    with one latent per level; :meth:`log_prob` is (4.4) summed over all of them."""

    def __init__(self, config: GlowConfig | None = None, seed: int = 0):
        super().__init__()
        self.config = cfg = config or GlowConfig()
        g = torch.Generator().manual_seed(seed)  # the 1x1 convolutions' random rotations
        self.levels, c = nn.ModuleList(), cfg.channels
        for level in range(cfg.levels):
            c *= 4
            self.levels.append(nn.ModuleList([FlowStep(c, cfg.hidden, g) for _ in range(cfg.steps)]))
            if level < cfg.levels - 1:
                c -= c // 2  # the half that stays
        self.shapes = self._latent_shapes()

    def _latent_shapes(self) -> list[tuple[int, int, int]]:
        cfg, shapes, (c, s) = self.config, [], (self.config.channels, self.config.size)
        for level in range(cfg.levels):
            c, s = 4 * c, s // 2
            if level < cfg.levels - 1:
                shapes.append((c // 2, s, s))
                c -= c // 2
        return shapes + [(c, s, s)]

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        cfg = self.config
        _check_images(x, cfg.channels)
        if x.shape[2:] != (cfg.size, cfg.size):
            raise ValueError(f"this flow takes {cfg.size} x {cfg.size} images, got "
                             f"{tuple(x.shape[2:])}")
        zs, log_det = [], torch.zeros(x.shape[0], device=x.device, dtype=x.dtype)
        for i, steps in enumerate(self.levels):
            x = squeeze(x)
            for step in steps:
                x, ld = step(x)
                log_det = log_det + ld
            if i < len(self.levels) - 1:
                leave = x.shape[1] // 2
                zs.append(x[:, :leave])
                x = x[:, leave:]
        return zs + [x], log_det

    def inverse(self, zs: list[torch.Tensor]) -> torch.Tensor:
        if len(zs) != len(self.shapes):
            raise ValueError(f"inverse needs {len(self.shapes)} latents (one per level), got {len(zs)}")
        x = zs[-1]
        for i in reversed(range(len(self.levels))):
            if i < len(self.levels) - 1:
                x = torch.cat([zs[i], x], 1)
            for step in reversed(self.levels[i]):
                x = step.inverse(x)
            x = unsqueeze(x)
        return x

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact ``log p(x)``, eq. (4.4): every latent under ``N(0, I)`` plus the log-det."""
        zs, log_det = self(x)
        return sum(standard_normal_log_prob(z.flatten(1)) for z in zs) + log_det

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` samples ``f^{-1}(z)`` with ``z ~ N(0, temperature^2 I)`` (Glow draws at a
        temperature below 1 for cleaner images). One inverse pass, ``(n, C, H, W)``."""
        if n <= 0:
            raise ValueError(f"n should be positive, got {n}")
        device = next(self.parameters()).device
        zs = [temperature * torch.randn(n, *s, generator=generator, device=device)
              for s in self.shapes]
        return self.inverse(zs)


def dequantize_logit(x: torch.Tensor, generator: torch.Generator | None = None,
                     levels: int = 256, alpha: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
    """Images with values ``k / (levels - 1)`` in [0, 1] -> ``(y, log_det)``: uniform
    dequantisation ``(k + u) / levels`` and :func:`~genmodels_course.flows.logit_transform`.
    ``y`` has ``x``'s shape; ``log p(x_deq) = log p(y) + log_det``."""
    _check_images(x)
    k = torch.round(x * (levels - 1))
    where = generator.device if generator is not None else x.device
    u = torch.rand(x.shape, generator=generator, device=where).to(x.device)
    y, log_det = logit_transform(((k + u) / levels).flatten(1), alpha)
    return y.view_as(x), log_det


def to_pixels(y: torch.Tensor, alpha: float = 0.05) -> torch.Tensor:
    """The inverse of :func:`dequantize_logit`'s logit: flow outputs -> pixels in [0, 1]."""
    return ((torch.sigmoid(y) - alpha) / (1 - 2 * alpha)).clamp(0, 1)


def image_bits_per_dim(flow: Glow, x: torch.Tensor, generator: torch.Generator | None = None,
                       batch: int = 500) -> float:
    """Bits per dimension (4.9) of images ``x`` in [0, 1] under ``flow``, one dequantisation."""
    flow.eval()
    lps = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            y, ld = dequantize_logit(x[i:i + batch], generator)
            lps.append(flow.log_prob(y) + ld)
    return bits_per_dim(torch.cat(lps), x[0].numel())

