"""Chapter 5, section 5.4-5.6: GANs on 2-D mixtures, their networks and a training recipe.

The game itself (losses, D*, the gradient penalty) lives in :mod:`genmodels_course.gan`;
this module holds the small MLPs that play it on the ring of 8 and the grid of 25
Gaussians (``gm.data.ring8()``, ``gm.data.grid25()``), two remedies for mode collapse
(PacGAN packing, minibatch standard deviation), the alternating step of section 5.4
(:func:`make_gan_step`) and the recipe that trains it with ``gm.train.fit``
(:func:`train_toy2d`). Randomness comes from explicit ``torch.Generator`` objects: a
recipe never reseeds torch's global generator.
"""
from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from .gan import (discriminator_loss, generator_loss_nonsaturating, generator_loss_saturating,
                  gradient_penalty, wgan_critic_loss, wgan_generator_loss)

__all__ = ["minibatch_stddev", "pack", "EnsembleLinear", "Generator2D", "Discriminator2D", "Toy2DConfig",
           "make_gan_step", "train_toy2d", "sample_toy2d"]


# ------------------------------------------------------------------ remedies for mode collapse
def minibatch_stddev(h: torch.Tensor, group_size: int = 4) -> torch.Tensor:
    """Append the minibatch standard deviation as one extra feature (Karras et al. 2018).

    ``h``: ``(N, F)`` or ``(N, C, H, W)``. The batch is split into groups of ``group_size``
    consecutive samples (fewer when N is not divisible); within each group we take the standard deviation of every
    feature across samples, average it into one number, and append it to every sample of
    the group: ``(N, F + 1)`` or ``(N, C + 1, H, W)``. A collapsed generator produces groups
    with near-zero spread, which the discriminator can now see.
    """
    if h.dim() not in (2, 4) or h.shape[0] == 0:
        raise ValueError(f"minibatch_stddev expects a non-empty (N, F) or (N, C, H, W) tensor, got {tuple(h.shape)}")
    n = h.shape[0]
    g = min(group_size, n)
    while n % g:
        g -= 1
    grouped = h.reshape(n // g, g, *h.shape[1:])              # groups of g consecutive samples
    std = (grouped.var(dim=1, unbiased=False) + 1e-8).sqrt()  # (groups, features...)
    stat = std.flatten(1).mean(dim=1)                         # one number per group
    stat = stat.repeat_interleave(g)                          # back to (N,)
    if h.dim() == 2:
        return torch.cat([h, stat[:, None]], dim=1)
    return torch.cat([h, stat[:, None, None, None].expand(n, 1, *h.shape[2:])], dim=1)


def pack(x: torch.Tensor, m: int) -> torch.Tensor:
    """PacGAN packing (Lin et al. 2018): ``(N, d) -> (N / m, m * d)``, m samples judged jointly."""
    if x.dim() != 2 or m < 1 or x.shape[0] % m:
        raise ValueError(f"pack expects (N, d) with N divisible by m={m}, got {tuple(x.shape)}")
    return x.reshape(x.shape[0] // m, m * x.shape[1])


class EnsembleLinear(nn.Module):
    """``E`` independent linear layers applied at once: ``(E, N, d_in) -> (E, N, d_out)``.

    Training several seeds of a small 2-D GAN together costs about as much as training one
    on a CPU, because such tiny networks are dominated by per-operation overhead.
    ``generator`` (a CPU ``torch.Generator``) draws the initial weights.
    """

    def __init__(self, ensemble: int, d_in: int, d_out: int, generator: torch.Generator | None = None):
        super().__init__()
        bound = 1 / math.sqrt(d_in)  # the same initialisation as nn.Linear
        self.weight = nn.Parameter(torch.empty(ensemble, d_in, d_out).uniform_(-bound, bound, generator=generator))
        self.bias = nn.Parameter(torch.empty(ensemble, 1, d_out).uniform_(-bound, bound, generator=generator))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, h, self.weight)


class Generator2D(nn.Module):
    """An MLP generator ``(E * N, z_dim) -> (E * N, 2)`` for the 2-D mixtures.

    ``ensemble=E`` holds E independent generators (seeds); rows ``[e N, (e + 1) N)`` of the
    batch belong to member ``e``. With the default ``E = 1`` it is a plain MLP.
    ``generator`` (CPU) draws the initial weights.
    """

    def __init__(self, z_dim: int = 2, hidden: int = 128, depth: int = 3, ensemble: int = 1,
                 generator: torch.Generator | None = None):
        super().__init__()
        layers, d = [], z_dim
        for _ in range(depth):
            layers += [EnsembleLinear(ensemble, d, hidden, generator), nn.ReLU()]
            d = hidden
        layers.append(EnsembleLinear(ensemble, d, 2, generator))
        self.net = nn.Sequential(*layers)
        self.z_dim, self.ensemble = z_dim, ensemble

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.z_dim or z.shape[0] % self.ensemble:
            raise ValueError(f"Generator2D expects noise of shape (N, {self.z_dim}) with N divisible by "
                             f"ensemble={self.ensemble}, got {tuple(z.shape)}")
        return self.net(z.reshape(self.ensemble, -1, self.z_dim)).reshape(-1, 2)


class Discriminator2D(nn.Module):
    """An MLP discriminator (or WGAN critic) on 2-D points: ``(E * N, 2) -> (E * N / pack,)`` logits.

    ``pack > 1`` judges ``pack`` samples at once (PacGAN); ``mbstd=True`` appends the
    minibatch standard deviation (groups of 4 consecutive samples) to the last hidden layer.
    ``ensemble`` and ``generator`` as in :class:`Generator2D`.
    """

    def __init__(self, hidden: int = 128, depth: int = 3, pack: int = 1, mbstd: bool = False, ensemble: int = 1,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.pack_size, self.mbstd, self.ensemble = pack, mbstd, ensemble
        layers, d = [], 2 * pack
        for _ in range(depth - 1):
            layers += [EnsembleLinear(ensemble, d, hidden, generator), nn.LeakyReLU(0.2)]
            d = hidden
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(EnsembleLinear(ensemble, d + int(mbstd), hidden, generator), nn.LeakyReLU(0.2),
                                  EnsembleLinear(ensemble, hidden, 1, generator))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != 2 or x.shape[0] % (self.ensemble * self.pack_size):
            raise ValueError(f"Discriminator2D expects points of shape (N, 2) with N divisible by "
                             f"ensemble * pack = {self.ensemble * self.pack_size}, got {tuple(x.shape)}")
        h = self.body(pack(x, self.pack_size).reshape(self.ensemble, -1, 2 * self.pack_size))
        if self.mbstd:
            e, n, f = h.shape
            h = minibatch_stddev(h.reshape(e * n, f)).reshape(e, n, f + 1)
        return self.head(h).reshape(-1)


@dataclasses.dataclass
class Toy2DConfig:
    """Settings of one 2-D GAN run. ``method``: "gan" (non-saturating), "saturating",
    "wgan-gp", "pacgan" (pack 2) or "mbstd"."""

    method: str = "gan"
    steps: int = 2000
    batch_size: int = 256
    lr: float = 2e-3
    z_dim: int = 2
    hidden: int = 128
    n_critic: int = 2           # discriminator steps per generator step: a stronger D sharpens the modes
    gp_weight: float = 0.1
    lr_decay: bool = True
    seed: int = 0

    def __post_init__(self):
        if self.method not in ("gan", "saturating", "wgan-gp", "pacgan", "mbstd"):
            raise ValueError(f"method should be one of gan, saturating, wgan-gp, pacgan, mbstd; got {self.method!r}")


def make_gan_step(G, D, opt_g, opt_d, cfg: Toy2DConfig, generator: torch.Generator | None = None):
    """One alternating training step for ``gm.train.fit(..., manual=True)``.

    ``step((x,))`` updates D (``cfg.n_critic`` times) with G frozen, then G once with D frozen,
    and returns a dict of detached 0-d tensors (``fit`` reads them only on logged steps, so
    no step waits for the GPU). The losses follow ``cfg.method``; the noise comes from
    ``generator`` (on G's device).
    """
    wgan = cfg.method == "wgan-gp"
    device = next(G.parameters()).device

    def noise(n):
        return torch.randn(n, G.z_dim, device=device, generator=generator)

    def step(batch):
        (x,) = batch if isinstance(batch, (tuple, list)) else (batch,)
        n = x.shape[0]
        # 1) discriminator / critic: G is frozen (no_grad on its output)
        for _ in range(cfg.n_critic):
            with torch.no_grad():
                fake = G(noise(n))
            real_out, fake_out = D(x), D(fake)
            if wgan:
                eps = torch.rand(n, 1, device=device, generator=generator)
                gp = gradient_penalty(D, x, fake, eps)
                loss_d = wgan_critic_loss(real_out, fake_out) + cfg.gp_weight * gp
            else:
                loss_d = discriminator_loss(real_out, fake_out)
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
        # 2) generator: gradients flow through D, but only G's optimizer steps
        fake_out = D(G(noise(n)))
        if wgan:
            loss_g = wgan_generator_loss(fake_out)
        elif cfg.method == "saturating":
            loss_g = generator_loss_saturating(fake_out)
        else:
            loss_g = generator_loss_nonsaturating(fake_out)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        out = {"loss_d": loss_d.detach(), "loss_g": loss_g.detach()}
        if not wgan:
            out["D(x)"] = torch.sigmoid(real_out).mean().detach()
            out["D(G(z))"] = torch.sigmoid(fake_out).mean().detach()
        return out

    return step


def _surface(D, lim: float, n: int) -> torch.Tensor:
    xs = torch.linspace(-lim, lim, n)
    grid = torch.stack(torch.meshgrid(xs, xs, indexing="xy"), -1).reshape(-1, 2)
    device = next(D.parameters()).device
    with torch.no_grad():
        if getattr(D, "pack_size", 1) > 1 or getattr(D, "mbstd", False):
            # a packed / mbstd critic sees each grid point repeated: judge the point on its own
            reps = D.pack_size
            out = D(grid.to(device).repeat_interleave(reps, 0))
        else:
            out = D(grid.to(device))
    return out.reshape(n, n).cpu()


def train_toy2d(mixture, cfg: Toy2DConfig, ensemble: int = 1, snapshot_every: int = 0, lim: float | None = None,
                n_snapshot: int = 1000, progress: bool = True, generator: torch.Generator | None = None):
    """Train a GAN on a 2-D mixture (``gm.data.ring8()`` / ``grid25()``) with ``gm.train.fit``.

    ``ensemble=E`` trains E independent GANs (different initialisations and data) at once.
    With ``cfg.lr_decay`` both learning rates fall linearly to zero (a ``LambdaLR`` that
    ``fit`` steps), which sharpens the modes. The initial weights and the data come from a
    CPU generator seeded with ``cfg.seed``; the training noise from ``generator`` (default:
    ``gm.runtime.generator(cfg.seed + 1)``). Returns ``(G, D, history, snapshots)``.
    ``snapshots`` (only for ``E = 1``) is a list of dicts ``{"step", "samples" (n_snapshot, 2),
    "surface" (64, 64) logits on [-lim, lim]^2}`` taken every ``snapshot_every`` steps (0: none)
    with the same fixed noise.
    """
    from . import data, runtime, train

    if ensemble < 1 or (snapshot_every and ensemble != 1):
        raise ValueError("train_toy2d needs ensemble >= 1, and snapshots only work with ensemble=1")
    device = runtime.device()
    g_cpu = torch.Generator().manual_seed(cfg.seed)  # weights, then data: never the global generator
    G = Generator2D(cfg.z_dim, cfg.hidden, ensemble=ensemble, generator=g_cpu).to(device)
    pack_m = 2 if cfg.method == "pacgan" else 1
    D = Discriminator2D(cfg.hidden, pack=pack_m, mbstd=cfg.method == "mbstd", ensemble=ensemble,
                        generator=g_cpu).to(device)
    betas = (0.0, 0.9) if cfg.method == "wgan-gp" else (0.5, 0.999)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=betas)
    scheds = None
    if cfg.lr_decay:
        def decay(t):
            return max(0.0, 1.0 - t / cfg.steps)
        scheds = {k: torch.optim.lr_scheduler.LambdaLR(o, decay) for k, o in (("g", opt_g), ("d", opt_d))}
    gen = generator if generator is not None else runtime.generator(cfg.seed + 1, device=device)
    n_data = max(20 * ensemble * cfg.batch_size, 20_000)
    x = mixture.sample(n_data, generator=g_cpu).to(device)
    batches = data.Batches(x, batch_size=ensemble * cfg.batch_size, seed=cfg.seed)
    gan_step = make_gan_step(G, D, opt_g, opt_d, cfg, generator=gen)
    lim = float(lim if lim is not None else mixture.means.abs().max().item() * 1.5)
    z_fixed = torch.randn(n_snapshot, cfg.z_dim, generator=torch.Generator().manual_seed(1234)).to(device)
    snapshots = []

    def snap(i):
        with torch.no_grad():
            snapshots.append({"step": i, "samples": G(z_fixed).cpu(), "surface": _surface(D, lim, 64)})

    def step(batch, i):
        if snapshot_every and i % snapshot_every == 0:
            snap(i)
        return gan_step(batch)

    history = train.fit(nn.ModuleDict({"G": G, "D": D}), step, batches, optimizer={"g": opt_g, "d": opt_d},
                        scheduler=scheds, manual=True, steps=cfg.steps, desc=cfg.method, progress=progress,
                        amp=False)  # tiny nets gain nothing from bf16, and the modes are 0.01 wide
    if snapshot_every:
        snap(cfg.steps)
    return G, D, history, snapshots


def sample_toy2d(G: Generator2D, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` samples from every member of a (possibly ensembled) 2-D generator: ``(E, n, 2)`` on the CPU.

    The noise is drawn on ``generator``'s device (default: torch's global generator on G's device).
    """
    device = next(G.parameters()).device
    z_device = generator.device if generator is not None else device
    z = torch.randn(G.ensemble * n, G.z_dim, generator=generator, device=z_device).to(device)
    with torch.no_grad():
        return G(z).reshape(G.ensemble, n, 2).cpu()
