"""Captions for chapter 8: attributes measured from the pixels, caption templates and a
word-level tokenizer.

MNIST digits and Fashion-MNIST garments share one label space of 20 classes (0-9 the
digits, 10-19 the garments). Each image gets a few attributes computed from its pixels:

* ``thickness``: stroke thickness, the ink area divided by its boundary (a bar of width
  ``w`` gives about ``w / 2``; the ratio does not depend on the length of the stroke);
* ``size``: the spread of the ink, ``sqrt(var(row) + var(col))`` of the ink-weighted pixels;
* ``slant``: the shear of the ink, ``-cov(row, col) / var(row)`` (positive: the top leans
  right, as in ``/``);
* ``shade``: the mean intensity of the inked pixels (dark garments are bright on MNIST's
  black background: "dark" here means much ink).

Words come from comparing each number with a threshold per class (the class median of the
training set, :func:`fit_thresholds`), so that "thick" means thick for this digit and
each word covers about half of each class. Captions fill templates with those words, so
that prompts compose a class with attributes: "a thick small digit seven".
"""
from __future__ import annotations

import re

import torch
from torch import Tensor

__all__ = ["DIGITS", "GARMENTS", "CLASS_NAMES", "ATTRIBUTES", "WORDS", "TRAIN_TEMPLATES",
           "HELDOUT_TEMPLATES", "measure", "fit_thresholds", "attribute_codes", "caption",
           "captions", "holdout_mask", "Tokenizer", "load_captioned"]

DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
GARMENTS = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker",
            "bag", "ankle boot"]
CLASS_NAMES = DIGITS + GARMENTS  # class c: a digit for c < 10, a garment for c >= 10
ATTRIBUTES = ("thickness", "size", "slant", "shade")
# the word for code 0 (below the class median) and for code 1 (above it)
WORDS = {"thickness": ("thin", "thick"), "size": ("small", "large"),
         "slant": ("left", "right"), "shade": ("light", "dark")}

# Training captions: K templates per domain (the same K for both, so that a caption tensor
# is (N, K, L)). {name} is the class; the other fields are attribute words.
TRAIN_TEMPLATES = {
    "digit": ["a {thickness} {size} digit {name}",
              "the number {name} written with {thickness} strokes",
              "a {size} {name} leaning {slant}",
              "handwritten {name}",
              "a {name} leaning {slant} in {thickness} ink",
              "{name}"],
    "garment": ["a {shade} {size} {name}",
                "a photo of a {name}",
                "a {size} {name} in {shade} colour",
                "a {name}",
                "a picture of a {shade} {name}",
                "{name}"],
}
# Zero-shot wordings: never a training caption, built from words that training uses
# elsewhere (a digit template's words around a garment and the other way round).
HELDOUT_TEMPLATES = ["a photo of the {name}", "a picture of the number {name}",
                     "the {name} written"]


# --------------------------------------------------------------------------- attributes
def _check_images(x) -> None:
    if not isinstance(x, Tensor) or x.ndim != 4 or x.shape[1] != 1 or x.shape[0] == 0:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"expected a non-empty batch of grey images (N, 1, H, W), got {shape}")
    if not torch.is_floating_point(x) or float(x.min()) < 0 or float(x.max()) > 1:
        raise ValueError("images must be floating point with values in [0, 1]")


@torch.no_grad()
def measure(x: Tensor, threshold: float = 0.5) -> dict[str, Tensor]:
    """The attributes of each image as numbers: ``{name: (N,) float tensor}`` for the
    names of :data:`ATTRIBUTES`. ``x``: ``(N, 1, H, W)`` in ``[0, 1]``; ``threshold``: a
    pixel at or above it is ink for the thickness and the shade."""
    _check_images(x)
    x = x.float()
    ink = x >= threshold
    pad = torch.nn.functional.pad(ink.float(), (1, 1, 1, 1))
    # a pixel is interior if it and its four neighbours are ink (a 4-neighbour erosion)
    interior = ink & (pad[..., :-2, 1:-1] > 0) & (pad[..., 2:, 1:-1] > 0) \
        & (pad[..., 1:-1, :-2] > 0) & (pad[..., 1:-1, 2:] > 0)
    area = ink.flatten(1).sum(1).float()
    boundary = (ink & ~interior).flatten(1).sum(1).float()
    thickness = area / boundary.clamp(min=1)
    shade = (x * ink).flatten(1).sum(1) / area.clamp(min=1)
    H, W = x.shape[-2:]
    r = torch.arange(H, dtype=x.dtype, device=x.device)[:, None].expand(H, W)
    c = torch.arange(W, dtype=x.dtype, device=x.device)[None, :].expand(H, W)
    m = x[:, 0]
    mass = m.sum((1, 2)).clamp(min=1e-6)
    rbar = (m * r).sum((1, 2)) / mass
    cbar = (m * c).sum((1, 2)) / mass
    dr, dc = r - rbar[:, None, None], c - cbar[:, None, None]
    var_r = (m * dr ** 2).sum((1, 2)) / mass
    var_c = (m * dc ** 2).sum((1, 2)) / mass
    cov = (m * dr * dc).sum((1, 2)) / mass
    return {"thickness": thickness, "size": (var_r + var_c).sqrt(),
            "slant": -cov / var_r.clamp(min=1e-6), "shade": shade}


def fit_thresholds(measures: dict[str, Tensor], y: Tensor, n_classes: int = 20) -> dict[str, Tensor]:
    """The median of each attribute in each class: ``{name: (n_classes,)}``. A class with
    no image gets the overall median."""
    out = {}
    for name, v in measures.items():
        th = torch.full((n_classes,), float(v.median()), device=v.device)
        for k in range(n_classes):
            sel = v[y == k]
            if len(sel):
                th[k] = sel.median()
        out[name] = th
    return out


def attribute_codes(measures: dict[str, Tensor], y: Tensor,
                    thresholds: dict[str, Tensor]) -> Tensor:
    """0/1 codes ``(N, len(ATTRIBUTES))``: 1 where the attribute is above its class's
    threshold (thick, large, leaning right, dark), in the order of :data:`ATTRIBUTES`."""
    y = torch.as_tensor(y).long()
    cols = [(measures[a] > thresholds[a].to(measures[a].device)[y.to(thresholds[a].device)]
             .to(measures[a].device)).long() for a in ATTRIBUTES]
    return torch.stack(cols, 1)


def caption(label: int, codes, template: str) -> str:
    """Fill ``template`` for class ``label`` (0-19) with the words of ``codes`` (a sequence
    of four 0/1 values in the order of :data:`ATTRIBUTES`)."""
    label = int(label)
    if not 0 <= label < len(CLASS_NAMES):
        raise ValueError(f"label must lie in [0, {len(CLASS_NAMES) - 1}], got {label}")
    codes = [int(v) for v in codes]
    if len(codes) != len(ATTRIBUTES) or any(v not in (0, 1) for v in codes):
        raise ValueError(f"codes must be {len(ATTRIBUTES)} values in {{0, 1}}, got {codes}")
    words = {a: WORDS[a][v] for a, v in zip(ATTRIBUTES, codes)}
    return template.format(name=CLASS_NAMES[label], **words)


def captions(y: Tensor, codes: Tensor, k: int) -> list[str]:
    """The captions of training template ``k`` for every image (``y`` (N,), ``codes`` (N, 4))."""
    out = []
    for label, c in zip(y.tolist(), codes.tolist()):
        domain = "digit" if label < 10 else "garment"
        out.append(caption(label, c, TRAIN_TEMPLATES[domain][k]))
    return out


def holdout_mask(y: Tensor, codes: Tensor, heldout) -> Tensor:
    """True for the images to keep: False where the class and one attribute's code form a
    held-out combination. ``heldout``: ``(class, attribute name, code)`` triples, such as
    ``(7, "thickness", 1)`` for thick sevens."""
    keep = torch.ones(len(y), dtype=torch.bool, device=y.device)
    for label, name, code in heldout:
        if name not in ATTRIBUTES:
            raise ValueError(f"unknown attribute {name!r}; expected one of {ATTRIBUTES}")
        keep &= ~((y == label) & (codes[:, ATTRIBUTES.index(name)] == code))
    return keep


# --------------------------------------------------------------------------- tokenizer
class Tokenizer:
    """A word-level tokenizer: lower case, split on spaces and commas, one id per word.

    Id 0 is padding, 1 an unknown word, 2 the start token (its position's output can
    summarise the caption). :meth:`encode` returns int64 ``(B, length)``."""

    PAD, UNK, START = 0, 1, 2

    def __init__(self, vocabulary):
        words = sorted(set(vocabulary))
        self.itos = ["<pad>", "<unk>", "<start>"] + words
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    @classmethod
    def for_captions(cls) -> "Tokenizer":
        """The vocabulary of every template and class name, the zero-shot wordings included."""
        templates = [t for group in TRAIN_TEMPLATES.values() for t in group]
        text = " ".join(CLASS_NAMES + HELDOUT_TEMPLATES + templates
                        + [w for pair in WORDS.values() for w in pair])
        return cls(w for w in cls.split(text) if "{" not in w)

    @staticmethod
    def split(text: str) -> list[str]:
        return [w for w in re.split(r"[\s,.]+", text.lower()) if w]

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, texts, length: int = 12, device=None) -> Tensor:
        """Token ids ``(B, length)``: ``<start>`` then the words, padded with 0 (cut at ``length``)."""
        if isinstance(texts, str):
            texts = [texts]
        if not texts:
            raise ValueError("encode needs at least one text")
        if length < 2:
            raise ValueError(f"length must be at least 2, got {length}")
        unique = sorted(set(texts))  # captions repeat a lot: encode each one once
        rows = torch.zeros(len(unique), length, dtype=torch.long)
        for i, t in enumerate(unique):
            ids = ([self.START] + [self.stoi.get(w, self.UNK) for w in self.split(t)])[:length]
            rows[i, :len(ids)] = torch.tensor(ids)
        index = {t: i for i, t in enumerate(unique)}
        out = rows[torch.tensor([index[t] for t in texts])]
        return out.to(device) if device is not None else out

    def decode(self, ids: Tensor) -> list[str]:
        return [" ".join(self.itos[i] for i in row.tolist() if i not in (self.PAD, self.START))
                for row in torch.as_tensor(ids).reshape(-1, ids.shape[-1])]


# --------------------------------------------------------------------------- data
def load_captioned(train: bool = True, n: int | None = None, device=None, seed: int = 0,
                   thresholds: dict | None = None, tokenizer: Tokenizer | None = None,
                   length: int = 12):
    """MNIST and Fashion-MNIST together, with captions.

    ``n`` images from each data set (``None``: all). Returns ``(x, y, codes, tokens,
    thresholds)``: ``x`` ``(2n, 1, 28, 28)`` in ``[0, 1]``; ``y`` in 0-19; ``codes``
    ``(2n, 4)`` (:func:`attribute_codes`); ``tokens`` ``(2n, K, length)`` the training
    captions of all K templates; ``thresholds`` fitted on this data unless given (pass
    the training set's for a test set).
    """
    from . import data

    xd, yd = data.load_mnist(train=train, n=n, device=device, seed=seed)
    xf, yf = data.load_fashion_mnist(train=train, n=n, device=device, seed=seed)
    x, y = torch.cat([xd, xf]), torch.cat([yd, yf + 10])
    m = measure(x)
    thresholds = thresholds or fit_thresholds(m, y)
    codes = attribute_codes(m, y, thresholds)
    tok = tokenizer or Tokenizer.for_captions()
    K = len(TRAIN_TEMPLATES["digit"])
    tokens = torch.stack([tok.encode(captions(y, codes, k), length) for k in range(K)], 1)
    return x, y, codes, tokens.to(x.device), thresholds
