"""Chapter 6, sections 6.2-6.5: the Pix2Pix recipe (Isola et al. 2017) on paired images.

:func:`make_pix2pix_step` is one alternating step of a conditional GAN whose
discriminator sees (input, output) pairs, with the generator loss (6.3): the
non-saturating cGAN term plus ``lam`` times a pixel loss. ``Pix2PixConfig.loss`` names
the ablations of section 6.5: ``"l1"`` (no discriminator at all), ``"cgan"`` (no pixel
loss), ``"l1+cgan"`` (Pix2Pix), ``"mse"`` and ``"mse+cgan"`` (a squared pixel loss instead).
:func:`train_pix2pix` runs it with ``gm.train.fit``; :func:`translate` applies a generator;
:func:`encoder_features` turns a trained U-Net's encoder into features for a Frechet distance.
The networks and losses are in :mod:`~genmodels_course.translation`.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from .gan import discriminator_loss, generator_loss_nonsaturating
from .translation import PatchDiscriminator, UNetGenerator, l1_loss, pix2pix_generator_loss

__all__ = ["Pix2PixConfig", "LOSSES", "make_pix2pix_step", "train_pix2pix", "translate", "encoder_features",
           "judge_fd", "judge_scores"]

LOSSES = ("l1", "cgan", "l1+cgan", "mse", "mse+cgan")


@dataclasses.dataclass
class Pix2PixConfig:
    """Settings of a Pix2Pix run (Isola et al.: Adam, lr 2e-4, beta1 0.5, lambda 100)."""

    steps: int = 1000
    batch_size: int = 16
    width: int = 32          # channels of the first level of G and of D
    depth: int = 4           # halvings in the U-Net: the image side must be divisible by 2**depth
    d_layers: int = 2        # strided layers of the PatchGAN: receptive field 16, 34, 70 for 1, 2, 3
    loss: str = "l1+cgan"    # one of LOSSES
    lam: float = 100.0       # weight of the pixel loss
    skips: bool = True       # False: a plain encoder-decoder
    dropout: float = 0.5
    norm: str = "batch"
    flip: bool = True        # random horizontal mirroring of each pair (pix2pix's augmentation)
    lr: float = 2e-4
    seed: int = 0
    max_seconds: float | None = None  # stop early after this wall time (history.steps_done)

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")


def _mse(output, target):
    return ((output - target) ** 2).mean()


def make_pix2pix_step(G: UNetGenerator, D: PatchDiscriminator | None, opt_g, opt_d, cfg: Pix2PixConfig,
                      generator: torch.Generator | None = None, generator_loss=pix2pix_generator_loss):
    """A ``step(batch)`` for ``gm.train.fit(..., manual=True)`` on batches ``(x, y)`` of inputs
    and targets in [-1, 1]. ``D``/``opt_d`` may be ``None`` when ``cfg.loss`` has no "cgan".
    ``generator_loss(fake_logits, fake, target, lam)`` is the loss (6.3) used for
    ``"l1+cgan"`` (pass your own to train with it); ``generator`` draws the mirroring.
    Returns a dict of detached 0-d tensors."""
    adversarial = "cgan" in cfg.loss
    if adversarial and (D is None or opt_d is None):
        raise ValueError(f"loss {cfg.loss!r} needs a discriminator and its optimizer")
    pixel = l1_loss if cfg.loss.startswith("l1") else _mse if cfg.loss.startswith("mse") else None

    def step(batch):
        x, y = batch
        if cfg.flip:  # mirror input and target together
            flip = torch.rand(len(x), generator=generator, device=generator.device if generator else None)
            flip = (flip < 0.5).to(x.device)[:, None, None, None]
            x, y = torch.where(flip, x.flip(-1), x), torch.where(flip, y.flip(-1), y)
        fake = G(x)
        logs = {}
        if adversarial:  # D sees (input, output) pairs: a conditional discriminator (6.1)
            real_logits = D(torch.cat([x, y], 1))
            fake_logits = D(torch.cat([x, fake.detach()], 1))
            loss_d = 0.5 * discriminator_loss(real_logits, fake_logits)  # halved, as pix2pix: D learns slower
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            logits = D(torch.cat([x, fake], 1))
            logs.update(loss_d=loss_d.detach(), **{"D(x,y)": torch.sigmoid(real_logits).mean().detach()})
        if cfg.loss == "l1+cgan":
            loss_g = generator_loss(logits, fake, y, cfg.lam)
        elif adversarial:
            loss_g = generator_loss_nonsaturating(logits) + (cfg.lam * pixel(fake, y) if pixel else 0.0)
        else:
            loss_g = cfg.lam * pixel(fake, y)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        logs.update(loss_g=loss_g.detach(), l1=l1_loss(fake.detach(), y))
        return logs

    return step


def train_pix2pix(x: torch.Tensor, y: torch.Tensor, cfg: Pix2PixConfig, progress: bool = True,
                  generator: torch.Generator | None = None, generator_loss=pix2pix_generator_loss, desc=None):
    """Train Pix2Pix on pairs ``x (N, C_in, H, W)`` -> ``y (N, C_out, H, W)``, both in [-1, 1].

    Initial weights from a CPU generator seeded with ``cfg.seed``; the mirroring from
    ``generator`` (default ``gm.runtime.generator(cfg.seed + 1)``). Returns ``(G, D, history)``
    with ``D = None`` for the losses without a discriminator; both are left in eval mode."""
    from . import data, runtime, train

    if x.ndim != 4 or y.ndim != 4 or len(x) != len(y) or x.shape[2:] != y.shape[2:]:
        raise ValueError(f"train_pix2pix expects paired images (N, C, H, W) of the same size, got "
                         f"{tuple(x.shape)} and {tuple(y.shape)}")
    if len(x) < cfg.batch_size:
        raise ValueError(f"train_pix2pix needs at least batch_size={cfg.batch_size} pairs, got {len(x)}")
    device = runtime.device()
    g_init = torch.Generator().manual_seed(cfg.seed)
    G = UNetGenerator(x.shape[1], y.shape[1], cfg.width, cfg.depth, skips=cfg.skips, dropout=cfg.dropout,
                      norm=cfg.norm, generator=g_init).to(device)
    G(x[:1].to(device))  # fail early, with the U-Net's message, on a size it cannot take
    adversarial = "cgan" in cfg.loss
    D = PatchDiscriminator(x.shape[1] + y.shape[1], cfg.width, cfg.d_layers, cfg.norm,
                           generator=g_init).to(device) if adversarial else None
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=(0.5, 0.999)) if adversarial else None
    gen = generator if generator is not None else runtime.generator(cfg.seed + 1, device=device)
    step = make_pix2pix_step(G, D, opt_g, opt_d, cfg, generator=gen, generator_loss=generator_loss)
    batches = data.Batches(x.to(device), y.to(device), batch_size=cfg.batch_size, seed=cfg.seed)
    nets = nn.ModuleDict({"G": G, **({"D": D} if adversarial else {})})
    optimizers = {"g": opt_g, **({"d": opt_d} if adversarial else {})}
    history = train.fit(nets, step, batches, optimizer=optimizers, manual=True, steps=cfg.steps,
                        desc=desc or f"pix2pix ({cfg.loss})", progress=progress, max_seconds=cfg.max_seconds)
    G.eval()
    if D is not None:
        D.eval()
    return G, D, history


@torch.no_grad()
def translate(G: nn.Module, x: torch.Tensor, dropout: bool = False, batch_size: int = 256) -> torch.Tensor:
    """``G(x)`` in eval mode, in batches, on G's device. ``dropout=True`` keeps the dropout
    layers active (Pix2Pix's only noise; its authors keep it at test time): calls then
    differ from each other. The network's mode is restored afterwards."""
    if x.ndim != 4 or len(x) == 0:
        raise ValueError(f"translate expects a non-empty batch of images (N, C, H, W), got {tuple(x.shape)}")
    was = G.training
    G.eval()
    if dropout:
        for m in G.modules():
            if isinstance(m, nn.Dropout):
                m.train()
    device = next(G.parameters()).device
    out = torch.cat([G(x[i:i + batch_size].to(device)) for i in range(0, len(x), batch_size)])
    G.train(was)
    return out


@torch.no_grad()
def encoder_features(G: UNetGenerator, x: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """Features ``(N, D)`` of images ``x (N, C, H, W)`` for a Frechet distance: the output of
    each encoder level of the U-Net ``G`` averaged over its positions, all levels
    concatenated (``D`` = the sum of the level widths). In chapter 6, ``G`` is a network
    trained to map real facade photographs back to their label maps, so the features
    describe what a facade is made of (walls, windows, doors, their sizes) and were never
    fitted to any generated image. Eval mode; G's mode is restored afterwards."""
    if not isinstance(G, UNetGenerator):
        raise TypeError(f"encoder_features needs a UNetGenerator, got {type(G).__name__}")
    if x.ndim != 4 or len(x) == 0 or x.shape[1] != G.in_channels:
        raise ValueError(f"encoder_features expects a non-empty batch (N, {G.in_channels}, H, W), "
                         f"got {tuple(x.shape)}")
    was = G.training
    G.eval()
    device = next(G.parameters()).device
    out = []
    for i in range(0, len(x), batch_size):
        h, pooled = x[i:i + batch_size].to(device), []
        for layer in G.down:
            h = layer(h)
            pooled.append(h.mean(dim=(2, 3)))
        out.append(torch.cat(pooled, dim=1))
    G.train(was)
    return torch.cat(out)


def judge_fd(judge: UNetGenerator, images: torch.Tensor, reference: torch.Tensor) -> float:
    """Frechet distance between ``images`` and real ``reference`` images on the judge's
    :func:`encoder_features`, each feature first divided by its standard deviation over the
    reference set, so that the number does not depend on the scale of the judge's
    activations (which depends on its initialisation and training length)."""
    from .metrics import frechet_distance

    a, b = encoder_features(judge, images), encoder_features(judge, reference)
    scale = b.std(0).clamp_min(1e-8)
    return frechet_distance(a / scale, b / scale)


def judge_scores(judge: UNetGenerator, outputs: torch.Tensor, photos: torch.Tensor,
                 labels: torch.Tensor) -> dict:
    """Scores of translations ``outputs`` of the label maps ``labels``, whose real photographs
    are ``photos`` (all ``(N, 3, H, W)`` in [-1, 1]), by a ``judge``: a U-Net trained to map
    real photographs to their label maps (``train_pix2pix(photos, labels, loss="l1")``).

    * ``fd``: :func:`judge_fd` of the outputs against the photographs (a distribution-level
      realism score, lower is better);
    * ``label_l1``: the L1 distance between ``judge(outputs)`` and ``labels``: does the
      generated facade read back as the layout it was asked for? (Isola et al. scored their
      translations the same way with a segmentation network, the "FCN score".)"""
    from .translation import l1_loss

    if not outputs.shape == photos.shape == labels.shape:
        raise ValueError(f"judge_scores expects outputs, photos and labels of one shape, got "
                         f"{tuple(outputs.shape)}, {tuple(photos.shape)}, {tuple(labels.shape)}")
    fd = judge_fd(judge, outputs, photos)
    read_back = translate(judge, outputs).to(labels.device)
    return {"fd": fd, "label_l1": l1_loss(read_back, labels).item()}
