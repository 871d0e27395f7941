"""Chapter 1, section 1.6: learning curves of a generative and a discriminative classifier.

The experiment of Ng and Jordan (2001): train naive Bayes and logistic regression on
growing, class-balanced training sets, average the test error over several seeds, and find
the training-set size where the discriminative model takes the lead for good.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np
import torch

from .classic import BernoulliNB, _labels, fit_logistic_regression  # noqa: F401


# ---------------------------------------------------------------- learning curves (Ng and Jordan, 2001)
def balanced_subset(y: torch.Tensor, n: int, n_classes: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Indices of ``n`` random examples with the classes as even as possible (every class present when n >= K)."""
    if n < 1 or n > y.shape[0]:
        raise ValueError(f"n should lie in 1..{y.shape[0]}, got {n}")
    perm = torch.randperm(y.shape[0], generator=generator).to(y.device)
    ys = y[perm]
    # rank of each example within its class, in the shuffled order: take low ranks first
    onehot = torch.nn.functional.one_hot(ys, n_classes)
    rank = ((onehot.cumsum(0) - 1) * onehot).sum(1)
    order = torch.argsort(rank * y.shape[0] + torch.arange(y.shape[0], device=y.device))
    return perm[order[:n]]


def ng_jordan_fitters(n_classes: int = 10, alpha: float = 1.0, C: float = 100.0,
                      max_iter: int = 100) -> dict[str, Callable]:
    """The two contestants of the learning curves, as :func:`learning_curves` wants them.

    ``{"naive Bayes": fit, "logistic regression": fit}`` where ``fit(x, y) -> predict``:
    Bernoulli naive Bayes with Laplace smoothing ``alpha`` and logistic regression with
    inverse L2 strength ``C`` (at most ``max_iter`` L-BFGS iterations).
    """
    def naive_bayes(x, y):
        return BernoulliNB.fit(x, y, n_classes, alpha=alpha).predict

    def logistic_regression(x, y):
        return fit_logistic_regression(x, y, n_classes, C=C, max_iter=max_iter).predict

    return {"naive Bayes": naive_bayes, "logistic regression": logistic_regression}


def learning_curves(fitters: Mapping[str, Callable], x_train: torch.Tensor, y_train: torch.Tensor,
                    x_test: torch.Tensor, y_test: torch.Tensor, sizes: Sequence[int], seeds: Sequence[int],
                    n_classes: int = 10, progress: Callable | None = None) -> dict[str, np.ndarray]:
    """Test error against training-set size, the experiment of Ng and Jordan (2001).

    ``fitters`` maps a name to ``fit(x, y) -> predict`` where ``predict(x) -> (N,)`` labels.
    Returns ``{name: errors}`` with ``errors`` a ``(len(seeds), len(sizes))`` array.
    """
    if not sizes or not seeds:
        raise ValueError("sizes and seeds should be non-empty lists")
    out = {name: np.zeros((len(seeds), len(sizes))) for name in fitters}
    jobs = [(i, s, j, n) for i, s in enumerate(seeds) for j, n in enumerate(sizes)]
    for i, seed, j, n in (progress(jobs) if progress else jobs):
        g = torch.Generator().manual_seed(int(seed))
        idx = balanced_subset(y_train, int(n), n_classes, g)
        for name, fit in fitters.items():
            predict = fit(x_train[idx], y_train[idx])
            out[name][i, j] = (predict(x_test).to(y_test.device) != y_test).double().mean().item()
    return out


def crossing_point(sizes: Sequence[float], err_a: np.ndarray, err_b: np.ndarray) -> float | None:
    """The training-set size where curve ``b`` drops below curve ``a`` for good.

    ``err_a``, ``err_b``: ``(len(sizes),)`` mean errors or ``(seeds, len(sizes))`` arrays (averaged
    over seeds). Returns the crossing interpolated linearly in ``log n``; ``None`` when ``b``
    never ends below ``a``; ``sizes[0]`` when ``b`` is below everywhere.
    """
    sizes = np.asarray(sizes, dtype=float)
    a = np.asarray(err_a, dtype=float)
    b = np.asarray(err_b, dtype=float)
    a = a.mean(0) if a.ndim == 2 else a
    b = b.mean(0) if b.ndim == 2 else b
    if not (a.shape == b.shape == sizes.shape):
        raise ValueError(f"sizes, err_a and err_b should have matching lengths, got {sizes.shape}, {a.shape}, {b.shape}")
    diff = b - a  # negative where b is better
    if diff[-1] >= 0:
        return None
    last_bad = np.nonzero(diff >= 0)[0]
    if last_bad.size == 0:
        return float(sizes[0])
    j = int(last_bad[-1])
    # diff goes from >= 0 at j to < 0 at j+1: interpolate in log n
    t = diff[j] / (diff[j] - diff[j + 1])
    return float(np.exp(np.log(sizes[j]) + t * (np.log(sizes[j + 1]) - np.log(sizes[j]))))
