"""Chapter 1's divergences: the grid KL against closed forms, maximum likelihood as the
forward KL (moment matching), the reverse KL's mode seeking, and the bimodal toy."""
import math

import pytest
import torch

from genmodels_course import divergences as dv

GRID = torch.linspace(-12, 12, 2401, dtype=torch.float64)
MIX = dv.Mixture1D((0.7, 0.3), (-2.0, 2.0), (0.5, 0.5))


@pytest.mark.parametrize("mp,sp,mq,sq", [(0, 1, 0, 1), (0, 1, 1, 2), (-1.5, 0.5, 2, 1.3),
                                         (2, 1.5, -1, 1.0)])
def test_grid_kl_matches_the_closed_form_between_gaussians(mp, sp, mq, sq):
    p = dv.normal_log_prob(GRID, mp, sp).exp()
    q = dv.normal_log_prob(GRID, mq, sq).exp()
    closed = dv.kl_normal(mp, sp, mq, sq)
    assert torch.allclose(dv.kl_divergence_on_grid(p, q, GRID), closed, atol=1e-8)
    assert float(closed) >= 0 and (float(closed) == 0) == ((mp, sp) == (mq, sq))


def test_kl_normal_against_torch_distributions():
    P, Q = torch.distributions.Normal(0.3, 0.8), torch.distributions.Normal(-1.0, 1.7)
    ref = torch.distributions.kl_divergence(P, Q).double()
    assert torch.allclose(dv.kl_normal(0.3, 0.8, -1.0, 1.7), ref, atol=1e-6)


def test_mixture_log_prob_and_moments_against_monte_carlo():
    ref = torch.log(0.7 * torch.distributions.Normal(-2.0, 0.5).log_prob(GRID).exp()
                    + 0.3 * torch.distributions.Normal(2.0, 0.5).log_prob(GRID).exp())
    assert torch.allclose(MIX.log_prob(GRID), ref, atol=1e-10)
    assert abs(float(MIX.pdf(GRID).sum()) * float(GRID[1] - GRID[0]) - 1) < 1e-9
    x = MIX.sample(200_000, generator=torch.Generator().manual_seed(0))
    assert abs(float(x.mean()) - MIX.mean()) < 0.02 and abs(float(x.var()) - MIX.variance()) < 0.03
    assert MIX.mean() == pytest.approx(-0.8) and MIX.variance() == pytest.approx(0.25 + 4 - 0.64)


def test_forward_kl_optimum_is_moment_matching():
    mu, sigma, kl = dv.fit_gaussian_by_kl(MIX.pdf(GRID), GRID, "forward")
    assert mu == pytest.approx(MIX.mean(), abs=1e-4)
    assert sigma == pytest.approx(math.sqrt(MIX.variance()), abs=1e-4)
    # the minimum is the KL of the moment-matched Gaussian, and nothing nearby is lower
    q = dv.normal_log_prob(GRID, MIX.mean(), math.sqrt(MIX.variance())).exp()
    assert kl == pytest.approx(float(dv.kl_divergence_on_grid(MIX.pdf(GRID), q, GRID)), abs=1e-8)
    for dm, ds in [(0.05, 0), (-0.05, 0), (0, 0.05), (0, -0.05)]:
        q = dv.normal_log_prob(GRID, mu + dm, sigma + ds).exp()
        assert float(dv.kl_divergence_on_grid(MIX.pdf(GRID), q, GRID)) > kl


def test_reverse_kl_seeks_the_heavier_mode():
    mu, sigma, kl = dv.fit_gaussian_by_kl(MIX.pdf(GRID), GRID, "reverse")
    # well-separated modes: q sits on the 0.7 mode, and KL(q || p) ~ log(1 / 0.7)
    assert mu == pytest.approx(-2.0, abs=1e-2) and sigma == pytest.approx(0.5, abs=1e-2)
    assert kl == pytest.approx(-math.log(0.7), abs=1e-3)
    q = dv.normal_log_prob(GRID, mu, sigma).exp()
    assert kl == pytest.approx(float(dv.kl_divergence_on_grid(q, MIX.pdf(GRID), GRID)), abs=1e-8)


def test_a_single_gaussian_target_is_recovered_by_both_directions():
    p = dv.normal_log_prob(GRID, 1.2, 0.9).exp()
    for direction in ("forward", "reverse"):
        mu, sigma, kl = dv.fit_gaussian_by_kl(p, GRID, direction)
        assert mu == pytest.approx(1.2, abs=1e-4) and sigma == pytest.approx(0.9, abs=1e-4)
        assert kl == pytest.approx(0.0, abs=1e-8)


def test_kl_edge_cases_and_bad_input():
    p = dv.normal_log_prob(GRID, 0, 1).exp()
    q = torch.where(GRID < 0, p, torch.zeros_like(p))
    assert math.isinf(float(dv.kl_divergence_on_grid(p, q, GRID)))  # q = 0 where p > 0
    assert math.isfinite(float(dv.kl_divergence_on_grid(q * 2, p, GRID)))  # 0 log 0 = 0
    with pytest.raises(ValueError, match="direction"):
        dv.fit_gaussian_by_kl(p, GRID, "sideways")
    with pytest.raises(ValueError, match="uniformly spaced"):
        dv.kl_divergence_on_grid(p[:3], p[:3], torch.tensor([0.0, 1.0, 3.0]))
    with pytest.raises(ValueError, match="one value per grid point"):
        dv.kl_divergence_on_grid(p[:-1], p, GRID)
    with pytest.raises(ValueError, match=">= 0"):
        dv.kl_divergence_on_grid(-p, p, GRID)
    with pytest.raises(ValueError, match="same length"):
        dv.Mixture1D((0.5, 0.5), (0.0,), (1.0, 1.0))


def test_bimodal_toy_mean_is_no_right_answer_but_samples_are():
    g = torch.Generator().manual_seed(0)
    x, y = dv.bimodal_toy(20_000, generator=g)
    xq, yq = dv.bimodal_toy(2_000, generator=g)
    mean = dv.binned_conditional_mean(x, y, xq)
    draws = dv.sample_binned_conditional(x, y, xq, generator=g)
    assert mean.abs().max() < 0.15  # E[y | x] = 0, and |y| >= 0.3 for every example
    near = lambda v: ((v.abs() - (0.3 + xq)).abs() < 0.2).double().mean()  # noqa: E731
    assert near(mean) == 0 and near(draws) > 0.95
    assert 0.3 < float((draws > 0).double().mean()) < 0.7  # both modes, in proportion
    # the mean wins on squared error all the same: MSE rewards the average
    assert ((mean - yq) ** 2).mean() < ((draws - yq) ** 2).mean()
    # the bin mean is the least-squares solution among functions of the bin
    assert torch.allclose(dv.binned_conditional_mean(x, y, x, bins=1), y.mean().expand(len(x)))


def test_red_or_blue_puts_each_digit_in_one_channel_and_the_mean_is_purple():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(400, 1, 5, 5, generator=g)
    colour, is_red = dv.red_or_blue(x, generator=g)
    assert colour.shape == (400, 3, 5, 5) and torch.equal(colour.sum(1, keepdim=True), x)
    assert torch.equal(colour[is_red, 2], torch.zeros_like(colour[is_red, 2]))
    assert torch.equal(colour[~is_red, 0], torch.zeros_like(colour[~is_red, 0]))
    assert 0.4 < float(is_red.double().mean()) < 0.6
    # least squares of each channel on the grey level: slopes 1/2, 0, 1/2 (purple)
    slopes = [float((colour[:, c] * x[:, 0]).sum() / (x ** 2).sum()) for c in range(3)]
    assert abs(slopes[0] - 0.5) < 0.06 and slopes[1] == 0 and abs(slopes[2] - 0.5) < 0.06
    with pytest.raises(ValueError, match="grey images"):
        dv.red_or_blue(torch.rand(2, 3, 5, 5))
