"""Chapter 9, section 9.7: one scoreboard for the book's image models.

Every MNIST model that the book ships (chapter 3's VAE, chapter 4's PixelCNN and
multi-scale flow, chapter 5's DCGAN, chapter 7's U-Net) is loaded through
:mod:`genmodels_course.weights`, sampled with the same seeds, and scored with the same
measures against the same real images:

* quality and diversity in one number: the Frechet distance (9.2) and KID (9.3) on the
  package's classifier features;
* the two apart: precision (quality) and recall (coverage) (9.5), the share of samples the
  classifier recognises with confidence >= 0.9, and the effective number of classes;
* generalisation: the share of samples that sit closer to a training image than held-out
  test images ever do (9.6);
* speed: seconds per 1,000 samples on the machine that runs it.

Likelihoods sit in a table of their own (:func:`likelihoods`): they exist only for some
models and only on the data each model was trained on (binarised or 8-bit images).
"""
from __future__ import annotations

import dataclasses
import time
from typing import Callable

import torch

from . import data, evaluation, metrics, runtime, weights

__all__ = ["MODELS", "Sampler", "shipped_sampler", "draw", "disjoint_subsets", "Reference", "reference",
           "copy_check", "score", "likelihoods"]

#: the shipped MNIST models of the book: name -> (row title, what a "sample" is)
MODELS = {
    "vae_mnist": ("VAE (ch. 3)", "decoder means sigmoid(decode(z)), z ~ N(0, I)"),
    "pixelcnn_mnist": ("PixelCNN (ch. 4)", "binary images drawn pixel by pixel"),
    "glow_mnist": ("multi-scale flow (ch. 4)", "f^-1(z), z ~ N(0, I), temperature 1"),
    "dcgan_mnist": ("DCGAN (ch. 5)", "G(z), z ~ N(0, I), EMA generator"),
    "unet_mnist": ("diffusion U-Net (ch. 7)", "DDIM, 50 steps, the manifest's eta"),
}


@dataclasses.dataclass
class Sampler:
    """A shipped model ready to draw: ``fn(n, generator)`` -> images ``(n, 1, 28, 28)`` in [0, 1]."""

    name: str
    title: str
    what: str
    fn: Callable[[int, torch.Generator], torch.Tensor]
    label: str
    manifest: dict
    device: torch.device
    model: torch.nn.Module


def shipped_sampler(name: str, device: torch.device | str | None = None) -> Sampler:
    """Load the shipped model ``name`` (one of :data:`MODELS`) and wrap its sampler."""
    if name not in MODELS:
        raise ValueError(f"no scoreboard entry for {name!r}; the entries are {', '.join(MODELS)}")
    from . import autoregressive, diffusion, gan, glow

    model, meta = weights.load(name, device=device)
    dev = next(model.parameters()).device

    if name == "vae_mnist":
        def fn(n, g):
            return model.sample(n, generator=g)
    elif name == "pixelcnn_mnist":
        def fn(n, g):
            return autoregressive.sample(model, n, generator=g)
    elif name == "glow_mnist":
        def fn(n, g):
            return glow.to_pixels(model.sample(n, temperature=1.0, generator=g))
    elif name == "dcgan_mnist":
        def fn(n, g):
            return gan.sample_images(model, n, generator=g)
    else:
        schedule = diffusion.NoiseSchedule.linear(1000, device=dev)
        eta = meta["metrics"].get("ddim_eta", 0.0)

        def fn(n, g):
            return data.from_tanh_range(diffusion.ddim_sample(
                model, (n, 1, 28, 28), schedule, steps=50, eta=eta, generator=g, clip=1.0))
    title, what = MODELS[name]
    return Sampler(name, title, what, torch.no_grad()(fn), weights.label(name), meta, dev, model)


def draw(sampler: Sampler, n: int, seed: int = 0, batch: int = 500) -> tuple[torch.Tensor, float]:
    """``n`` samples in batches, seeded by ``seed``: ``(images on the CPU, seconds per 1,000)``."""
    if n <= 0:
        raise ValueError(f"draw needs n > 0 samples, got {n}")
    g = runtime.generator(seed, device=sampler.device)
    start = time.perf_counter()
    out = [sampler.fn(min(batch, n - i), g).float().cpu() for i in range(0, n, batch)]  # .cpu() waits
    seconds = time.perf_counter() - start
    return torch.cat(out), 1000 * seconds / n


def disjoint_subsets(n_images: int, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of two disjoint random sets of ``n`` of ``n_images`` images: ``(reference, fresh)``.

    Random, not by position: MNIST's test set is ordered (its first 5,000 images come from
    other writers than its last 5,000), so its two halves by position differ measurably."""
    if n < 1 or 2 * n > n_images:
        raise ValueError(f"disjoint_subsets needs 1 <= n <= n_images / 2 = {n_images // 2}, got n = {n}")
    order = torch.randperm(n_images, generator=torch.Generator().manual_seed(seed))
    return order[:n], order[n:2 * n]


@dataclasses.dataclass
class Reference:
    """The real images every model is measured against, with their features computed once."""

    test: torch.Tensor        # (N, 1, 28, 28) held-out images, the target distribution
    train: torch.Tensor       # (M, 1, 28, 28) all training images (for the copy check)
    test_feats: torch.Tensor  # (N, 128)
    test_nn: torch.Tensor     # (N,) each test image's distance to its nearest training image


def reference(test: torch.Tensor, train: torch.Tensor) -> Reference:
    """Precompute what :func:`score` needs of the real images (pixels in [0, 1])."""
    for nm, x in (("test", test), ("train", train)):
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"reference expects {nm} images of shape (N, 1, 28, 28), got {tuple(x.shape)}")
    test, train = test.float().cpu(), train.float().cpu()
    nn_test = evaluation.nearest_neighbours(test, train, k=1)[0][:, 0]
    return Reference(test, train, metrics.features(test).cpu(), nn_test)


def copy_check(fake: torch.Tensor, ref: Reference, quantile: float = 0.01) -> dict:
    """:func:`genmodels_course.evaluation.memorisation` of ``fake`` against the reference's
    training and test images (eq. 9.6), reusing the test images' distances."""
    return evaluation.memorisation(fake.float().cpu(), ref.train, ref.test, quantile, test_nn=ref.test_nn)


def score(fake: torch.Tensor, ref: Reference, k: int = 3, kid_subset: int = 1000,
          kid_subsets: int = 50, copy_quantile: float = 0.01, seed: int = 0,
          copies: bool = True) -> dict:
    """Every sample-based measure of chapter 9 for images ``fake (n, 1, 28, 28)`` in [0, 1].

    Returns ``{"n", "fd", "kid", "kid_std", "precision", "recall", "confident",
    "classes", "copies"}``; the Frechet distance and the recall depend on ``n`` (compare
    rows only at the same ``n``), KID does not on average. ``copies=False`` leaves out the
    search of the training set (the slow part; ``"copies"`` is then None).
    """
    if fake.ndim != 4 or tuple(fake.shape[1:]) != (1, 28, 28) or len(fake) <= k:
        raise ValueError(f"score expects more than k = {k} images of shape (n, 1, 28, 28), "
                         f"got {tuple(fake.shape)}")
    fake = fake.float().cpu()
    if fake.min() < 0 or fake.max() > 1:
        raise ValueError("score expects pixels in [0, 1]; map tanh outputs with gm.data.from_tanh_range")
    f = metrics.features(fake).cpu()
    n_ref = min(len(fake), len(ref.test))  # precision/recall on sets of equal size
    kid, kid_std = evaluation.kid(f, ref.test_feats, n_subsets=kid_subsets, subset_size=kid_subset,
                                  generator=torch.Generator().manual_seed(seed))
    precision, recall = metrics.precision_recall(ref.test_feats[:n_ref], f[:n_ref], k=k)
    conf = metrics.confident_classes(fake)
    return {"n": len(fake), "fd": metrics.frechet_distance(f, ref.test_feats), "kid": kid,
            "kid_std": kid_std, "precision": precision, "recall": recall,
            "confident": conf["share_confident"], "classes": metrics.effective_classes(fake),
            "copies": copy_check(fake, ref, copy_quantile)["share_copies"] if copies else None}


@torch.no_grad()
def likelihoods(test: torch.Tensor, iwae_k: int = 100, seed: int = 0,
                device: torch.device | str | None = None) -> dict:
    """The likelihoods that the shipped models have, on the same ``test`` images in [0, 1]:

    * ``{"vae_nats", "pixelcnn_nats"}``: negative log-likelihood in nats per image of one
      dynamic binarisation of ``test`` (shared by both: the same data); the VAE's is the
      IWAE bound with ``iwae_k`` samples, an upper bound, the PixelCNN's is exact;
    * ``"glow_bits_per_dim"``: the flow's bits per dimension on the 8-bit images
      (dequantised): a different data set in effect, so not comparable with the two above.
    """
    from . import autoregressive, data, glow, vae

    dev = device if device is not None else runtime.device()
    test = test.to(dev)
    binary = data.binarize_dynamic(test, generator=runtime.generator(seed, device=test.device))
    vae_model, _ = weights.load("vae_mnist", device=dev)
    pixelcnn, _ = weights.load("pixelcnn_mnist", device=dev)
    flow, _ = weights.load("glow_mnist", device=dev)
    return {
        "vae_nats": float(vae.iwae_nll(vae_model, binary, k=iwae_k,
                                       generator=runtime.generator(seed + 1, device=dev)).mean()),
        "pixelcnn_nats": float(autoregressive.nll(pixelcnn, binary).mean()),
        "glow_bits_per_dim": glow.image_bits_per_dim(flow, test, runtime.generator(seed + 2, device=dev)),
    }
