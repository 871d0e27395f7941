"""Chapter 4: energy-based models, Langevin sampling and contrastive divergence.

An energy-based model (LeCun et al., 2006) gives every point a scalar energy ``E(x)`` and
the density ``p(x) = exp(-E(x)) / Z``, eq. (4.10), with a normaliser ``Z`` nobody can
compute. Two things survive without ``Z``: the score ``grad_x log p(x) = -grad_x E(x)``,
which drives Langevin dynamics (4.11), and the gradient of the log-likelihood, which is a
difference of expected energy gradients under the data and under the model (4.12),
estimated with model samples (contrastive divergence, Hinton 2002; with a replay buffer
of persistent chains as in Du and Mordatch 2019).

Shapes: points ``(N, D)``; energies ``(N,)``.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

__all__ = ["EnergyMLP", "langevin_step", "langevin", "gaussian_energy", "cd_loss",
           "ReplayBuffer", "make_cd_step"]


def _check_points(x: torch.Tensor, name: str = "x") -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        raise ValueError(f"{name} should be a (N, D) tensor, got shape "
                         f"{tuple(getattr(x, 'shape', ()))}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch")


class EnergyMLP(nn.Module):
    """``E_theta(x)``: an MLP with smooth (SiLU) activations, ``(N, D) -> (N,)``.

    Smooth, because Langevin dynamics follows ``grad_x E``: a ReLU net has a piecewise
    constant gradient, and its samples gather on the kinks.
    """

    def __init__(self, dim: int = 2, hidden: int = 128, depth: int = 3):
        super().__init__()
        layers, width = [], dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        self.net = nn.Sequential(*layers, nn.Linear(width, 1))
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_points(x)
        if x.shape[1] != self.dim:
            raise ValueError(f"x should have D = {self.dim} columns, got {x.shape[1]}")
        return self.net(x).squeeze(-1)


def langevin_step(x: torch.Tensor, grad_energy: torch.Tensor, step_size: float,
                  noise: torch.Tensor) -> torch.Tensor:
    """One step of unadjusted Langevin dynamics, eq. (4.11).

    ``x_{k+1} = x_k - (gamma / 2) grad_x E(x_k) + sqrt(gamma) * noise``, with ``gamma`` the
    ``step_size`` and ``noise ~ N(0, I)`` of the shape of ``x``. As ``gamma -> 0`` and the
    number of steps grows, the chain's distribution tends to ``exp(-E) / Z``.
    """
    return x - 0.5 * step_size * grad_energy + math.sqrt(step_size) * noise


def langevin(energy: Callable[[torch.Tensor], torch.Tensor], x0: torch.Tensor, n_steps: int,
             step_size: float, generator: torch.Generator | None = None,
             create_graph: bool = False) -> torch.Tensor:
    """Run ``n_steps`` of :func:`langevin_step` from ``x0`` on ``energy``: ``(N, D)``.

    The gradient ``grad_x E`` comes from autograd; the energy's parameters get no gradient
    (the chain is detached from them) unless ``create_graph``.
    """
    _check_points(x0, "x0")
    if n_steps < 0 or step_size <= 0:
        raise ValueError(f"need n_steps >= 0 and step_size > 0, got {n_steps}, {step_size}")
    x = x0.detach()
    for _ in range(n_steps):
        x = x.requires_grad_(True)
        (grad,) = torch.autograd.grad(energy(x).sum(), x, create_graph=create_graph)
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        x = langevin_step(x, grad, step_size, noise)
        if not create_graph:
            x = x.detach()
    return x.detach()


def gaussian_energy(mean: torch.Tensor, cov: torch.Tensor) -> Callable:
    """The energy ``1/2 (x - m)^T C^{-1} (x - m)`` of ``N(m, C)`` (known ``Z``): for tests."""
    precision = torch.linalg.inv(cov)

    def energy(x):
        d = x - mean
        return 0.5 * ((d @ precision) * d).sum(-1)

    return energy


def cd_loss(model: nn.Module, x_data: torch.Tensor, x_model: torch.Tensor,
            alpha: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """The contrastive-divergence loss, whose gradient is (4.12): ``(loss, gap)``.

    ``E(x_data).mean() - E(x_model).mean()`` pushes the energy down on data and up on the
    model's own samples; ``alpha * (E_data^2 + E_model^2)`` keeps the energies near 0 (the
    density is unchanged by a constant shift, so without it they drift). ``gap`` is the
    first term, detached.
    """
    _check_points(x_data, "x_data")
    _check_points(x_model, "x_model")
    e_data, e_model = model(x_data), model(x_model.detach())
    gap = e_data.mean() - e_model.mean()
    return gap + alpha * (e_data.pow(2).mean() + e_model.pow(2).mean()), gap.detach()


class ReplayBuffer:
    """Persistent Langevin chains (Du and Mordatch, 2019).

    Each step restarts a ``reset`` share of the chains from uniform noise on
    ``[-lim, lim]^D`` and continues the others from where they stopped.
    """

    def __init__(self, n: int, dim: int, lim: float = 3.0, reset: float = 0.05,
                 generator: torch.Generator | None = None, device=None):
        self.lim, self.reset, self.generator = lim, reset, generator
        self.x = self._noise(n, dim, device)

    def _noise(self, n, dim, device):
        u = torch.rand(n, dim, generator=self.generator, device=device)
        return (2 * u - 1) * self.lim

    def draw(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(0, len(self.x), (k,), generator=self.generator,
                            device=self.x.device)
        x = self.x[idx].clone()
        fresh = torch.rand(k, generator=self.generator, device=x.device) < self.reset
        x[fresh] = self._noise(int(fresh.sum()), x.shape[1], x.device)
        return x, idx

    def store(self, idx: torch.Tensor, x: torch.Tensor) -> None:
        self.x[idx] = x.detach()


def make_cd_step(model: nn.Module, buffer: ReplayBuffer, n_steps: int = 20,
                 step_size: float = 0.01, alpha: float = 0.1,
                 generator: torch.Generator | None = None):
    """A training step for :func:`genmodels_course.train.fit`: short-run Langevin from the
    replay buffer gives ``x_model``, then :func:`cd_loss`. Logs the energy gap."""

    def step(batch):
        (x_data,) = batch
        x0, idx = buffer.draw(x_data.shape[0])
        x_model = langevin(model, x0, n_steps, step_size, generator=generator)
        buffer.store(idx, x_model)
        loss, gap = cd_loss(model, x_data, x_model, alpha)
        return loss, {"gap": gap}

    return step
