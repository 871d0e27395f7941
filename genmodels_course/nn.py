"""Shared building blocks: small networks that several chapters reuse."""
from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Sequential):
    """A multilayer perceptron ``d_in -> hidden[0] -> ... -> d_out``.

    Shapes: ``(N, d_in) -> (N, d_out)``. ``hidden`` is a sequence of widths; the activation
    follows every hidden layer, none follows the output layer.
    """

    def __init__(self, d_in: int, hidden, d_out: int, act: type[nn.Module] = nn.SiLU):
        if isinstance(hidden, int):
            hidden = [hidden]
        widths = [d_in, *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), act()]
        layers.append(nn.Linear(widths[-1], d_out))
        super().__init__(*layers)
        self.d_in, self.d_out = d_in, d_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.d_in:
            raise ValueError(f"MLP expects inputs with last dimension {self.d_in}, got shape {tuple(x.shape)}")
        return super().forward(x)


# --------------------------------------------------------------------------- chapter 7: time-conditioned denoisers
# (added for chapter 7, denoising diffusion: a sinusoidal time embedding, a small
# time-conditioned MLP for 2-D toys, and a small U-Net whose inputs and outputs are images)
import math  # noqa: E402  (appended section: chapter 7)


class SinusoidalTimeEmbedding(nn.Module):
    """Embed integer steps ``t`` (shape ``(B,)``) as ``(B, dim)`` features
    ``[sin(t w_k), cos(t w_k)]`` with frequencies ``w_k = max_period^(-k / (dim/2))``,
    the positional encoding of the Transformer used as a clock: nearby steps get nearby
    vectors, and low and high frequencies let the network read both coarse and fine time."""

    def __init__(self, dim: int, max_period: float = 10_000.0):
        super().__init__()
        if dim < 2 or dim % 2:
            raise ValueError(f"dim must be an even integer >= 2, got {dim}")
        half = dim // 2
        freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
        self.register_buffer("freqs", freqs, persistent=False)
        self.dim = dim

    def forward(self, t):
        if not isinstance(t, torch.Tensor) or t.ndim != 1:
            raise ValueError("t must be a 1-D tensor of steps, shape (B,)")
        args = t.float()[:, None] * self.freqs[None, :]
        return torch.cat([args.sin(), args.cos()], dim=1)


class TimeMLP(nn.Module):
    """A denoiser for vectors: ``eps_hat = f([x, emb(t)])``, ``x`` of shape ``(B, d)``,
    ``t`` int64 ``(B,)``. Used for the 2-D toys and for diffusion in a latent space.

    ``fourier > 0`` also feeds random Fourier features ``[sin(x W), cos(x W)]`` of the
    input, ``W ~ N(0, fourier_scale^2)`` of shape ``(d, fourier)``, fixed at construction
    (Tancik et al. 2020): an MLP on raw 2-D coordinates learns sharp structures like a thin
    spiral slowly, and these features make it learn them in a few thousand steps."""

    def __init__(self, d: int = 2, hidden: int = 128, layers: int = 3, t_dim: int = 32,
                 fourier: int = 0, fourier_scale: float = 4.0):
        super().__init__()
        if d < 1 or hidden < 1 or layers < 1 or fourier < 0:
            raise ValueError("d, hidden and layers must be positive integers, fourier >= 0")
        self.d = d
        self.embed = SinusoidalTimeEmbedding(t_dim)
        if fourier:
            self.register_buffer("fourier_w", torch.randn(d, fourier) * fourier_scale)
        else:
            self.fourier_w = None
        mods, width = [], d + 2 * fourier + t_dim
        for _ in range(layers):
            mods += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        mods.append(nn.Linear(width, d))
        self.net = nn.Sequential(*mods)

    def forward(self, x, t):
        if x.ndim != 2 or x.shape[1] != self.d:
            raise ValueError(f"x must have shape (B, {self.d}), got {tuple(x.shape)}")
        feats = [x, self.embed(t)]
        if self.fourier_w is not None:
            proj = x @ self.fourier_w
            feats += [proj.sin(), proj.cos()]
        return self.net(torch.cat(feats, dim=1))


class TimeResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, with the time embedding added between the two convs
    (a per-channel shift), and a residual connection (1x1 conv where channels change)."""

    def __init__(self, c_in: int, c_out: int, t_dim: int, groups: int = 8, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(math.gcd(groups, c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.time = nn.Linear(t_dim, c_out)
        self.norm2 = nn.GroupNorm(math.gcd(groups, c_out), c_out)
        self.drop = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity: stable early training
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Identity() if c_in == c_out else nn.Conv2d(c_in, c_out, 1)

    def forward(self, x, temb):
        h = self.conv1(nn.functional.silu(self.norm1(x)))
        h = h + self.time(nn.functional.silu(temb))[:, :, None, None]
        h = self.conv2(self.drop(nn.functional.silu(self.norm2(h))))
        return h + self.skip(x)


class UNet(nn.Module):
    """A small U-Net denoiser with a sinusoidal time embedding: ``eps_hat = unet(x_t, t)``.

    x: ``(B, in_channels, H, W)`` with H and W divisible by ``2 ** (len(channels) - 1)``;
    t: int64 ``(B,)``. Output: ``(B, out_channels, H, W)`` (``out_channels`` defaults to
    ``in_channels``). Each level has ``blocks`` residual blocks; the encoder's activations
    are concatenated into the decoder at the same resolution (the U's skip connections),
    so fine detail need not pass through the bottleneck.
    """

    def __init__(self, in_channels: int = 1, channels=(32, 64, 64), blocks: int = 1,
                 t_dim: int = 128, out_channels: int | None = None, dropout: float = 0.0):
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if in_channels < 1 or not channels or min(channels) < 1 or blocks < 1:
            raise ValueError("in_channels, every entry of channels and blocks must be positive")
        self.in_channels, self.channels = in_channels, channels
        out_channels = out_channels or in_channels
        self.time = nn.Sequential(SinusoidalTimeEmbedding(channels[0]), nn.Linear(channels[0], t_dim),
                                   nn.SiLU(), nn.Linear(t_dim, t_dim))
        self.stem = nn.Conv2d(in_channels, channels[0], 3, padding=1)
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        skips, c = [channels[0]], channels[0]
        for i, c_out in enumerate(channels):
            level = nn.ModuleList()
            for _ in range(blocks):
                level.append(TimeResBlock(c, c_out, t_dim, dropout=dropout))
                c = c_out
                skips.append(c)
            self.down.append(level)
            if i < len(channels) - 1:
                self.downsample.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
                skips.append(c)
        self.mid = nn.ModuleList([TimeResBlock(c, c, t_dim, dropout=dropout), TimeResBlock(c, c, t_dim, dropout=dropout)])
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for i, c_out in reversed(list(enumerate(channels))):
            level = nn.ModuleList()
            for _ in range(blocks + 1):
                level.append(TimeResBlock(c + skips.pop(), c_out, t_dim, dropout=dropout))
                c = c_out
            self.up.append(level)
            if i > 0:
                self.upsample.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                                    nn.Conv2d(c, c, 3, padding=1)))
        self.out = nn.Sequential(nn.GroupNorm(math.gcd(8, c), c), nn.SiLU(), nn.Conv2d(c, out_channels, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x, t, extra=None):
        """``extra``: an optional ``(B, t_dim)`` embedding added to the time embedding (a
        condition, as in ``guidance.CondUNet``)."""
        f = 2 ** (len(self.channels) - 1)
        if x.ndim != 4 or x.shape[1] != self.in_channels or x.shape[2] % f or x.shape[3] % f:
            raise ValueError(f"x must have shape (B, {self.in_channels}, H, W) with H and W divisible by {f}, "
                             f"got {tuple(x.shape)}")
        if not isinstance(t, torch.Tensor) or t.shape != (x.shape[0],):
            raise ValueError(f"t must be an int64 tensor of shape ({x.shape[0]},)")
        temb = self.time(t)
        if extra is not None:
            if extra.shape != temb.shape:
                raise ValueError(f"extra must have shape {tuple(temb.shape)} (B, t_dim), got "
                                 f"{tuple(extra.shape)}")
            temb = temb + extra
        h = self.stem(x)
        hs = [h]
        for i, level in enumerate(self.down):
            for block in level:
                h = block(h, temb)
                hs.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)
                hs.append(h)
        for block in self.mid:
            h = block(h, temb)
        for j, level in enumerate(self.up):
            for block in level:
                h = block(torch.cat([h, hs.pop()], dim=1), temb)
            if j < len(self.upsample):
                h = self.upsample[j](h)
        return self.out(h)
