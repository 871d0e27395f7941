"""Chapter 1: classical generative models and the discriminative baseline.

Everything here is small and closed-form, so that the chapter's ideas can be checked
exactly:

* Bernoulli and Gaussian naive Bayes, fitted by counting (eq. 1.5-1.7): a generative
  classifier ``p(x, y) = p(y) prod_d p(x_d | y)`` that can classify (Bayes' rule, eq. 1.1),
  sample, marginalise missing pixels exactly (eq. 1.10) and score ``log p(x)`` (eq. 1.11);
* multinomial logistic regression, the discriminative baseline that models ``p(y | x)`` only
  (eq. 1.9), fitted with scikit-learn's ``LogisticRegression`` (L-BFGS);
* the explicit joint table over a grid of binary pixels (eq. 1.12-1.14): fitted by counting,
  sampled, conditioned on observed pixels; its size is ``2 ** pixels``;
* (in ``learning_curves.py``, reachable from here too) the learning-curve experiment of
  Ng and Jordan (2001) and where two curves cross.

Shapes: images may come as ``(N, D)`` or ``(N, C, H, W)``; they are flattened to ``(N, D)``.
Labels are int64 ``(N,)`` in ``{0, ..., K-1}``.
"""
from __future__ import annotations

import dataclasses
import math
import torch


__all__ = [
    "fit_bernoulli_nb", "log_posterior", "BernoulliNB", "GaussianNB",
    "LogisticRegression", "fit_logistic_regression", "impute_mean",
    "fit_joint_table", "sample_joint_table", "condition_table", "pixel_marginals",
    "joint_table_size", "random_mask",
]


# ---------------------------------------------------------------- input checks
def _flat(x: torch.Tensor, name: str = "x") -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} should be a torch tensor of shape (N, D) or (N, C, H, W), got {type(x).__name__}")
    if x.dim() < 2:
        raise ValueError(f"{name} should have shape (N, D) or (N, C, H, W), got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (shape {tuple(x.shape)}); expected at least one example")
    return x.reshape(x.shape[0], -1)


def _check_binary(x: torch.Tensor, name: str = "x") -> None:
    if not ((x == 0) | (x == 1)).all():
        raise ValueError(f"{name} should hold binary pixels in {{0, 1}}; binarise first "
                         "(for example with gm.data.binarize_static)")


def _labels(y: torch.Tensor, n: int, n_classes: int | None) -> tuple[torch.Tensor, int]:
    if not isinstance(y, torch.Tensor) or y.dim() != 1 or y.shape[0] != n:
        shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise ValueError(f"y should be an int64 tensor of shape ({n},) with one label per example, got {shape}")
    if y.dtype.is_floating_point or y.dtype == torch.bool:
        raise ValueError(f"y should hold integer class labels, got dtype {y.dtype}")
    y = y.long()
    if y.min() < 0:
        raise ValueError("y should hold labels in {0, ..., K-1}; found a negative label")
    k = int(y.max()) + 1 if n_classes is None else int(n_classes)
    if y.max() >= k:
        raise ValueError(f"y holds label {int(y.max())} but n_classes={k}; labels must lie in 0..{k - 1}")
    return y, k


def _mask(mask: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor | None:
    if mask is None:
        return None
    mask = mask.reshape(mask.shape[0], -1) if mask.dim() >= 2 else mask
    if mask.shape != x.shape:
        raise ValueError(f"mask should have the shape of x, {tuple(x.shape)} once flattened, "
                         f"got {tuple(mask.shape)} (True = observed pixel)")
    return mask.to(device=x.device, dtype=torch.bool)


# ---------------------------------------------------------------- naive Bayes
def fit_bernoulli_nb(x: torch.Tensor, y: torch.Tensor, n_classes: int, alpha: float = 1.0):
    """Closed-form maximum-likelihood fit of Bernoulli naive Bayes with Laplace smoothing.

    ``x``: ``(N, D)`` binary pixels; ``y``: ``(N,)`` labels in ``{0, ..., n_classes-1}``.
    Returns ``(log_prior, theta)``: ``log_prior`` ``(K,)`` is ``log(N_k / N)`` and ``theta``
    ``(K, D)`` is ``(N_kd + alpha) / (N_k + 2 alpha)``, the smoothed fraction of class-``k``
    examples whose pixel ``d`` is on (eq. 1.6).
    """
    x = x.reshape(x.shape[0], -1).float() if not x.is_floating_point() else x.reshape(x.shape[0], -1)
    onehot = torch.nn.functional.one_hot(y, n_classes).to(x.dtype)   # (N, K)
    n_k = onehot.sum(0)                                               # examples per class
    n_kd = onehot.T @ x                                               # pixels on, per class
    log_prior = torch.log(n_k / n_k.sum())
    theta = (n_kd + alpha) / (n_k[:, None] + 2 * alpha)
    return log_prior, theta


def log_posterior(log_joint: torch.Tensor) -> torch.Tensor:
    """Bayes' rule in log space: ``log p(y=k | x) = log p(x, y=k) - logsumexp_j log p(x, y=j)``.

    ``log_joint``: ``(N, K)``. Returns ``(N, K)`` whose rows exponentiate to 1 (eq. 1.3).
    The log-sum-exp subtracts the row maximum before exponentiating, so joints of -1000
    (normal for 784 pixels) do not underflow to ``log 0``.
    """
    return log_joint - torch.logsumexp(log_joint, dim=1, keepdim=True)


class _GenerativeClassifier:
    """What both naive Bayes models share: Bayes' rule, ``log p(x)`` and ancestral sampling."""

    log_prior: torch.Tensor

    def log_joint(self, x, mask=None):  # pragma: no cover - defined by subclasses
        raise NotImplementedError

    def log_posterior(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``(N, K)`` log p(y | x_observed), by eq. 1.3."""
        return log_posterior(self.log_joint(x, mask))

    def predict(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``(N,)`` the most probable class."""
        return self.log_joint(x, mask).argmax(1)

    def log_prob(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``(N,)`` log p(x) = logsumexp_k log p(x, y=k) (eq. 1.11), in nats; the score for anomalies."""
        return torch.logsumexp(self.log_joint(x, mask), dim=1)

    def sample_labels(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        if n <= 0:
            raise ValueError(f"n should be a positive number of samples, got {n}")
        return torch.multinomial(self.log_prior.exp(), n, replacement=True, generator=generator)

    def sample(self, y: torch.Tensor | int, generator: torch.Generator | None = None):
        """Ancestral sampling. ``y`` an int ``n``: draw ``y ~ p(y)`` then ``x ~ p(x | y)``, return
        ``(x, y)``; ``y`` a label tensor ``(N,)``: return ``x`` ``(N, D)`` drawn from ``p(x | y)``."""
        if isinstance(y, int):
            y = self.sample_labels(y, generator)
            return self._sample_given(y, generator), y
        if not isinstance(y, torch.Tensor) or y.dim() != 1 or y.shape[0] == 0:
            raise ValueError("y should be a positive int (number of samples) or a non-empty (N,) tensor of labels")
        y, _ = _labels(y, y.shape[0], self.n_classes)
        return self._sample_given(y.to(self.log_prior.device), generator)

    @property
    def n_classes(self) -> int:
        return self.log_prior.shape[0]


@dataclasses.dataclass
class BernoulliNB(_GenerativeClassifier):
    """Bernoulli naive Bayes: ``p(x | y=k) = prod_d theta_kd^x_d (1 - theta_kd)^(1 - x_d)`` (eq. 1.5).

    ``log_prior`` ``(K,)``, ``theta`` ``(K, D)``. Fit with :meth:`fit`.
    """

    log_prior: torch.Tensor
    theta: torch.Tensor

    @classmethod
    def fit(cls, x: torch.Tensor, y: torch.Tensor, n_classes: int | None = None, alpha: float = 1.0) -> "BernoulliNB":
        x = _flat(x)
        _check_binary(x)
        y, k = _labels(y, x.shape[0], n_classes)
        if alpha < 0:
            raise ValueError(f"alpha (Laplace smoothing) should be >= 0, got {alpha}")
        return cls(*fit_bernoulli_nb(x.float() if not x.is_floating_point() else x, y.to(x.device), k, alpha))

    def log_joint(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``(N, K)`` log p(x_obs, y=k). Hidden pixels (``mask`` False) are summed out exactly:
        their factor ``sum_{v in {0,1}} p(x_d = v | y)`` is 1 (eq. 1.10), so they are simply left out."""
        x = _flat(x).to(self.theta.dtype)
        if x.shape[1] != self.theta.shape[1]:
            raise ValueError(f"x has {x.shape[1]} pixels per example, the model was fitted on {self.theta.shape[1]}")
        _check_binary(x)
        m = _mask(mask, x)
        log_on, log_off = torch.log(self.theta), torch.log1p(-self.theta)  # (K, D)
        if m is None:
            return self.log_prior + x @ log_on.T + (1 - x) @ log_off.T
        on, off = (x * m), ((1 - x) * m)
        return self.log_prior + on @ log_on.T + off @ log_off.T

    def _sample_given(self, y, generator):
        return torch.bernoulli(self.theta[y], generator=generator)


@dataclasses.dataclass
class GaussianNB(_GenerativeClassifier):
    """Gaussian naive Bayes: ``p(x | y=k) = prod_d N(x_d; mu_kd, var_kd)`` (eq. 1.7).

    ``log_prior`` ``(K,)``, ``mu`` and ``var`` ``(K, D)``. As in scikit-learn, ``var_smoothing``
    times the largest pixel variance is added to every variance so that constant pixels
    (the corners of a digit) do not get zero variance and an infinite density.
    """

    log_prior: torch.Tensor
    mu: torch.Tensor
    var: torch.Tensor

    @classmethod
    def fit(cls, x: torch.Tensor, y: torch.Tensor, n_classes: int | None = None,
            var_smoothing: float = 1e-9) -> "GaussianNB":
        x = _flat(x)
        if not x.is_floating_point():
            x = x.to(torch.get_default_dtype())
        y, k = _labels(y, x.shape[0], n_classes)
        if var_smoothing < 0:
            raise ValueError(f"var_smoothing should be >= 0, got {var_smoothing}")
        onehot = torch.nn.functional.one_hot(y.to(x.device), k).to(x.dtype)
        n_k = onehot.sum(0)
        if (n_k == 0).any():
            raise ValueError(f"every class needs at least one example; classes {torch.nonzero(n_k == 0).flatten().tolist()} have none")
        mu = (onehot.T @ x) / n_k[:, None]
        # biased (ML) variance, in two passes (mean first) so that tiny variances do not cancel away
        var = (onehot.T @ (x - mu[y.to(x.device)]) ** 2) / n_k[:, None]
        var = var + var_smoothing * x.var(0, unbiased=False).max()
        return cls(torch.log(n_k / n_k.sum()), mu, var)

    def log_joint(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``(N, K)`` log p(x_obs, y=k); hidden pixels are left out of the sum (eq. 1.10)."""
        x = _flat(x).to(self.mu.dtype)
        if x.shape[1] != self.mu.shape[1]:
            raise ValueError(f"x has {x.shape[1]} features per example, the model was fitted on {self.mu.shape[1]}")
        m = _mask(mask, x)
        # log N(x; mu, var) = -1/2 log(2 pi var) - (x - mu)^2 / (2 var), summed over d. The square
        # is taken of the difference, one class at a time: expanding it into x^2 - 2 x mu + mu^2
        # as matrix products cancels catastrophically in float32 when |mu| / sigma is large.
        const = -0.5 * torch.log(2 * math.pi * self.var)                     # (K, D)
        inv = 0.5 / self.var                                                 # (K, D)
        mf = None if m is None else m.to(x.dtype)
        cols = []
        for k in range(self.mu.shape[0]):
            term = const[k] - (x - self.mu[k]) ** 2 * inv[k]                 # (N, D)
            cols.append((term if mf is None else term * mf).sum(1))
        return self.log_prior + torch.stack(cols, dim=1)

    def _sample_given(self, y, generator):
        noise = torch.randn(self.mu[y].shape, generator=generator, device=self.mu.device, dtype=self.mu.dtype)
        return self.mu[y] + self.var[y].sqrt() * noise


# ---------------------------------------------------------------- the discriminative baseline
@dataclasses.dataclass
class LogisticRegression:
    """Multinomial logistic regression: ``p(y=k | x) = softmax(W x + b)_k`` (eq. 1.9).

    ``weight`` ``(K, D)``, ``bias`` ``(K,)``. It models ``p(y | x)`` and nothing else: there is
    no ``p(x)`` to sample from, to marginalise or to score.
    """

    weight: torch.Tensor
    bias: torch.Tensor

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        x = _flat(x).to(self.weight.dtype)
        if x.shape[1] != self.weight.shape[1]:
            raise ValueError(f"x has {x.shape[1]} features per example, the model was fitted on {self.weight.shape[1]}")
        return x @ self.weight.T + self.bias

    def log_posterior(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.logits(x), dim=1)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x).argmax(1)


def fit_logistic_regression(x: torch.Tensor, y: torch.Tensor, n_classes: int | None = None, C: float = 1.0,
                            max_iter: int = 200, tol: float = 1e-4) -> LogisticRegression:
    """Maximise the conditional log-likelihood with an L2 penalty (eq. 1.9), by L-BFGS.

    Minimises ``C * sum_i -log p(y_i | x_i) + ||W||^2 / 2`` (the bias is not penalised): this is
    scikit-learn's ``LogisticRegression(C=C)``, which does the optimisation on the CPU; the
    weights come back as tensors on ``x``'s device. ``x`` ``(N, D)`` or images, ``y`` ``(N,)``.
    Every class in ``0..n_classes-1`` must occur in ``y``.
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression as _SkLR

    x = _flat(x)
    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    y, k = _labels(y, x.shape[0], n_classes)
    if C <= 0:
        raise ValueError(f"C (inverse regularisation strength) should be > 0, got {C}")
    present = torch.unique(y).numel()
    if present != k:
        raise ValueError(f"every class 0..{k - 1} needs at least one example; only {present} occur in y")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a cap on iterations is our choice, not an accident
        sk = _SkLR(C=C, max_iter=max_iter, tol=tol).fit(x.detach().cpu().double().numpy(), y.cpu().numpy())
    w = torch.as_tensor(sk.coef_, dtype=x.dtype, device=x.device)
    b = torch.as_tensor(sk.intercept_, dtype=x.dtype, device=x.device)
    if k == 2:  # scikit-learn stores one weight vector for two classes: logits (0, w x + b) give the same softmax
        w, b = torch.cat([torch.zeros_like(w), w]), torch.cat([torch.zeros_like(b), b])
    return LogisticRegression(w, b)


def impute_mean(x: torch.Tensor, mask: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """Fill hidden pixels (``mask`` False) with ``mean`` ``(D,)``: what a model of ``p(y | x)``
    has to do, since it cannot sum over the pixels it does not see. Returns ``(N, D)``."""
    x = _flat(x)
    m = _mask(mask, x)
    mean = mean.reshape(-1).to(x)
    if mean.shape[0] != x.shape[1]:
        raise ValueError(f"mean should have {x.shape[1]} entries (one per pixel), got {mean.shape[0]}")
    return torch.where(m, x, mean.expand_as(x))


def random_mask(shape, frac_missing: float, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """A boolean mask of ``shape`` ``(N, D)`` with each pixel hidden (False) with probability ``frac_missing``."""
    if not 0 <= frac_missing <= 1:
        raise ValueError(f"frac_missing should lie in [0, 1], got {frac_missing}")
    u = torch.rand(shape, generator=generator, device=device if device is not None else
                   (generator.device if generator is not None else None))
    return u >= frac_missing


# ---------------------------------------------------------------- the explicit joint table
def _check_table(table: torch.Tensor) -> int:
    if not isinstance(table, torch.Tensor) or table.dim() == 0 or any(s != 2 for s in table.shape):
        shape = tuple(table.shape) if isinstance(table, torch.Tensor) else type(table).__name__
        raise ValueError(f"a joint table over P binary pixels has shape (2,)*P, got {shape}")
    return table.dim()


def joint_table_size(n_pixels: int, n_values: int = 2) -> int:
    """Number of entries of the full joint table: ``n_values ** n_pixels`` (eq. 1.14; an exact Python int)."""
    if n_pixels < 0 or n_values < 1:
        raise ValueError(f"expected n_pixels >= 0 and n_values >= 1, got {n_pixels}, {n_values}")
    return n_values ** n_pixels


def fit_joint_table(x: torch.Tensor, alpha: float = 0.0) -> torch.Tensor:
    """Estimate ``p(x_1, ..., x_P)`` by counting (eq. 1.12): one cell per configuration.

    ``x``: ``(N, P)`` (or ``(N, 1, h, w)``) binary pixels, P small. Returns a table of shape
    ``(2,)*P`` that sums to 1; ``table[x_1, ..., x_P]`` is the (smoothed) relative frequency.
    """
    x = _flat(x)
    _check_binary(x)
    p = x.shape[1]
    if p > 24:
        raise ValueError(f"a joint table over {p} binary pixels would need 2**{p} cells; use at most 24 pixels")
    if alpha < 0:
        raise ValueError(f"alpha should be >= 0, got {alpha}")
    weights = 2 ** torch.arange(p - 1, -1, -1, device=x.device)   # row-major: first pixel is the most significant bit
    index = (x.long() * weights).sum(1)
    dtype = x.dtype if x.is_floating_point() else torch.get_default_dtype()
    counts = torch.bincount(index, minlength=2 ** p).to(dtype) + alpha
    return (counts / counts.sum()).reshape((2,) * p)


def sample_joint_table(table: torch.Tensor, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw ``n`` configurations from the table: ``(n, P)`` float 0/1 pixels."""
    p = _check_table(table)
    if n <= 0:
        raise ValueError(f"n should be a positive number of samples, got {n}")
    index = torch.multinomial(table.reshape(-1), n, replacement=True, generator=generator)
    bits = (index[:, None] >> torch.arange(p - 1, -1, -1, device=index.device)) & 1
    return bits.to(table.dtype)


def condition_table(table: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    """``p(x_hidden | x_observed)`` from the joint table (eq. 1.13).

    ``table``: ``(2,)*P`` joint probabilities. ``observed``: ``(P,)`` integers, ``0`` or ``1`` for
    an observed pixel and ``-1`` for a hidden one. Returns a table of shape ``(2,)*H`` over the
    ``H`` hidden pixels (in their original order) that sums to 1: the slice of the joint where
    the observed pixels take their values, divided by its sum ``p(x_observed)``.
    """
    index = tuple(slice(None) if int(v) < 0 else int(v) for v in observed)
    sliced = table[index]
    return sliced / sliced.sum()


def pixel_marginals(table: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    """``(P,)``: ``p(x_i = 1 | x_observed)`` for every pixel (observed pixels give 0 or 1)."""
    p = _check_table(table)
    observed = torch.as_tensor(observed).reshape(-1)
    if observed.shape[0] != p or not ((observed == -1) | (observed == 0) | (observed == 1)).all():
        raise ValueError(f"observed should have {p} entries, each 0, 1 or -1 (hidden), got {observed.tolist()}")
    hidden = [i for i in range(p) if int(observed[i]) < 0]
    sliced = table[tuple(slice(None) if int(v) < 0 else int(v) for v in observed)]
    if sliced.sum() <= 0:
        raise ValueError("the observed pixels have probability 0 under the table; nothing to condition on")
    cond = sliced / sliced.sum()
    out = observed.to(table.dtype).clone()
    for j, i in enumerate(hidden):
        other = tuple(a for a in range(len(hidden)) if a != j)
        out[i] = cond.sum(dim=other)[1] if other else cond[1]
    return out


# The learning-curve experiment of section 1.6 lives in learning_curves.py; its names are
# still reachable here (classic.learning_curves, ...), loaded on first use.
_MOVED = ("balanced_subset", "ng_jordan_fitters", "learning_curves", "crossing_point")


def __getattr__(name):
    if name in _MOVED:
        from . import learning_curves

        return getattr(learning_curves, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
