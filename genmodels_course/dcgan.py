"""Chapter 5, sections 5.7-5.8: DCGAN (Radford et al. 2016) on 28x28 images, and its recipe.

The networks are all-convolutional: transposed convolutions up, strided convolutions down,
batch norm in between, no pooling and no fully connected hidden layer. With ``n_classes > 0``
both are conditional (Mirza and Osindero 2014). :func:`make_dcgan_step` is the alternating
step of section 5.4 with the non-saturating loss (5.6); :func:`train_dcgan` runs it with
``gm.train.fit``. Images enter in [0, 1] and are mapped to the tanh range [-1, 1]
(``gm.data.to_tanh_range``). Randomness comes from explicit ``torch.Generator`` objects.
"""
from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from .data import from_tanh_range, to_tanh_range
from .gan import discriminator_loss, generator_loss_nonsaturating

__all__ = ["DCGenerator", "DCDiscriminator", "DCGANConfig", "make_dcgan_step", "train_dcgan", "sample_images",
           "discriminator_features"]


def _dcgan_init(net: nn.Module, generator: torch.Generator | None = None) -> None:
    # DCGAN: all weights from N(0, 0.02); batch-norm scales from N(1, 0.02). Every weight is
    # drawn here, so a (CPU) ``generator`` alone decides the initial network.
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, 0.0, 0.02, generator=generator)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.normal_(module.weight, 1.0, 0.02, generator=generator)
            nn.init.zeros_(module.bias)


def _refine(channels: int, depth: int, act, batch_norm: bool = True) -> list:
    # ``depth`` extra 3x3 convolutions at one resolution (same channels, same size): more
    # capacity per scale. depth = 0 adds nothing, so the original DCGAN layout (and the
    # shipped weights' layer names) stay as they were.
    layers = []
    for _ in range(depth):
        layers += [nn.Conv2d(channels, channels, 3, 1, 1, bias=not batch_norm),
                   nn.BatchNorm2d(channels) if batch_norm else nn.Identity(), act()]
    return layers


class DCGenerator(nn.Module):
    """DCGAN generator for 28x28 images: ``(N, z_dim)`` [, labels ``(N,)``] -> ``(N, 1, 28, 28)`` in [-1, 1].

    Transposed convolutions 1 -> 7 -> 14 -> 28, batch norm and ReLU in between, tanh at the end,
    no fully connected hidden layer. With ``n_classes > 0`` it is conditional: the label's
    embedding is concatenated to z (a conditional GAN, Mirza and Osindero 2014).
    ``depth`` adds that many 3x3 convolutions (batch norm, ReLU) at 7x7 and at 14x14.
    ``generator`` (CPU) draws the initial weights.
    """

    def __init__(self, z_dim: int = 64, width: int = 64, n_classes: int = 0, depth: int = 0,
                 generator: torch.Generator | None = None):
        super().__init__()
        if depth < 0:
            raise ValueError(f"depth counts extra 3x3 convolutions per resolution and cannot be negative, got {depth}")
        self.z_dim, self.n_classes = z_dim, n_classes
        self.embed = nn.Embedding(n_classes, 16) if n_classes else None
        d_in = z_dim + (16 if n_classes else 0)
        self.net = nn.Sequential(
            nn.ConvTranspose2d(d_in, 2 * width, 7, 1, 0, bias=False), nn.BatchNorm2d(2 * width), nn.ReLU(True),
            *_refine(2 * width, depth, nn.ReLU),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(True),
            *_refine(width, depth, nn.ReLU),
            nn.ConvTranspose2d(width, 1, 4, 2, 1), nn.Tanh(),
        )
        _dcgan_init(self, generator)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"DCGenerator expects noise of shape (N, {self.z_dim}), got {tuple(z.shape)}")
        if self.n_classes:
            if y is None or y.shape != (z.shape[0],):
                raise ValueError("a conditional DCGenerator needs integer labels y of shape (N,)")
            z = torch.cat([z, self.embed(y)], dim=1)
        return self.net(z[:, :, None, None])


class DCDiscriminator(nn.Module):
    """DCGAN discriminator: ``(N, 1, 28, 28)`` in [-1, 1] [, labels] -> ``(N,)`` logits.

    Strided convolutions 28 -> 14 -> 7 -> 1 (no pooling), LeakyReLU(0.2), batch norm on the
    middle layer only, no fully connected hidden layer. With ``n_classes > 0`` the label is
    fed as extra one-hot image channels. ``batch_norm=False`` suits WGAN-GP critics.
    ``depth`` adds that many 3x3 convolutions at 14x14 and at 7x7.
    ``generator`` (CPU) draws the initial weights.
    """

    def __init__(self, width: int = 64, n_classes: int = 0, batch_norm: bool = True, depth: int = 0,
                 generator: torch.Generator | None = None):
        super().__init__()
        if depth < 0:
            raise ValueError(f"depth counts extra 3x3 convolutions per resolution and cannot be negative, got {depth}")
        self.n_classes = n_classes
        c_in = 1 + n_classes
        act = lambda: nn.LeakyReLU(0.2)  # noqa: E731
        self.net = nn.Sequential(
            nn.Conv2d(c_in, width, 4, 2, 1), nn.LeakyReLU(0.2, True),
            *_refine(width, depth, act, batch_norm),
            nn.Conv2d(width, 2 * width, 4, 2, 1, bias=not batch_norm),
            nn.BatchNorm2d(2 * width) if batch_norm else nn.Identity(), nn.LeakyReLU(0.2, True),
            *_refine(2 * width, depth, act, batch_norm),
            nn.Conv2d(2 * width, 1, 7, 1, 0),
        )
        _dcgan_init(self, generator)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"DCDiscriminator expects images of shape (N, 1, 28, 28), got {tuple(x.shape)}")
        if self.n_classes:
            if y is None or y.shape != (x.shape[0],):
                raise ValueError("a conditional DCDiscriminator needs integer labels y of shape (N,)")
            onehot = F.one_hot(y, self.n_classes).to(x.dtype)[:, :, None, None].expand(-1, -1, 28, 28)
            x = torch.cat([x, onehot], dim=1)
        return self.net(x).flatten()


@dataclasses.dataclass
class DCGANConfig:
    """Settings of a DCGAN run on 28x28 images (Radford et al. 2016: Adam, lr 2e-4, beta1 0.5)."""

    steps: int = 2000
    batch_size: int = 64
    z_dim: int = 64
    width: int = 64
    lr: float = 2e-4
    conditional: bool = False
    seed: int = 0
    ema_decay: float = 0.0  # > 0: return an exponential moving average of G's weights
    depth: int = 0  # extra 3x3 convolutions per resolution in G and D (0: the DCGAN paper's layout)
    max_seconds: float | None = None  # stop early after this wall time (history.steps_done)


def make_dcgan_step(G: DCGenerator, D: DCDiscriminator, opt_g, opt_d, generator: torch.Generator | None = None,
                    on_step=None):
    """One alternating DCGAN step ``step(batch, i)`` for ``gm.train.fit(..., manual=True)``, which
    passes the step index ``i``; batches are ``(x, y)`` with ``x`` in [0, 1]. Non-saturating
    generator loss; the noise comes from ``generator``. ``on_step(i, real_logits, fake_logits)``,
    if given, sees the discriminator's logits of every step (for histograms). Returns a dict
    of detached 0-d tensors."""
    device = next(G.parameters()).device

    def step(batch, i):
        x, y = batch
        x = to_tanh_range(x)
        n = x.shape[0]
        y = y if G.n_classes else None
        z = torch.randn(n, G.z_dim, device=device, generator=generator)
        fake = G(z, y)
        real_logits, fake_logits = D(x, y), D(fake.detach(), y)   # detach: G is frozen for D's update
        loss_d = discriminator_loss(real_logits, fake_logits)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        loss_g = generator_loss_nonsaturating(D(fake, y))         # D is not stepped here
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        if on_step is not None:
            on_step(i, real_logits.detach(), fake_logits.detach())
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(),
                "D(x)": torch.sigmoid(real_logits).mean().detach(),
                "D(G(z))": torch.sigmoid(fake_logits).mean().detach()}

    return step


def train_dcgan(x: torch.Tensor, y: torch.Tensor, cfg: DCGANConfig, on_step=None, progress: bool = True,
                generator: torch.Generator | None = None):
    """Train a (conditional) DCGAN on images ``x (N, 1, 28, 28)`` in [0, 1] with labels ``y (N,)``.

    The initial weights come from a CPU generator seeded with ``cfg.seed``, the training noise
    from ``generator`` (default: ``gm.runtime.generator(cfg.seed + 1)``); torch's global
    generator is left alone. Returns ``(G, D, history)``; G is left in eval mode. With
    ``cfg.ema_decay > 0`` the returned G is the exponential moving average of the
    generator's weights (its batch-norm statistics are the live generator's), which
    usually gives cleaner samples than the last iterate of the game.
    """
    from . import data, runtime, train

    if x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28) or len(x) < cfg.batch_size:
        raise ValueError(f"train_dcgan expects at least batch_size images of shape (N, 1, 28, 28), got {tuple(x.shape)}")
    device = runtime.device()
    n_classes = 10 if cfg.conditional else 0
    g_init = torch.Generator().manual_seed(cfg.seed)
    G = DCGenerator(cfg.z_dim, cfg.width, n_classes, depth=cfg.depth, generator=g_init).to(device)
    D = DCDiscriminator(cfg.width, n_classes, depth=cfg.depth, generator=g_init).to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    gen = generator if generator is not None else runtime.generator(cfg.seed + 1, device=device)
    step = make_dcgan_step(G, D, opt_g, opt_d, generator=gen, on_step=on_step)
    ema = train.EMA(G, decay=cfg.ema_decay) if cfg.ema_decay > 0 else None
    if ema is not None:
        gan_step = step

        def step(batch, i):  # the averaged generator follows every update of G
            out = gan_step(batch, i)
            ema.update(G)
            return out

    batches = data.Batches(x.to(device), y.to(device), batch_size=cfg.batch_size, seed=cfg.seed)
    history = train.fit(nn.ModuleDict({"G": G, "D": D}), step, batches, optimizer={"g": opt_g, "d": opt_d},
                        manual=True, steps=cfg.steps, desc="conditional DCGAN" if cfg.conditional else "DCGAN",
                        progress=progress, max_seconds=cfg.max_seconds)
    G.eval()
    D.eval()
    return (ema.module.eval() if ema is not None else G), D, history


@torch.no_grad()
def sample_images(G: DCGenerator, n: int, y: torch.Tensor | None = None, z: torch.Tensor | None = None,
                  generator: torch.Generator | None = None, batch_size: int = 1000) -> torch.Tensor:
    """``n`` images from a DCGAN generator, ``(n, 1, 28, 28)`` in [0, 1] (labels ``y`` if conditional).

    Without ``z``, the noise is drawn on ``generator``'s device (default: torch's global
    generator on G's device)."""
    device = next(G.parameters()).device
    if z is None:
        z_device = generator.device if generator is not None else device
        z = torch.randn(n, G.z_dim, generator=generator, device=z_device).to(device)
    if G.n_classes and y is None:
        y = torch.arange(n, device=device) % G.n_classes
    out = [G(z[i:i + batch_size], None if y is None else y[i:i + batch_size].to(device)) for i in range(0, n, batch_size)]
    return from_tanh_range(torch.cat(out))


@torch.no_grad()
def discriminator_features(D: DCDiscriminator, x: torch.Tensor, y: torch.Tensor | None = None,
                           batch_size: int = 1000) -> torch.Tensor:
    """The discriminator's last hidden layer as features: ``(N, 1, 28, 28)`` in [0, 1] -> ``(N, 2 * width * 49)``.

    The activations that D's final 7x7 convolution reads (after the second strided
    convolution, batch norm and LeakyReLU), flattened: a representation that the GAN learned
    without labels, which a linear probe (logistic regression on a few labelled images) can
    test for usefulness, as Radford et al. (2016) did with their discriminator's features.
    ``D`` runs in eval mode (batch norm with its running statistics); conditional
    discriminators need ``y``. Returned on the CPU.
    """
    if x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28):
        raise ValueError(f"discriminator_features expects images of shape (N, 1, 28, 28), got {tuple(x.shape)}")
    if D.n_classes and (y is None or y.shape != (x.shape[0],)):
        raise ValueError("a conditional DCDiscriminator needs integer labels y of shape (N,)")
    device = next(D.parameters()).device
    was_training = D.training
    D.eval()
    body = D.net[:-1]  # everything but the final 7x7 convolution to one logit
    out = []
    for i in range(0, len(x), batch_size):
        xb = to_tanh_range(x[i:i + batch_size].to(device))
        if D.n_classes:
            yb = y[i:i + batch_size].to(device)
            onehot = F.one_hot(yb, D.n_classes).to(xb.dtype)[:, :, None, None].expand(-1, -1, 28, 28)
            xb = torch.cat([xb, onehot], dim=1)
        out.append(body(xb).flatten(1).float().cpu())
    D.train(was_training)
    return torch.cat(out)
