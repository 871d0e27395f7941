"""Chapter 2's exercises: the cases, the comparisons and the ``register`` calls, in one place.

Names are ``"latent.<function>"``; ``gm.exercises.check("latent.pca", pca)`` imports
this module (``genmodels_course.exercises.latent``). All randomness goes
through explicit ``torch.Generator``s.
"""
from __future__ import annotations

import torch
from torch import nn

from ..autoencoders import corrupt, denoising_loss
from ..latent import pca, ppca_ml
from ..mixtures import responsibilities
from ..runtime import seeded
from . import Case, compare_outputs, register


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------ PCA via SVD
def _pca_cases():
    g = _gen(20)
    lowrank = torch.randn(50, 3, generator=g, dtype=torch.float64) @ torch.randn(3, 8, generator=g, dtype=torch.float64)
    return [
        Case(args=(torch.randn(40, 5, generator=g, dtype=torch.float64) * torch.tensor([3.0, 2, 1, .5, .1], dtype=torch.float64) + 4.0, 2),
                 note="40 points in 5-D, far from the origin: did you centre?"),
        Case(args=(lowrank + 1.0, 3), note="data of rank 3 in 8-D"),
        Case(args=(torch.randn(10, 30, generator=g, dtype=torch.float64), 5), note="fewer points than dimensions"),
        Case(args=(torch.randn(100, 4, generator=g, dtype=torch.float64), 1), note="one component"),
    ]


def _compare_pca(got, expected) -> str | None:
    """Components are defined up to sign: flip each row of ``got`` to match, then compare."""
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        return "pca should return a tuple (mean, components, variances)"
    mean, comps, var = got
    if isinstance(comps, torch.Tensor) and comps.shape == expected[1].shape:
        signs = torch.sign((comps.detach().double() * expected[1].double()).sum(1, keepdim=True))
        signs[signs == 0] = 1
        comps = comps * signs.to(comps.dtype)
    problem = compare_outputs((mean, comps, var), expected, atol=1e-6, rtol=1e-5, where="output")
    if problem:
        return problem.replace("output[0]", "mean").replace("output[1]", "components (k, D)").replace(
            "output[2]", "variances (k,)")
    return None


# ------------------------------------------------------------------ pPCA in closed form
def _ppca_cases():
    g = _gen(21)
    cases = []
    for D, q, n in ((5, 2, 200), (8, 3, 300), (4, 1, 100)):
        W = torch.randn(D, q, generator=g, dtype=torch.float64)
        x = torch.randn(n, q, generator=g, dtype=torch.float64) @ W.T + 0.3 * torch.randn(n, D, generator=g, dtype=torch.float64)
        S = torch.cov(x.T, correction=0)
        evals, evecs = torch.linalg.eigh(S)
        cases.append(Case(args=(evals.flip(0), evecs.flip(1), q), note=f"D = {D}, q = {q}"))
    return cases


# ------------------------------------------------------------------ the E-step
def _resp_cases():
    g = _gen(22)
    w = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64).log()
    return [
        Case(args=(torch.randn(6, 3, generator=g, dtype=torch.float64), w), note="6 points, K = 3"),
        Case(args=(torch.zeros(2, 3, dtype=torch.float64), w), note="equal densities: r equals the weights"),
        Case(args=(torch.randn(4, 3, generator=g, dtype=torch.float64) - 1000.0, w),
                 note="log-densities near -1000 (exp underflows to 0): work in log space"),
        Case(args=(torch.randn(5, 1, generator=g, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)),
                 note="K = 1: every responsibility is 1"),
    ]


# ------------------------------------------------------------------ the denoising autoencoder
def _corrupt_cases():
    g = _gen(23)

    def case(shape, p, sigma):
        x = torch.rand(shape, generator=g)
        eps = torch.randn(shape, generator=g)
        keep = (torch.rand(shape, generator=g) >= p).float()
        return (x, eps, keep, sigma)

    return [
        Case(args=case((3, 1, 4, 4), 0.3, 0.5), note="noise and masking"),
        Case(args=case((2, 1, 4, 4), 0.0, 0.0), note="sigma = 0 and nothing masked: x unchanged"),
        Case(args=case((2, 1, 4, 4), 0.5, 2.0), note="large noise: clamp to [0, 1] before masking"),
    ]


def _tiny_model(seed: int) -> nn.Module:
    g = _gen(seed)
    with seeded(seed):  # the default init draws from torch's generator: leave the caller's alone
        model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3), nn.Tanh(), nn.Linear(3, 16),
                              nn.Unflatten(1, (1, 4, 4)))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=g))
    return model


def _dae_cases():
    g = _gen(24)
    cases = []
    for n, p, sigma, seed in ((4, 0.25, 0.3, 1), (1, 0.0, 0.5, 2), (3, 0.5, 0.1, 3)):
        x = torch.rand(n, 1, 4, 4, generator=g)
        eps = torch.randn(n, 1, 4, 4, generator=g)
        keep = (torch.rand(n, 1, 4, 4, generator=g) >= p).float()
        cases.append(Case(args=(_tiny_model(seed), x, eps, keep, sigma),
                              note=f"{n} images of 4x4, a tiny autoencoder, mask {p}, sigma {sigma}"))
    return cases


def _leaves(t: torch.Tensor) -> list[torch.Tensor]:
    """The leaf tensors (parameters) that ``t``'s autograd graph reaches."""
    out, seen, stack = [], set(), [t.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        if hasattr(fn, "variable"):
            out.append(fn.variable)
        stack.extend(f for f, _ in fn.next_functions)
    return out


def compare_with_gradients(got, expected, atol: float = 1e-5, rtol: float = 1e-4) -> str | None:
    """Compare a scalar loss by value AND by its gradients with respect to the leaves
    (the model's parameters) that it depends on, matched by shape."""
    problem = compare_outputs(got, expected, atol, rtol, where="loss")
    if problem:
        return problem
    if not isinstance(got, torch.Tensor) or got.grad_fn is None:
        return ("the loss has the right value but no gradient flows back through it (did you call "
                ".detach(), .item() or torch.no_grad()?); training needs the graph")
    if got.numel() != 1:
        return f"the loss should be a single number (a 0-d tensor), got shape {tuple(got.shape)}"
    want = {tuple(p.shape): p for p in _leaves(expected)}
    have = {tuple(p.shape): p for p in _leaves(got)}
    missing = sorted(set(want) - set(have))
    if missing:
        return f"the loss does not depend on the model's parameters of shape {missing[0]}"
    shapes = sorted(want)
    g_want = torch.autograd.grad(expected, [want[s] for s in shapes])
    g_have = torch.autograd.grad(got, [have[s] for s in shapes], allow_unused=True)
    for s, a, b in zip(shapes, g_have, g_want):
        if a is None:
            return f"no gradient reaches the parameters of shape {s}"
        if not torch.allclose(a, b, atol=atol, rtol=rtol):
            return (f"the loss value matches but its gradient with respect to the parameters of shape {s} "
                    f"does not (largest difference {(a - b).abs().max().item():.3g})")
    return None


register("latent.pca", reference=pca, cases=_pca_cases, compare=_compare_pca,
             hint="Centre the data (subtract the mean over examples), take torch.linalg.svd(xc, "
                  "full_matrices=False) = U, S, Vh; the components are the first k ROWS of Vh and the "
                  "variances S[:k]**2 / N (divide by N, not N - 1).")
register("latent.ppca_ml", reference=ppca_ml, cases=_ppca_cases, atol=1e-8, rtol=1e-6,
             hint="sigma2 is the MEAN of the discarded eigenvalues evals[q:]; then "
                  "W = evecs[:, :q] * sqrt(evals[:q] - sigma2) (each column scaled). Return (W, sigma2).")
register("latent.responsibilities", reference=responsibilities, cases=_resp_cases,
             hint="Add log_weights to log_pdf (broadcasting over the N rows), subtract "
                  "torch.logsumexp(..., dim=1, keepdim=True), and only then exponentiate. Each row sums to 1.")
register("latent.corrupt", reference=corrupt, cases=_corrupt_cases,
             hint="x_tilde = keep * clamp(x + sigma * eps, 0, 1): add the noise, clamp to the pixel range, "
                  "then zero the masked pixels.")
register("latent.denoising_loss", reference=denoising_loss, cases=_dae_cases, compare=compare_with_gradients,
             hint="logits = model(corrupt(x, eps, keep, sigma)); the TARGET is the clean x. Binary "
                  "cross-entropy with logits, summed over the pixels of each image, averaged over the batch.")
