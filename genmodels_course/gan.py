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

This module is the game. The players live next door and are re-exported here, so that
``gm.gan.X`` works for all of chapter 5: :mod:`~genmodels_course.gan_toy` (2-D networks
and their recipe), :mod:`~genmodels_course.dcgan` (DCGAN on images and its recipe) and
:mod:`~genmodels_course.stylegan` (truncation, AdaIN, latent interpolation).
"""
from __future__ import annotations

import importlib

import torch
import torch.nn.functional as F
from torch import nn


__all__ = [
    "value_function", "discriminator_loss", "generator_loss_saturating", "generator_loss_nonsaturating",
    "optimal_discriminator", "jensen_shannon", "gradient_penalty", "wgan_critic_loss", "wgan_generator_loss",
    "gda_xy",
]
# Re-exported from the modules of the players (loaded on first use, see __getattr__ below).
_ELSEWHERE = {
    **dict.fromkeys(("minibatch_stddev", "pack", "EnsembleLinear", "Generator2D", "Discriminator2D",
                     "Toy2DConfig", "make_gan_step", "train_toy2d", "sample_toy2d"), "gan_toy"),
    **dict.fromkeys(("DCGenerator", "DCDiscriminator", "DCGANConfig", "make_dcgan_step", "train_dcgan",
                     "sample_images", "discriminator_features"), "dcgan"),
    **dict.fromkeys(("truncated_noise", "adain", "interpolate_latents"), "stylegan"),
    **dict.fromkeys(("to_tanh_range", "from_tanh_range"), "data"),
}
__all__ += list(_ELSEWHERE)


def __getattr__(name):
    # The players import the game from this module, so they are loaded lazily (PEP 562)
    # rather than at the top: ``gm.gan.train_toy2d`` is ``gm.gan_toy.train_toy2d``.
    if name in _ELSEWHERE:
        value = getattr(importlib.import_module(f"{__package__}.{_ELSEWHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
