"""Probabilistic PCA (genmodels_course.latent): the closed forms against independent computations."""
import math

import pytest
import torch
from torch.distributions import MultivariateNormal

from genmodels_course import latent


def _toy(n=400, D=6, q=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(D, q, generator=g, dtype=torch.float64)
    z = torch.randn(n, q, generator=g, dtype=torch.float64)
    x = z @ W.T + 0.3 * torch.randn(n, D, generator=g, dtype=torch.float64) + 1.0
    return x


def test_log_prob_matches_multivariate_normal():
    x = _toy()
    model = latent.fit_ppca(x, 2)
    ref = MultivariateNormal(model.mu, covariance_matrix=model.covariance()).log_prob(x)
    torch.testing.assert_close(model.log_prob(x), ref)


def test_ml_fit_closed_form():
    x = _toy()
    model = latent.fit_ppca(x, 2)
    S = torch.cov(x.T, correction=0)
    evals = torch.linalg.eigvalsh(S).flip(0)
    # sigma^2 is the mean of the discarded eigenvalues; C reproduces the top eigenvalues exactly
    assert model.sigma2 == pytest.approx(float(evals[2:].mean()), rel=1e-10)
    torch.testing.assert_close(torch.linalg.eigvalsh(model.covariance()).flip(0)[:2], evals[:2])
    # W has orthogonal columns (rotation R = I), so W^T W is diagonal
    WtW = model.W.T @ model.W
    torch.testing.assert_close(WtW, torch.diag(torch.diagonal(WtW)))


def test_ml_fit_beats_perturbations():
    x = _toy()
    model = latent.fit_ppca(x, 2)
    best = model.log_prob(x).mean()
    g = torch.Generator().manual_seed(1)
    for _ in range(5):
        W = model.W + 0.05 * torch.randn(model.W.shape, generator=g, dtype=torch.float64)
        other = latent.PPCA(W, model.mu, model.sigma2 * 1.05)
        assert other.log_prob(x).mean() < best
    # the ML log-likelihood has the closed form -N/2 (D log 2 pi + log|C| + D) at the optimum (tr(C^-1 S) = D)
    C = model.covariance()
    closed = -0.5 * (x.shape[1] * math.log(2 * math.pi) + torch.logdet(C) + x.shape[1])
    assert float(best) == pytest.approx(float(closed), rel=1e-8)


def test_posterior_matches_gaussian_conditioning():
    """p(z|x) from the joint Gaussian of (z, x), computed independently of the M-matrix formula."""
    x = _toy(n=5)
    model = latent.fit_ppca(_toy(), 2)
    mean, cov = model.posterior(x)
    C = model.covariance()
    # joint: Cov(z, x) = W^T, Cov(x) = C  =>  E[z|x] = W^T C^-1 (x - mu),  Cov = I - W^T C^-1 W
    ref_mean = (model.W.T @ torch.linalg.solve(C, (x - model.mu).T)).T
    ref_cov = torch.eye(2, dtype=torch.float64) - model.W.T @ torch.linalg.solve(C, model.W)
    torch.testing.assert_close(mean, ref_mean)
    torch.testing.assert_close(cov, ref_cov)


def test_bayes_rule_identity():
    """log p(x) = log p(x, z) - log p(z|x) for any z."""
    x = _toy(n=7)
    model = latent.fit_ppca(_toy(), 2)
    mean, cov = model.posterior(x)
    z = torch.randn(7, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    log_post = MultivariateNormal(mean, covariance_matrix=cov).log_prob(z)
    torch.testing.assert_close(model.log_joint(x, z) - log_post, model.log_prob(x))


def test_samples_have_model_covariance():
    model = latent.fit_ppca(_toy(), 2)
    xs, zs = model.sample(100_000, generator=torch.Generator().manual_seed(0))
    assert xs.shape == (100_000, 6) and zs.shape == (100_000, 2)
    torch.testing.assert_close(torch.cov(xs.T), model.covariance(), atol=0.08, rtol=0.03)


def test_bad_input():
    x = _toy()
    with pytest.raises(ValueError, match="1 <= q < D"):
        latent.fit_ppca(x, 6)
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        latent.fit_ppca(x[0], 2)
    model = latent.fit_ppca(x, 2)
    with pytest.raises(ValueError, match=r"\(N, 6\)"):
        model.log_prob(x[:, :3])
    with pytest.raises(ValueError, match="sigma2 > 0"):
        latent.PPCA(model.W, model.mu, 0.0)


# ------------------------------------------------------------------ PCA
def test_pca_matches_eigendecomposition_and_sklearn():
    from sklearn.decomposition import PCA as SkPCA

    x = _toy(n=300, D=7, q=3)
    mean, comps, var = latent.pca(x, 4)
    S = torch.cov(x.T, correction=0)
    evals, evecs = torch.linalg.eigh(S)
    torch.testing.assert_close(var, evals.flip(0)[:4])
    # the same subspace as the top eigenvectors: the projector is sign-free
    U = evecs.flip(1)[:, :4]
    torch.testing.assert_close(comps.T @ comps, U @ U.T)
    sk = SkPCA(n_components=4).fit(x.numpy())
    torch.testing.assert_close(var, torch.from_numpy(sk.explained_variance_) * (len(x) - 1) / len(x))


def test_pca_reconstruction_error_is_sum_of_discarded_eigenvalues():
    x = _toy(n=500, D=8, q=3)
    model = latent.fit_pca(x, 8)
    evals = torch.linalg.eigvalsh(torch.cov(x.T, correction=0)).flip(0)
    for k in range(0, 8):
        err = latent.reconstruction_error(x, model.reconstruct(x, k) if k else model.mean.expand_as(x))
        assert err == pytest.approx(float(evals[k:].sum()), rel=1e-8, abs=1e-10), k


def test_pca_encode_decode_shapes_and_bad_input():
    x = _toy()
    model = latent.fit_pca(x, 3)
    z = model.encode(x)
    assert z.shape == (len(x), 3) and model.decode(z).shape == x.shape
    with pytest.raises(ValueError, match=r"1 <= k <= min\(N, D\)"):
        latent.pca(x, 0)
    with pytest.raises(ValueError, match=r"\(N, D\) with N >= 2"):
        latent.pca(torch.zeros(0, 6), 1)
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        latent.pca(torch.zeros(5), 1)
    with pytest.raises(ValueError, match=r"\(N, 6\)"):
        model.encode(x[:, :4])
    with pytest.raises(ValueError, match="same shape"):
        latent.reconstruction_error(x, x[:, :3])


# ------------------------------------------------------------------ pPCA vs scikit-learn
def test_ppca_log_likelihood_equals_sklearn_pca_score():
    from sklearn.decomposition import PCA as SkPCA

    for q in (1, 2, 4):
        x = _toy(n=400, D=6, q=2, seed=q)
        ours = latent.fit_ppca(x, q).log_prob(x).mean()
        sk = SkPCA(n_components=q).fit(x.numpy())
        assert float(ours) == pytest.approx(sk.score(x.numpy()), abs=0.02)
        # exactly equal once our ML fit uses scikit-learn's N - 1 normalisation of the covariance
        ours_exact = latent.fit_ppca(x, q)
        ours_exact = latent.PPCA(ours_exact.W * math.sqrt(len(x) / (len(x) - 1)), ours_exact.mu,
                                 ours_exact.sigma2 * len(x) / (len(x) - 1))
        assert float(ours_exact.log_prob(x).mean()) == pytest.approx(sk.score(x.numpy()), rel=1e-9)


def test_ppca_ml_is_what_fit_ppca_uses():
    x = _toy()
    S = torch.cov(x.T, correction=0)
    evals, evecs = torch.linalg.eigh(S)
    W, sigma2 = latent.ppca_ml(evals.flip(0), evecs.flip(1), 2)
    model = latent.fit_ppca(x, 2)
    assert sigma2 == pytest.approx(model.sigma2, rel=1e-10)
    torch.testing.assert_close(W @ W.T, model.W @ model.W.T)


# ------------------------------------------------------------------ factor analysis
def _hetero(n=600, D=6, q=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(D, q, generator=g, dtype=torch.float64)
    psi = torch.linspace(0.05, 1.5, D, dtype=torch.float64)
    z = torch.randn(n, q, generator=g, dtype=torch.float64)
    return z @ W.T + psi.sqrt() * torch.randn(n, D, generator=g, dtype=torch.float64) - 2.0


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_factor_analysis_matches_sklearn():
    from sklearn.decomposition import FactorAnalysis as SkFA

    for seed in (0, 1):
        x = _hetero(seed=seed)
        model, history = latent.fit_factor_analysis(x, 2, iters=500)
        sk = SkFA(n_components=2, tol=1e-10, max_iter=5000).fit(x.numpy())
        assert history[-1] == pytest.approx(sk.score(x.numpy()), abs=2e-3)
        # the likelihood is flat along some directions of (W, psi), so compare the fitted covariance
        torch.testing.assert_close(model.covariance(), torch.from_numpy(sk.get_covariance()), atol=0.05, rtol=0.05)


def test_factor_analysis_em_is_monotone_and_beats_ppca_on_heteroscedastic_noise():
    x = _hetero(seed=3)
    _, history = latent.fit_factor_analysis(x, 2, iters=100)
    assert all(b >= a - 1e-9 for a, b in zip(history, history[1:]))
    assert history[-1] > float(latent.fit_ppca(x, 2).log_prob(x).mean())


def test_factor_analysis_posterior_matches_gaussian_conditioning():
    x = _hetero()
    model, _ = latent.fit_factor_analysis(x, 2, iters=20)
    mean, cov = model.posterior(x[:5])
    C = model.covariance()
    ref_mean = (model.W.T @ torch.linalg.solve(C, (x[:5] - model.mu).T)).T
    ref_cov = torch.eye(2, dtype=torch.float64) - model.W.T @ torch.linalg.solve(C, model.W)
    torch.testing.assert_close(mean, ref_mean)
    torch.testing.assert_close(cov, ref_cov)


def test_factor_analysis_bad_input():
    x = _hetero()
    with pytest.raises(ValueError, match="1 <= q < D"):
        latent.fit_factor_analysis(x, 0)
    with pytest.raises(ValueError, match=r"\(N, D\) with N >= 2"):
        latent.fit_factor_analysis(x[:1], 2)
    model, _ = latent.fit_factor_analysis(x, 2, iters=2)
    with pytest.raises(ValueError, match=r"\(N, 6\)"):
        model.log_prob(x[:, :2])
    with pytest.raises(ValueError, match="psi > 0"):
        latent.FactorAnalysis(model.W, model.mu, torch.zeros(6, dtype=torch.float64))


# ------------------------------------------------------------------ the chapter's settings
def test_latent_settings_grow_with_the_profile():
    from genmodels_course import settings

    quick, cpu, gpu = (settings.latent(p) for p in ("quick", "cpu", "gpu"))
    assert quick.ae_steps < cpu.ae_steps < gpu.ae_steps
    assert quick.n_train < cpu.n_train and gpu.n_train is None
