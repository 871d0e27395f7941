"""Cases for chapter 5's exercises: the discriminator loss, the non-saturating generator loss, the gradient penalty.

The gan functions are reached as attributes of the ``gan`` module (``gan.discriminator_loss``),
so they keep working wherever ``gan`` re-exports them from.
"""
from __future__ import annotations


import torch
from torch import nn

from .. import gan, runtime
from . import Case, compare_outputs, register


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _logit_pairs():
    g = _gen(5)
    return [
        Case(args=(torch.randn(16, generator=g), torch.randn(16, generator=g)), note="small logits"),
        Case(args=(torch.randn(8, 1, generator=g), torch.randn(12, 1, generator=g)),
             note="shape (N, 1), different batch sizes"),
        Case(args=(torch.tensor([200.0, -150.0, 30.0]), torch.tensor([-300.0, 120.0])),
             note="huge logits: a confident discriminator (no log of zero allowed)"),
        # logits of exactly 0 sit on the kink of relu/abs formulations of softplus, whose
        # subgradients differ from the smooth derivative there: compare values only
        Case(args=(torch.zeros(4), torch.zeros(4)), note="D(x) = 1/2 everywhere: loss = 2 log 2", grad=False),
    ]


def _fake_logit_cases():
    g = _gen(6)
    return [
        Case(args=(torch.randn(32, generator=g),), note="small logits"),
        Case(args=(3 * torch.randn(10, 1, generator=g),), note="shape (N, 1)"),
        Case(args=(torch.tensor([-500.0, -40.0, 0.5, 60.0]),),
             note="D confidently rejects the fakes (very negative logits)"),
    ]


def _gp_cases():
    g = _gen(7)
    # runtime.seeded: fixed critics, and the learner's global random stream is left as it was
    with runtime.seeded(7):
        lin = nn.Linear(2, 1)
        mlp = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
        conv = nn.Sequential(nn.Conv2d(1, 3, 3), nn.Tanh(), nn.Flatten(), nn.Linear(3 * 4 * 4, 1))
    return [
        Case(args=(lin, torch.randn(6, 2, generator=g), torch.randn(6, 2, generator=g),
                   torch.rand(6, 1, generator=g)), note="linear critic on 2-D points"),
        Case(args=(mlp, torch.randn(9, 2, generator=g), torch.randn(9, 2, generator=g),
                   torch.rand(9, 1, generator=g)), note="MLP critic"),
        Case(args=(conv, torch.randn(4, 1, 6, 6, generator=g), torch.randn(4, 1, 6, 6, generator=g),
                   torch.rand(4, 1, 1, 1, generator=g)), note="images: the norm is over all pixels of a sample"),
        Case(args=(mlp, torch.randn(5, 2, generator=g), torch.randn(5, 2, generator=g), torch.zeros(5, 1)),
             note="eps = 0: x_hat is the fake sample"),
    ]


def _compare_scalar_with_graph(got, expected):
    if not isinstance(got, torch.Tensor):
        return f"the output should be a torch tensor, got {type(got).__name__}"
    if got.numel() != 1:
        return f"the output should be one number (a 0-d tensor), got shape {tuple(got.shape)}"
    if not got.requires_grad:
        return ("the penalty carries no gradient: call torch.autograd.grad with create_graph=True "
                "so the critic can be trained on it")
    return compare_outputs(got.detach().reshape(()), expected.detach(), atol=1e-5, rtol=1e-4)


register(
    "gan.discriminator_loss", reference=gan.discriminator_loss, cases=_logit_pairs, grad=True,
    hint=("-log sigmoid(a) = softplus(-a) and -log(1 - sigmoid(a)) = softplus(a); average each term over "
          "its own batch and add them. Never compute log(sigmoid(a)) directly."),
)
register(
    "gan.generator_loss_nonsaturating", reference=gan.generator_loss_nonsaturating, cases=_fake_logit_cases,
    grad=True,
    hint="The non-saturating loss is -mean(log D(G(z))) = mean(softplus(-a)) on the fake logits a.",
)
register(
    "gan.gradient_penalty", reference=gan.gradient_penalty, cases=_gp_cases, compare=_compare_scalar_with_graph,
    hint=("Build x_hat = eps * real + (1 - eps) * fake with requires_grad, take "
          "torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True), flatten it per sample, "
          "take the L2 norm of each row and average (norm - 1)^2."),
)
