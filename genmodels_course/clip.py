"""Contrastive language-image pre-training (chapter 8): two towers, one embedding space.

A text tower maps a tokenised caption to a vector, an image tower maps an image to a
vector of the same size, and the symmetric InfoNCE loss (eq. 8.2) pulls each image's
vector towards its own caption's and away from the other captions of the batch (and the
other way round), at a learned temperature tau (eq. 8.1). After training, the cosine
similarity of an image and a text says how well they match: zero-shot classification
(eq. 8.3) embeds one prompt per class and picks the most similar, and retrieval sorts a
collection by similarity to a query.

Shapes: tokens are int64 ``(B, L)`` (:class:`genmodels_course.captions.Tokenizer`),
images ``(B, 1, 28, 28)`` in ``[0, 1]``, embeddings ``(B, D)``.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["TextTower", "ImageTower", "CLIP", "clip_loss", "zero_shot_logits",
           "zero_shot_classify", "retrieve", "embed_prompts", "embed_in_batches",
           "make_clip_step"]


def _check_emb(name: str, e) -> None:
    if not isinstance(e, Tensor) or not torch.is_floating_point(e) or e.ndim != 2 or e.shape[0] == 0:
        shape = tuple(e.shape) if isinstance(e, Tensor) else type(e).__name__
        raise ValueError(f"{name} must be a non-empty floating-point tensor (B, D), got {shape}")


class TextTower(nn.Module):
    """A small Transformer encoder over word tokens, mean-pooled over the non-padding
    positions and projected to ``embed_dim``: ``(B, L)`` int64 -> ``(B, embed_dim)``.

    :meth:`token_features` gives the per-token outputs ``(B, L, width)`` and the padding
    mask, for a denoiser that attends over the words (cross-attention)."""

    def __init__(self, vocab_size: int, width: int = 64, layers: int = 2, heads: int = 4,
                 length: int = 12, embed_dim: int = 64):
        super().__init__()
        if vocab_size < 3 or width % heads or length < 2:
            raise ValueError("need vocab_size >= 3, width divisible by heads and length >= 2")
        self.length = length
        self.token = nn.Embedding(vocab_size, width, padding_idx=0)
        self.pos = nn.Parameter(torch.randn(length, width) * 0.02)
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.proj = nn.Linear(width, embed_dim)

    def token_features(self, tokens: Tensor):
        if not isinstance(tokens, Tensor) or tokens.dtype != torch.long or tokens.ndim != 2:
            raise ValueError("tokens must be an int64 tensor (B, L) from Tokenizer.encode")
        if tokens.shape[1] > self.length or tokens.shape[0] == 0:
            raise ValueError(f"tokens must have shape (B > 0, L <= {self.length}), got {tuple(tokens.shape)}")
        pad = tokens == 0
        h = self.token(tokens) + self.pos[: tokens.shape[1]]
        h = self.norm(self.encoder(h, src_key_padding_mask=pad))
        return h, pad

    def forward(self, tokens: Tensor) -> Tensor:
        h, pad = self.token_features(tokens)
        keep = (~pad).unsqueeze(-1).to(h.dtype)
        return self.proj((h * keep).sum(1) / keep.sum(1).clamp(min=1))


class ImageTower(nn.Module):
    """A small CNN: ``(B, 1, 28, 28)`` -> ``(B, embed_dim)``. The last layer sees the 7x7
    feature map flattened (no global pooling), so size and position stay visible."""

    def __init__(self, width: int = 32, embed_dim: int = 64):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1), nn.SiLU(),
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(2 * w, 2 * w, 3, stride=2, padding=1), nn.SiLU(),
            nn.Flatten(), nn.Linear(2 * w * 49, embed_dim))

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"ImageTower expects images (B, 1, 28, 28) in [0, 1], got {shape}")
        return self.net(x)


class CLIP(nn.Module):
    """The two towers and the learned temperature: ``logit_scale = log(1 / tau)``, started
    at tau = 0.07 as in Radford et al. and capped at 1/tau = 100 (eq. 8.1).

    ``encode_text`` and ``encode_image`` return unit vectors; ``forward(x, tokens)``
    returns the loss (8.2) of a batch of matching pairs."""

    def __init__(self, vocab_size: int, embed_dim: int = 64, text_width: int = 64,
                 text_layers: int = 2, image_width: int = 32, length: int = 12):
        super().__init__()
        self.text = TextTower(vocab_size, text_width, text_layers, length=length, embed_dim=embed_dim)
        self.image = ImageTower(image_width, embed_dim)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.embed_dim = embed_dim

    def scale(self) -> Tensor:
        return self.logit_scale.clamp(max=math.log(100.0))

    @property
    def context_length(self) -> int:
        """The most tokens the text tower reads (a pretrained CLIP has the same attribute)."""
        return self.text.length

    def encode_text(self, tokens: Tensor) -> Tensor:
        return F.normalize(self.text(tokens), dim=-1)

    def encode_image(self, x: Tensor) -> Tensor:
        return F.normalize(self.image(x), dim=-1)

    def forward(self, x: Tensor, tokens: Tensor) -> Tensor:
        return clip_loss(self.encode_image(x), self.encode_text(tokens), self.scale())


def clip_loss(image_emb: Tensor, text_emb: Tensor, logit_scale: Tensor) -> Tensor:
    """The symmetric InfoNCE loss of CLIP (eq. 8.2), a scalar.

    image_emb, text_emb: ``(B, D)``, row ``i`` of each a matching pair (normalised here, so
    any length will do); logit_scale: a 0-d tensor, ``log(1 / tau)``. With
    ``S = exp(logit_scale) * I T^T`` (cosine similarities over the temperature), the loss
    is the mean of the cross-entropy of each row of ``S`` (image -> text) and of each
    column (text -> image), the right answer on the diagonal.
    """
    _check_emb("image_emb", image_emb)
    _check_emb("text_emb", text_emb)
    if image_emb.shape != text_emb.shape:
        raise ValueError(f"image_emb {tuple(image_emb.shape)} and text_emb "
                         f"{tuple(text_emb.shape)} must have the same shape")
    if not isinstance(logit_scale, Tensor) or logit_scale.numel() != 1:
        raise ValueError("logit_scale must be a one-element tensor, log(1 / tau)")
    i, t = F.normalize(image_emb, dim=-1), F.normalize(text_emb, dim=-1)
    logits = logit_scale.reshape(()).exp() * i @ t.T
    target = torch.arange(len(i), device=i.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def zero_shot_logits(image_emb: Tensor, prompt_emb: Tensor) -> Tensor:
    """Cosine similarity of each image with each class (eq. 8.3): ``(N, C)``.

    image_emb: ``(N, D)``; prompt_emb: ``(C, D)``, one prompt per class, or ``(C, K, D)``,
    K wordings per class, which are normalised, averaged and normalised again (a prompt
    ensemble). The predicted class is the argmax over the last dimension."""
    _check_emb("image_emb", image_emb)
    if not isinstance(prompt_emb, Tensor) or prompt_emb.ndim not in (2, 3) or prompt_emb.shape[0] == 0:
        raise ValueError("prompt_emb must be a tensor (C, D) or (C, K, D)")
    if prompt_emb.shape[-1] != image_emb.shape[-1]:
        raise ValueError(f"embedding sizes differ: images {image_emb.shape[-1]}, prompts {prompt_emb.shape[-1]}")
    p = F.normalize(prompt_emb, dim=-1)
    if p.ndim == 3:
        p = F.normalize(p.mean(1), dim=-1)
    return F.normalize(image_emb, dim=-1) @ p.T


def zero_shot_classify(image_emb: Tensor, prompt_emb: Tensor) -> Tensor:
    """The zero-shot prediction: int64 ``(N,)``, the class of the most similar prompt."""
    return zero_shot_logits(image_emb, prompt_emb).argmax(-1)


def retrieve(query_emb: Tensor, keys_emb: Tensor, k: int = 5) -> Tensor:
    """The ``k`` keys most similar to each query (cosine similarity), best first: int64
    ``(Q, k)``. Text -> image: queries are captions, keys images; image -> text the other way."""
    _check_emb("query_emb", query_emb)
    _check_emb("keys_emb", keys_emb)
    if not 1 <= k <= len(keys_emb):
        raise ValueError(f"k must lie in [1, {len(keys_emb)}], got {k}")
    sim = F.normalize(query_emb, dim=-1) @ F.normalize(keys_emb, dim=-1).T
    return sim.topk(k, dim=-1).indices


@torch.no_grad()
def embed_prompts(model: CLIP, tokenizer, templates, names, device=None) -> Tensor:
    """Unit text embeddings ``(C, K, D)`` of every template (``"... {name} ..."``) filled
    with every class name. ``model``: the small :class:`CLIP` or a pretrained one
    (:mod:`genmodels_course.pretrained_clip`), with its tokenizer."""
    if not templates or not names:
        raise ValueError("need at least one template and one name")
    device = device or model.logit_scale.device
    texts = [t.format(name=n) for n in names for t in templates]
    emb = model.encode_text(tokenizer.encode(texts, model.context_length, device=device))
    return emb.reshape(len(names), len(templates), -1)


@torch.no_grad()
def embed_in_batches(fn, x: Tensor, batch_size: int = 1000) -> Tensor:
    """``fn`` applied to slices of ``x`` (a tower's encoder on a whole data set)."""
    if len(x) == 0:
        raise ValueError("nothing to embed")
    return torch.cat([fn(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])


def make_clip_step(model: CLIP, generator: torch.Generator | None = None, loss=None):
    """A training step for ``gm.train.fit`` on batches ``(x, tokens)`` with ``tokens``
    ``(B, K, L)``: each image gets one of its K captions at random, then the loss (8.2),
    ``loss(image_emb, text_emb, logit_scale)`` (default :func:`clip_loss`; pass your own to
    train with it). Logs the temperature ``tau``."""
    loss = clip_loss if loss is None else loss

    def step(batch):
        x, tokens = batch
        k = torch.randint(0, tokens.shape[1], (len(x),), device=x.device, generator=generator)
        caption = tokens[torch.arange(len(x), device=x.device), k]
        value = loss(model.encode_image(x), model.encode_text(caption), model.scale())
        return value, {"tau": (1 / model.scale().exp()).detach()}

    return step
