"""Chapter 4: autoregressive models of binary images (PixelCNN).

The chain rule (4.1) writes any distribution over ``D`` pixels, taken in raster order, as
a product of conditionals ``p(x_i | x_<i)``. A PixelCNN (van den Oord et al., 2016)
computes all ``D`` conditionals in one pass of a convolutional network whose kernels are
*masked* so that the output at pixel ``i`` never sees pixels ``>= i`` (type A, the first
layer) or ``> i`` (type B, every later layer), eq. (4.2). The log-likelihood (4.3) is then
exact: a sum of ``D`` Bernoulli log-probabilities. Sampling is sequential: ``D`` passes,
one pixel each (:func:`sample`).

Shapes: images are ``(N, 1, H, W)`` with values in {0, 1}; log-likelihoods are ``(N,)``
in nats.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["causal_mask", "MaskedConv2d", "PixelCNNConfig", "PixelCNN", "log_prob",
           "nll", "sequential_log_prob", "sample", "make_step", "input_gradient"]


def causal_mask(kernel_size: int, mask_type: str) -> torch.Tensor:
    """The ``(k, k)`` 0/1 mask of a masked convolution, eq. (4.2).

    With the kernel centred on the output pixel, the mask keeps every row above the centre
    and, in the centre row, the columns left of the centre: exactly the pixels that come
    before it in raster order. Type ``"A"`` masks the centre too (the first layer must not
    see the pixel it predicts); type ``"B"`` keeps it (later layers may use their own
    position, which by then only carries information about earlier pixels).
    """
    if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size should be an odd positive int, got {kernel_size!r}")
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask_type should be 'A' or 'B', got {mask_type!r}")
    c = kernel_size // 2
    mask = torch.zeros(kernel_size, kernel_size)
    mask[:c, :] = 1.0
    mask[c, :c] = 1.0
    if mask_type == "B":
        mask[c, c] = 1.0
    return mask


class MaskedConv2d(nn.Conv2d):
    """A same-padded convolution whose kernel is multiplied by :func:`causal_mask`."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 mask_type: str):
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.mask_type = mask_type
        self.register_buffer("mask", causal_mask(kernel_size, mask_type))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


@dataclasses.dataclass
class PixelCNNConfig:
    """Sizes of a :class:`PixelCNN`: ``channels`` wide, ``layers`` type-B blocks."""

    channels: int = 32
    layers: int = 4
    first_kernel: int = 7
    kernel: int = 3


class _Block(nn.Module):
    """A residual block: ReLU, a type-B masked conv, ReLU, a 1x1 conv (still causal)."""

    def __init__(self, channels: int, kernel: int):
        super().__init__()
        self.conv = MaskedConv2d(channels, channels, kernel, "B")
        self.mix = nn.Conv2d(channels, channels, 1)

    def forward(self, h):
        return h + self.mix(F.relu(self.conv(F.relu(h))))


class PixelCNN(nn.Module):
    """A small PixelCNN for binary images: one logit of ``p(x_i = 1 | x_<i)`` per pixel.

    One type-A layer (``first_kernel``), ``layers`` residual type-B blocks, and two 1x1
    convolutions. Fully convolutional: any ``(N, 1, H, W)`` works, which the tests use to
    check (4.3) on small images.
    """

    def __init__(self, config: PixelCNNConfig | None = None):
        super().__init__()
        self.config = config or PixelCNNConfig()
        c = self.config.channels
        self.first = MaskedConv2d(1, c, self.config.first_kernel, "A")
        self.blocks = nn.Sequential(*[_Block(c, self.config.kernel)
                                      for _ in range(self.config.layers)])
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(c, c, 1), nn.ReLU(), nn.Conv2d(c, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 1, H, W)`` in {0, 1} -> logits ``(N, 1, H, W)``."""
        if x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(f"PixelCNN expects images of shape (N, 1, H, W), got {tuple(x.shape)}")
        # centring the input makes a 0 pixel differ from the zero padding of the borders
        return self.head(self.blocks(self.first(2.0 * x - 1.0)))


def _check_binary(x: torch.Tensor) -> None:
    if x.dim() != 4 or x.shape[1] != 1:
        raise ValueError(f"expected binary images of shape (N, 1, H, W), got {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError("got an empty batch")
    if not torch.all((x == 0) | (x == 1)):
        raise ValueError("expected binary pixels (0 or 1): binarise the images first")


def log_prob(model: PixelCNN, x: torch.Tensor) -> torch.Tensor:
    """Exact ``log p(x) = sum_i log p(x_i | x_<i)``, eq. (4.3): ``(N,)`` nats."""
    _check_binary(x)
    logits = model(x)
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


@torch.no_grad()
def nll(model: PixelCNN, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """The negative log-likelihood of every image, ``(N,)`` nats, in batches."""
    _check_binary(x)
    return torch.cat([-log_prob(model, x[i:i + batch_size])
                      for i in range(0, x.shape[0], batch_size)])


@torch.no_grad()
def sequential_log_prob(model: PixelCNN, x: torch.Tensor) -> torch.Tensor:
    """``log p(x)`` computed the slow way, one conditional at a time.

    For each pixel ``i`` the network sees an image in which only the pixels before ``i``
    are filled in (the rest are zero) and only its output at ``i`` is used. If the masks
    are right this equals :func:`log_prob`; the tests compare the two. ``(N,)`` nats.
    """
    _check_binary(x)
    n, _, h, w = x.shape
    total = torch.zeros(n, device=x.device)
    seen = torch.zeros_like(x)
    for r in range(h):
        for c in range(w):
            logit = model(seen)[:, 0, r, c]
            total -= F.binary_cross_entropy_with_logits(logit, x[:, 0, r, c], reduction="none")
            seen[:, 0, r, c] = x[:, 0, r, c]
    return total


@torch.no_grad()
def sample(model: PixelCNN, n: int, shape: tuple = (1, 28, 28),
           generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw ``n`` images pixel by pixel in raster order: ``H * W`` network passes.

    The output at row ``r`` depends only on rows ``<= r`` (the masks), so each pass runs on
    the rows ``0..r`` alone, which halves the work and changes nothing. ``(n, 1, H, W)``.
    """
    if n <= 0:
        raise ValueError(f"n should be positive, got {n}")
    device = next(model.parameters()).device
    x = torch.zeros(n, *shape, device=device)
    for r in range(shape[1]):
        for c in range(shape[2]):
            logit = model(x[:, :, :r + 1])[:, 0, r, c]
            u = torch.rand(n, generator=generator, device=device)
            x[:, 0, r, c] = (u < torch.sigmoid(logit)).float()
    return x


def make_step(model: PixelCNN, generator: torch.Generator | None = None):
    """A training step for :func:`genmodels_course.train.fit` on grey-level images.

    Each batch is binarised afresh (dynamic binarisation) and the loss is the mean
    negative log-likelihood (4.3) in nats per image.
    """
    from .data import binarize_dynamic

    def step(batch):
        x = binarize_dynamic(batch[0], generator=generator)
        return -log_prob(model, x).mean()

    return step


def input_gradient(model: nn.Module, shape: tuple, pixel: tuple[int, int]) -> torch.Tensor:
    """``|d logit(pixel) / d x|``, summed over 8 random binary inputs: ``(H, W)``.

    Nonzero entries are the pixels that the conditional at ``pixel`` can see: its
    receptive field. Pixels at or after ``pixel`` in raster order must be zero; the
    stacked masks also leave a *blind spot* above and to the right.
    """
    g = torch.Generator().manual_seed(0)
    device = next(model.parameters()).device
    x = (torch.rand(8, *shape, generator=g) < 0.5).float().to(device).requires_grad_(True)
    r, c = pixel
    model(x)[:, 0, r, c].sum().backward()
    return x.grad[:, 0].abs().sum(0).detach().cpu()
