"""Chapter 9's measures tied to their equations: closed forms, Monte Carlo, brute force, torchmetrics."""
import math

import numpy as np
import pytest
import torch

import genmodels_course as gm
from genmodels_course import evaluation, metrics


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_module_loads_as_gm_evaluation():
    assert gm.evaluation is evaluation


# ---------------------------------------------------------------- kernel and MMD
def test_polynomial_kernel_matches_the_formula():
    g = _gen()
    a, b = torch.randn(5, 4, generator=g, dtype=torch.float64), torch.randn(3, 4, generator=g, dtype=torch.float64)
    k = evaluation.polynomial_kernel(a, b)
    assert k.shape == (5, 3)
    assert torch.allclose(k[2, 1], (a[2] @ b[1] / 4 + 1) ** 3)
    assert torch.allclose(evaluation.polynomial_kernel(a, b, degree=1, gamma=1.0, coef=0.0), a @ b.T)
    assert torch.allclose(evaluation.polynomial_kernel(a, b, degree=2, gamma=0.5, coef=2.0), (0.5 * a @ b.T + 2) ** 2)


def test_mmd2_unbiased_against_a_double_loop():
    g = _gen(1)
    a, b = torch.randn(6, 3, generator=g, dtype=torch.float64), torch.randn(4, 3, generator=g, dtype=torch.float64) + 1
    k = lambda x, y: float((x @ y / 3 + 1) ** 3)  # noqa: E731
    aa = sum(k(a[i], a[j]) for i in range(6) for j in range(6) if i != j) / 30
    bb = sum(k(b[i], b[j]) for i in range(4) for j in range(4) if i != j) / 12
    ab = sum(k(a[i], b[j]) for i in range(6) for j in range(4)) / 24
    got = evaluation.mmd2_unbiased(a, b)
    assert got.ndim == 0 and got.dtype == torch.float64
    assert float(got) == pytest.approx(aa + bb - 2 * ab, rel=1e-12)


def test_mmd2_with_a_linear_kernel_is_the_squared_mean_difference_on_average():
    # E[a . a'] = |mu_a|^2 for independent a, a': with the linear kernel MMD^2 = |mu_a - mu_b|^2 exactly
    g = _gen(2)
    mu_b = torch.tensor([1.0, 0.5, 0.0], dtype=torch.float64)
    linear = dict(degree=1, gamma=1.0, coef=0.0)
    est = torch.stack([evaluation.mmd2_unbiased(torch.randn(20, 3, generator=g, dtype=torch.float64),
                                                mu_b + torch.randn(20, 3, generator=g, dtype=torch.float64), **linear)
                       for _ in range(2000)])
    se = est.std() / math.sqrt(len(est))
    assert abs(est.mean() - mu_b.pow(2).sum()) < 4 * se
    same = torch.stack([evaluation.mmd2_unbiased(torch.randn(10, 3, generator=g, dtype=torch.float64),
                                                 torch.randn(10, 3, generator=g, dtype=torch.float64), **linear)
                        for _ in range(2000)])
    assert abs(same.mean()) < 4 * same.std() / math.sqrt(len(same))
    assert (same < 0).any()  # unbiased: single estimates fall below the true value 0


def test_mmd2_keeps_the_graph():
    a = torch.randn(5, 2, generator=_gen(3), requires_grad=True)
    evaluation.mmd2_unbiased(a, torch.randn(6, 2, generator=_gen(4))).backward()
    assert a.grad is not None and torch.isfinite(a.grad).all()


# ---------------------------------------------------------------- KID
@pytest.mark.filterwarnings("ignore:Metric `Kernel Inception Distance` will save")
def test_kid_agrees_with_torchmetrics():
    kid_module = pytest.importorskip("torchmetrics.image.kid")
    g = _gen(5)
    n, d = 60, 16
    real = torch.randn(n, d, generator=g, dtype=torch.float64)
    fake = 0.8 * torch.randn(n, d, generator=g, dtype=torch.float64) + 0.2
    # subset_size = N: every subset is a permutation of the whole set, and the unbiased MMD
    # does not depend on the order, so torchmetrics' own random draws do not matter
    ref = kid_module.KernelInceptionDistance(feature=torch.nn.Identity(), subsets=4, subset_size=n)
    ref.update(real, real=True)
    ref.update(fake, real=False)
    ref_mean, ref_std = ref.compute()
    mean, std = evaluation.kid(real, fake, n_subsets=4, subset_size=n)
    assert mean == pytest.approx(float(ref_mean), rel=1e-6)
    assert std == pytest.approx(float(ref_std), abs=1e-9)
    assert mean > 0


def test_kid_takes_arrays_is_reproducible_and_unbiased_across_sizes():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(400, 5)), rng.normal(size=(300, 5)) + 0.3
    first = evaluation.kid(a, b, n_subsets=20, subset_size=50)
    assert first == evaluation.kid(torch.from_numpy(a), torch.from_numpy(b), n_subsets=20, subset_size=50)
    other = evaluation.kid(a, b, n_subsets=20, subset_size=50, generator=_gen(1))
    assert other != first
    big = evaluation.kid(a, b, n_subsets=20, subset_size=10_000)  # capped at min(Na, Nb) = 300
    assert big[0] == pytest.approx(first[0], abs=3 * first[1] / math.sqrt(20) + 0.02)


def test_bad_inputs_raise_clear_errors():
    a, b = torch.randn(10, 3), torch.randn(12, 3)
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        evaluation.kid(torch.randn(10), b)
    with pytest.raises(ValueError, match="dimensions differ"):
        evaluation.kid(a, torch.randn(10, 4))
    with pytest.raises(ValueError, match="N >= 2"):
        evaluation.mmd2_unbiased(a[:1], b)
    with pytest.raises(ValueError, match="subset_size"):
        evaluation.kid(a, b, subset_size=1)
    with pytest.raises(ValueError, match="n_subsets"):
        evaluation.kid(a, b, n_subsets=0)
    with pytest.raises(ValueError, match="dimensions differ"):
        evaluation.polynomial_kernel(a, torch.randn(2, 5))
    with pytest.raises(ValueError, match="between 0 and 1"):
        evaluation.mixture_log_likelihood(torch.zeros(2), torch.zeros(2), 1.0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        evaluation.memorisation(a, b, a, quantile=0.0)
    with pytest.raises(ValueError, match="different lengths"):
        evaluation.nearest_neighbours(a, torch.randn(5, 4))
    with pytest.raises(ValueError, match="k must be"):
        evaluation.nearest_neighbours(a, b, k=13)
    with pytest.raises(ValueError, match="sizes"):
        evaluation.fd_by_sample_size(a, b, [5, 11])
    with pytest.raises(ValueError, match="means"):
        evaluation.gaussian_frechet_distance(torch.zeros(3), torch.eye(3), torch.zeros(2), torch.eye(2))
    with pytest.raises(ValueError, match="k < N"):
        evaluation.precision(a, b, k=10)


# ---------------------------------------------------------------- nearest neighbours and copies
def test_nearest_neighbours_against_brute_force():
    g = _gen(6)
    q, ref = torch.randn(37, 2, 3, 3, generator=g), torch.randn(50, 2, 3, 3, generator=g)
    d, i = evaluation.nearest_neighbours(q, ref, k=4, chunk=8)
    full = torch.cdist(q.flatten(1).double(), ref.flatten(1).double())
    expect_d, expect_i = full.sort(dim=1)
    assert d.shape == i.shape == (37, 4) and i.dtype == torch.int64
    assert torch.equal(i, expect_i[:, :4])
    assert torch.allclose(d.double(), expect_d[:, :4], atol=1e-5)


def test_memorisation_spots_copies_and_not_fresh_draws():
    g = _gen(7)
    train, test = torch.randn(500, 5, generator=g), torch.randn(2000, 5, generator=g)
    copies = evaluation.memorisation(train[:200], train, test, quantile=0.05)
    assert copies["share_copies"] == 1.0
    assert torch.equal(copies["nn_index"], torch.arange(200))
    assert torch.all(copies["sample_nn"] == 0) and copies["threshold"] > 0
    fresh = evaluation.memorisation(torch.randn(2000, 5, generator=g), train, test, quantile=0.05)
    assert fresh["share_copies"] == pytest.approx(0.05, abs=0.03)
    assert fresh["test_nn"].shape == (2000,) and fresh["sample_nn"].shape == (2000,)


# ---------------------------------------------------------------- likelihood of a mixture
def test_mixture_log_likelihood_bound_and_direct_computation():
    g = _gen(8)
    good = -20 + 5 * torch.randn(100, generator=g, dtype=torch.float64)
    bad = -25 + 5 * torch.randn(100, generator=g, dtype=torch.float64)
    w = 0.01
    mix = evaluation.mixture_log_likelihood(good, bad, w)
    direct = torch.log(w * good.exp() + (1 - w) * bad.exp())
    assert torch.allclose(mix, direct, rtol=1e-12)
    assert torch.all(mix >= math.log(w) + good - 1e-12)
    # noise far less likely than the model: the bound log w + log p_good is reached (4.61 nats lost)
    far = evaluation.mixture_log_likelihood(torch.full((3,), -1000.0), torch.full((3,), -5000.0), w)
    assert torch.isfinite(far).all()
    assert torch.allclose(far, torch.full((3,), -1000.0 + math.log(w)), atol=1e-9)
    assert -math.log(w) == pytest.approx(4.61, abs=0.005)


# ---------------------------------------------------------------- Frechet distance
def test_gaussian_frechet_distance_matches_the_feature_version():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(300, 4)) @ rng.normal(size=(4, 4))
    b = rng.normal(size=(200, 4)) @ rng.normal(size=(4, 4)) + 0.5
    moments = [torch.from_numpy(v) for v in (a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))]
    got = evaluation.gaussian_frechet_distance(*moments)
    assert got.dtype == torch.float64 and got.ndim == 0
    assert float(got) == pytest.approx(metrics.frechet_distance(a, b), rel=1e-9)


def test_fd_shrinks_with_the_sample_size():
    g = _gen(9)
    a, b = torch.randn(3000, 8, generator=g), torch.randn(3000, 8, generator=g)
    curve = evaluation.fd_by_sample_size(a, b, [20, 100, 1000], repeats=3)
    assert [n for n, _, _ in curve] == [20, 100, 1000]
    means = [m for _, m, _ in curve]
    assert means[0] > means[1] > means[2] > 0
    assert all(s >= 0 for _, _, s in curve)
    assert curve == evaluation.fd_by_sample_size(a, b, [20, 100, 1000], repeats=3)  # seeded


def test_precision_agrees_with_metrics():
    g = _gen(10)
    real, fake = torch.randn(120, 6, generator=g), 1.3 * torch.randn(90, 6, generator=g) + 0.2
    for k in (1, 3, 5):
        assert float(evaluation.precision(real, fake, k)) == pytest.approx(metrics.precision_recall(real, fake, k)[0])


def test_inception_score_spans_one_to_the_number_of_classes():
    from genmodels_course import evaluation as ev

    certain = torch.eye(10).repeat(7, 1)  # every class, each with certainty
    assert ev.inception_score(certain) == pytest.approx(10.0, rel=1e-9)
    same = torch.softmax(torch.randn(1, 10), 1).repeat(50, 1)  # one class distribution for all
    assert ev.inception_score(same) == pytest.approx(1.0, abs=1e-9)
    # against a direct computation on random probabilities
    g = torch.Generator().manual_seed(0)
    p = torch.softmax(3 * torch.randn(200, 10, generator=g, dtype=torch.float64), 1)
    py = p.mean(0)
    direct = torch.exp(torch.mean(torch.stack([(row * (row / py).log()).sum() for row in p])))
    assert ev.inception_score(p) == pytest.approx(float(direct), rel=1e-9)
    with pytest.raises(ValueError, match="softmax"):
        ev.inception_score(torch.randn(5, 10))
    with pytest.raises(ValueError, match=r"\(N, K\)"):
        ev.inception_score(torch.ones(10))


def test_memorisation_reuses_the_test_distances_it_is_given():
    g = torch.Generator().manual_seed(3)
    train, test = torch.randn(500, 5, generator=g), torch.randn(300, 5, generator=g)
    samples = torch.cat([train[:50], torch.randn(150, 5, generator=g)])
    first = evaluation.memorisation(samples, train, test, quantile=0.05)
    again = evaluation.memorisation(samples, train, test, quantile=0.05, test_nn=first["test_nn"])
    assert again["share_copies"] == first["share_copies"] and again["threshold"] == first["threshold"]
    # the given distances set the threshold: all-zero distances leave no sample below it
    none = evaluation.memorisation(samples, train, test, quantile=0.05, test_nn=torch.zeros(300))
    assert none["share_copies"] == 0.0
    with pytest.raises(ValueError, match="one distance per test image"):
        evaluation.memorisation(samples, train, test, test_nn=torch.zeros(7))
