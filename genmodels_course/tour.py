"""The tour's one exercise: cross-entropy from logits, the loss of every classifier in the book."""
from __future__ import annotations

import torch

from . import exercises as _ex


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of labels ``y`` ``(N,)`` under softmax(``logits`` ``(N, K)``).

    -log softmax(l)_y = logsumexp(l) - l_y; the log-sum-exp form never exponentiates a
    large logit, so it cannot overflow.
    """
    if logits.ndim != 2 or y.shape != logits.shape[:1]:
        raise ValueError(f"expected logits (N, K) and labels (N,), got {tuple(logits.shape)} and {tuple(y.shape)}")
    return (torch.logsumexp(logits, dim=1) - logits.gather(1, y[:, None]).squeeze(1)).mean()


def _cross_entropy_cases():
    g = torch.Generator().manual_seed(0)
    return [
        _ex.Case((torch.randn(5, 3, generator=g), torch.tensor([0, 2, 1, 1, 0])), note="5 examples, 3 classes"),
        _ex.Case((torch.randn(1, 10, generator=g), torch.tensor([7])), note="a single example"),
        _ex.Case((torch.tensor([[1000.0, 0.0], [0.0, -1000.0]]), torch.tensor([1, 0])),
                 note="huge logits: exp() overflows unless you use log-sum-exp"),
    ]


_ex.register(
    "tour.cross_entropy", reference=cross_entropy, cases=_cross_entropy_cases,
    hint="-log softmax(logits)[y] = logsumexp(logits) - logits[y]; average over the batch. "
         "torch.logsumexp(logits, dim=1) and logits.gather(1, y[:, None]) do the work.")
