"""Numbers that compare generative models: Frechet distance, precision and recall, mode
coverage, bits per dimension, and the AUROC of an anomaly score.

The Frechet distance here is measured on the features of the package's own small
classifiers (:func:`feature_net`), trained by our code (``benchmarks/classifiers.py``) and
shipped with the package, not on Inception features: numbers are comparable across the chapters of this book, not with
published FID values.
"""
from __future__ import annotations

import math
import os
import tempfile

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from . import data as _data
from . import runtime


# ---------------------------------------------------------------- Frechet distance
def _stats(feats) -> tuple[np.ndarray, np.ndarray]:
    f = feats.detach().double().cpu().numpy() if isinstance(feats, torch.Tensor) else np.asarray(feats, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"features must have shape (N, D) with N >= 2, got {f.shape}")
    # np.cov returns a 0-d array for one feature: keep it a (1, 1) matrix
    return f.mean(0), np.atleast_2d(np.cov(f, rowvar=False))


def frechet_distance(feats_a, feats_b) -> float:
    """Frechet distance between Gaussians fitted to two feature sets ``(N, D)`` and ``(M, D)``.

    d^2 = |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a^{1/2} S_b S_a^{1/2})^{1/2})
    (Heusel et al. 2017). The matrix square root goes through symmetric eigendecompositions,
    which stay real and stable for the rank-deficient covariances of small samples.
    """
    mu_a, s_a = _stats(feats_a)
    mu_b, s_b = _stats(feats_b)
    if mu_a.shape != mu_b.shape:
        raise ValueError(f"feature dimensions differ: {mu_a.shape[0]} vs {mu_b.shape[0]}")
    w, v = np.linalg.eigh(s_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    middle = root_a @ s_b @ root_a
    tr_cross = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    d2 = float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * tr_cross)
    return max(d2, 0.0)


# ---------------------------------------------------------------- feature networks
class FeatureNet(nn.Module):
    """A small CNN classifier for 28x28 grey images; ``features(x)`` is its 128-d penultimate layer."""

    def __init__(self, n_classes: int = 10):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU())
        self.head = nn.Linear(128, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 1, 28, 28)`` in [0, 1] -> ``(N, 128)``."""
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"FeatureNet expects images of shape (N, 1, 28, 28) in [0, 1], got {tuple(x.shape)}")
        return self.conv(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


_LOADERS = {"mnist": _data.load_mnist, "fashion_mnist": _data.load_fashion_mnist}
_NETS: dict = {}
#: the shipped classifier of each data set (``genmodels_course/shipped/``)
SHIPPED_CLASSIFIERS = {"mnist": "classifier_mnist", "fashion_mnist": "classifier_fashion_mnist"}


def _feature_settings() -> dict:
    """Sizes for a classifier trained on the spot (only where no shipped one is found)."""
    return runtime.pick(quick=dict(n_train=6000, epochs=2), cpu=dict(n_train=None, epochs=2),
                        gpu=dict(n_train=None, epochs=4))


def random_shift(x: torch.Tensor, max_shift: int = 2, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each image of ``x`` ``(N, C, H, W)`` moved by its own random whole-pixel offset in
    ``[-max_shift, max_shift]`` along each axis, the uncovered border filled with zeros."""
    if max_shift == 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4)
    off = torch.randint(0, 2 * max_shift + 1, (2, n), generator=generator).to(x.device)
    rows = (off[0][:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (off[1][:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chans = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, chans, rows, cols]


def train_feature_net(dataset: str = "mnist", n_train: int | None = None, epochs: float = 6,
                      seed: int = 0, max_shift: int = 2, lr: float = 2e-3,
                      verbose: bool = True) -> FeatureNet:
    """Train a :class:`FeatureNet` on the training split of ``dataset``: Adam with a one-cycle
    learning rate (peak ``lr``), batches of 128, every image shifted by up to ``max_shift``
    pixels (so that a digit drawn a little off centre is still recognised)."""
    from .train import fit

    if dataset not in _LOADERS:
        raise ValueError(f"dataset must be one of {sorted(_LOADERS)}, got {dataset!r}")
    dev = runtime.device()
    with runtime.seeded(seed):  # the initial weights follow the seed; the caller's RNG is untouched
        net = FeatureNet().to(dev)
    x, y = _LOADERS[dataset](train=True, n=n_train)
    batches = _data.Batches(x, y, batch_size=128, seed=seed)
    steps = max(1, math.ceil(epochs * len(batches)))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    gen = torch.Generator().manual_seed(seed + 1)

    def step(b):
        return F.cross_entropy(net(random_shift(b[0], max_shift, gen)), b[1])

    with torch.enable_grad():  # callers such as features() run under no_grad
        fit(net, step, batches, optimizer=opt, scheduler=sched, steps=steps,
            desc=f"feature net ({dataset})", progress=verbose)
    return net.eval()


def feature_net(dataset: str = "mnist", n_train: int | None = None, epochs: float | None = None,
                seed: int = 0, verbose: bool = True) -> FeatureNet:
    """The package's classifier for ``dataset`` ('mnist' or 'fashion_mnist'), in eval mode,
    with its parameters frozen.

    By default the shipped one (``gm.weights.load("classifier_mnist")``, trained by
    ``benchmarks/classifiers.py``): the same network in every profile and on every machine,
    so that a number the notebook prints and one a benchmark recorded were measured alike.
    Given ``n_train`` or ``epochs``, or where the shipped file is absent, one is trained by
    :func:`train_feature_net` (sizes from the active profile unless given) and cached as
    safetensors in the course's cache folder.
    """
    from safetensors.torch import load_file, save_file

    from . import weights

    if dataset not in _LOADERS:
        raise ValueError(f"dataset must be one of {sorted(_LOADERS)}, got {dataset!r}")
    dev = runtime.device()
    shipped = SHIPPED_CLASSIFIERS[dataset]
    if n_train is None and epochs is None and shipped in weights.available():
        key = shipped
        if key not in _NETS:
            _NETS[key] = weights.load(shipped, device=dev)[0]
    else:
        s = _feature_settings()
        n_train = s["n_train"] if n_train is None else n_train
        epochs = s["epochs"] if epochs is None else epochs
        key = f"{dataset}-n{n_train or 'all'}-e{epochs}-s{seed}-shift"
        if key not in _NETS:
            path = _data.cache_dir() / "feature_nets" / f"{key}.safetensors"
            if path.exists():
                net = FeatureNet().to(dev)
                net.load_state_dict(load_file(str(path), device=str(dev)))
            else:
                net = train_feature_net(dataset, n_train, epochs, seed, verbose=verbose)
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
                os.close(fd)
                save_file({k: v.contiguous().cpu() for k, v in net.state_dict().items()}, tmp)
                os.replace(tmp, path)
            _NETS[key] = net
    net = _NETS[key].eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


@torch.no_grad()
def features(x: torch.Tensor, dataset: str = "mnist", batch_size: int = 1000) -> torch.Tensor:
    """Classifier features ``(N, 128)`` of images ``(N, 1, 28, 28)`` in [0, 1]."""
    net = feature_net(dataset)
    dev = next(net.parameters()).device
    return torch.cat([net.features(x[i:i + batch_size].to(dev).float()) for i in range(0, len(x), batch_size)])


def fid(x_a: torch.Tensor, x_b: torch.Tensor, dataset: str = "mnist") -> float:
    """Frechet distance between two image sets on the features of :func:`feature_net`."""
    return frechet_distance(features(x_a, dataset), features(x_b, dataset))


def fid_floor(x_train: torch.Tensor, x_test: torch.Tensor, n: int | None = None,
              dataset: str = "mnist", seed: int = 0) -> float:
    """The Frechet distance of real images to real images: what a perfect model would score.

    Compares ``n`` training images, a random subset fixed by ``seed`` (default: as many as
    ``x_test`` holds, or all of ``x_train`` if fewer), with ``x_test`` on the features of
    :func:`feature_net`. Give ``n`` the number of samples the models are scored with: the
    distance of small samples is biased upwards, so a model's distance is read against the
    floor at its own n. The subset is random because the order of a data set is not:
    MNIST's last 2,000 training images score 26.8 against the test set, a random 2,000 of
    them 4.4.
    """
    n = min(len(x_train), len(x_test) if n is None else n)
    if n < 2:
        raise ValueError(f"fid_floor needs at least 2 training images, got n = {n}")
    if n < len(x_train):
        pick = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(seed))[:n]
        x_train = x_train[pick.to(x_train.device)]
    return fid(x_train, x_test, dataset)


@torch.no_grad()
def class_probabilities(x: torch.Tensor, dataset: str = "mnist", batch_size: int = 1000) -> torch.Tensor:
    """The package's classifier's class probabilities ``(N, K)`` for images ``(N, 1, 28, 28)``
    in [0, 1], computed in batches on the classifier's device."""
    if len(x) == 0:
        raise ValueError("class_probabilities got no images: pass a non-empty batch (N, 1, 28, 28)")
    net = feature_net(dataset)
    dev = next(net.parameters()).device
    return torch.cat([net(x[i:i + batch_size].to(dev).float()).softmax(1)
                      for i in range(0, len(x), batch_size)])


def psnr(x_hat: torch.Tensor, x: torch.Tensor, max_val: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio per image in dB, ``10 log10(max_val^2 / MSE)``: ``(N,)``.

    ``max_val`` is the span of the pixel range: 1 for images in [0, 1], 2 for [-1, 1]."""
    if x_hat.shape != x.shape or x.dim() < 2 or x.shape[0] == 0:
        raise ValueError(f"psnr expects two non-empty batches (N, ...) of the same shape, got "
                         f"{tuple(x_hat.shape)} and {tuple(x.shape)}")
    mse = (x_hat.float() - x.float()).pow(2).flatten(1).mean(1).clamp_min(1e-12)
    return 10 * torch.log10(max_val ** 2 / mse)


def ssim(x_hat: torch.Tensor, x: torch.Tensor, data_range: float = 1.0, window: int = 11,
         sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """Structural similarity per image (Wang et al. 2004), ``(N,)``: local means, variances
    and covariance under a Gaussian window (``window`` pixels, std ``sigma``), per channel,
    at every pixel (the image mirrored at its borders, as torchmetrics does); the index
    ``(2 mu_a mu_b + C1)(2 s_ab + C2) / ((mu_a^2 + mu_b^2 + C1)(s_a^2 + s_b^2 + C2))`` with
    ``C1 = (k1 L)^2``, ``C2 = (k2 L)^2``, ``L = data_range`` (1 for [0, 1], 2 for [-1, 1]),
    averaged over positions and channels. 1 means identical; it weighs structure (local
    correlation) more than PSNR does, and so punishes blur more."""
    if x_hat.shape != x.shape or x.dim() != 4 or x.shape[0] == 0:
        raise ValueError(f"ssim expects two non-empty batches (N, C, H, W) of the same shape, got "
                         f"{tuple(x_hat.shape)} and {tuple(x.shape)}")
    if window % 2 == 0 or min(x.shape[2:]) <= window // 2:
        raise ValueError(f"ssim needs an odd window smaller than twice the image side, got window={window} "
                         f"for images of {x.shape[2]}x{x.shape[3]}: pass a smaller odd window= or larger images")
    c = x.shape[1]
    t = torch.arange(window, dtype=torch.float64) - (window - 1) / 2
    g1 = torch.exp(-t ** 2 / (2 * sigma ** 2))
    g1 = g1 / g1.sum()
    kernel = (g1[:, None] * g1[None, :]).to(x.device, torch.float32).expand(c, 1, window, window)
    pad = (window - 1) // 2
    a, b = (F.pad(v.float(), (pad, pad, pad, pad), mode="reflect") for v in (x_hat, x))
    mu_a, mu_b, aa, bb, ab = (F.conv2d(v, kernel, groups=c) for v in (a, b, a * a, b * b, a * b))
    var_a, var_b = (aa - mu_a ** 2).clamp_min(0), (bb - mu_b ** 2).clamp_min(0)
    cov = ab - mu_a * mu_b
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return index.flatten(1).mean(1)


@torch.no_grad()
def effective_classes(x: torch.Tensor, dataset: str = "mnist", batch_size: int = 1000) -> float:
    """A diversity number: exp of the entropy of the classifier's mean class probabilities.

    10 when samples spread evenly over the 10 classes, 1 when all look like one class
    (mode collapse). Images ``(N, 1, 28, 28)`` in [0, 1].
    """
    probs = class_probabilities(x, dataset, batch_size).mean(0)
    return float(torch.exp(-(probs * probs.clamp_min(1e-12).log()).sum()))


@torch.no_grad()
def confident_classes(x: torch.Tensor, dataset: str = "mnist", threshold: float = 0.9,
                      batch_size: int = 1000) -> dict:
    """How many samples the package's classifier recognises, and how they spread over classes.

    Images ``(N, 1, 28, 28)`` in [0, 1]. Returns ``{"share_confident": float, "class_shares":
    list}``: the share of images whose top class probability under :func:`feature_net` is
    at least ``threshold`` (a quality number: a recognisable digit), and for each class the
    share of all images whose top class it is (a diversity number: 0.1 each for a model
    that covers the ten digits evenly).
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must lie in (0, 1], got {threshold}")
    probs = class_probabilities(x, dataset, batch_size)
    top, cls = probs.max(1)
    counts = torch.bincount(cls, minlength=probs.shape[1]).float()
    return {"share_confident": float((top >= threshold).float().mean()),
            "class_shares": [float(c) for c in counts / len(x)]}


@torch.no_grad()
def accuracy(logits_or_model, x=None, y=None, batch_size: int = 1000) -> float:
    """Classification accuracy: ``accuracy(logits, y=labels)`` or ``accuracy(model, x, y)``."""
    if isinstance(logits_or_model, nn.Module):
        model = logits_or_model
        preds = torch.cat([model(x[i:i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])
    else:
        preds = logits_or_model.argmax(1)
    return float((preds == y.to(preds.device)).float().mean())


# ---------------------------------------------------------------- precision and recall
def _as_points(x, name: str) -> torch.Tensor:
    x = torch.as_tensor(x).detach()
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"{name} must have shape (N, D) with N >= 1, got {tuple(x.shape)}")
    return x.to(torch.float64 if x.dtype == torch.float64 else torch.float32)


def _knn_radii(x: torch.Tensor, k: int, chunk: int) -> torch.Tensor:
    """Distance of each row of ``x`` to its k-th nearest other row: ``(N,)``."""
    # the k+1 smallest distances of a row include its zero distance to itself
    return torch.cat([torch.cdist(xc, x).topk(k + 1, dim=1, largest=False).values[:, k]
                      for xc in x.split(chunk)])


def _inside_any_ball(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor,
                     chunk: int) -> torch.Tensor:
    """For each point, whether it lies within ``radii[j]`` of some ``centres[j]``: ``(M,)`` bool."""
    return torch.cat([(torch.cdist(pc, centres) <= radii[None]).any(dim=1) for pc in points.split(chunk)])


def precision_recall(real_feats, fake_feats, k: int = 3, chunk: int = 1024) -> tuple[float, float]:
    """Improved precision and recall of samples (Kynkaanniemi et al. 2019): ``(precision, recall)``.

    ``real_feats`` ``(N, D)`` and ``fake_feats`` ``(M, D)``: feature vectors (or raw points).
    Each real vector gets a ball whose radius is the distance to its ``k``-th nearest real
    neighbour; the balls' union estimates the support of the data (the real manifold).
    *Precision* is the fraction of fake samples inside at least one real ball (quality);
    *recall* is the fraction of real samples inside at least one fake ball, the fake radii
    coming from the fakes' own k-NN distances (coverage). Both are in [0, 1]. The paper uses
    k = 3. Distances are computed in chunks of ``chunk`` rows.
    """
    real = _as_points(real_feats, "real_feats")
    fake = _as_points(fake_feats, "fake_feats").to(real.device, real.dtype)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature dimensions differ: {real.shape[1]} vs {fake.shape[1]}")
    if k < 1 or len(real) <= k or len(fake) <= k:
        raise ValueError(f"precision_recall needs 1 <= k < the number of real and of fake samples, "
                         f"got k = {k} with {len(real)} real and {len(fake)} fake")
    precision = _inside_any_ball(fake, real, _knn_radii(real, k, chunk), chunk).double().mean()
    recall = _inside_any_ball(real, fake, _knn_radii(fake, k, chunk), chunk).double().mean()
    return float(precision), float(recall)


# ---------------------------------------------------------------- anomaly scores
def auroc(normal_scores, anomalous_scores) -> float:
    """Area under the ROC curve of an anomaly score (higher = more anomalous).

    The probability that a random anomalous example scores higher than a random normal one,
    ties counting one half (the Mann-Whitney statistic; equal to scikit-learn's
    ``roc_auc_score`` with the anomalies as the positive class). 1 separates perfectly,
    0.5 is chance. A log-likelihood is a *normality* score: pass ``-log p(x)``.
    """
    from scipy.stats import rankdata

    def flat(v, name):
        v = v.detach().double().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v, dtype=np.float64)
        v = v.reshape(-1)
        if len(v) == 0:
            raise ValueError(f"auroc got no {name} scores")
        if not np.isfinite(v).all():
            raise ValueError(f"auroc got non-finite {name} scores")
        return v

    normal, anomalous = flat(normal_scores, "normal"), flat(anomalous_scores, "anomalous")
    ranks = rankdata(np.concatenate([normal, anomalous]))  # average ranks for ties
    m, n = len(anomalous), len(normal)
    return float((ranks[n:].sum() - m * (m + 1) / 2) / (m * n))


# ---------------------------------------------------------------- 2-D mixtures
def mode_coverage(samples: torch.Tensor, means: torch.Tensor, sigma: float, min_count: int = 1) -> dict:
    """Modes covered and share of high-quality samples on a 2-D Gaussian mixture.

    A sample is *high quality* when it lies within 3 sigma of its nearest mode; a mode is
    *covered* when at least ``min_count`` high-quality samples fall near it (the convention of
    the VEEGAN and PacGAN benchmarks). Returns ``{"modes": int, "high_quality": fraction,
    "counts": list of high-quality samples per mode}``.
    """
    samples = torch.as_tensor(samples, dtype=torch.float32).cpu()
    means = torch.as_tensor(means, dtype=torch.float32).cpu()
    if samples.ndim != 2 or samples.shape[1] != means.shape[1]:
        raise ValueError(f"samples must have shape (n, {means.shape[1]}), got {tuple(samples.shape)}")
    if len(samples) == 0:
        raise ValueError("mode_coverage got no samples")
    d = torch.cdist(samples, means)  # (n, K)
    dist, nearest = d.min(1)
    good = dist <= 3 * sigma
    counts = torch.bincount(nearest[good], minlength=len(means))
    return {"modes": int((counts >= min_count).sum()), "high_quality": float(good.float().mean()),
            "counts": counts.tolist()}


def bits_per_dim(nll_nats: torch.Tensor | float, num_dims: int) -> float:
    """Convert a negative log-likelihood per example (nats) to bits per dimension."""
    if num_dims <= 0:
        raise ValueError(f"num_dims must be positive, got {num_dims}")
    nll = float(nll_nats.mean()) if isinstance(nll_nats, torch.Tensor) else float(nll_nats)
    return nll / (num_dims * math.log(2))
