"""Gaussian mixtures by EM (genmodels_course.mixtures): against scikit-learn and the EM guarantee."""
import pytest
import torch

from genmodels_course import mixtures


def _blobs(n=300, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[0.0, 0.0, 0.0], [3.0, 1.0, -1.0], [-2.0, 3.0, 1.0]], dtype=torch.float64)
    k = torch.randint(3, (n,), generator=g)
    A = torch.randn(3, 3, 3, generator=g, dtype=torch.float64) * 0.6
    return centres[k] + (A[k] @ torch.randn(n, 3, 1, generator=g, dtype=torch.float64))[..., 0]


def test_log_prob_matches_torch_distributions():
    x = _blobs()
    model = mixtures.init_gmm(x, 3, torch.Generator().manual_seed(0))
    model, _ = mixtures.fit_gmm(x, 3, iters=5, init=model)
    mix = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(probs=model.weights),
        torch.distributions.MultivariateNormal(model.means, covariance_matrix=model.covs))
    torch.testing.assert_close(model.log_prob(x), mix.log_prob(x))


def test_responsibilities_are_bayes_rule():
    x = _blobs(n=20)
    model = mixtures.init_gmm(x, 3, torch.Generator().manual_seed(1))
    r = mixtures.responsibilities(model.component_log_prob(x), model.weights.log())
    joint = model.weights * model.component_log_prob(x).exp()
    torch.testing.assert_close(r, joint / joint.sum(1, keepdim=True))
    torch.testing.assert_close(r.sum(1), torch.ones(20, dtype=torch.float64))
    # far in the tails the naive formula gives 0/0; the log-space one does not
    far = mixtures.responsibilities(torch.tensor([[-1000.0, -1001.0]]), torch.zeros(2))
    assert torch.isfinite(far).all() and far[0, 0] > far[0, 1]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_em_matches_sklearn_from_the_same_start():
    from sklearn.mixture import GaussianMixture as SkGMM

    for seed, iters in ((0, 1), (1, 10), (2, 40)):
        x = _blobs(seed=seed)
        init = mixtures.init_gmm(x, 3, torch.Generator().manual_seed(seed))
        model, history = mixtures.fit_gmm(x, 3, iters=iters, init=init, reg=1e-6)
        sk = SkGMM(3, covariance_type="full", reg_covar=1e-6, max_iter=iters, tol=0.0,
                   weights_init=init.weights.numpy(), means_init=init.means.numpy(),
                   precisions_init=torch.linalg.inv(init.covs).numpy()).fit(x.numpy())
        assert history[-1] == pytest.approx(sk.score(x.numpy()), abs=1e-6)
        torch.testing.assert_close(model.means, torch.from_numpy(sk.means_), atol=1e-5, rtol=1e-5)


def test_em_never_decreases_the_likelihood():
    for seed in range(5):
        x = _blobs(n=200, seed=seed)
        for K in (1, 2, 4, 6):
            _, history = mixtures.fit_gmm(x, K, iters=30, generator=torch.Generator().manual_seed(seed))
            assert len(history) == 31
            assert all(b >= a - 1e-9 for a, b in zip(history, history[1:])), (seed, K)


def test_samples_follow_the_mixture():
    x = _blobs()
    model, _ = mixtures.fit_gmm(x, 3, iters=30, generator=torch.Generator().manual_seed(0))
    xs, k = model.sample(50_000, generator=torch.Generator().manual_seed(1))
    assert xs.shape == (50_000, 3) and k.shape == (50_000,)
    torch.testing.assert_close(xs.mean(0), (model.weights[:, None] * model.means).sum(0), atol=0.03, rtol=0)
    frac = torch.bincount(k, minlength=3).double() / len(k)
    torch.testing.assert_close(frac, model.weights, atol=0.01, rtol=0)


def test_tol_stops_early():
    x = _blobs()
    _, history = mixtures.fit_gmm(x, 3, iters=500, tol=1e-4, generator=torch.Generator().manual_seed(0))
    assert len(history) < 501


def test_bad_input():
    x = _blobs()
    with pytest.raises(ValueError, match="K >= 1"):
        mixtures.fit_gmm(x, 0)
    with pytest.raises(ValueError, match=r"\(N, D\) with N >= 1"):
        mixtures.fit_gmm(torch.zeros(0, 3), 2)
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        mixtures.fit_gmm(torch.zeros(5), 2)
    with pytest.raises(ValueError, match="at most N = 300"):
        mixtures.init_gmm(x, 301)
    model = mixtures.init_gmm(x, 2)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        model.log_prob(x[:, :2])
    with pytest.raises(ValueError, match=r"weights \(K,\), means \(K, D\)"):
        mixtures.GaussianMixture(model.weights, model.means[:1], model.covs)
