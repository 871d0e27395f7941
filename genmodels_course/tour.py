"""The tour's one exercise: cross-entropy from logits, the loss of every classifier in the book.

Its checker's cases live in ``exercises/tour.py``.
"""
from __future__ import annotations

import torch


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of labels ``y`` ``(N,)`` under softmax(``logits`` ``(N, K)``).

    -log softmax(l)_y = logsumexp(l) - l_y; the log-sum-exp form never exponentiates a
    large logit, so it cannot overflow.
    """
    if logits.ndim != 2 or y.shape != logits.shape[:1]:
        raise ValueError(f"expected logits (N, K) and labels (N,), got {tuple(logits.shape)} and {tuple(y.shape)}")
    return (torch.logsumexp(logits, dim=1) - logits.gather(1, y[:, None]).squeeze(1)).mean()

