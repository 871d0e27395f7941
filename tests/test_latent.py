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
