"""Cases for chapter 6's exercises: the U-Net skip connection, the Pix2Pix generator loss,
the cycle-consistency loss and the identity loss.

The functions are reached as attributes of the ``translation`` module, so they keep
working wherever it re-exports them from.
"""
from __future__ import annotations

import torch
from torch import nn

from .. import runtime, translation
from . import Case, register


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _skip_cases():
    g = _gen(60)
    return [
        Case(args=(torch.randn(2, 4, 8, 8, generator=g), torch.randn(2, 4, 8, 8, generator=g)),
             note="the same number of channels on both sides"),
        Case(args=(torch.randn(3, 6, 4, 4, generator=g), torch.randn(3, 2, 4, 4, generator=g)),
             note="decoder 6 channels, encoder 2: the result has 8, decoder first"),
        Case(args=(torch.randn(1, 1, 5, 7, generator=g), torch.randn(1, 3, 5, 7, generator=g)),
             note="one image, not square"),
    ]


def _tanh_images(g, *shape):
    return torch.tanh(2 * torch.randn(*shape, generator=g))


def _p2p_cases():
    g = _gen(61)
    return [
        Case(args=(torch.randn(4, 1, 6, 6, generator=g), _tanh_images(g, 4, 3, 16, 16), _tanh_images(g, 4, 3, 16, 16)),
             kwargs={"lam": 100.0}, note="a PatchGAN grid of 6x6 logits, lambda = 100"),
        Case(args=(torch.randn(2, 1, 3, 3, generator=g), _tanh_images(g, 2, 1, 8, 8), _tanh_images(g, 2, 1, 8, 8)),
             kwargs={"lam": 0.0}, note="lambda = 0: the cGAN term alone"),
        Case(args=(torch.tensor([[[[-300.0, 80.0]]]]), _tanh_images(g, 1, 3, 4, 4), _tanh_images(g, 1, 3, 4, 4)),
             kwargs={"lam": 10.0}, note="huge logits: use softplus, never log(sigmoid)"),
    ]


def _cycle_cases():
    g = _gen(62)
    x, y = _tanh_images(g, 4, 1, 8, 8), _tanh_images(g, 6, 1, 8, 8)
    return [
        Case(args=(x, _tanh_images(g, 4, 1, 8, 8), y, _tanh_images(g, 6, 1, 8, 8)),
             note="batches of different sizes in X and Y"),
        Case(args=(_tanh_images(g, 2, 3, 4, 4), _tanh_images(g, 2, 3, 4, 4), _tanh_images(g, 2, 1, 4, 4),
                   _tanh_images(g, 2, 1, 4, 4)), note="colour images in X, grey images in Y"),
        # a perfect cycle sits on the kink of |.|: compare values only
        Case(args=(x, x.clone(), y, y.clone()), note="a perfect cycle: the loss is 0", grad=False),
    ]


def _identity_cases():
    g = _gen(63)
    with runtime.seeded(63):  # fixed little translators; the learner's random stream is left alone
        G = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Tanh(), nn.Conv2d(4, 1, 3, padding=1), nn.Tanh())
        F = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 1, 1), nn.Tanh())
        G3 = nn.Sequential(nn.Conv2d(3, 3, 1), nn.Tanh())
        F3 = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.Tanh())
    return [
        Case(args=(G, F, _tanh_images(g, 3, 1, 8, 8), _tanh_images(g, 5, 1, 8, 8)),
             note="two different small networks; batches of different sizes"),
        Case(args=(G3, F3, _tanh_images(g, 2, 3, 6, 6), _tanh_images(g, 2, 3, 6, 6)), note="colour images"),
        Case(args=(nn.Identity(), nn.Identity(), _tanh_images(g, 2, 1, 4, 4), _tanh_images(g, 2, 1, 4, 4)),
             note="identity networks: the loss is 0", grad=False),
    ]


register(
    "translation.skip_concat", reference=translation.skip_concat, cases=_skip_cases, grad=True,
    hint=("Concatenate along the channel dimension (dim=1), the decoder's features first: "
          "torch.cat([up, skip], dim=1). The batch and spatial sizes must match."),
)
register(
    "translation.pix2pix_generator_loss", reference=translation.pix2pix_generator_loss, cases=_p2p_cases,
    grad=("fake_logits", "fake"),
    hint=("J_G = mean(softplus(-fake_logits)) + lam * mean(|target - fake|): the non-saturating loss "
          "averaged over every patch, plus lam times the L1 distance averaged over every pixel."),
)
register(
    "translation.cycle_consistency_loss", reference=translation.cycle_consistency_loss, cases=_cycle_cases,
    grad=("x_cycled", "y_cycled"),
    hint=("Two L1 terms, each averaged over its own batch and pixels: mean(|x_cycled - x|) + "
          "mean(|y_cycled - y|). Do not square the differences."),
)
register(
    "translation.identity_loss", reference=translation.identity_loss, cases=_identity_cases,
    grad=("x", "y"),
    hint=("G maps X to Y, so feed it an image that is already in Y: mean(|G(y) - y|) + "
          "mean(|F(x) - x|), each averaged over its own batch and pixels."),
)
