"""Cases for chapter 8's CLIP exercises: the symmetric contrastive loss and zero-shot logits."""
from __future__ import annotations

import math

import torch

from .. import clip
from . import Case, register


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _loss_cases():
    g = _gen(0)
    a, b = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    aligned = torch.randn(4, 8, generator=g)
    return [
        Case(args=(a, b, torch.tensor(math.log(1 / 0.07))), note="random pairs, tau = 0.07"),
        Case(args=(a * 3.0, b * 0.5, torch.tensor(0.0)),
             note="embeddings of any length (normalise them), tau = 1"),
        Case(args=(aligned, aligned + 0.1 * torch.randn(4, 8, generator=g), torch.tensor(2.0)),
             note="nearly aligned pairs"),
        Case(args=(torch.randn(1, 3, generator=g), torch.randn(1, 3, generator=g), torch.tensor(1.0)),
             note="a batch of one: the loss is 0"),
        Case(args=(a[:5, :3], torch.randn(5, 3, generator=g), torch.tensor(3.5)),
             note="the two directions differ"),
    ]


def _zero_shot_cases():
    g = _gen(1)
    return [
        Case(args=(torch.randn(7, 4, generator=g), torch.randn(3, 4, generator=g)),
             note="one prompt per class"),
        Case(args=(torch.randn(5, 6, generator=g) * 4, torch.randn(4, 3, 6, generator=g)),
             note="three wordings per class (normalise, average, normalise)"),
        Case(args=(torch.randn(2, 4, generator=g), torch.randn(5, 2, 4, generator=g) * 0.1),
             note="short prompt vectors"),
    ]


register(
    "clip.clip_loss", reference=clip.clip_loss, cases=_loss_cases, grad=True, atol=1e-5, rtol=1e-5,
    hint="Normalise both embeddings (F.normalize(..., dim=-1)), logits = logit_scale.exp() * I @ T.T, "
         "then the mean of F.cross_entropy(logits, arange(B)) and F.cross_entropy(logits.T, arange(B)).",
)
register(
    "clip.zero_shot_logits", reference=clip.zero_shot_logits, cases=_zero_shot_cases, grad=True,
    atol=1e-5, rtol=1e-5,
    hint="Cosine similarities: normalise the images and the prompts; for (C, K, D) prompts normalise, "
         "average over K, normalise again; then image_emb @ prompts.T, shape (N, C).",
)
