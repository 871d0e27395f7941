"""Chapter 6: image-to-image translation, the networks and the losses.

Notation (chapter 6): a *paired* translator ``G`` maps an input image ``x`` to an output
``G(x)`` that should look like the target ``y`` (Pix2Pix, Isola et al. 2017); the
discriminator sees the pair ``(x, y)`` or ``(x, G(x))`` and outputs a grid of logits, one
per patch (PatchGAN). An *unpaired* translator (CycleGAN, Zhu et al. 2017) has two
generators, ``G: X -> Y`` and ``F: Y -> X``, and two discriminators ``D_X`` and ``D_Y``.

* (6.1) the conditional GAN value ``V(D, G) = E[log D(x, y)] + E[log(1 - D(x, G(x)))]``:
  the losses of chapter 5 (``gm.gan.discriminator_loss``, non-saturating generator loss)
  on the PatchGAN's logits, averaged over all patches;
* (6.2) the L1 loss ``E |y - G(x)|`` and (6.3) the Pix2Pix generator loss, cGAN + lambda L1
  (:func:`pix2pix_generator_loss`);
* (6.4) why L1: a constant that minimises the expected absolute error is a median, one
  that minimises the squared error is the mean (a blur of the plausible outputs);
* (6.5) the PatchGAN receptive field, ``r_{l-1} = (r_l - 1) s_l + k_l`` from the last layer
  back (:func:`receptive_field`);
* (6.7) the cycle-consistency loss ``E |F(G(x)) - x| + E |G(F(y)) - y|``
  (:func:`cycle_consistency_loss`) and (6.8) the identity loss
  ``E |G(y) - y| + E |F(x) - x|`` (:func:`identity_loss`), weighted with the two
  adversarial losses (6.6) into CycleGAN's objective (6.9).

Images are in the tanh range [-1, 1] with shape ``(N, C, H, W)``. Networks take a CPU
``generator=`` for their initial weights (N(0, 0.02), as pix2pix and DCGAN).
The training recipes live next door: :mod:`~genmodels_course.pix2pix` and
:mod:`~genmodels_course.cyclegan`.
"""
from __future__ import annotations

import torch
from torch import nn

from . import metrics
from .gan import generator_loss_nonsaturating

__all__ = ["skip_concat", "UNetGenerator", "PatchDiscriminator", "receptive_field",
           "patch_receptive_field", "measured_receptive_field", "l1_loss",
           "pix2pix_generator_loss", "cycle_consistency_loss", "identity_loss", "psnr"]


def _init(net: nn.Module, generator: torch.Generator | None) -> None:
    # pix2pix: conv weights from N(0, 0.02), norm scales from N(1, 0.02), biases zero
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02, generator=generator)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02, generator=generator)
            nn.init.zeros_(m.bias)


def _norm(kind: str, c: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(c)
    if kind == "instance":
        return nn.InstanceNorm2d(c)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be 'batch', 'instance' or 'none', got {kind!r}")


def _check_images(x, name: str, channels: int | None = None) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or not x.dtype.is_floating_point:
        raise ValueError(f"{name} should be a floating-point torch tensor of images")
    if x.ndim != 4 or x.shape[0] == 0:
        raise ValueError(f"{name} should be a non-empty batch of images (N, C, H, W), got shape {tuple(x.shape)}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{name} should have {channels} channels, got shape {tuple(x.shape)}")
    return x


# ---------------------------------------------------------------- the U-Net generator
def skip_concat(up: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
    """A U-Net skip connection: ``(N, C1, H, W)`` decoder features and ``(N, C2, H, W)``
    encoder features at the same resolution -> ``(N, C1 + C2, H, W)``, decoder first.

    The encoder's features reach the decoder unchanged, so fine detail (edges, where a
    window is) need not squeeze through the bottleneck."""
    if up.ndim != 4 or skip.ndim != 4:
        raise ValueError(f"skip_concat expects two (N, C, H, W) tensors, got {tuple(up.shape)} and {tuple(skip.shape)}")
    if up.shape[0] != skip.shape[0] or up.shape[2:] != skip.shape[2:]:
        raise ValueError(f"skip_concat: batch and spatial sizes must match, got {tuple(up.shape)} "
                         f"(decoder) and {tuple(skip.shape)} (encoder)")
    return torch.cat([up, skip], dim=1)


class UNetGenerator(nn.Module):
    """The Pix2Pix generator: an encoder-decoder with skip connections (Ronneberger et al. 2015).

    ``(N, in_channels, H, W)`` in [-1, 1] -> ``(N, out_channels, H, W)`` in [-1, 1] (tanh).
    ``depth`` strided 4x4 convolutions halve the size down to ``H / 2**depth`` (so H and W
    must be divisible by ``2**depth``), and as many transposed convolutions double it
    back. Level k has ``width * 2**min(k, 3)`` channels. With ``skips=True`` each decoder
    level receives the encoder's features of its resolution (:func:`skip_concat`); with
    ``skips=False`` it is a plain encoder-decoder, everything through the bottleneck.
    ``dropout`` (pix2pix: 0.5) acts on the ``n_dropout`` decoder levels nearest the
    bottleneck: in Pix2Pix it is the only source of noise. LeakyReLU(0.2) down, ReLU up,
    ``norm`` ('batch', 'instance' or 'none') everywhere except the first and the innermost
    layer and the output.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, width: int = 32, depth: int = 4,
                 skips: bool = True, dropout: float = 0.5, n_dropout: int = 3, norm: str = "batch",
                 generator: torch.Generator | None = None):
        super().__init__()
        if min(in_channels, out_channels, width, depth) < 1:
            raise ValueError("in_channels, out_channels, width and depth must be positive")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.in_channels, self.out_channels, self.depth, self.skips = in_channels, out_channels, depth, skips
        ch = [width * 2 ** min(k, 3) for k in range(depth)]
        self.down = nn.ModuleList()
        for k in range(depth):
            c_in = in_channels if k == 0 else ch[k - 1]
            layers = [nn.Conv2d(c_in, ch[k], 4, 2, 1, bias=norm == "none" or k in (0, depth - 1))]
            if 0 < k < depth - 1:
                layers.append(_norm(norm, ch[k]))
            layers.append(nn.LeakyReLU(0.2))
            self.down.append(nn.Sequential(*layers))
        self.up = nn.ModuleList()
        for k in reversed(range(1, depth)):  # from the bottleneck (level depth-1) up to level 1
            c_in = ch[k] * (2 if skips and k < depth - 1 else 1)
            layers = [nn.ConvTranspose2d(c_in, ch[k - 1], 4, 2, 1, bias=norm == "none"), _norm(norm, ch[k - 1]),
                      nn.ReLU()]
            if dropout > 0 and depth - 1 - k < n_dropout:
                layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))
        c_last = ch[0] * (2 if skips and depth > 1 else 1)
        self.out = nn.Sequential(nn.ConvTranspose2d(c_last, out_channels, 4, 2, 1), nn.Tanh())
        _init(self, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_images(x, "x", self.in_channels)
        f = 2 ** self.depth
        if x.shape[2] % f or x.shape[3] % f:
            raise ValueError(f"UNetGenerator(depth={self.depth}) halves the image {self.depth} times: height and "
                             f"width must be divisible by {f}, got {x.shape[2]}x{x.shape[3]}")
        hs = []
        h = x
        for layer in self.down:
            h = layer(h)
            hs.append(h)
        hs.pop()  # the bottleneck itself is not a skip
        for layer in self.up:
            h = layer(h)
            if self.skips:
                h = skip_concat(h, hs.pop())
        return self.out(h)


# ---------------------------------------------------------------- the PatchGAN discriminator
class PatchDiscriminator(nn.Module):
    """PatchGAN (Isola et al. 2017): ``(N, in_channels, H, W)`` -> a grid of logits ``(N, 1, H', W')``.

    ``n_layers`` strided 4x4 convolutions, then two 4x4 convolutions of stride 1 (padding 1
    everywhere); each output logit judges one patch of the input, of the size given by
    :func:`receptive_field` (70x70 for ``n_layers=3``, pix2pix's default; 34 for 2, 16 for
    1). For a conditional discriminator pass the input and the output concatenated along
    the channels (``in_channels`` = the sum of their channels). H and W must be at least
    ``2**n_layers * 4`` or the grid would be empty.
    """

    def __init__(self, in_channels: int = 6, width: int = 32, n_layers: int = 3, norm: str = "batch",
                 generator: torch.Generator | None = None):
        super().__init__()
        if min(in_channels, width) < 1 or n_layers < 0:
            raise ValueError("in_channels and width must be positive and n_layers >= 0")
        self.in_channels, self.n_layers = in_channels, n_layers
        layers, c = [nn.Conv2d(in_channels, width, 4, 2 if n_layers else 1, 1), nn.LeakyReLU(0.2)], width
        for k in range(1, n_layers + 1):
            c_out = width * 2 ** min(k, 3)
            stride = 2 if k < n_layers else 1
            layers += [nn.Conv2d(c, c_out, 4, stride, 1, bias=norm == "none"), _norm(norm, c_out), nn.LeakyReLU(0.2)]
            c = c_out
        layers.append(nn.Conv2d(c, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)
        _init(self, generator)

    @property
    def min_size(self) -> int:
        """The smallest input side that gives at least one logit."""
        side = 1
        for m in reversed([m for m in self.net if isinstance(m, nn.Conv2d)]):
            side = (side - 1) * m.stride[0] + m.kernel_size[0] - 2 * m.padding[0]
        return side

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_images(x, "PatchDiscriminator input", self.in_channels)
        if min(x.shape[2:]) < self.min_size:
            raise ValueError(f"PatchDiscriminator(n_layers={self.n_layers}) needs inputs of at least "
                             f"{self.min_size}x{self.min_size}, got {x.shape[2]}x{x.shape[3]}")
        return self.net(x)


def receptive_field(layers) -> int:
    """The side of the input patch that one output unit of a stack of convolutions sees (6.5).

    ``layers``: ``[(kernel, stride), ...]`` from the input to the output. Going back from
    one output unit (r = 1), a layer of kernel k and stride s turns r units into
    ``(r - 1) * s + k`` units of its input. Padding does not change the size, only where
    the patch sits."""
    layers = list(layers)
    if not layers:
        raise ValueError("receptive_field needs at least one (kernel, stride) layer")
    r = 1
    for k, s in reversed(layers):
        if k < 1 or s < 1:
            raise ValueError(f"kernel and stride must be positive, got ({k}, {s})")
        r = (r - 1) * s + k
    return r


def patch_receptive_field(D: nn.Module) -> int:
    """(6.5) applied to the convolutions of a network, in order (a PatchDiscriminator)."""
    convs = [(m.kernel_size[0], m.stride[0]) for m in D.modules() if isinstance(m, nn.Conv2d)]
    return receptive_field(convs)


def measured_receptive_field(D: nn.Module, size: int = 96) -> tuple[int, int]:
    """The receptive field measured by autograd: the height and width of the input region
    where the gradient of the central output logit is nonzero.

    Runs ``D`` in eval mode (batch norm then acts per pixel; instance norm would couple
    all pixels and make the whole image the receptive field) on a random input of
    ``size x size``, whose own generator is fixed."""
    was = D.training
    D.eval()
    p = next(D.parameters())
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, D.in_channels, size, size, generator=g).to(p.device, p.dtype).requires_grad_(True)
    out = D(x)
    i, j = out.shape[2] // 2, out.shape[3] // 2
    (grad,) = torch.autograd.grad(out[0, 0, i, j], x)
    D.train(was)
    support = grad.abs().sum(dim=(0, 1)) > 0
    rows, cols = support.any(1).nonzero(), support.any(0).nonzero()
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


# ---------------------------------------------------------------- losses
def l1_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(6.2) the mean absolute error over every pixel, a 0-d tensor."""
    if output.shape != target.shape:
        raise ValueError(f"output and target must have the same shape, got {tuple(output.shape)} "
                         f"and {tuple(target.shape)}")
    return (output - target).abs().mean()


def pix2pix_generator_loss(fake_logits: torch.Tensor, fake: torch.Tensor, target: torch.Tensor,
                           lam: float = 100.0) -> torch.Tensor:
    """The Pix2Pix generator loss (6.3): ``-mean log D(x, G(x)) + lam * mean |y - G(x)|``.

    ``fake_logits``: the PatchGAN's logits on the pairs ``(x, G(x))``, any shape (every
    patch counts once in the mean); ``fake`` ``G(x)`` and ``target`` ``y``: images of the same
    shape. The adversarial part is chapter 5's non-saturating loss (5.6); ``lam`` = 100 is
    the weight of Isola et al. Returns a 0-d tensor."""
    return generator_loss_nonsaturating(fake_logits) + lam * l1_loss(fake, target)


def cycle_consistency_loss(x: torch.Tensor, x_cycled: torch.Tensor, y: torch.Tensor,
                           y_cycled: torch.Tensor) -> torch.Tensor:
    """The cycle-consistency loss (6.7): ``mean |F(G(x)) - x| + mean |G(F(y)) - y|``.

    ``x``: images of domain X, ``x_cycled`` = F(G(x)) (same shape); ``y``, ``y_cycled`` =
    G(F(y)) likewise for domain Y (the two batches may differ in size). Each term is a
    mean over its own batch and pixels. Returns a 0-d tensor."""
    return l1_loss(x_cycled, x) + l1_loss(y_cycled, y)


def identity_loss(G: nn.Module, F: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The identity loss (6.8): ``mean |G(y) - y| + mean |F(x) - x|``.

    ``G: X -> Y`` fed an image that is already in Y should leave it alone, and so should
    ``F: Y -> X`` fed an image of X. It keeps colours and intensities from drifting
    (Zhu et al. 2017, Taigman et al. 2017). Returns a 0-d tensor."""
    return l1_loss(G(y), y) + l1_loss(F(x), x)


@torch.no_grad()
def psnr(output: torch.Tensor, target: torch.Tensor, max_value: float = 2.0) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(max_value^2 / MSE)`` per image, averaged
    over the batch. The default ``max_value`` = 2 is the span of images in [-1, 1]."""
    _check_images(output, "output")
    if output.shape != target.shape:
        raise ValueError(f"output and target must have the same shape, got {tuple(output.shape)} "
                         f"and {tuple(target.shape)}")
    return float(metrics.psnr(output, target, max_val=max_value).mean())
