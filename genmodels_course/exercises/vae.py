"""Cases for chapter 3's exercises: the Gaussian KL, reparameterisation, the negative ELBO, the IWAE bound.

All four feed a loss that is trained by back-propagation, so their checkers also compare
gradients with the reference's (``grad=``).
"""
from __future__ import annotations

import torch

from .. import vae
from . import Case, register


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _kl_cases():
    g = _gen(0)
    return [
        Case(args=(torch.zeros(1, 3), torch.zeros(1, 3)), note="q equals the prior: KL is 0"),
        Case(args=(torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g)), note="a batch of 5, d = 4"),
        Case(args=(torch.randn(2, 3, 6, generator=g), 0.5 * torch.randn(2, 3, 6, generator=g)), note="extra leading dims"),
        Case(args=(torch.tensor([[2.0, -1.0]]), torch.tensor([[-6.0, 3.0]])), note="very small and large variances"),
    ]


def _reparam_cases():
    g = _gen(1)
    mu, logvar = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    return [
        Case(args=(mu, logvar, torch.zeros(4, 3)), note="eps = 0 gives z = mu"),
        Case(args=(mu, logvar, torch.randn(4, 3, generator=g)), note="a batch of 4, d = 3"),
        Case(args=(torch.zeros(2, 2), torch.full((2, 2), 2.0), torch.ones(2, 2)), note="logvar = 2: sigma = e"),
        Case(args=(mu[:, None], logvar[:, None], torch.randn(4, 5, 3, generator=g)), note="k = 5 samples by broadcasting"),
    ]


def _nelbo_cases():
    g = _gen(2)

    def case(n, d, scale=1.0):
        logits = scale * torch.randn(n, 1, 4, 4, generator=g)
        x = torch.bernoulli(torch.full((n, 1, 4, 4), 0.4), generator=g)
        return (logits, x, torch.randn(n, d, generator=g), 0.3 * torch.randn(n, d, generator=g))

    return [
        Case(args=case(3, 2), note="3 images of 4x4, d = 2"),
        Case(args=case(1, 5), note="a single example"),
        Case(args=case(4, 3, scale=200.0), note="huge logits: is your log-likelihood numerically stable?"),
        # beta weighs the KL term only (eq. 3.8); large mu make the KL big enough to notice
        Case(args=case(3, 4)[:2] + (2 * torch.randn(3, 4, generator=g), torch.randn(3, 4, generator=g)),
             kwargs={"beta": 0.25}, note="beta = 0.25 (a beta-VAE: beta multiplies the KL term only)"),
        Case(args=case(2, 3) + (4.0,), note="beta = 4, passed as the fifth argument"),
    ]


def _iwae_cases():
    g = _gen(3)
    return [
        Case(args=(torch.randn(6, 1, generator=g),), note="k = 1 is the ELBO estimate itself"),
        Case(args=(torch.randn(4, 10, generator=g),), note="4 examples, k = 10"),
        Case(args=(torch.full((2, 5), 3.0),), note="equal weights: the bound equals each log-weight"),
        Case(args=(torch.randn(3, 50, generator=g) - 600.0,), note="log-weights near -600 (exp underflows)"),
        Case(args=(torch.randn(3, 8, generator=g) + 800.0,), note="log-weights near +800 (exp overflows)"),
    ]


register(
    "vae.gaussian_kl", reference=vae.gaussian_kl, cases=_kl_cases, grad=True,
    hint="KL = 1/2 * sum(exp(logvar) + mu**2 - 1 - logvar) over the LAST dimension only; "
         "logvar is log sigma^2, so sigma^2 = exp(logvar).")
register(
    "vae.reparameterise", reference=vae.reparameterise, cases=_reparam_cases, grad=("mu", "logvar"),
    hint="sigma = exp(logvar / 2) (not exp(logvar)); return mu + sigma * eps, letting shapes broadcast. "
         "Gradients must reach mu and logvar: that is the point of the trick.")
# The values are a few nats to a few thousand nats per example, computed in float32: an
# absolute 1e-5 plus a relative 1e-5 is 100 times float32 rounding yet catches a 1e-3 nats error.
register(
    "vae.negative_elbo", reference=vae.negative_elbo, cases=_nelbo_cases, grad=("logits", "mu", "logvar"),
    atol=1e-5, rtol=1e-5,
    hint="Per example: the Bernoulli NLL summed over all pixels plus beta times the KL summed over the "
         "latent dims (beta multiplies the KL only). Use softplus(l) - x * l (or "
         "F.binary_cross_entropy_with_logits with reduction='none'), never log(sigmoid(l)). "
         "Return one value per example, shape (N,).")
register(
    "vae.iwae_bound", reference=vae.iwae_bound, cases=_iwae_cases, grad=True,
    hint="log((1/k) sum exp(log_w)) = torch.logsumexp(log_w, dim=-1) - log(k); "
         "never exponentiate the log-weights directly.")
