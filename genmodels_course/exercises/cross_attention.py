"""Cases for chapter 8's cross-attention exercise: the attention weights (8.8).

The weights feed the denoiser's loss through ``A v``, so the checker compares gradients
with the reference's too (``grad=``).
"""
from __future__ import annotations

import torch

from ..cross_attention import attention_weights
from . import Case, register


def _cases():
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 5, 8, generator=g), torch.randn(2, 3, 8, generator=g)
    pad = torch.tensor([[False, False, True], [False, True, True]])
    return [
        Case(args=(q, k), note="2 captions of 3 tokens, 5 image positions, d = 8"),
        Case(args=(q, k, pad), note="padding tokens get weight 0"),
        Case(args=(torch.randn(1, 4, 2, 6, 16, generator=g), torch.randn(1, 4, 2, 7, 16, generator=g)),
             note="extra leading dims (batch, heads): d = 16, so the scale matters"),
        Case(args=(30 * q, 30 * k), note="large scores: a naive exp overflows"),
    ]


register("cross_attention.attention_weights", reference=attention_weights, cases=_cases, grad=("q", "k"),
         hint="scores = q @ k.transpose(-1, -2) / sqrt(d) with d = q.shape[-1]; where "
              "key_padding_mask is True set the score to -inf (mask.unsqueeze(-2) broadcasts "
              "over the queries); then torch.softmax(scores, dim=-1), over the keys.")
