"""Cases for the tour's exercise (notebook 00): cross-entropy from logits."""
from __future__ import annotations

import torch

from .. import tour
from . import Case, register


def _cross_entropy_cases():
    g = torch.Generator().manual_seed(0)
    return [
        Case((torch.randn(5, 3, generator=g), torch.tensor([0, 2, 1, 1, 0])), note="5 examples, 3 classes"),
        Case((torch.randn(1, 10, generator=g), torch.tensor([7])), note="a single example"),
        Case((torch.tensor([[1000.0, 0.0], [0.0, -1000.0]]), torch.tensor([1, 0])),
             note="huge logits: exp() overflows unless you use log-sum-exp"),
    ]


register(
    "tour.cross_entropy", reference=tour.cross_entropy, cases=_cross_entropy_cases, grad=("logits",),
    hint="-log softmax(logits)[y] = logsumexp(logits) - logits[y]; average over the batch. "
         "torch.logsumexp(logits, dim=1) and logits.gather(1, y[:, None]) do the work.")
