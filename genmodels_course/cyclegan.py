"""Chapter 6, sections 6.5-6.7: CycleGAN (Zhu et al. 2017) on unpaired images, and its use
for domain adaptation at the pixel level (CyCADA's pixel step, Hoffman et al. 2018).

Two U-Net generators ``G: X -> Y`` and ``F: Y -> X`` and two PatchGAN discriminators
``D_X``, ``D_Y``. :func:`make_cyclegan_step` updates both generators on the adversarial
losses (non-saturating, chapter 5), the cycle-consistency loss (6.7) and the identity
loss (6.8), weighted as in (6.9), optionally CyCADA's semantic-consistency loss (6.10,
:func:`semantic_consistency_loss`), then both discriminators. :func:`train_cyclegan` runs it
with ``gm.train.fit``. :func:`train_digit_classifier` is the small classifier of the
MNIST -> USPS experiment; :func:`frame_digits` the preprocessing (USPS 16x16 framed as MNIST's 28x28).
"""
from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict

import torch
import torch.nn.functional as nnf
from torch import nn

from .gan import discriminator_loss, generator_loss_nonsaturating
from .translation import PatchDiscriminator, UNetGenerator, cycle_consistency_loss, identity_loss

__all__ = ["CycleGANConfig", "ZoomShift", "semantic_consistency_loss", "make_cyclegan_step", "train_cyclegan", "frame_digits", "DigitClassifier",
           "train_digit_classifier"]


@dataclasses.dataclass
class CycleGANConfig:
    """Settings of a CycleGAN run (Zhu et al.: Adam, lr 2e-4, beta1 0.5, lambda_cyc 10,
    identity weight 0.5 lambda_cyc, instance norm). ``lam_sem > 0`` adds CyCADA's
    semantic-consistency loss (Hoffman et al. 2018) with that weight; it needs a
    ``classifier`` passed to :func:`train_cyclegan`."""

    steps: int = 1000
    batch_size: int = 32
    width: int = 32
    depth: int = 2          # 28x28 digits: 28 -> 14 -> 7
    d_layers: int = 1       # PatchGAN receptive field 16 on 28x28 digits
    lam_cyc: float = 10.0
    lam_id: float = 5.0     # 0: no identity loss
    skips: bool = True
    dropout: float = 0.0    # CycleGAN uses no dropout
    norm: str = "instance"
    lr: float = 2e-4
    lam_sem: float = 0.0    # 0: plain CycleGAN
    zoom: bool = False      # a ZoomShift (a spatial transformer) before each U-Net
    seed: int = 0


class ZoomShift(nn.Module):
    """A spatial transformer (Jaderberg et al. 2015) that may only zoom and shift.

    A small localisation network reads each image and predicts a scale ``s = exp(a)`` and a
    shift ``(t_x, t_y)`` (each at most ``max_shift`` in the coordinates ``[-1, 1]`` of the
    image, through tanh). The output pixel at ``(u, v)`` is the input sampled bilinearly at
    ``s (u, v) + (t_x, t_y)`` (``F.affine_grid`` and ``F.grid_sample``, differentiable in
    the image and in the parameters): ``s < 1`` enlarges the content, ``s > 1`` shrinks it,
    and what comes from outside the input is ``background`` (-1: black in a GAN's [-1, 1]).
    The last layer starts at zero, so a new ZoomShift is the identity and training decides
    how far to move. ``(N, channels, H, W) -> (N, channels, H, W)``.
    """

    def __init__(self, channels: int = 1, width: int = 8, max_shift: float = 0.5, background: float = -1.0,
                 generator: torch.Generator | None = None):
        super().__init__()
        if channels < 1 or width < 1 or not 0 <= max_shift <= 1:
            raise ValueError(f"ZoomShift needs channels >= 1, width >= 1 and 0 <= max_shift <= 1, got "
                             f"{channels}, {width}, {max_shift}")
        self.channels, self.max_shift, self.background = channels, max_shift, background
        self.loc = nn.Sequential(
            nn.Conv2d(channels, width, 5, 2, 2), nn.ReLU(), nn.Conv2d(width, 2 * width, 5, 2, 2), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * width, 3))
        for m in self.loc:  # PyTorch's default scale (not pix2pix's N(0, 0.02)), seeded
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=generator)
                nn.init.zeros_(m.bias)
        nn.init.zeros_(self.loc[-1].weight)
        nn.init.zeros_(self.loc[-1].bias)

    def params(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The scale ``(N,)`` and the shift ``(N, 2)`` that :meth:`forward` applies to ``x``."""
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(f"ZoomShift expects images (N, {self.channels}, H, W), got {tuple(x.shape)}")
        a = self.loc(x)
        return torch.exp(a[:, 0]), self.max_shift * torch.tanh(a[:, 1:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale, shift = self.params(x)
        zero = torch.zeros_like(scale)
        theta = torch.stack([torch.stack([scale, zero, shift[:, 0]], 1),
                             torch.stack([zero, scale, shift[:, 1]], 1)], 1)
        grid = nnf.affine_grid(theta, list(x.shape), align_corners=False)
        # grid_sample fills with 0 outside the image: shift so that 0 is the background
        return nnf.grid_sample(x - self.background, grid.to(x.dtype), align_corners=False) + self.background


def semantic_consistency_loss(classifier: nn.Module, x: torch.Tensor, fake_y: torch.Tensor, y: torch.Tensor,
                              fake_x: torch.Tensor) -> torch.Tensor:
    """CyCADA's semantic consistency (6.10): a frozen classifier ``f`` trained on the source
    domain must give a translation the label it gives the input,
    ``CE(f(G(x)), argmax f(x)) + CE(f(F(y)), argmax f(y))``, each a mean over its batch.
    Images in [-1, 1] (the GAN's range); ``f`` takes [0, 1]. The labels are ``f``'s own
    (no target labels are used); gradients flow into the translations only, not into ``f``."""
    if fake_y.shape[0] != x.shape[0] or fake_x.shape[0] != y.shape[0]:
        raise ValueError(f"semantic_consistency_loss: x {tuple(x.shape)} and G(x) {tuple(fake_y.shape)}, "
                         f"y {tuple(y.shape)} and F(y) {tuple(fake_x.shape)} must pair up")
    if any(p.requires_grad for p in classifier.parameters()):
        raise ValueError("semantic_consistency_loss needs a frozen classifier: call "
                         "classifier.requires_grad_(False) (CyCADA keeps f fixed while G and F train)")
    with torch.no_grad():
        label_x = classifier((x + 1) / 2).argmax(1)
        label_y = classifier((y + 1) / 2).argmax(1)
    return (nnf.cross_entropy(classifier((fake_y + 1) / 2), label_x)
            + nnf.cross_entropy(classifier((fake_x + 1) / 2), label_y))


def make_cyclegan_step(G, F, D_X, D_Y, opt_g, opt_d, y_batches, cfg: CycleGANConfig,
                       cycle_loss=cycle_consistency_loss, id_loss=identity_loss, classifier=None):
    """A ``step(batch)`` for ``gm.train.fit(..., manual=True)``: ``batch`` is a tuple whose
    first entry is images of X; a batch of Y comes from ``y_batches.next_batch()`` (the two
    domains are *not* paired). ``cycle_loss`` and ``id_loss`` default to the package's
    (6.7) and (6.8); pass your own to train with them. With ``cfg.lam_sem > 0`` the frozen
    ``classifier`` adds :func:`semantic_consistency_loss`. Returns detached 0-d tensors."""
    if cfg.lam_sem > 0 and classifier is None:
        raise ValueError(f"CycleGANConfig.lam_sem={cfg.lam_sem} needs a classifier of the source domain "
                         "(pass classifier=..., for example cyclegan.train_digit_classifier on it)")

    def step(batch):
        x = batch[0]
        y = y_batches.next_batch()[0]
        fake_y, fake_x = G(x), F(y)
        # generators: fool both discriminators, come back where they started (6.9)
        loss_adv = generator_loss_nonsaturating(D_Y(fake_y)) + generator_loss_nonsaturating(D_X(fake_x))
        loss_cyc = cycle_loss(x, F(fake_y), y, G(fake_x))
        loss_g = loss_adv + cfg.lam_cyc * loss_cyc
        loss_id = id_loss(G, F, x, y) if cfg.lam_id > 0 else torch.zeros((), device=x.device)
        loss_g = loss_g + cfg.lam_id * loss_id
        loss_sem = (semantic_consistency_loss(classifier, x, fake_y, y, fake_x) if cfg.lam_sem > 0
                    else torch.zeros((), device=x.device))
        loss_g = loss_g + cfg.lam_sem * loss_sem
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        # discriminators: real images of their domain against the (detached) translations
        loss_d = (discriminator_loss(D_Y(y), D_Y(fake_y.detach()))
                  + discriminator_loss(D_X(x), D_X(fake_x.detach()))) / 2
        opt_d.zero_grad(set_to_none=True)  # also drops the gradients the G step left in D
        loss_d.backward()
        opt_d.step()
        return {"loss_g_adv": loss_adv.detach(), "loss_cyc": loss_cyc.detach(), "loss_id": loss_id.detach(),
                "loss_sem": loss_sem.detach(), "loss_d": loss_d.detach()}

    return step


def train_cyclegan(x: torch.Tensor, y: torch.Tensor, cfg: CycleGANConfig, progress: bool = True,
                   cycle_loss=cycle_consistency_loss, id_loss=identity_loss, desc: str = "CycleGAN",
                   classifier: nn.Module | None = None):
    """Train a CycleGAN between unpaired images ``x (N, C, H, W)`` of X and ``y (M, C', H, W)``
    of Y, both in [-1, 1]. Initial weights from a CPU generator seeded with ``cfg.seed``,
    batches from seeds ``cfg.seed`` and ``cfg.seed + 1``. ``classifier`` (with ``cfg.lam_sem > 0``):
    a classifier of X, taking [0, 1], frozen here (eval mode, no gradients) for the semantic
    loss. With ``cfg.zoom`` each generator is ``nn.Sequential(zoom=ZoomShift, unet=UNetGenerator)``.
    Returns ``(G, F, D_X, D_Y, history)``, all in eval mode."""
    from . import data, runtime, train

    if x.ndim != 4 or y.ndim != 4 or x.shape[2:] != y.shape[2:]:
        raise ValueError(f"train_cyclegan expects two image batches (N, C, H, W) of the same height and "
                         f"width, got {tuple(x.shape)} and {tuple(y.shape)}")
    if min(len(x), len(y)) < cfg.batch_size:
        raise ValueError(f"train_cyclegan needs at least batch_size={cfg.batch_size} images of each domain")
    device = runtime.device()
    if cfg.lam_sem > 0:
        if classifier is None:
            raise ValueError(f"CycleGANConfig.lam_sem={cfg.lam_sem} needs classifier=... (a classifier of the "
                             "source domain X, such as cyclegan.train_digit_classifier(x_mnist, y_mnist, ...))")
        classifier = classifier.to(device).eval().requires_grad_(False)
    g_init = torch.Generator().manual_seed(cfg.seed)
    cx, cy = x.shape[1], y.shape[1]
    kw = dict(width=cfg.width, depth=cfg.depth, skips=cfg.skips, dropout=cfg.dropout, norm=cfg.norm,
              generator=g_init)
    G, F = UNetGenerator(cx, cy, **kw), UNetGenerator(cy, cx, **kw)
    if cfg.zoom:  # each translator may first zoom and shift its input (G.zoom, then G.unet)
        G = nn.Sequential(OrderedDict(zoom=ZoomShift(cx, generator=g_init), unet=G))
        F = nn.Sequential(OrderedDict(zoom=ZoomShift(cy, generator=g_init), unet=F))
    G, F = G.to(device), F.to(device)
    G(x[:1].to(device))  # fail early, with the U-Net's message, on a size it cannot take
    D_X = PatchDiscriminator(cx, cfg.width, cfg.d_layers, cfg.norm, generator=g_init).to(device)
    D_Y = PatchDiscriminator(cy, cfg.width, cfg.d_layers, cfg.norm, generator=g_init).to(device)
    opt_g = torch.optim.Adam([*G.parameters(), *F.parameters()], lr=cfg.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam([*D_X.parameters(), *D_Y.parameters()], lr=cfg.lr, betas=(0.5, 0.999))
    x_batches = data.Batches(x.to(device), batch_size=cfg.batch_size, seed=cfg.seed)
    y_batches = data.Batches(y.to(device), batch_size=cfg.batch_size, seed=cfg.seed + 1)
    step = make_cyclegan_step(G, F, D_X, D_Y, opt_g, opt_d, y_batches, cfg, cycle_loss, id_loss, classifier)
    nets = nn.ModuleDict({"G": G, "F": F, "D_X": D_X, "D_Y": D_Y})
    history = train.fit(nets, step, x_batches, optimizer={"g": opt_g, "d": opt_d}, manual=True,
                        steps=cfg.steps, desc=desc, progress=progress)
    for net in nets.values():
        net.eval()
    return G, F, D_X, D_Y, history


def frame_digits(x: torch.Tensor, box: int = 20, size: int = 28) -> torch.Tensor:
    """Digits that fill their frame (USPS, 16x16) framed as MNIST's: resized (bilinear) to
    ``box x box`` and padded with zeros to ``size x size``, centred (MNIST's digits sit in a
    20x20 box in the middle of 28x28). ``(N, C, H, W)`` in [0, 1] -> ``(N, C, size, size)``."""
    if x.ndim != 4 or len(x) == 0:
        raise ValueError(f"frame_digits expects a non-empty batch (N, C, H, W), got {tuple(x.shape)}")
    if not 1 <= box <= size:
        raise ValueError(f"need 1 <= box <= size, got box={box}, size={size}")
    x = nnf.interpolate(x, size=(box, box), mode="bilinear", align_corners=False,
                        antialias=box < min(x.shape[2:])).clamp(0, 1)
    lo = (size - box) // 2
    return nnf.pad(x, (lo, size - box - lo, lo, size - box - lo))


class DigitClassifier(nn.Module):
    """The classifier of the domain-adaptation experiment, a small LeNet: two 5x5
    convolutions (``width`` and ``2 * width`` channels) with max pooling, and a linear layer.
    ``(N, 1, 28, 28)`` in [0, 1] -> ``(N, 10)`` logits."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 5), nn.ReLU(), nn.MaxPool2d(2),             # 28 -> 24 -> 12
            nn.Conv2d(width, 2 * width, 5), nn.ReLU(), nn.MaxPool2d(2),     # 12 -> 8 -> 4
            nn.Flatten(), nn.Dropout(0.3), nn.Linear(2 * width * 16, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"DigitClassifier expects images (N, 1, 28, 28) in [0, 1], got {tuple(x.shape)}")
        return self.net(x)


def train_digit_classifier(x: torch.Tensor, y: torch.Tensor, steps: int, batch_size: int = 64, lr: float = 1e-3,
                           seed: int = 0, progress: bool = True, desc: str = "classifier"):
    """A :class:`DigitClassifier` trained ``steps`` Adam steps with cross-entropy on
    ``(x, y)``, images ``(N, 1, 28, 28)`` in [0, 1]. Initial weights, batches and dropout
    masks from ``seed``: on the CPU the same call gives the same network. Returns it in eval mode; ``gm.metrics.accuracy(net, x_test, y_test)`` scores it."""
    from . import data, runtime, train

    if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28) or len(x) != len(y):
        raise ValueError(f"train_digit_classifier expects images (N, 1, 28, 28) in [0, 1] and N labels, "
                         f"got {tuple(x.shape)} and {tuple(y.shape)}")
    device = runtime.device()
    with runtime.seeded(seed):
        net = DigitClassifier().to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    batches = data.Batches(x.to(device), y.to(device), batch_size=min(batch_size, len(x)), seed=seed)

    def step(batch):
        xb, yb = batch
        return nnf.cross_entropy(net(xb), yb)

    with runtime.seeded(seed + 1):  # the dropout masks too, so that a run repeats (on the CPU)
        train.fit(net, step, batches, optimizer=opt, steps=steps, desc=desc, progress=progress)
    return net.eval()
