"""Chapter 4: normalizing flows with affine coupling layers (RealNVP).

A flow is an invertible map ``f`` from data ``x`` to a latent ``z = f(x)`` with a simple
density ``p(z) = N(0, I)``. The change of variables (4.4) gives the exact density

    log p(x) = log p(z) + log |det df/dx|,

and a composition of maps adds up their log-determinants (4.5). An affine coupling layer
(Dinh et al., 2017) keeps the coordinates where a binary ``mask`` is 1 and moves the others
by a scale and a shift computed from the kept ones, eq. (4.6); its Jacobian is triangular,
so its log-determinant is the sum of the log-scales, eq. (4.7), and it inverts in closed
form (4.8). Alternating the mask lets every coordinate be transformed.

Shapes: points are ``(N, D)``; log-densities and log-determinants are ``(N,)`` in nats.
"""
from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["coupling_forward", "coupling_inverse", "AffineCoupling", "ActNorm", "InvertibleConv1x1", "RealNVP",
           "alternating_masks", "checkerboard_masks", "standard_normal_log_prob",
           "logit_transform", "bits_per_dim", "grid_log_density"]


def _check_points(x: torch.Tensor, dim: int | None = None, name: str = "x") -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        raise ValueError(f"{name} should be a (N, D) tensor, got shape "
                         f"{tuple(getattr(x, 'shape', ()))}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f"{name} should have D = {dim} columns, got {x.shape[1]}")


def coupling_forward(x: torch.Tensor, mask: torch.Tensor, log_s: torch.Tensor,
                     t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One affine coupling, eqs. (4.6) and (4.7): returns ``(y, log_det)``.

    ``x``, ``log_s``, ``t``: ``(N, D)``; ``mask``: ``(D,)`` of 0/1. Coordinates with mask 1
    pass unchanged; the others become ``x * exp(log_s) + t``. ``log_s`` and ``t`` must have
    been computed from ``x * mask`` only (the layer does that), which makes the Jacobian
    triangular with ``exp(log_s)`` on the diagonal where the mask is 0.
    ``log_det``: ``(N,)``, the sum of ``log_s`` over the transformed coordinates.
    """
    keep = 1.0 - mask
    y = mask * x + keep * (x * torch.exp(log_s) + t)
    return y, (keep * log_s).sum(-1)


def coupling_inverse(y: torch.Tensor, mask: torch.Tensor, log_s: torch.Tensor,
                     t: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`coupling_forward`, eq. (4.8): ``x = (y - t) * exp(-log_s)``
    where the mask is 0, ``x = y`` where it is 1. ``(N, D)``.

    ``log_s`` and ``t`` come from ``y * mask``, which equals ``x * mask``: that is why the
    inverse needs no inversion of the network.
    """
    keep = 1.0 - mask
    return mask * y + keep * (y - t) * torch.exp(-log_s)


class AffineCoupling(nn.Module):
    """An affine coupling layer: an MLP maps ``x * mask`` to ``(log_s, t)``.

    ``log_s = scale * tanh(raw / scale)`` bounds the log-scales to ``(-scale, scale)``: an
    unbounded ``exp`` is the usual way a flow blows up early in training. The last layer
    starts at zero, so a new layer is the identity.
    """

    def __init__(self, mask: torch.Tensor, hidden: int = 64, depth: int = 2,
                 scale: float = 3.0):
        super().__init__()
        dim = mask.numel()
        self.register_buffer("mask", mask.float().flatten())
        layers, width = [], dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        last = nn.Linear(width, 2 * dim)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.net = nn.Sequential(*layers, last)
        self.scale = scale

    def params(self, x_kept: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raw_s, t = self.net(x_kept).chunk(2, dim=-1)
        return self.scale * torch.tanh(raw_s / self.scale), t

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x -> (y, log_det)``, eqs. (4.6)-(4.7)."""
        _check_points(x, self.mask.numel())
        log_s, t = self.params(x * self.mask)
        return coupling_forward(x, self.mask, log_s, t)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """``y -> x``, eq. (4.8)."""
        _check_points(y, self.mask.numel(), "y")
        log_s, t = self.params(y * self.mask)
        return coupling_inverse(y, self.mask, log_s, t)


class ActNorm(nn.Module):
    """Glow's activation normalisation for ``(N, D)`` points: ``y = exp(log_a) * x + b``.

    On the first batch it sees, ``log_a`` and ``b`` are set so that the outputs have zero
    mean and unit variance per coordinate (data-dependent initialisation); after that they
    are ordinary parameters. ``log |det dy/dx| = sum(log_a)``, the same for every point.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.log_a = nn.Parameter(torch.zeros(dim))
        self.b = nn.Parameter(torch.zeros(dim))
        self.register_buffer("initialised", torch.tensor(False))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _check_points(x, self.log_a.numel())
        if not self.initialised:
            with torch.no_grad():
                std = x.std(0) if x.shape[0] > 1 else torch.ones_like(self.log_a)
                self.log_a.copy_(-torch.log(std + 1e-6))
                self.b.copy_(-x.mean(0) * self.log_a.exp())
                self.initialised.fill_(True)
        y = x * self.log_a.exp() + self.b
        return y, self.log_a.sum().expand(x.shape[0])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        _check_points(y, self.log_a.numel(), "y")
        return (y - self.b) * torch.exp(-self.log_a)


class InvertibleConv1x1(nn.Module):
    """Glow's invertible 1x1 convolution: one learned ``C x C`` matrix ``W`` applied to the
    channels of every pixel of images ``(N, C, H, W)`` (or to points ``(N, C)``, one pixel).

    ``W`` is kept in Glow's LU form, ``W = P L (U + diag(sign * exp(log_s)))``: ``P`` a fixed
    permutation, ``L`` unit lower triangular, ``U`` strictly upper triangular, so that
    ``log |det W| = sum(log_s)`` costs ``O(C)`` and ``W`` stays invertible while ``log_s`` is
    finite. It starts as a random rotation. ``log |det dy/dx| = H * W * sum(log_s)``.
    """

    def __init__(self, channels: int, generator: torch.Generator | None = None):
        super().__init__()
        if channels < 1:
            raise ValueError(f"channels must be positive, got {channels}")
        q, _ = torch.linalg.qr(torch.randn(channels, channels, generator=generator, dtype=torch.float64))
        p, lower, upper = torch.linalg.lu(q)
        diag = torch.diagonal(upper)
        self.register_buffer("p", p.float())
        self.register_buffer("sign", torch.sign(diag).float())
        self.register_buffer("lower_mask", torch.tril(torch.ones(channels, channels), -1))
        self.lower = nn.Parameter(lower.float())
        self.upper = nn.Parameter(torch.triu(upper, 1).float())
        self.log_s = nn.Parameter(torch.log(diag.abs()).float())
        self.channels = channels

    def weight(self) -> torch.Tensor:
        """The ``C x C`` matrix ``W`` from its LU factors."""
        eye = torch.eye(self.channels, device=self.log_s.device, dtype=self.log_s.dtype)
        lower = self.lower * self.lower_mask + eye
        upper = self.upper * self.lower_mask.T + torch.diag(self.sign * self.log_s.exp())
        return self.p @ lower @ upper

    def _check(self, x: torch.Tensor, name: str) -> int:
        if not isinstance(x, torch.Tensor) or x.ndim not in (2, 4) or x.shape[1] != self.channels:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{name} must have shape (N, {self.channels}) or (N, {self.channels}, H, W), "
                             f"got {shape}")
        return 1 if x.ndim == 2 else x.shape[2] * x.shape[3]

    @staticmethod
    def _mix(m: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x @ m.T if x.ndim == 2 else torch.einsum("ij,njhw->nihw", m, x)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pixels = self._check(x, "x")
        log_det = pixels * self.log_s.sum()
        return self._mix(self.weight(), x), log_det.expand(x.shape[0])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        self._check(y, "y")
        return self._mix(torch.linalg.inv(self.weight()), y)


def alternating_masks(dim: int, n_layers: int) -> list[torch.Tensor]:
    """Masks that keep the first half, then the second half, and so on. ``dim >= 2``."""
    if dim < 2:
        raise ValueError(f"a coupling flow needs dim >= 2, got {dim}")
    first = (torch.arange(dim) < dim // 2).float()
    return [first if k % 2 == 0 else 1.0 - first for k in range(n_layers)]


def checkerboard_masks(height: int, width: int, n_layers: int) -> list[torch.Tensor]:
    """Flattened checkerboard masks for images, alternating with their complements."""
    rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    board = ((rows + cols) % 2).float().flatten()
    return [board if k % 2 == 0 else 1.0 - board for k in range(n_layers)]


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """``log N(z; 0, I)`` summed over the last dimension: ``(N,)``."""
    return -0.5 * (z ** 2).sum(-1) - 0.5 * z.shape[-1] * math.log(2 * math.pi)


class RealNVP(nn.Module):
    """A stack of :class:`AffineCoupling` layers with a standard normal base, eq. (4.5).

    ``forward(x) -> (z, log_det)``; :meth:`log_prob` is (4.4); :meth:`sample` runs the
    inverse on base samples; :meth:`trajectory` returns the points after every layer (the
    density "bent layer by layer" of the chapter's figure).
    """

    def __init__(self, masks: list[torch.Tensor], hidden: int = 64, depth: int = 2,
                 scale: float = 3.0):
        super().__init__()
        if not masks:
            raise ValueError("RealNVP needs at least one mask")
        self.dim = masks[0].numel()
        self.layers = nn.ModuleList([AffineCoupling(m, hidden, depth, scale) for m in masks])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _check_points(x, self.dim)
        log_det = torch.zeros(x.shape[0], device=x.device, dtype=x.dtype)
        for layer in self.layers:
            x, ld = layer(x)
            log_det = log_det + ld
        return x, log_det

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        _check_points(z, self.dim, "z")
        for layer in reversed(self.layers):
            z = layer.inverse(z)
        return z

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact ``log p(x) = log N(f(x); 0, I) + log |det df/dx|``, eq. (4.4): ``(N,)``."""
        z, log_det = self(x)
        return standard_normal_log_prob(z) + log_det

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` samples ``x = f^{-1}(z)``, ``z ~ N(0, I)``: one pass, ``(n, D)``."""
        if n <= 0:
            raise ValueError(f"n should be positive, got {n}")
        device = next(self.parameters()).device
        z = torch.randn(n, self.dim, generator=generator, device=device)
        return self.inverse(z)

    @torch.no_grad()
    def trajectory(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``[x, f_1(x), f_2(f_1(x)), ..., z]``: the points after each layer."""
        _check_points(x, self.dim)
        out = [x]
        for layer in self.layers:
            x, _ = layer(x)
            out.append(x)
        return out


def logit_transform(x: torch.Tensor, alpha: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
    """Map dequantised pixels in ``(0, 1)`` to the real line, as RealNVP does.

    ``y = logit(alpha + (1 - 2 alpha) x)``; returns ``(y, log_det)`` with ``log_det`` the
    log-determinant of ``dy/dx`` summed over the last dimension, ``(N,)``, so that
    ``log p(x) = log p(y) + log_det`` (the change of variables once more).
    """
    _check_points(x)
    if x.min() < 0 or x.max() > 1:
        raise ValueError("logit_transform expects pixels in [0, 1] (dequantise them first)")
    p = alpha + (1 - 2 * alpha) * x
    y = torch.log(p) - torch.log1p(-p)
    log_det = (math.log(1 - 2 * alpha) - torch.log(p) - torch.log1p(-p)).sum(-1)
    return y, log_det


def bits_per_dim(log_px: torch.Tensor, n_dims: int, levels: int = 256) -> float:
    """Bits per dimension of 8-bit data from ``log p(x)`` of its dequantised version.

    ``log_px``: ``(N,)`` nats, the density of ``x`` on ``[0, 1]^D`` (pixels ``(k + u) /
    levels``). The discrete probability of the pixels is at least
    ``p(x) / levels^D``, so ``(-log p(x) + D log levels) / (D log 2)`` bounds the bits per
    pixel from above, eq. (4.9). The mean over the batch.
    """
    if log_px.dim() != 1 or log_px.numel() == 0:
        raise ValueError(f"log_px should be a non-empty (N,) tensor, got {tuple(log_px.shape)}")
    return float((-log_px.mean() + n_dims * math.log(levels)) / (n_dims * math.log(2)))


@torch.no_grad()
def grid_log_density(log_prob, lim: float = 3.0, n: int = 200, device=None
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``log_prob`` of 2-D points on an ``n x n`` grid over ``[-lim, lim]^2``.

    Returns ``(xs, ys, log_p)`` with ``log_p`` of shape ``(n, n)`` (rows follow ``ys``).
    ``exp(log_p).sum() * cell`` approximates the integral of the density over the square.
    """
    xs = torch.linspace(-lim, lim, n)
    gx, gy = torch.meshgrid(xs, xs, indexing="xy")
    pts = torch.stack([gx.flatten(), gy.flatten()], 1)
    if device is not None:
        pts = pts.to(device)
    out = torch.cat([log_prob(pts[i:i + 10_000]) for i in range(0, len(pts), 10_000)])
    return xs, xs.clone(), out.reshape(n, n).cpu()
