"""Denoising diffusion (chapter 7): noise schedules, the forward process, the reverse
posterior, epsilon prediction, and the DDPM and DDIM samplers.

The noise schedule is kept apart from the network: a :class:`NoiseSchedule` holds the
fixed numbers (betas, alphas, alpha-bar, posterior coefficients), and every function here
takes the schedule as an argument. The denoiser is any ``model(x_t, t) -> eps_hat`` with
``t`` an int64 tensor of shape ``(B,)``.

Indexing. The paper counts steps ``t = 1..T``; the code counts ``t = 0..T-1`` (as
``diffusers`` does), so the code's index ``t`` is the paper's step ``t + 1``. With that
shift ``schedule.alphas_cumprod[t]`` is the paper's bar-alpha_{t+1} and
``schedule.alphas_cumprod_prev[0] = 1`` stands for bar-alpha_0 = 1 (the clean image).

Equations (chapter 7):

* (7.1)  q(x_t | x_{t-1}) = N(sqrt(alpha_t) x_{t-1}, beta_t I),  alpha_t = 1 - beta_t
* (7.2)  q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I),    abar_t = prod_{s<=t} alpha_s
* (7.5)  q(x_{t-1} | x_t, x_0) = N(mu_tilde, beta_tilde_t I) with
         mu_tilde = sqrt(abar_{t-1}) beta_t / (1 - abar_t) x_0
                  + sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t) x_t,
         beta_tilde_t = (1 - abar_{t-1}) / (1 - abar_t) beta_t
* (7.6)  x_0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)
* (7.8)  L_simple = E || eps - eps_theta(x_t, t) ||^2
* (7.9)  DDIM: x_{t'} = sqrt(abar_t') x0_hat + sqrt(1 - abar_t' - sigma^2) eps_hat + sigma z
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

__all__ = ["NoiseSchedule", "linear_betas", "cosine_betas", "q_sample", "q_step", "predict_x0",
           "posterior_mean_variance", "normal_kl", "vlb_weights", "eps_loss", "ddpm_step", "ddim_step",
           "ddim_timesteps", "ddpm_sample", "ddim_sample"]


# --------------------------------------------------------------------------- schedules
def linear_betas(T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> Tensor:
    """Ho et al.'s linear schedule: ``T`` betas evenly spaced from ``beta_start`` to
    ``beta_end`` (float64, shape ``(T,)``)."""
    if int(T) != T or T < 1:
        raise ValueError(f"T must be a positive integer, got {T!r}")
    if not (0.0 < beta_start <= beta_end < 1.0):
        raise ValueError(f"expected 0 < beta_start <= beta_end < 1, got {beta_start}, {beta_end}")
    return torch.linspace(beta_start, beta_end, int(T), dtype=torch.float64)


def cosine_betas(T: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> Tensor:
    """Nichol and Dhariwal's cosine schedule: bar-alpha(t) = f(t)/f(0) with
    f(t) = cos^2(((t/T) + s)/(1 + s) * pi/2); beta_t = 1 - abar_t/abar_{t-1}, capped at
    ``max_beta`` so that the last steps stay finite. Float64, shape ``(T,)``."""
    if int(T) != T or T < 1:
        raise ValueError(f"T must be a positive integer, got {T!r}")
    if s < 0 or not (0.0 < max_beta < 1.0):
        raise ValueError(f"expected s >= 0 and 0 < max_beta < 1, got s={s}, max_beta={max_beta}")
    steps = torch.arange(int(T) + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    betas = 1 - f[1:] / f[:-1]
    return betas.clamp(max=max_beta)


@dataclass
class NoiseSchedule:
    """The fixed numbers of a diffusion process, derived from ``betas`` (shape ``(T,)``).

    Attributes (all shape ``(T,)``, in ``dtype``): ``betas``, ``alphas = 1 - betas``,
    ``alphas_cumprod`` (bar-alpha, eq. 7.2), ``alphas_cumprod_prev`` (bar-alpha shifted by
    one with a leading 1), ``posterior_variance`` (beta-tilde, eq. 7.5),
    ``posterior_mean_coef1`` / ``posterior_mean_coef2`` (the weights of x_0 and x_t in
    mu-tilde). Build one with :meth:`linear` or :meth:`cosine`.
    """

    betas: Tensor
    kind: str = "custom"
    alphas: Tensor = field(init=False, repr=False)
    alphas_cumprod: Tensor = field(init=False, repr=False)
    alphas_cumprod_prev: Tensor = field(init=False, repr=False)
    posterior_variance: Tensor = field(init=False, repr=False)
    posterior_mean_coef1: Tensor = field(init=False, repr=False)
    posterior_mean_coef2: Tensor = field(init=False, repr=False)

    def __post_init__(self):
        b = torch.as_tensor(self.betas)
        if b.ndim != 1 or b.numel() < 1:
            raise ValueError(f"betas must be a non-empty 1-D tensor, got shape {tuple(b.shape)}")
        if not torch.is_floating_point(b):
            raise ValueError(f"betas must be floating point, got {b.dtype}")
        if not bool(((b > 0) & (b < 1)).all()):
            raise ValueError("every beta must lie in the open interval (0, 1)")
        dtype = b.dtype
        b64 = b.double()  # derive in float64, store in the schedule's dtype
        a = 1 - b64
        abar = torch.cumprod(a, 0)
        abar_prev = torch.cat([abar.new_ones(1), abar[:-1]])
        self.betas = b
        self.alphas = a.to(dtype)
        self.alphas_cumprod = abar.to(dtype)
        self.alphas_cumprod_prev = abar_prev.to(dtype)
        self.posterior_variance = (b64 * (1 - abar_prev) / (1 - abar)).to(dtype)
        self.posterior_mean_coef1 = (b64 * abar_prev.sqrt() / (1 - abar)).to(dtype)
        self.posterior_mean_coef2 = ((1 - abar_prev) * a.sqrt() / (1 - abar)).to(dtype)

    @classmethod
    def linear(cls, T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02,
               dtype=torch.float32, device=None) -> "NoiseSchedule":
        return cls(linear_betas(T, beta_start, beta_end).to(device=device, dtype=dtype), kind="linear")

    @classmethod
    def cosine(cls, T: int = 1000, s: float = 0.008, dtype=torch.float32, device=None) -> "NoiseSchedule":
        return cls(cosine_betas(T, s).to(device=device, dtype=dtype), kind="cosine")

    @property
    def T(self) -> int:
        return self.betas.numel()

    def to(self, device=None, dtype=None) -> "NoiseSchedule":
        """A copy on ``device`` (and ``dtype``); the derived numbers are recomputed."""
        return NoiseSchedule(self.betas.to(device=device, dtype=dtype or self.betas.dtype), kind=self.kind)

    def snr(self) -> Tensor:
        """Signal-to-noise ratio abar_t / (1 - abar_t), shape ``(T,)``."""
        return self.alphas_cumprod / (1 - self.alphas_cumprod)


# --------------------------------------------------------------------------- helpers
def _check_schedule(schedule):
    if not isinstance(schedule, NoiseSchedule):
        raise ValueError(f"schedule must be a NoiseSchedule, got {type(schedule).__name__}")


def _check_x(name: str, x) -> None:
    if not isinstance(x, Tensor) or not torch.is_floating_point(x):
        raise ValueError(f"{name} must be a floating-point tensor of shape (B, ...)")
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"{name} must have a non-empty batch dimension, got shape {tuple(x.shape)}")


def _as_t(t, batch: int, T: int, device) -> Tensor:
    """``t`` as an int64 tensor of shape ``(batch,)`` with values in ``[0, T)``."""
    if isinstance(t, int):
        t = torch.full((batch,), t, dtype=torch.long, device=device)
    if not isinstance(t, Tensor) or t.dtype not in (torch.int64, torch.int32):
        raise ValueError("t must be an int or an integer tensor of shape (B,) with step indices")
    if t.ndim == 0:
        t = t.expand(batch)
    if t.shape != (batch,):
        raise ValueError(f"t must have shape ({batch},), got {tuple(t.shape)}")
    if bool((t < 0).any()) or bool((t >= T).any()):
        raise ValueError(f"t must lie in [0, {T - 1}] (the code counts steps from 0)")
    return t.long().to(device)


def _at(a: Tensor, t: Tensor, x: Tensor) -> Tensor:
    """``a[t]`` reshaped to ``(B, 1, ..., 1)`` so that it broadcasts against ``x``."""
    return a.to(x.device)[t].to(x.dtype).reshape(-1, *([1] * (x.ndim - 1)))


def _same_shape(name: str, a: Tensor, ref: Tensor, ref_name: str) -> None:
    if not isinstance(a, Tensor) or a.shape != ref.shape:
        shape = tuple(a.shape) if isinstance(a, Tensor) else type(a).__name__
        raise ValueError(f"{name} must have the shape of {ref_name} {tuple(ref.shape)}, got {shape}")


# --------------------------------------------------------------------------- forward process
def q_sample(x0: Tensor, t, noise: Tensor, schedule: NoiseSchedule) -> Tensor:
    """Draw x_t ~ q(x_t | x_0) in one go (eq. 7.2):
    ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) noise``.

    x0: ``(B, ...)``; t: int64 ``(B,)`` (or an int) in ``[0, T)``; noise: like ``x0``, from
    N(0, I). Returns a tensor shaped like ``x0``.
    """
    _check_schedule(schedule)
    _check_x("x0", x0)
    _same_shape("noise", noise, x0, "x0")
    t = _as_t(t, x0.shape[0], schedule.T, x0.device)
    abar = _at(schedule.alphas_cumprod, t, x0)
    return abar.sqrt() * x0 + (1 - abar).sqrt() * noise


def q_step(x_prev: Tensor, t, noise: Tensor, schedule: NoiseSchedule) -> Tensor:
    """One forward step x_t ~ q(x_t | x_{t-1}) (eq. 7.1):
    ``x_t = sqrt(alpha_t) x_{t-1} + sqrt(beta_t) noise``. Shapes as in :func:`q_sample`."""
    _check_schedule(schedule)
    _check_x("x_prev", x_prev)
    _same_shape("noise", noise, x_prev, "x_prev")
    t = _as_t(t, x_prev.shape[0], schedule.T, x_prev.device)
    return _at(schedule.alphas, t, x_prev).sqrt() * x_prev + _at(schedule.betas, t, x_prev).sqrt() * noise


def predict_x0(xt: Tensor, t, eps: Tensor, schedule: NoiseSchedule) -> Tensor:
    """Invert eq. 7.2 for x_0 given a noise estimate (eq. 7.6):
    ``x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)``."""
    _check_schedule(schedule)
    _check_x("xt", xt)
    _same_shape("eps", eps, xt, "xt")
    t = _as_t(t, xt.shape[0], schedule.T, xt.device)
    abar = _at(schedule.alphas_cumprod, t, xt)
    return (xt - (1 - abar).sqrt() * eps) / abar.sqrt()


def posterior_mean_variance(x0: Tensor, xt: Tensor, t, schedule: NoiseSchedule):
    """Mean and variance of q(x_{t-1} | x_t, x_0) (eq. 7.5).

    x0, xt: ``(B, ...)``; t: int64 ``(B,)``. Returns ``(mean, variance)``: ``mean`` shaped
    like ``xt``; ``variance`` = beta-tilde_t shaped ``(B, 1, ..., 1)`` (it is the same for
    every coordinate). At ``t = 0`` the variance is 0 and the mean is ``x0``.
    """
    _check_schedule(schedule)
    _check_x("xt", xt)
    _same_shape("x0", x0, xt, "xt")
    t = _as_t(t, xt.shape[0], schedule.T, xt.device)
    mean = _at(schedule.posterior_mean_coef1, t, xt) * x0 + _at(schedule.posterior_mean_coef2, t, xt) * xt
    return mean, _at(schedule.posterior_variance, t, xt)


# --------------------------------------------------------------------------- training
def normal_kl(mean1: Tensor, var1: Tensor, mean2: Tensor, var2: Tensor) -> Tensor:
    """KL(N(mean1, var1) || N(mean2, var2)) per coordinate (broadcasting), in nats."""
    return 0.5 * (torch.log(var2 / var1) + (var1 + (mean1 - mean2) ** 2) / var2 - 1)


def vlb_weights(schedule: NoiseSchedule, variance: str = "posterior") -> Tensor:
    """The weight lambda_t in L_{t-1} = lambda_t E||eps - eps_theta||^2 (eq. 7.7), per
    coordinate, for a reverse process with fixed variance sigma_t^2 (``"posterior"``:
    beta-tilde_t, ``"beta"``: beta_t):
    ``lambda_t = beta_t^2 / (2 sigma_t^2 alpha_t (1 - abar_t))``. Shape ``(T,)``.
    Entry 0 is the decoder term's, where the KL form does not apply; it is set to
    ``lambda`` of index 1 so that the vector stays finite.
    L_simple (eq. 7.8) drops these weights: they blow up at small t and would make
    training focus on imperceptible noise levels.
    """
    _check_schedule(schedule)
    sigma2 = _variance(schedule, variance)
    lam = schedule.betas ** 2 / (2 * sigma2 * schedule.alphas * (1 - schedule.alphas_cumprod))
    if schedule.T > 1:
        lam = torch.cat([lam[1:2], lam[1:]])
    return lam


def _variance(schedule: NoiseSchedule, variance: str) -> Tensor:
    if variance == "posterior":
        return schedule.posterior_variance
    if variance == "beta":
        return schedule.betas
    raise ValueError(f"variance must be 'posterior' (beta-tilde) or 'beta', got {variance!r}")


def eps_loss(model, x0: Tensor, schedule: NoiseSchedule, generator: torch.Generator | None = None,
             t: Tensor | None = None, noise: Tensor | None = None,
             min_snr_gamma: float | None = None) -> Tensor:
    """The simple loss of eq. 7.8: draw t ~ U{0..T-1} and eps ~ N(0, I), form x_t by
    :func:`q_sample`, and return mean((eps - model(x_t, t))^2) (a scalar).

    x0: ``(B, ...)`` in the model's data range (``[-1, 1]`` for images). ``t`` and
    ``noise`` may be passed for a deterministic loss; otherwise they are drawn with
    ``generator`` (on ``x0``'s device). ``min_snr_gamma``: weight each sample's error by
    ``min(SNR_t, gamma) / SNR_t`` (Min-SNR-gamma, Hang et al. 2023): steps with little
    noise count less. ``None`` (default): L_simple.
    """
    _check_schedule(schedule)
    _check_x("x0", x0)
    if min_snr_gamma is not None and not min_snr_gamma > 0:
        raise ValueError(f"min_snr_gamma must be a positive number (5 in the paper) or None, got {min_snr_gamma}")
    B = x0.shape[0]
    if t is None:
        t = torch.randint(0, schedule.T, (B,), device=x0.device, generator=generator)
    if noise is None:
        noise = torch.randn(x0.shape, device=x0.device, dtype=x0.dtype, generator=generator)
    xt = q_sample(x0, t, noise, schedule)
    eps_hat = model(xt, t)
    if eps_hat.shape != x0.shape:
        raise ValueError(f"model(x_t, t) must return the shape of x_t {tuple(x0.shape)}, got {tuple(eps_hat.shape)}")
    err = (eps_hat.float() - noise.float()) ** 2
    if min_snr_gamma is None:  # L_simple
        return torch.mean(err)
    snr = schedule.snr().to(x0.device)[_as_t(t, B, schedule.T, x0.device)].float()
    return torch.mean(err.reshape(B, -1).mean(1) * snr.clamp(max=float(min_snr_gamma)) / snr)


# --------------------------------------------------------------------------- reverse steps
def ddpm_step(eps: Tensor, xt: Tensor, t, noise: Tensor | None, schedule: NoiseSchedule,
              variance: str = "posterior", clip: float | None = None) -> Tensor:
    """One ancestral step x_{t-1} ~ p_theta(x_{t-1} | x_t) (Ho et al., Algorithm 2).

    The predicted noise ``eps`` gives x0_hat (eq. 7.6); the step's mean is the posterior
    mean mu-tilde(x0_hat, x_t) (eq. 7.5), which without clipping equals
    ``(x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(alpha_t)``; its variance is beta-tilde_t
    (``variance="posterior"``) or beta_t (``"beta"``). At ``t = 0`` no noise is added.

    eps, xt, noise: ``(B, ...)`` (``noise`` may be None only where every t is 0);
    t: int64 ``(B,)``; clip: if given, x0_hat is clamped to ``[-clip, clip]``.
    Returns x_{t-1} shaped like ``xt``.
    """
    _check_schedule(schedule)
    _check_x("xt", xt)
    _same_shape("eps", eps, xt, "xt")
    t = _as_t(t, xt.shape[0], schedule.T, xt.device)
    x0_hat = predict_x0(xt, t, eps, schedule)
    if clip is not None:
        x0_hat = x0_hat.clamp(-clip, clip)
    mean, _ = posterior_mean_variance(x0_hat, xt, t, schedule)
    if noise is None:
        if bool((t > 0).any()):
            raise ValueError("noise is required for steps with t > 0")
        return mean
    _same_shape("noise", noise, xt, "xt")
    var = _at(_variance(schedule, variance), t, xt)
    nonzero = (t > 0).to(xt.dtype).reshape(-1, *([1] * (xt.ndim - 1)))
    return mean + nonzero * var.sqrt() * noise


def ddim_step(eps: Tensor, xt: Tensor, t, t_prev, schedule: NoiseSchedule, eta: float = 0.0,
              noise: Tensor | None = None, clip: float | None = None) -> Tensor:
    """One DDIM step from step ``t`` to an earlier step ``t_prev`` (Song et al. 2021, eq. 12;
    eq. 7.9 here). ``t_prev = -1`` means the clean end (bar-alpha = 1).

    ``sigma = eta * sqrt((1 - abar_prev)/(1 - abar_t)) * sqrt(1 - abar_t/abar_prev)``;
    eta = 0 is deterministic (DDIM), eta = 1 with ``t_prev = t - 1`` is exactly DDPM with
    variance beta-tilde. ``noise`` is needed when ``eta > 0``.
    """
    _check_schedule(schedule)
    _check_x("xt", xt)
    _same_shape("eps", eps, xt, "xt")
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    B = xt.shape[0]
    t = _as_t(t, B, schedule.T, xt.device)
    if isinstance(t_prev, int):
        t_prev = torch.full((B,), t_prev, dtype=torch.long, device=xt.device)
    if not isinstance(t_prev, Tensor) or t_prev.shape != (B,) or bool((t_prev >= t).any()) or bool((t_prev < -1).any()):
        raise ValueError("t_prev must be an int or int64 (B,) tensor with -1 <= t_prev < t")
    abar = _at(schedule.alphas_cumprod, t, xt)
    abar_all = torch.cat([schedule.alphas_cumprod.new_ones(1), schedule.alphas_cumprod])
    abar_prev = _at(abar_all, t_prev.long().to(xt.device) + 1, xt)
    x0_hat = predict_x0(xt, t, eps, schedule)
    if clip is not None:
        x0_hat = x0_hat.clamp(-clip, clip)
        eps = (xt - abar.sqrt() * x0_hat) / (1 - abar).sqrt()  # keep eps consistent with the clamped x0
    sigma = eta * ((1 - abar_prev) / (1 - abar) * (1 - abar / abar_prev)).clamp(min=0).sqrt()
    x_prev = abar_prev.sqrt() * x0_hat + (1 - abar_prev - sigma ** 2).clamp(min=0).sqrt() * eps
    if eta > 0:
        if noise is None:
            raise ValueError("noise is required when eta > 0")
        _same_shape("noise", noise, xt, "xt")
        x_prev = x_prev + sigma * noise
    return x_prev


def ddim_timesteps(T: int, steps: int) -> Tensor:
    """``steps`` step indices evenly spread over ``[0, T-1]`` (ascending, int64, both ends
    included). DDIM visits them from the last to the first."""
    if not (1 <= steps <= T):
        raise ValueError(f"steps must lie in [1, T={T}], got {steps}")
    if steps == 1:
        return torch.tensor([T - 1])
    return torch.linspace(0, T - 1, steps, dtype=torch.float64).round().long().unique()


# --------------------------------------------------------------------------- samplers
@torch.no_grad()
def ddpm_sample(model, shape, schedule: NoiseSchedule, generator: torch.Generator | None = None,
                device=None, variance: str = "posterior", clip: float | None = None,
                trajectory_every: int = 0, progress: bool = False):
    """Ancestral sampling over all T steps: x_T ~ N(0, I), then :func:`ddpm_step` with the
    model's ``eps`` for t = T-1, ..., 0. Returns ``x_0`` of ``shape``, or
    ``(x_0, trajectory)`` when ``trajectory_every > 0`` (a list of ``(t, x_t)`` pairs kept
    every ``trajectory_every`` steps, on the CPU)."""
    device = device or schedule.betas.device
    x = torch.randn(shape, device=device, generator=generator)
    traj = []
    steps = range(schedule.T - 1, -1, -1)
    if progress:
        from .runtime import progress_bar
        steps = progress_bar(steps, desc="DDPM sampling", leave=False)
    for i in steps:
        if trajectory_every and (i + 1) % trajectory_every == 0:
            traj.append((i + 1, x.detach().cpu()))
        t = torch.full((shape[0],), i, device=device, dtype=torch.long)
        noise = torch.randn(shape, device=device, generator=generator) if i > 0 else None
        x = ddpm_step(model(x, t).float(), x, t, noise, schedule, variance=variance, clip=clip)
    if trajectory_every:
        traj.append((0, x.detach().cpu()))
        return x, traj
    return x


@torch.no_grad()
def ddim_sample(model, shape, schedule: NoiseSchedule, steps: int = 50, eta: float = 0.0,
                generator: torch.Generator | None = None, device=None, clip: float | None = None,
                x_T: Tensor | None = None, return_trajectory: bool = False):
    """DDIM sampling with ``steps`` model calls (Song et al. 2021). ``eta = 0`` is
    deterministic given x_T (pass ``x_T`` to reuse a starting noise). Returns ``x_0`` or
    ``(x_0, trajectory)`` with one ``(t, x_t)`` pair per step (on the CPU)."""
    device = device or schedule.betas.device
    ts = ddim_timesteps(schedule.T, steps).tolist()
    x = torch.randn(shape, device=device, generator=generator) if x_T is None else x_T.to(device)
    traj = [(schedule.T, x.detach().cpu())] if return_trajectory else None
    for k in range(len(ts) - 1, -1, -1):
        t = torch.full((shape[0],), ts[k], device=device, dtype=torch.long)
        t_prev = ts[k - 1] if k > 0 else -1
        noise = torch.randn(shape, device=device, generator=generator) if eta > 0 else None
        x = ddim_step(model(x, t).float(), x, t, t_prev, schedule, eta=eta, noise=noise, clip=clip)
        if return_trajectory:
            traj.append((t_prev + 1, x.detach().cpu()))
    return (x, traj) if return_trajectory else x
