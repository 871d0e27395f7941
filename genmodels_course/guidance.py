"""Conditional diffusion and classifier-free guidance (chapter 8).

A conditional denoiser ``eps_theta(x_t, t, c)`` is told the condition ``c`` (here a CLIP
text embedding) through FiLM: every residual block scales and shifts its feature maps by
amounts computed from the time and condition embeddings (Perez et al. 2018). During
training the condition is replaced by a learned "null" embedding for a fraction
``p_uncond`` of the examples (eq. 8.5), so the same network also learns the unconditional
``eps_theta(x_t, t, null)``. Sampling combines the two (eq. 8.6)::

    eps = eps_uncond + w (eps_cond - eps_uncond)

``w = 0`` is the unconditional model, ``w = 1`` the conditional one, ``w > 1`` pushes
past it towards samples the condition explains best (Ho and Salimans 2022).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from . import diffusion as D
from .cross_attention import CrossAttention
from .nn import SinusoidalTimeEmbedding, UNet

__all__ = ["drop_condition", "cfg_combine", "FiLMResBlock", "CondDenoiser", "CrossAttnDenoiser",
           "CondUNet", "token_condition", "guided_eps",
           "guided_sample", "make_cfg_step", "prompt_agreement", "feature_spread"]


def drop_condition(c: Tensor, null: Tensor, u: Tensor, p: float) -> Tensor:
    """Condition dropout (eq. 8.5): row ``i`` of ``c`` becomes ``null`` where ``u[i] < p``.

    c: ``(B, D)`` condition embeddings; null: ``(D,)`` the learned null embedding;
    u: ``(B,)`` uniform draws in ``[0, 1)`` (passed in, so the step is reproducible);
    p: the probability of dropping, in ``[0, 1]``. Returns ``(B, D)``; gradients flow to
    ``c`` on kept rows and to ``null`` on dropped ones.
    """
    if not isinstance(c, Tensor) or c.ndim != 2 or c.shape[0] == 0:
        raise ValueError("c must be a non-empty tensor (B, D) of condition embeddings")
    if not isinstance(null, Tensor) or null.shape != c.shape[1:]:
        raise ValueError(f"null must have shape ({c.shape[1]},), got {getattr(null, 'shape', null)}")
    if not isinstance(u, Tensor) or u.shape != (c.shape[0],):
        raise ValueError(f"u must have shape ({c.shape[0]},) (one uniform draw per row)")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must lie in [0, 1], got {p}")
    drop = (u < p).to(c.dtype).unsqueeze(1)
    return (1 - drop) * c + drop * null.unsqueeze(0)


def cfg_combine(eps_uncond: Tensor, eps_cond: Tensor, w) -> Tensor:
    """The classifier-free guidance combination (eq. 8.6):
    ``eps_uncond + w (eps_cond - eps_uncond)``. ``w``: a number or a tensor that
    broadcasts (one scale per sample: shape ``(B, 1, ..., 1)``)."""
    if not isinstance(eps_uncond, Tensor) or not isinstance(eps_cond, Tensor) \
            or eps_uncond.shape != eps_cond.shape:
        raise ValueError("eps_uncond and eps_cond must be tensors of the same shape")
    return eps_uncond + w * (eps_cond - eps_uncond)


class FiLMResBlock(nn.Module):
    """GroupNorm-SiLU-conv, then FiLM: ``h * (1 + gamma) + beta`` with ``(gamma, beta)``
    a linear map of the embedding, then SiLU-conv, plus the input (residual). The second
    convolution starts at zero, so the block starts as the identity."""

    def __init__(self, channels: int, emb_dim: int, groups: int = 8):
        super().__init__()
        self.norm1 = nn.GroupNorm(math.gcd(groups, channels), channels)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.film = nn.Linear(emb_dim, 2 * channels)
        self.norm2 = nn.GroupNorm(math.gcd(groups, channels), channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, h: Tensor, emb: Tensor) -> Tensor:
        a = self.conv1(F.silu(self.norm1(h)))
        gamma, beta = self.film(F.silu(emb))[:, :, None, None].chunk(2, dim=1)
        a = self.norm2(a) * (1 + gamma) + beta
        return h + self.conv2(F.silu(a))


class CondDenoiser(nn.Module):
    """``eps_theta(x_t, t, c)``: a stack of FiLM residual blocks at one resolution (the 7x7
    latents of the chapter; any size works), conditioned on ``t`` (sinusoidal embedding)
    and on ``c`` ``(B, cond_dim)``. ``c=None`` means the null condition (unconditional).

    x: ``(B, in_channels, H, W)``; t: int64 ``(B,)``. Output: like ``x``.
    """

    def __init__(self, in_channels: int = 4, width: int = 64, blocks: int = 4,
                 cond_dim: int = 64, emb_dim: int = 128):
        super().__init__()
        if min(in_channels, width, blocks, cond_dim, emb_dim) < 1:
            raise ValueError("all sizes must be positive integers")
        self.in_channels, self.cond_dim = in_channels, cond_dim
        self.time = nn.Sequential(SinusoidalTimeEmbedding(width), nn.Linear(width, emb_dim),
                                  nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.cond = nn.Sequential(nn.Linear(cond_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.null = nn.Parameter(torch.zeros(cond_dim))  # the learned "no caption"
        self.stem = nn.Conv2d(in_channels, width, 3, padding=1)
        self.blocks = nn.ModuleList(FiLMResBlock(width, emb_dim) for _ in range(blocks))
        self.out = nn.Sequential(nn.GroupNorm(math.gcd(8, width), width), nn.SiLU(),
                                 nn.Conv2d(width, in_channels, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: Tensor, t: Tensor, c: Tensor | None = None) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must have shape (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        if not isinstance(t, Tensor) or t.shape != (x.shape[0],):
            raise ValueError(f"t must be an int64 tensor of shape ({x.shape[0]},)")
        if c is None:
            c = self.null.expand(x.shape[0], -1)
        if c.shape != (x.shape[0], self.cond_dim):
            raise ValueError(f"c must have shape ({x.shape[0]}, {self.cond_dim}), got {tuple(c.shape)}")
        # CLIP's unit vectors have entries of about 1/sqrt(D): rescale them to unit
        # variance, so that the caption weighs as much as the time from the start
        emb = self.time(t) + self.cond(c.to(x.dtype) * math.sqrt(self.cond_dim))
        h = self.stem(x)
        for block in self.blocks:
            h = block(h, emb)
        return self.out(h)


def token_condition(text_tower, tokens: Tensor) -> Tensor:
    """The condition of a :class:`CrossAttnDenoiser`: the text tower's per-token outputs
    ``(B, L, W)`` (``TextTower.token_features``) with the padding positions set to zero,
    flattened to ``(B, L * W)``, so that it passes through condition dropout and guidance
    exactly as a pooled embedding does. tokens: int64 ``(B, L)``."""
    h, pad = text_tower.token_features(tokens)
    return h.masked_fill(pad.unsqueeze(-1), 0.0).flatten(1)


class CrossAttnDenoiser(CondDenoiser):
    """A :class:`CondDenoiser` that also reads the caption word by word: after every FiLM
    block, a :class:`~genmodels_course.cross_attention.CrossAttention` layer lets each
    latent position attend over the caption's token features (Stable Diffusion's way of
    conditioning; Rombach et al. 2022). The FiLM path gets the mean of the token features.

    c: ``(B, context_len * context_dim)`` from :func:`token_condition` (rows of zeros are
    padding); ``None`` is the learned null caption, ``context_len`` learned tokens.
    """

    def __init__(self, in_channels: int = 4, width: int = 64, blocks: int = 4,
                 context_dim: int = 64, context_len: int = 12, emb_dim: int = 128,
                 heads: int = 4, head_dim: int = 16):
        if min(context_dim, context_len) < 1:
            raise ValueError("context_dim and context_len must be positive integers")
        super().__init__(in_channels, width, blocks, context_len * context_dim, emb_dim)
        self.context_dim, self.context_len = context_dim, context_len
        self.cond = nn.Sequential(nn.Linear(context_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        # the null caption must not read as padding (all-zero tokens): start it small, not 0
        self.null = nn.Parameter(torch.randn(context_len * context_dim) * 0.02)
        self.attn = nn.ModuleList(CrossAttention(width, context_dim, heads, head_dim)
                                  for _ in range(blocks))

    def context(self, c: Tensor) -> tuple[Tensor, Tensor]:
        """``c`` ``(B, L * W)`` -> token features ``(B, L, W)`` and padding mask ``(B, L)``."""
        ctx = c.view(len(c), self.context_len, self.context_dim)
        pad = (ctx == 0).all(-1)
        if bool(pad.all(-1).any()):
            raise ValueError("a caption condition is all padding (zeros): build c with "
                             "token_condition, or pass None for the null caption")
        return ctx, pad

    def _run(self, x: Tensor, t: Tensor, c: Tensor | None, keep_weights: bool):
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must have shape (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        if not isinstance(t, Tensor) or t.shape != (x.shape[0],):
            raise ValueError(f"t must be an int64 tensor of shape ({x.shape[0]},)")
        if c is None:
            c = self.null.expand(x.shape[0], -1)
        if c.shape != (x.shape[0], self.cond_dim):
            raise ValueError(f"c must have shape ({x.shape[0]}, {self.cond_dim}) = (B, context_len * "
                             f"context_dim), got {tuple(c.shape)}")
        ctx, pad = self.context(c.to(x.dtype))
        keep = (~pad).unsqueeze(-1).to(x.dtype)
        pooled = (ctx * keep).sum(1) / keep.sum(1)
        emb = self.time(t) + self.cond(pooled)
        h, weights = self.stem(x), []
        for block, attn in zip(self.blocks, self.attn):
            if keep_weights:
                h, a = attn(block(h, emb), ctx, pad, return_weights=True)
                weights.append(a)
            else:
                h = attn(block(h, emb), ctx, pad)
        return self.out(h), weights

    def forward(self, x: Tensor, t: Tensor, c: Tensor | None = None) -> Tensor:
        return self._run(x, t, c, keep_weights=False)[0]

    def attention_maps(self, x: Tensor, t: Tensor, c: Tensor | None = None) -> list[Tensor]:
        """The cross-attention weights of every layer in one call of the network: a list of
        ``blocks`` tensors ``(B, heads, H * W, L)`` (zero on padding tokens)."""
        return self._run(x, t, c, keep_weights=True)[1]


class CondUNet(nn.Module):
    """Text-to-image in pixel space: chapter 7's :class:`~genmodels_course.nn.UNet` with
    the caption embedding ``c`` ``(B, cond_dim)`` mapped by an MLP and added to its time
    embedding, which every residual block turns into a per-channel shift. ``c=None`` is
    the learned null caption, as in :class:`CondDenoiser`, so guidance works unchanged.

    x: ``(B, in_channels, H, W)``, H and W divisible by ``2 ** (len(channels) - 1)``."""

    def __init__(self, in_channels: int = 1, channels=(16, 32, 32), t_dim: int = 64,
                 cond_dim: int = 64, blocks: int = 1):
        super().__init__()
        if cond_dim < 1:
            raise ValueError("cond_dim must be a positive integer")
        self.in_channels, self.cond_dim = in_channels, cond_dim
        self.unet = UNet(in_channels, channels, blocks=blocks, t_dim=t_dim)
        self.cond = nn.Sequential(nn.Linear(cond_dim, t_dim), nn.SiLU(), nn.Linear(t_dim, t_dim))
        self.null = nn.Parameter(torch.zeros(cond_dim))

    def forward(self, x: Tensor, t: Tensor, c: Tensor | None = None) -> Tensor:
        if c is None:
            c = self.null.expand(x.shape[0], -1)
        if not isinstance(c, Tensor) or c.shape != (x.shape[0], self.cond_dim):
            raise ValueError(f"c must have shape ({x.shape[0]}, {self.cond_dim}), got "
                             f"{tuple(getattr(c, 'shape', ()))}")
        # unit CLIP vectors rescaled to unit variance, as in CondDenoiser
        return self.unet(x, t, extra=self.cond(c.to(x.dtype) * math.sqrt(self.cond_dim)))


def guided_eps(model: CondDenoiser, x: Tensor, t: Tensor, c: Tensor, w: float) -> Tensor:
    """The guided noise estimate (eq. 8.6): one batched call of ``model`` on the
    conditional and the null inputs, combined with :func:`cfg_combine`. ``w = 1`` needs
    only the conditional call, ``w = 0`` only the unconditional one."""
    if w == 1:
        return model(x, t, c)
    if w == 0:
        return model(x, t, None)
    null = model.null.expand(len(x), -1)
    both = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([c, null]))
    eps_cond, eps_uncond = both.chunk(2)
    return cfg_combine(eps_uncond, eps_cond, w)


@torch.no_grad()
def guided_sample(model: CondDenoiser, c: Tensor, shape, schedule: D.NoiseSchedule, w: float = 3.0,
                  steps: int = 50, generator: torch.Generator | None = None,
                  x_T: Tensor | None = None) -> Tensor:
    """DDIM sampling (eq. 7.9, eta = 0) with the guided estimate of :func:`guided_eps`.

    c: ``(B, cond_dim)`` (one condition per sample); shape: ``(B, C, H, W)``. Returns x_0."""
    if c.ndim != 2 or c.shape[0] != shape[0]:
        raise ValueError(f"c must have shape ({shape[0]}, cond_dim), one row per sample")
    if w < 0:
        raise ValueError(f"the guidance scale w must be >= 0, got {w}")
    was_training = model.training
    model.eval()
    x = D.ddim_sample(lambda x, t: guided_eps(model, x, t, c, w), shape, schedule, steps=steps,
                      generator=generator, device=c.device, x_T=x_T)
    model.train(was_training)
    return x


def make_cfg_step(model: CondDenoiser, schedule: D.NoiseSchedule, p_uncond: float = 0.1,
                  generator: torch.Generator | None = None, drop=None):
    """A training step for ``gm.train.fit`` on batches ``(z0, cond)``: ``z0`` the clean
    latents ``(B, C, H, W)``, ``cond`` the text embeddings of their K captions
    ``(B, K, D)``. One caption each at random, condition dropout (8.5) with probability
    ``p_uncond`` by ``drop(c, null, u, p)`` (default :func:`drop_condition`; pass your own
    to train with it), then the simple loss (7.8) on ``eps_theta(z_t, t, c)``."""
    drop = drop_condition if drop is None else drop

    def step(batch):
        z0, cond = batch
        B = len(z0)
        k = torch.randint(0, cond.shape[1], (B,), device=z0.device, generator=generator)
        c = cond[torch.arange(B, device=z0.device), k]
        u = torch.rand(B, device=z0.device, generator=generator)
        c = drop(c, model.null, u, p_uncond)  # (8.5)
        return D.eps_loss(lambda zt, t: model(zt, t, c), z0, schedule, generator=generator)

    return step


# --------------------------------------------------------------------------- measuring
@torch.no_grad()
def prompt_agreement(x: Tensor, labels: Tensor, dataset: str = "mnist") -> dict:
    """How well samples match their prompted class, by the package's classifier
    (``gm.metrics.feature_net``): ``{"accuracy": share whose top class is the prompted one,
    "confidence": mean probability of the prompted class}``. x: ``(N, 1, 28, 28)`` in [0, 1]."""
    from .metrics import class_probabilities

    if len(x) == 0 or len(x) != len(labels):
        raise ValueError("need as many labels as images, and at least one")
    probs = class_probabilities(x, dataset)
    labels = labels.to(probs.device)
    return {"accuracy": float((probs.argmax(1) == labels).float().mean()),
            "confidence": float(probs.gather(1, labels[:, None]).mean())}


@torch.no_grad()
def feature_spread(x: Tensor, labels: Tensor, dataset: str = "mnist") -> float:
    """A diversity number: the mean, over prompted classes, of the root mean squared
    distance of the samples' classifier features to their class mean. Falls towards 0
    when every sample of a prompt looks the same."""
    from .metrics import features

    f = features(x, dataset)
    labels = labels.to(f.device)
    spreads = [((f[labels == k] - f[labels == k].mean(0)) ** 2).sum(1).mean().sqrt()
               for k in labels.unique() if int((labels == k).sum()) > 1]
    if not spreads:
        raise ValueError("feature_spread needs at least two samples of one class")
    return float(torch.stack(spreads).mean())
