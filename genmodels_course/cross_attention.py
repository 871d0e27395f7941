"""Cross-attention: image positions that read the tokens of a caption (chapter 8).

Where FiLM (``guidance.CondDenoiser``) gives every latent position the same pooled caption
vector, cross-attention lets each position choose which tokens to read, as Stable
Diffusion's U-Net does at several resolutions (Rombach et al., 2022). For queries ``q``
``(B, N, d)`` from the image and keys ``k`` ``(B, L, d)`` from the text, the weights are

    A = softmax(q k^T / sqrt(d))   over the L tokens, with padding tokens excluded   (8.8)

and the output is ``A v`` for values ``v`` ``(B, L, d_v)``: a per-position average of the
tokens' values. :class:`CrossAttention` wraps this with learned projections, several heads
and a residual connection on a ``(B, C, H, W)`` feature map.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["attention_weights", "CrossAttention"]


def attention_weights(q: Tensor, k: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
    """The attention weights (8.8): ``softmax(q k^T / sqrt(d))`` over the keys.

    q: ``(..., N, d)``; k: ``(..., L, d)``; ``key_padding_mask``: bool ``(..., L)``, True
    where a key is padding and must get weight 0 (broadcast over the queries). Returns
    ``(..., N, L)``, each row summing to 1.
    """
    if q.ndim < 2 or k.ndim < 2 or q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q (..., N, d) and k (..., L, d) need the same d, got {tuple(q.shape)} "
                         f"and {tuple(k.shape)}")
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if key_padding_mask is not None:
        if key_padding_mask.dtype != torch.bool or key_padding_mask.shape[-1] != k.shape[-2]:
            raise ValueError(f"key_padding_mask must be bool (..., {k.shape[-2]}), got "
                             f"{key_padding_mask.dtype} {tuple(key_padding_mask.shape)}")
        if bool(key_padding_mask.all(-1).any()):
            raise ValueError("every key of some row is padding: there is nothing to attend to")
        scores = scores.masked_fill(key_padding_mask.unsqueeze(-2), float("-inf"))
    return torch.softmax(scores, dim=-1)


class CrossAttention(nn.Module):
    """Multi-head cross-attention from a feature map to token features, with a residual.

    h: ``(B, C, H, W)`` (``C = channels``); context: ``(B, L, context_dim)`` (for example
    ``TextTower.token_features``); ``pad``: bool ``(B, L)``, True at padding. Returns
    ``h + out`` of the same shape, and with ``return_weights=True`` also the weights
    ``(B, heads, H * W, L)``. The output projection starts at zero, so a freshly added
    layer leaves the network it is inserted into unchanged.
    """

    def __init__(self, channels: int, context_dim: int, heads: int = 4, head_dim: int = 16):
        super().__init__()
        if min(channels, context_dim, heads, head_dim) < 1:
            raise ValueError("channels, context_dim, heads and head_dim must be positive")
        self.heads, self.head_dim = heads, head_dim
        inner = heads * head_dim
        self.norm = nn.GroupNorm(math.gcd(8, channels), channels)
        self.to_q = nn.Linear(channels, inner, bias=False)
        self.to_k = nn.Linear(context_dim, inner, bias=False)
        self.to_v = nn.Linear(context_dim, inner, bias=False)
        self.to_out = nn.Linear(inner, channels)
        nn.init.zeros_(self.to_out.weight)
        nn.init.zeros_(self.to_out.bias)

    def _split(self, x: Tensor) -> Tensor:  # (B, n, heads * d) -> (B, heads, n, d)
        return x.view(x.shape[0], x.shape[1], self.heads, self.head_dim).transpose(1, 2)

    def forward(self, h: Tensor, context: Tensor, pad: Tensor | None = None,
                return_weights: bool = False):
        if h.ndim != 4 or h.shape[1] != self.norm.num_channels:
            raise ValueError(f"h must be (B, {self.norm.num_channels}, H, W), got {tuple(h.shape)}")
        if context.ndim != 3 or context.shape[0] != h.shape[0] or context.shape[2] != self.to_k.in_features:
            raise ValueError(f"context must be (B={h.shape[0]}, L, {self.to_k.in_features}), "
                             f"got {tuple(context.shape)}")
        b, c, hh, ww = h.shape
        x = self.norm(h).flatten(2).transpose(1, 2)  # (B, H*W, C)
        q, k, v = self._split(self.to_q(x)), self._split(self.to_k(context)), self._split(self.to_v(context))
        a = attention_weights(q, k, None if pad is None else pad[:, None, :])
        out = (a @ v).transpose(1, 2).reshape(b, hh * ww, -1)
        out = self.to_out(out).transpose(1, 2).reshape(b, c, hh, ww)
        return (h + out, a) if return_weights else h + out
