"""Chapter 5: the minimax game and generative adversarial networks.

Notation (chapter 5): a generator ``G`` maps noise ``z ~ p(z)`` to samples ``G(z)``; a
discriminator ``D`` outputs a *logit* ``a``, so ``D(x) = sigmoid(a(x))``. The value function is

    V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))]                                   (5.1)

The discriminator maximises it; the generator minimises it (saturating loss, 5.5) or
minimises ``-E_z[log D(G(z))]`` (non-saturating loss, 5.6). At fixed ``G`` the best
discriminator is ``D*(x) = p_data(x) / (p_data(x) + p_g(x))`` (5.2), and then
``V(D*, G) = -log 4 + 2 JSD(p_data || p_g)`` (5.3). WGAN-GP replaces the game by a critic
with a gradient penalty (5.8).

Every loss works on logits with ``softplus``: ``log sigmoid(a) = -softplus(-a)`` and
``log(1 - sigmoid(a)) = -softplus(a)``. These never overflow, whereas ``log(sigmoid(a))``
underflows to ``log 0`` once ``a < -100`` or so.
"""
from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn


__all__ = [
    "value_function", "discriminator_loss", "generator_loss_saturating", "generator_loss_nonsaturating",
    "optimal_discriminator", "jensen_shannon", "gradient_penalty", "wgan_critic_loss", "wgan_generator_loss",
    "gda_xy", "minibatch_stddev", "pack", "Generator2D", "Discriminator2D", "Toy2DConfig", "make_gan_step",
    "train_toy2d", "sample_toy2d", "EnsembleLinear", "DCGenerator", "DCGANConfig", "make_dcgan_step",
    "train_dcgan", "sample_images", "truncated_noise", "adain", "DCDiscriminator", "interpolate_latents", "to_tanh_range", "from_tanh_range",
]


# ------------------------------------------------------------------ input checks
def _check_logits(a, name: str) -> torch.Tensor:
    if not isinstance(a, torch.Tensor):
        raise ValueError(f"{name} should be a torch tensor of discriminator logits, got {type(a).__name__}")
    if not a.dtype.is_floating_point:
        raise ValueError(f"{name} should be a floating-point tensor of logits, got dtype {a.dtype}")
    if a.numel() == 0:
        raise ValueError(f"{name} is empty: expected a batch of at least one logit")
    return a


# ------------------------------------------------------------------ the game (5.1)-(5.6)
def value_function(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Monte Carlo estimate of V(D, G) (eq. 5.1) from logits, a 0-d tensor.

    ``real_logits``: D's logits on a batch of data, any shape ``(N, ...)``;
    ``fake_logits``: D's logits on a batch of generated samples ``G(z)``, any shape ``(M, ...)``.
    """
    _check_logits(real_logits, "real_logits")
    _check_logits(fake_logits, "fake_logits")
    return -F.softplus(-real_logits).mean() - F.softplus(fake_logits).mean()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The discriminator's loss ``-V(D, G)`` (eq. 5.4), numerically stable, a 0-d tensor.

    Equals binary cross-entropy with target 1 on ``real_logits`` plus target 0 on ``fake_logits``,
    each averaged over its own batch.
    """
    _check_logits(real_logits, "real_logits")
    _check_logits(fake_logits, "fake_logits")
    # -log sigmoid(a) = softplus(-a);  -log(1 - sigmoid(a)) = softplus(a)
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss_saturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """The original minimax generator loss ``E_z[log(1 - D(G(z)))]`` (eq. 5.5), to be minimised.

    Its gradient with respect to the logit is ``-sigmoid(a)``: it vanishes when D confidently
    rejects the fakes (``a -> -inf``), which is exactly the situation early in training.
    """
    _check_logits(fake_logits, "fake_logits")
    return -F.softplus(fake_logits).mean()


def generator_loss_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss ``-E_z[log D(G(z))]`` (eq. 5.6), a 0-d tensor.

    Its gradient with respect to the logit is ``-(1 - sigmoid(a))``, close to -1 when D rejects
    the fakes: the generator gets a strong signal exactly when it needs one.
    """
    _check_logits(fake_logits, "fake_logits")
    return F.softplus(-fake_logits).mean()


def optimal_discriminator(log_p_data: torch.Tensor, log_p_g: torch.Tensor) -> torch.Tensor:
    """The logit of the optimal discriminator ``D*(x) = p_data / (p_data + p_g)`` (eq. 5.2).

    Takes log densities evaluated at the same points (same shape) and returns
    ``log p_data - log p_g``, so that ``sigmoid`` of it is D*(x). Working in logits keeps
    the ratio finite far in the tails where both densities underflow.
    """
    if not isinstance(log_p_data, torch.Tensor) or not isinstance(log_p_g, torch.Tensor):
        raise ValueError("optimal_discriminator expects two tensors of log densities")
    if log_p_data.shape != log_p_g.shape:
        raise ValueError(f"log_p_data and log_p_g should have the same shape, got "
                         f"{tuple(log_p_data.shape)} and {tuple(log_p_g.shape)}")
    return log_p_data - log_p_g


def jensen_shannon(p: torch.Tensor, q: torch.Tensor, dx: float) -> torch.Tensor:
    """JSD(p || q) in nats from densities tabulated on a uniform grid with spacing ``dx``.

    ``p`` and ``q``: non-negative tensors of the same shape (any number of grid dimensions;
    ``dx`` is the volume of one cell). Riemann sum of
    ``1/2 p log(2p / (p + q)) + 1/2 q log(2q / (p + q))``; ``0 log 0 = 0``.
    """
    if not isinstance(p, torch.Tensor) or not isinstance(q, torch.Tensor) or p.shape != q.shape:
        raise ValueError("jensen_shannon expects two density tensors of the same shape")
    if (p < 0).any() or (q < 0).any():
        raise ValueError("jensen_shannon expects non-negative densities")
    if not dx > 0:
        raise ValueError(f"dx should be the positive grid spacing, got {dx}")
    m = 0.5 * (p + q)
    kl_pm = torch.where(p > 0, p * (torch.log(p) - torch.log(m)), torch.zeros_like(p))
    kl_qm = torch.where(q > 0, q * (torch.log(q) - torch.log(m)), torch.zeros_like(q))
    return 0.5 * (kl_pm.sum() + kl_qm.sum()) * dx


# ------------------------------------------------------------------ WGAN-GP (5.7)-(5.8)
def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """The WGAN-GP penalty ``E[(||grad_x f(x_hat)||_2 - 1)^2]`` (eq. 5.8), a 0-d tensor.

    ``x_hat = eps * real + (1 - eps) * fake`` lies on the segment between a real and a fake sample.
    ``real``, ``fake``: ``(N, ...)``, same shape; ``eps``: ``(N, 1, ..., 1)`` (or ``(N,)``) in [0, 1],
    passed in so that the result is deterministic. ``critic(x)`` returns ``(N,)`` or ``(N, 1)``
    scores. The graph is kept (``create_graph=True``) so the penalty can be back-propagated
    into the critic's weights. The gradient norm is taken per sample over all non-batch dims.
    """
    if not isinstance(real, torch.Tensor) or not isinstance(fake, torch.Tensor) or real.shape != fake.shape:
        raise ValueError("gradient_penalty expects real and fake batches as tensors of the same shape (N, ...)")
    if real.shape[0] == 0:
        raise ValueError("gradient_penalty got an empty batch")
    eps = torch.as_tensor(eps, dtype=real.dtype, device=real.device)
    if eps.shape[0] != real.shape[0] or eps.numel() != real.shape[0]:
        raise ValueError(f"eps should hold one mixing weight per sample, shape (N, 1, ...); "
                         f"got {tuple(eps.shape)} for N={real.shape[0]}")
    if (eps < 0).any() or (eps > 1).any():
        raise ValueError("eps should lie in [0, 1]")
    eps = eps.reshape(-1, *([1] * (real.dim() - 1)))
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norm = grad.flatten(1).norm(dim=1)
    return ((norm - 1) ** 2).mean()


def wgan_critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """The critic's loss ``E[f(G(z))] - E[f(x)]`` (eq. 5.7; add ``lambda *`` the gradient penalty)."""
    _check_logits(real_scores, "real_scores")
    _check_logits(fake_scores, "fake_scores")
    return fake_scores.mean() - real_scores.mean()


def wgan_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """The WGAN generator loss ``-E[f(G(z))]``."""
    _check_logits(fake_scores, "fake_scores")
    return -fake_scores.mean()


# ------------------------------------------------------------------ the game V(x, y) = x y
def gda_xy(x0: float, y0: float, lr: float, steps: int, simultaneous: bool = True) -> torch.Tensor:
    """Gradient descent in x, ascent in y, on ``V(x, y) = x y``; returns the path ``(steps + 1, 2)``.

    The equilibrium is (0, 0). Simultaneous updates multiply the distance to it by
    ``sqrt(1 + lr^2)`` at every step (an outward spiral); alternating updates (y sees the new x)
    stay on a bounded orbit that never converges.
    """
    if steps < 0 or not lr > 0:
        raise ValueError(f"gda_xy needs steps >= 0 and lr > 0, got steps={steps}, lr={lr}")
    path = torch.empty(steps + 1, 2, dtype=torch.float64)
    x, y = float(x0), float(y0)
    path[0] = torch.tensor([x, y], dtype=torch.float64)
    for t in range(steps):
        if simultaneous:
            x, y = x - lr * y, y + lr * x      # dV/dx = y, dV/dy = x
        else:
            x = x - lr * y
            y = y + lr * x
        path[t + 1] = torch.tensor([x, y], dtype=torch.float64)
    return path


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
    """

    def __init__(self, ensemble: int, d_in: int, d_out: int):
        super().__init__()
        bound = 1 / math.sqrt(d_in)  # the same initialisation as nn.Linear
        self.weight = nn.Parameter(torch.empty(ensemble, d_in, d_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(ensemble, 1, d_out).uniform_(-bound, bound))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, h, self.weight)


class Generator2D(nn.Module):
    """An MLP generator ``(E * N, z_dim) -> (E * N, 2)`` for the 2-D mixtures.

    ``ensemble=E`` holds E independent generators (seeds); rows ``[e N, (e + 1) N)`` of the
    batch belong to member ``e``. With the default ``E = 1`` it is a plain MLP.
    """

    def __init__(self, z_dim: int = 2, hidden: int = 128, depth: int = 3, ensemble: int = 1):
        super().__init__()
        layers, d = [], z_dim
        for _ in range(depth):
            layers += [EnsembleLinear(ensemble, d, hidden), nn.ReLU()]
            d = hidden
        layers.append(EnsembleLinear(ensemble, d, 2))
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
    ``ensemble`` as in :class:`Generator2D`.
    """

    def __init__(self, hidden: int = 128, depth: int = 3, pack: int = 1, mbstd: bool = False, ensemble: int = 1):
        super().__init__()
        self.pack_size, self.mbstd, self.ensemble = pack, mbstd, ensemble
        layers, d = [], 2 * pack
        for _ in range(depth - 1):
            layers += [EnsembleLinear(ensemble, d, hidden), nn.LeakyReLU(0.2)]
            d = hidden
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(EnsembleLinear(ensemble, d + int(mbstd), hidden), nn.LeakyReLU(0.2),
                                  EnsembleLinear(ensemble, hidden, 1))

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
    and returns a dict of floats. The losses follow ``cfg.method``.
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
        out = {"loss_d": loss_d.item(), "loss_g": loss_g.item()}
        if not wgan:
            out["D(x)"] = torch.sigmoid(real_out).mean().item()
            out["D(G(z))"] = torch.sigmoid(fake_out).mean().item()
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
                n_snapshot: int = 1000, progress: bool = True):
    """Train a GAN on a 2-D mixture (``gm.data.ring8()`` / ``grid25()``) with ``gm.train.fit``.

    ``ensemble=E`` trains E independent GANs (different initialisations and data) at once.
    With ``cfg.lr_decay`` both learning rates fall linearly to zero, which sharpens the modes.
    Returns ``(G, D, history, snapshots)``. ``snapshots`` (only for ``E = 1``) is a list of dicts
    ``{"step", "samples" (n_snapshot, 2), "surface" (64, 64) logits on [-lim, lim]^2}``
    taken every ``snapshot_every`` steps (0: none) with the same fixed noise.
    """
    from . import data, runtime, train

    if ensemble < 1 or (snapshot_every and ensemble != 1):
        raise ValueError("train_toy2d needs ensemble >= 1, and snapshots only work with ensemble=1")
    runtime.seed_everything(cfg.seed)
    device = runtime.device()
    G = Generator2D(cfg.z_dim, cfg.hidden, ensemble=ensemble).to(device)
    pack_m = 2 if cfg.method == "pacgan" else 1
    D = Discriminator2D(cfg.hidden, pack=pack_m, mbstd=cfg.method == "mbstd", ensemble=ensemble).to(device)
    betas = (0.0, 0.9) if cfg.method == "wgan-gp" else (0.5, 0.999)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=betas)
    decay = (lambda t: max(0.0, 1.0 - t / cfg.steps)) if cfg.lr_decay else (lambda t: 1.0)
    scheds = [torch.optim.lr_scheduler.LambdaLR(o, decay) for o in (opt_g, opt_d)]
    gen = runtime.generator(cfg.seed + 1, device=device)
    n_data = max(20 * ensemble * cfg.batch_size, 20_000)
    x = mixture.sample(n_data, generator=torch.Generator().manual_seed(cfg.seed)).to(device)
    batches = data.Batches(x, batch_size=ensemble * cfg.batch_size, seed=cfg.seed)
    inner = make_gan_step(G, D, opt_g, opt_d, cfg, generator=gen)
    lim = float(lim if lim is not None else mixture.means.abs().max().item() * 1.5)
    z_fixed = torch.randn(n_snapshot, cfg.z_dim, generator=torch.Generator().manual_seed(1234)).to(device)
    snapshots, count = [], [0]

    def snap():
        with torch.no_grad():
            snapshots.append({"step": count[0], "samples": G(z_fixed).cpu(), "surface": _surface(D, lim, 64)})

    def step(batch):
        if snapshot_every and count[0] % snapshot_every == 0:
            snap()
        out = inner(batch)
        for s in scheds:
            s.step()
        count[0] += 1
        return out

    history = train.fit(nn.ModuleDict({"G": G, "D": D}), step, batches, optimizer={"g": opt_g, "d": opt_d},
                        manual=True, steps=cfg.steps, desc=cfg.method, progress=progress,
                        amp=False)  # tiny nets gain nothing from bf16, and the modes are 0.01 wide
    if snapshot_every:
        snap()
    return G, D, history, snapshots


def sample_toy2d(G: Generator2D, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` samples from every member of a (possibly ensembled) 2-D generator: ``(E, n, 2)`` on the CPU."""
    device = next(G.parameters()).device
    z = torch.randn(G.ensemble * n, G.z_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    with torch.no_grad():
        return G(z).reshape(G.ensemble, n, 2).cpu()


# ------------------------------------------------------------------ DCGAN (Radford et al. 2016)
def _dcgan_init(module: nn.Module) -> None:
    # DCGAN: all weights from N(0, 0.02); batch-norm scales from N(1, 0.02)
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGenerator(nn.Module):
    """DCGAN generator for 28x28 images: ``(N, z_dim)`` [, labels ``(N,)``] -> ``(N, 1, 28, 28)`` in [-1, 1].

    Transposed convolutions 1 -> 7 -> 14 -> 28, batch norm and ReLU in between, tanh at the end,
    no fully connected hidden layer. With ``n_classes > 0`` it is conditional: the label's
    embedding is concatenated to z (a conditional GAN, Mirza and Osindero 2014).
    """

    def __init__(self, z_dim: int = 64, width: int = 64, n_classes: int = 0):
        super().__init__()
        self.z_dim, self.n_classes = z_dim, n_classes
        self.embed = nn.Embedding(n_classes, 16) if n_classes else None
        d_in = z_dim + (16 if n_classes else 0)
        self.net = nn.Sequential(
            nn.ConvTranspose2d(d_in, 2 * width, 7, 1, 0, bias=False), nn.BatchNorm2d(2 * width), nn.ReLU(True),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(True),
            nn.ConvTranspose2d(width, 1, 4, 2, 1), nn.Tanh(),
        )
        self.apply(_dcgan_init)

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
    """

    def __init__(self, width: int = 64, n_classes: int = 0, batch_norm: bool = True):
        super().__init__()
        self.n_classes = n_classes
        c_in = 1 + n_classes
        self.net = nn.Sequential(
            nn.Conv2d(c_in, width, 4, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(width, 2 * width, 4, 2, 1, bias=not batch_norm),
            nn.BatchNorm2d(2 * width) if batch_norm else nn.Identity(), nn.LeakyReLU(0.2, True),
            nn.Conv2d(2 * width, 1, 7, 1, 0),
        )
        self.apply(_dcgan_init)

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


def make_dcgan_step(G: DCGenerator, D: DCDiscriminator, opt_g, opt_d, generator: torch.Generator | None = None,
                    on_step=None):
    """One alternating DCGAN step for ``gm.train.fit(..., manual=True)``; batches are ``(x, y)``
    with ``x`` in [0, 1]. Non-saturating generator loss. ``on_step(i, real_logits, fake_logits)``,
    if given, sees the discriminator's logits of every step (for histograms)."""
    device = next(G.parameters()).device
    count = [0]

    def step(batch):
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
            on_step(count[0], real_logits.detach(), fake_logits.detach())
        count[0] += 1
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(),
                "D(x)": torch.sigmoid(real_logits).mean().detach(),
                "D(G(z))": torch.sigmoid(fake_logits).mean().detach()}

    return step


def train_dcgan(x: torch.Tensor, y: torch.Tensor, cfg: DCGANConfig, on_step=None, progress: bool = True):
    """Train a (conditional) DCGAN on images ``x (N, 1, 28, 28)`` in [0, 1] with labels ``y (N,)``.

    Returns ``(G, D, history)``; G is left in eval mode.
    """
    from . import data, runtime, train

    if x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28) or len(x) < cfg.batch_size:
        raise ValueError(f"train_dcgan expects at least batch_size images of shape (N, 1, 28, 28), got {tuple(x.shape)}")
    runtime.seed_everything(cfg.seed)
    device = runtime.device()
    n_classes = 10 if cfg.conditional else 0
    G = DCGenerator(cfg.z_dim, cfg.width, n_classes).to(device)
    D = DCDiscriminator(cfg.width, n_classes).to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    step = make_dcgan_step(G, D, opt_g, opt_d, generator=runtime.generator(cfg.seed + 1, device=device),
                           on_step=on_step)
    batches = data.Batches(x.to(device), y.to(device), batch_size=cfg.batch_size, seed=cfg.seed)
    history = train.fit(nn.ModuleDict({"G": G, "D": D}), step, batches, optimizer={"g": opt_g, "d": opt_d},
                        manual=True, steps=cfg.steps, desc="conditional DCGAN" if cfg.conditional else "DCGAN",
                        progress=progress, config=cfg)
    G.eval()
    D.eval()
    return G, D, history


@torch.no_grad()
def sample_images(G: DCGenerator, n: int, y: torch.Tensor | None = None, z: torch.Tensor | None = None,
                  seed: int = 0, batch_size: int = 1000) -> torch.Tensor:
    """``n`` images from a DCGAN generator, ``(n, 1, 28, 28)`` in [0, 1] (labels ``y`` if conditional)."""
    device = next(G.parameters()).device
    if z is None:
        z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    if G.n_classes and y is None:
        y = torch.arange(n, device=device) % G.n_classes
    out = [G(z[i:i + batch_size], None if y is None else y[i:i + batch_size].to(device)) for i in range(0, n, batch_size)]
    return from_tanh_range(torch.cat(out))


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


def to_tanh_range(x: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] -> [-1, 1] (the range of the generator's tanh)."""
    return 2 * x - 1


def from_tanh_range(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] -> [0, 1], clamped."""
    return ((x + 1) / 2).clamp(0, 1)


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
