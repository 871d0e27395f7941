"""Evaluating generative models (chapter 9): likelihoods, distances between feature sets,
precision, and checks for memorised training images.

The pieces, with the book's equations:

* :func:`mixture_log_likelihood`     ``log(w p_good + (1 - w) p_bad)`` per example, eq. (9.1):
  a model that is 99% noise loses at most ``log 100 = 4.61`` nats (Theis, van den Oord and
  Bethge 2016), so a good likelihood says little about the samples
* :func:`gaussian_frechet_distance`  the Frechet distance of two Gaussians from their moments,
  eq. (9.2); :func:`genmodels_course.metrics.frechet_distance` fits them to features first
* :func:`fd_by_sample_size`          how the Frechet distance of small samples is biased upwards
* :func:`mmd2_unbiased`              the unbiased estimate of the squared MMD, eq. (9.3)
* :func:`polynomial_kernel`          ``k(x, y) = (gamma x.y + coef)^degree``, eq. (9.4)
* :func:`kid`                        the kernel inception distance (Binkowski et al. 2018): the
  MMD estimate averaged over random subsets; on the package's classifier features, not on
  Inception's, so the numbers compare across this book, not with published KIDs
* :func:`precision`                  the share of samples inside the real k-NN balls
  (Kynkaanniemi et al. 2019); :func:`genmodels_course.metrics.precision_recall` gives both
* :func:`nearest_neighbours`         exact Euclidean k-NN, in chunks of queries
* :func:`memorisation`               samples closer to a training image than held-out images
  ever are, eq. (9.6): likely copies
* :func:`inception_score`            ``exp E_x KL(p(y | x) || p(y))``, eq. (9.7) (Salimans et al.
  2016), from a classifier's probabilities: it never looks at real data
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from . import metrics

__all__ = ["mixture_log_likelihood", "gaussian_frechet_distance", "fd_by_sample_size",
           "polynomial_kernel", "mmd2_unbiased", "kid", "precision", "nearest_neighbours",
           "memorisation", "inception_score"]


def _features(x, name: str, min_rows: int = 1) -> torch.Tensor:
    """``x`` (a tensor or an array) as a floating-point tensor ``(N, D)`` with ``N >= min_rows``."""
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(np.asarray(x))
    if not x.dtype.is_floating_point:
        x = x.float()
    if x.ndim != 2 or len(x) < min_rows:
        raise ValueError(f"{name} must have shape (N, D) with N >= {min_rows}, got {tuple(x.shape)}")
    return x


def _same_width(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dimensions differ: {a.shape[1]} vs {b.shape[1]} "
                         "(both sets must be (N, D) with the same D)")


def _subset(n: int, m: int, generator: torch.Generator) -> torch.Tensor:
    """``m`` of ``range(n)`` drawn without replacement."""
    return torch.randperm(n, generator=generator, device=generator.device)[:m]


# ---------------------------------------------------------------- likelihood
def mixture_log_likelihood(log_p_good, log_p_bad, weight: float) -> torch.Tensor:
    """``log(w p_good(x) + (1 - w) p_bad(x))`` per example, eq. (9.1).

    ``log_p_good`` and ``log_p_bad`` are log-densities of the same examples (any broadcastable
    shapes, say ``(N,)``); the result has their broadcast shape. Computed with log-sum-exp, so
    log-densities of -1000 nats do not underflow. Since the mixture is at least
    ``w p_good``, its log-likelihood is at least ``log w + log p_good``: mixing a good model with
    99% noise (``w = 0.01``) costs at most ``log 100 = 4.61`` nats per example, and nearly
    that when ``p_bad`` is much smaller than ``p_good``.
    """
    w = float(weight)
    if not 0.0 < w < 1.0:
        raise ValueError(f"weight must lie strictly between 0 and 1, got {weight}")
    good, bad = torch.as_tensor(log_p_good), torch.as_tensor(log_p_bad)
    dtype = torch.promote_types(good.dtype, bad.dtype)
    dtype = dtype if dtype.is_floating_point else torch.float64
    return torch.logaddexp(math.log(w) + good.to(dtype), math.log1p(-w) + bad.to(dtype))


# ---------------------------------------------------------------- Frechet distance
def _psd_sqrt(c: torch.Tensor) -> torch.Tensor:
    """The symmetric square root of a positive semi-definite matrix ``(D, D)``."""
    w, v = torch.linalg.eigh((c + c.T) / 2)
    return (v * w.clamp_min(0).sqrt()) @ v.T


def gaussian_frechet_distance(mu1: torch.Tensor, cov1: torch.Tensor, mu2: torch.Tensor,
                              cov2: torch.Tensor) -> torch.Tensor:
    """The Frechet (2-Wasserstein) distance between ``N(mu1, cov1)`` and ``N(mu2, cov2)``, eq. (9.2):

    ``d^2 = |mu1 - mu2|^2 + tr(C1 + C2 - 2 (C1 C2)^{1/2})``.

    Means ``(D,)``, covariances ``(D, D)``; a 0-d float64 tensor. ``C1 C2`` is not symmetric, but
    its eigenvalues are those of the symmetric ``C1^{1/2} C2 C1^{1/2}``, so the trace of its
    square root is the sum of the square roots of their (real, non-negative) eigenvalues.
    """
    mu1, cov1, mu2, cov2 = (torch.as_tensor(t, dtype=torch.float64) for t in (mu1, cov1, mu2, cov2))
    d = mu1.shape[-1] if mu1.ndim == 1 else -1
    if d < 1 or mu2.shape != (d,) or cov1.shape != (d, d) or cov2.shape != (d, d):
        raise ValueError(f"expected means (D,) and covariances (D, D) of one D, got {tuple(mu1.shape)}, "
                         f"{tuple(cov1.shape)}, {tuple(mu2.shape)}, {tuple(cov2.shape)}")
    root1 = _psd_sqrt(cov1)
    middle = root1 @ cov2 @ root1
    tr_cross = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    d2 = (mu1 - mu2).pow(2).sum() + torch.trace(cov1) + torch.trace(cov2) - 2 * tr_cross
    return d2.clamp_min(0)  # rounding can leave -1e-15 for equal Gaussians


def fd_by_sample_size(feats_a, feats_b, sizes, repeats: int = 3,
                      generator: torch.Generator | None = None) -> list[tuple[int, float, float]]:
    """The Frechet distance (:func:`genmodels_course.metrics.frechet_distance`) of random
    subsets of ``n`` rows of each feature set, for each ``n`` in ``sizes``.

    ``feats_a`` ``(Na, D)``, ``feats_b`` ``(Nb, D)``; subsets drawn without replacement with
    ``generator`` (default: seeded with 0). Returns ``[(n, mean, std), ...]`` over ``repeats``
    draws (``std`` with ``n - 1``, 0 for a single draw). Even two sets from one distribution
    score above 0, the more so the smaller ``n``: compare models at one ``n``.
    """
    a, b = _features(feats_a, "feats_a", 2), _features(feats_b, "feats_b", 2)
    _same_width(a, b)
    sizes = [int(n) for n in sizes]
    if not sizes or min(sizes) < 2 or max(sizes) > min(len(a), len(b)):
        raise ValueError(f"sizes must be a non-empty list of subset sizes between 2 and "
                         f"min(Na, Nb) = {min(len(a), len(b))}, got {sizes}")
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    g = torch.Generator().manual_seed(0) if generator is None else generator
    out = []
    for n in sizes:
        fds = [metrics.frechet_distance(a[_subset(len(a), n, g).to(a.device)], b[_subset(len(b), n, g).to(b.device)])
               for _ in range(repeats)]
        out.append((n, float(np.mean(fds)), float(np.std(fds, ddof=1)) if repeats > 1 else 0.0))
    return out


# ---------------------------------------------------------------- kernels and the MMD
def polynomial_kernel(a, b, degree: int = 3, gamma: float | None = None, coef: float = 1.0) -> torch.Tensor:
    """The Gram matrix ``k(a_i, b_j) = (gamma a_i . b_j + coef)^degree``, eq. (9.4): ``(N, M)``.

    ``a`` ``(N, D)``, ``b`` ``(M, D)``; ``gamma = 1 / D`` by default (KID's choice: with
    ``degree=3``, ``coef=1`` it compares the first three moments of the two sets).
    ``degree=1, coef=0, gamma=1`` is the linear kernel ``a . b``, whose MMD^2 is
    ``|mu_a - mu_b|^2``.
    """
    a, b = _features(a, "a"), _features(b, "b")
    _same_width(a, b)
    if gamma is None:
        gamma = 1.0 / a.shape[1]
    return (gamma * (a @ b.to(a.dtype).T) + coef) ** degree


def mmd2_unbiased(feats_a, feats_b, kernel: Callable = polynomial_kernel, **kernel_args) -> torch.Tensor:
    """The unbiased estimate of the squared maximum mean discrepancy, eq. (9.3): a 0-d tensor.

    ``MMD^2 = E k(a, a') + E k(b, b') - 2 E k(a, b)``, each expectation replaced by a mean
    over distinct pairs: the diagonals ``k(a_i, a_i)`` are left out (the U-statistic), so the
    estimate is unbiased and can be negative when the two sets come from one distribution.
    ``feats_a`` ``(N, D)`` and ``feats_b`` ``(M, D)``, ``N, M >= 2``; ``kernel(x, y)`` returns
    the Gram matrix (default :func:`polynomial_kernel`, given ``kernel_args`` such as
    ``degree=1, coef=0.0, gamma=1.0``). Differentiable.
    """
    a, b = _features(feats_a, "feats_a", 2), _features(feats_b, "feats_b", 2)
    _same_width(a, b)
    n, m = len(a), len(b)
    k_aa, k_bb, k_ab = kernel(a, a, **kernel_args), kernel(b, b, **kernel_args), kernel(a, b, **kernel_args)
    within_a = (k_aa.sum() - k_aa.diagonal().sum()) / (n * (n - 1))
    within_b = (k_bb.sum() - k_bb.diagonal().sum()) / (m * (m - 1))
    return within_a + within_b - 2 * k_ab.mean()


def kid(feats_a, feats_b, n_subsets: int = 50, subset_size: int = 1000,
        generator: torch.Generator | None = None, **kernel_args) -> tuple[float, float]:
    """The kernel inception distance (Binkowski et al. 2018): ``(mean, std)`` of
    :func:`mmd2_unbiased` with the cubic :func:`polynomial_kernel` over ``n_subsets`` random
    subsets of ``min(subset_size, Na, Nb)`` rows of each set, drawn without replacement with
    ``generator`` (default: seeded with 0, so the number is reproducible).

    ``feats_a`` ``(Na, D)`` and ``feats_b`` ``(Nb, D)``, tensors or arrays, computed in float64.
    ``std`` is the spread over subsets (divided by ``n_subsets``, as torchmetrics does), not
    the error of the mean. ``kernel_args`` go to the kernel. Unlike the Frechet distance,
    KID is unbiased: its expected value does not depend on the subset size.
    """
    a = _features(feats_a, "feats_a", 2).detach().double()
    b = _features(feats_b, "feats_b", 2).detach().double().to(a.device)
    _same_width(a, b)
    if int(n_subsets) != n_subsets or n_subsets < 1:
        raise ValueError(f"n_subsets must be a positive integer, got {n_subsets}")
    if int(subset_size) != subset_size or subset_size < 2:
        raise ValueError(f"subset_size must be an integer >= 2 (the MMD estimate needs pairs), got {subset_size}")
    m = min(int(subset_size), len(a), len(b))
    g = torch.Generator().manual_seed(0) if generator is None else generator
    scores = torch.stack([
        mmd2_unbiased(a[_subset(len(a), m, g).to(a.device)], b[_subset(len(b), m, g).to(a.device)], **kernel_args)
        for _ in range(int(n_subsets))])
    return float(scores.mean()), float(scores.std(unbiased=False))


# ---------------------------------------------------------------- precision
def precision(real, fake, k: int = 3) -> torch.Tensor:
    """Precision of samples (Kynkaanniemi et al. 2019): the share of ``fake``
    points inside at least one real k-NN ball, as a 0-d float64 tensor.

    ``real`` ``(N, D)``, ``fake`` ``(M, D)``. The ball around real point ``i`` has as radius
    its distance to its ``k``-th nearest *other* real point (its zero distance to itself is
    not a neighbour). Written for reading; :func:`genmodels_course.metrics.precision_recall`
    computes the same in chunks, with recall.
    """
    real, fake = _features(real, "real"), _features(fake, "fake")
    _same_width(real, fake)
    if not 1 <= k < len(real):
        raise ValueError(f"precision needs 1 <= k < N real points, got k = {k} with N = {len(real)}")
    d_real = torch.cdist(real, real)                                          # (N, N)
    radii = d_real.topk(k + 1, dim=1, largest=False).values[:, k]             # index 0 is itself
    inside = (torch.cdist(fake.to(real.dtype), real) <= radii[None]).any(1)   # (M,)
    return inside.double().mean()


# ---------------------------------------------------------------- nearest neighbours and copies
def _flat(x, name: str) -> torch.Tensor:
    x = torch.as_tensor(x) if not isinstance(x, torch.Tensor) else x
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"{name} must be a non-empty batch (N, ...) of vectors or images, got {tuple(x.shape)}")
    x = x.detach().flatten(1)
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def nearest_neighbours(queries, reference, k: int = 1, chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest rows of ``reference`` to each query, in Euclidean distance.

    ``queries`` ``(Q, ...)`` and ``reference`` ``(M, ...)`` (vectors or images, flattened to
    vectors of one length D). Returns ``(distances (Q, k), indices (Q, k))``, nearest first.
    Queries go ``chunk`` at a time, so memory grows as ``chunk * M``, not ``Q * M``. The
    candidates come from ``torch.cdist``'s fast route (``|x|^2 + |y|^2 - 2 x.y``, which can
    be off by ~1e-3 for images); the distances returned are then computed directly, so an
    exact copy is at distance 0.
    """
    q, ref = _flat(queries, "queries"), _flat(reference, "reference")
    ref = ref.to(q.device, q.dtype)
    if q.shape[1] != ref.shape[1]:
        raise ValueError(f"queries and reference flatten to different lengths: {q.shape[1]} vs {ref.shape[1]}")
    if not 1 <= k <= len(ref):
        raise ValueError(f"k must be between 1 and the number of reference points {len(ref)}, got {k}")
    if chunk < 1:
        raise ValueError(f"chunk must be a positive number of queries, got {chunk}")
    dists, idxs = [], []
    for qc in q.split(chunk):
        idx = torch.cdist(qc, ref).topk(k, dim=1, largest=False).indices       # (c, k)
        d = (qc[:, None, :] - ref[idx]).norm(dim=-1)                           # exact, (c, k)
        d, order = d.sort(dim=1)
        dists.append(d)
        idxs.append(idx.gather(1, order))
    return torch.cat(dists), torch.cat(idxs)


def memorisation(samples, train, test, quantile: float = 0.01, chunk: int = 1024,
                 test_nn: torch.Tensor | None = None) -> dict:
    """Which samples sit closer to a training image than held-out images do, eq. (9.6).

    ``samples`` ``(S, ...)``, ``train`` ``(N, ...)``, ``test`` ``(T, ...)``: images or
    features of one shape. A held-out image is never a copy, so its distance to the nearest
    training image shows how close a new image from the data distribution gets by chance.
    The threshold is the ``quantile`` quantile of those distances; a sample nearer than it
    to a training image is a likely copy. A model that copies nothing scores about
    ``quantile``; one that copies its training set scores 1. Returns a dict:

    * ``sample_nn`` ``(S,)`` and ``nn_index`` ``(S,)``: each sample's nearest training
      distance and image
    * ``test_nn`` ``(T,)``: the same for each test image
    * ``threshold`` (float) and ``share_copies`` (float): share of samples strictly below it

    ``test_nn`` ``(T,)``: the test images' distances from an earlier call, to score several
    sample sets against one test set without searching the training set for it again.
    """
    if not 0.0 < float(quantile) < 1.0:
        raise ValueError(f"quantile must lie strictly between 0 and 1, got {quantile}")
    sample_nn, nn_index = nearest_neighbours(samples, train, 1, chunk)
    if test_nn is None:
        test_nn = nearest_neighbours(test, train, 1, chunk)[0][:, 0]
    elif test_nn.shape != (len(test),):
        raise ValueError(f"test_nn must hold one distance per test image, shape ({len(test)},), "
                         f"got {tuple(test_nn.shape)}")
    threshold = float(torch.quantile(test_nn.double(), float(quantile)))
    return {"sample_nn": sample_nn[:, 0], "nn_index": nn_index[:, 0], "test_nn": test_nn,
            "threshold": threshold, "share_copies": float((sample_nn[:, 0] < threshold).double().mean())}


# ---------------------------------------------------------------- the inception score
def inception_score(probs) -> float:
    """The inception score ``exp( mean_x KL(p(y | x) || p(y)) )``, eq. (9.7), from class
    probabilities ``(N, K)`` (rows summing to 1; ``p(y)`` is their mean over the N samples).

    Between 1 (every sample gets the same class distribution) and K (every sample is
    classified with certainty and the classes are used equally). It is computed from the
    samples alone, so it cannot tell a model that draws every digit from one that repeats
    one image per class."""
    p = torch.as_tensor(probs, dtype=torch.float64)
    if p.ndim != 2 or len(p) < 1 or p.shape[1] < 2:
        raise ValueError(f"inception_score expects class probabilities (N, K) with K >= 2, got {tuple(p.shape)}")
    if (p < 0).any() or not torch.allclose(p.sum(1), torch.ones(len(p), dtype=p.dtype), atol=1e-4):
        raise ValueError("inception_score expects rows of probabilities (non-negative, summing to 1): "
                         "pass softmax outputs, not logits")
    marginal = p.mean(0, keepdim=True)
    kl = (p * (p.clamp_min(1e-30).log() - marginal.clamp_min(1e-30).log())).sum(1)
    return float(kl.mean().exp())
