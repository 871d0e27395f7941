"""The VAE chapter's math tied to code: closed forms vs Monte Carlo, bounds vs an exact likelihood."""
import math
import os

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

import genmodels_course as gm
from genmodels_course import latent, vae


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------ gaussian_kl
def test_gaussian_kl_matches_monte_carlo():
    g = _g(0)
    mu, logvar = torch.randn(3, 4, generator=g, dtype=torch.float64), torch.randn(3, 4, generator=g, dtype=torch.float64)
    eps = torch.randn(200_000, 3, 4, generator=g, dtype=torch.float64)
    z = vae.reparameterise(mu, logvar, eps)
    log_ratio = vae.gaussian_log_prob(z, mu, logvar) - vae.standard_normal_log_prob(z)   # (S, 3)
    mc, se = log_ratio.mean(0), log_ratio.std(0) / math.sqrt(eps.shape[0])
    closed = vae.gaussian_kl(mu, logvar)
    assert closed.shape == (3,)
    assert torch.all((mc - closed).abs() < 4 * se + 1e-9), (mc, closed, se)


def test_gaussian_kl_matches_torch_distributions():
    g = _g(1)
    mu, logvar = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    ref = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(vae.gaussian_kl(mu, logvar), ref, atol=1e-5, rtol=1e-5)
    assert torch.all(vae.gaussian_kl(mu, logvar) >= 0)
    assert float(vae.gaussian_kl(torch.zeros(1, 3), torch.zeros(1, 3))) == 0.0


def test_gaussian_log_prob_matches_torch():
    g = _g(2)
    z, mu, logvar = (torch.randn(4, 3, generator=g) for _ in range(3))
    ref = Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(-1)
    torch.testing.assert_close(vae.gaussian_log_prob(z, mu, logvar), ref)
    torch.testing.assert_close(vae.standard_normal_log_prob(z), Normal(0.0, 1.0).log_prob(z).sum(-1))


# ------------------------------------------------------------------ reparameterisation
def test_reparameterise_moments_and_gradients():
    mu = torch.tensor([1.0, -2.0], requires_grad=True)
    logvar = torch.tensor([0.0, math.log(4.0)], requires_grad=True)
    z = vae.reparameterise(mu.expand(100_000, 2), logvar.expand(100_000, 2), generator=_g(3))
    torch.testing.assert_close(z.mean(0), torch.tensor([1.0, -2.0]), atol=0.03, rtol=0)
    torch.testing.assert_close(z.std(0), torch.tensor([1.0, 2.0]), atol=0.03, rtol=0)
    # the gradient of E[z^2] = mu^2 + sigma^2 flows through the sample: d/dmu = 2 mu, d/dlogvar = sigma^2
    z.pow(2).mean(0).sum().backward()
    torch.testing.assert_close(mu.grad, torch.tensor([2.0, -4.0]), atol=0.06, rtol=0)
    torch.testing.assert_close(logvar.grad, torch.tensor([1.0, 4.0]), atol=0.1, rtol=0)


# ------------------------------------------------------------------ Bernoulli likelihood
def test_bernoulli_nll_matches_torch_bce_and_is_stable():
    g = _g(4)
    logits = 30 * torch.randn(6, 1, 5, 5, generator=g)
    x = torch.bernoulli(torch.full((6, 1, 5, 5), 0.5), generator=g)
    ref = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum((1, 2, 3))
    torch.testing.assert_close(vae.bernoulli_nll(logits, x), ref)
    big = torch.tensor([[1000.0, -1000.0]])
    torch.testing.assert_close(vae.bernoulli_nll(big, torch.tensor([[1.0, 0.0]])), torch.tensor([0.0]))
    torch.testing.assert_close(vae.bernoulli_nll(big, torch.tensor([[0.0, 1.0]])), torch.tensor([2000.0]))


def test_negative_elbo_is_rec_plus_beta_kl():
    g = _g(5)
    logits, x = torch.randn(3, 1, 4, 4, generator=g), torch.bernoulli(torch.full((3, 1, 4, 4), 0.3), generator=g)
    mu, logvar = torch.randn(3, 2, generator=g), torch.randn(3, 2, generator=g)
    rec, kl = vae.bernoulli_nll(logits, x), vae.gaussian_kl(mu, logvar)
    torch.testing.assert_close(vae.negative_elbo(logits, x, mu, logvar), rec + kl)
    torch.testing.assert_close(vae.negative_elbo(logits, x, mu, logvar, beta=4.0), rec + 4 * kl)


# ------------------------------------------------------------------ IWAE bound
def test_iwae_bound_log_mean_exp():
    log_w = torch.randn(4, 7, generator=_g(6), dtype=torch.float64)
    torch.testing.assert_close(vae.iwae_bound(log_w), log_w.exp().mean(-1).log())
    torch.testing.assert_close(vae.iwae_bound(log_w[:, :1]), log_w[:, 0])
    huge = torch.tensor([[800.0, 800.0], [-900.0, -900.0]])
    torch.testing.assert_close(vae.iwae_bound(huge), torch.tensor([800.0, -900.0]))


# ------------------------------------------------------------------ bounds on a model with exact log p(x)
def _ppca_setup(seed=0):
    """A pPCA fitted by maximum likelihood; its exact posterior is diagonal (W has orthogonal columns)."""
    g = _g(seed)
    W = torch.randn(8, 3, generator=g, dtype=torch.float64)
    x = torch.randn(500, 3, generator=g, dtype=torch.float64) @ W.T + 0.5 * torch.randn(500, 8, generator=g, dtype=torch.float64)
    model = latent.fit_ppca(x, 3)
    return model, x[:20]


def _log_w(model, x, mu, logvar, k, seed):
    eps = torch.randn(x.shape[0], k, mu.shape[-1], generator=_g(seed), dtype=torch.float64)
    z = vae.reparameterise(mu[:, None], logvar[:, None], eps)
    return model.log_joint(x, z) - vae.gaussian_log_prob(z, mu[:, None], logvar[:, None])


def test_elbo_equals_log_px_with_true_posterior():
    model, x = _ppca_setup()
    mean, cov = model.posterior(x)
    assert torch.allclose(cov, torch.diag(torch.diagonal(cov)))     # diagonal: a VAE-style q can be exact
    logvar = torch.diagonal(cov).log().expand_as(mean)
    log_w = _log_w(model, x, mean, logvar, k=16, seed=1)
    # with q = p(z|x), every weight equals p(x): ELBO = IWAE_k = log p(x) with zero variance
    torch.testing.assert_close(log_w, model.log_prob(x)[:, None].expand_as(log_w))


def test_elbo_below_log_px_and_iwae_rises_with_k():
    model, x = _ppca_setup()
    mean, cov = model.posterior(x)
    # a poor q: mean shrunk towards 0, variance inflated
    mu, logvar = 0.6 * mean, (3.0 * torch.diagonal(cov)).log().expand_as(mean)
    log_px = model.log_prob(x)
    log_w = _log_w(model, x, mu, logvar, k=20_000, seed=2)
    elbo = log_w.mean(1)
    assert torch.all(elbo < log_px)
    # the exact gap is KL(q || p(z|x)), computed in closed form
    q = torch.distributions.MultivariateNormal(mu, torch.diag_embed(logvar.exp()))
    p = torch.distributions.MultivariateNormal(mean, cov)
    gap = torch.distributions.kl_divergence(q, p)
    se = log_w.std(1) / math.sqrt(log_w.shape[1])
    assert torch.all((elbo - (log_px - gap)).abs() < 4 * se), (elbo - (log_px - gap), se)
    # L_k averaged over many independent draws rises with k and approaches log p(x)
    gaps = []
    for k in (1, 10, 100, 1000):
        blocks = log_w[:, : (20_000 // k) * k].reshape(x.shape[0], -1, k)
        gaps.append((vae.iwae_bound(blocks) - log_px[:, None]).mean(0))   # (blocks,): L_k - log p(x), averaged over x
    means = torch.stack([g.mean() for g in gaps])
    assert torch.all(means[1:] > means[:-1]), means
    last = gaps[-1]
    assert last.mean() <= 3 * last.std() / math.sqrt(last.numel())      # still a bound, up to Monte Carlo error
    assert -last.mean() < 0.05 * -gaps[0].mean()                          # and much tighter than the ELBO


# ------------------------------------------------------------------ the model, estimators, collapse tools
def _tiny_vae(seed=0, z_dim=4):
    torch.manual_seed(seed)
    return vae.VAE(vae.VAEConfig(x_shape=(1, 4, 4), z_dim=z_dim, hidden=(16,)))


def test_vae_shapes_and_errors():
    model = _tiny_vae()
    x = torch.bernoulli(torch.full((5, 1, 4, 4), 0.5), generator=_g(7))
    logits, mu, logvar = model(x, generator=_g(8))
    assert logits.shape == x.shape and mu.shape == logvar.shape == (5, 4)
    assert model.sample(3, generator=_g(9)).shape == (3, 1, 4, 4)
    with pytest.raises(ValueError, match=r"\(N, 1, 4, 4\)"):
        model.encode(torch.zeros(5, 16))
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        model.decode(torch.zeros(5, 3))
    with pytest.raises(ValueError, match="same shape"):
        vae.gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="k >= 1"):
        vae.iwae_bound(torch.zeros(3, 0))
    with pytest.raises(ValueError, match="non-empty"):
        vae.bernoulli_nll(torch.zeros(0, 4), torch.zeros(0, 4))
    with pytest.raises(ValueError, match="z_dim"):
        vae.VAEConfig(z_dim=0)
    with pytest.raises(ValueError, match="broadcasts"):
        vae.reparameterise(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        vae.bernoulli_nll(torch.zeros(2, 4), torch.full((2, 4), 2.0))
    with pytest.raises(ValueError, match="at least 2"):
        vae.active_units(model, x[:1])


def test_iwae_nll_k1_is_negative_elbo_and_bounds_order():
    model = _tiny_vae(1)
    x = torch.bernoulli(torch.full((50, 1, 4, 4), 0.3), generator=_g(10))
    with torch.no_grad():
        mu, logvar = model.encode(x)
        # -ELBO by a large Monte Carlo average of the one-sample estimate
        nelbo = torch.stack([vae.negative_elbo(model.decode(vae.reparameterise(mu, logvar, generator=_g(100 + s))),
                                               x, mu, logvar) for s in range(400)]).mean(0)
    k1 = torch.stack([vae.iwae_nll(model, x, k=1, generator=_g(500 + s)) for s in range(400)]).mean(0)
    torch.testing.assert_close(k1, nelbo, atol=0.15, rtol=0)
    k200 = vae.iwae_nll(model, x, k=200, k_chunk=64, batch_size=16, generator=_g(11))
    assert k200.shape == (50,)
    assert k200.mean() < nelbo.mean()


def test_active_units_counts_units_that_move():
    model = _tiny_vae(2, z_dim=4)
    with torch.no_grad():      # make the means of units 1 and 3 ignore the input
        last = model.encoder[-1]
        last.weight[[1, 3]] = 0.0
    x = torch.rand(200, 1, 4, 4, generator=_g(12))
    count, var = vae.active_units(model, x, threshold=1e-8)
    assert count == 2 and var.shape == (4,) and var[1] == 0 and var[3] == 0


def test_free_bits_and_warmup():
    kl = torch.tensor([[0.1, 2.0], [0.3, 4.0]], requires_grad=True)
    value = vae.free_bits_kl(kl, lam=0.5)
    assert float(value.detach()) == pytest.approx(0.5 + 3.0)
    value.backward()
    # the unit below the floor gets no gradient; the other gets d(mean)/dKL = 1/N
    torch.testing.assert_close(kl.grad, torch.tensor([[0.0, 0.5], [0.0, 0.5]]))
    assert [vae.kl_warmup(s, 10) for s in (0, 5, 10, 20)] == [0.0, 0.5, 1.0, 1.0]
    assert vae.kl_warmup(3, 0) == 1.0
    with pytest.raises(ValueError, match="lam >= 0"):
        vae.free_bits_kl(kl, -1.0)


def test_make_step_trains_a_tiny_vae():
    model = _tiny_vae(3)
    x = torch.rand(64, 1, 4, 4, generator=_g(13)).round()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    step = vae.make_step(model, warmup_steps=5, free_bits=0.1, generator=_g(14))
    losses = []
    for i in range(60):
        loss, logs = step((x,), i)
        assert set(logs) == {"rec", "kl"}
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert sum(losses[-10:]) < sum(losses[:10])


def test_inpaint_keeps_observed_pixels():
    model = _tiny_vae(4)
    x = torch.bernoulli(torch.full((3, 1, 4, 4), 0.5), generator=_g(15))
    mask = torch.zeros_like(x)
    mask[..., :2, :] = 1
    before = [p.detach().clone() for p in model.parameters()]
    out = vae.inpaint(model, x, mask, steps=5)
    torch.testing.assert_close(out[..., :2, :], x[..., :2, :])
    assert torch.all((out >= 0) & (out <= 1))
    assert all(torch.equal(a, b) and p.grad is None for a, b, p in zip(before, model.parameters(), model.parameters()))
    full = vae.inpaint(model, x, torch.ones_like(x), steps=3)
    torch.testing.assert_close(full, x)                  # nothing hidden: nothing changes


# ------------------------------------------------------------------ the exercise checkers
def _wrong_versions():
    return {
        "vae.gaussian_kl": [
            lambda mu, lv: (lv.exp() + mu ** 2 - 1 - lv).sum(-1),               # no 1/2
            lambda mu, lv: 0.5 * (lv ** 2 + mu ** 2 - 1 - torch.log(lv.abs() ** 2 + 1e-12)).sum(-1),  # logvar read as sigma
            lambda mu, lv: 0.5 * (lv.exp() + mu ** 2 - 1 - lv).sum(),            # sums over the batch too
        ],
        "vae.reparameterise": [
            lambda mu, lv, eps: mu + lv.exp() * eps,                             # variance, not std
            lambda mu, lv, eps: mu + lv * eps,                                   # logvar used as sigma
            lambda mu, lv, eps: mu + torch.randn_like(mu) * (0.5 * lv).exp(),    # ignores eps
        ],
        "vae.negative_elbo": [
            lambda l, x, mu, lv, beta=1.0: -(x * torch.log(torch.sigmoid(l)) + (1 - x) * torch.log(1 - torch.sigmoid(l))).flatten(1).sum(1)
            + beta * vae.gaussian_kl(mu, lv),                                    # unstable: log(0)
            lambda l, x, mu, lv, beta=1.0: F.binary_cross_entropy_with_logits(l, x, reduction="none").flatten(1).mean(1)
            + beta * vae.gaussian_kl(mu, lv),                                    # mean over pixels
            lambda l, x, mu, lv, beta=1.0: F.binary_cross_entropy_with_logits(l, x, reduction="none").flatten(1).sum(1)
            - beta * vae.gaussian_kl(mu, lv),                                    # sign of the KL
            lambda l, x, mu, lv, beta=1.0: vae.bernoulli_nll(l, x) + vae.gaussian_kl(mu, lv),   # ignores beta
            lambda l, x, mu, lv, beta=1.0: beta * vae.bernoulli_nll(l, x) + vae.gaussian_kl(mu, lv),  # beta on the reconstruction
            lambda l, x, mu, lv, beta=1.0: vae.negative_elbo(l, x, mu, lv, beta) + 1e-3,  # off by 1e-3 nats
            lambda l, x, mu, lv, beta=1.0: vae.negative_elbo(l, x, mu, lv, beta).detach(),  # no gradient
        ],
        "vae.iwae_bound": [
            lambda lw: lw.exp().mean(-1).log(),                                  # overflows / underflows
            lambda lw: torch.logsumexp(lw, -1),                                  # forgets -log k
            lambda lw: lw.mean(-1),                                              # that is the ELBO, not IWAE
        ],
    }


@pytest.mark.parametrize("name", ["vae.gaussian_kl", "vae.reparameterise", "vae.negative_elbo", "vae.iwae_bound"])
def test_checker_passes_reference_and_fails_wrong_versions(name):
    reference = {"vae.gaussian_kl": vae.gaussian_kl, "vae.reparameterise": vae.reparameterise,
                 "vae.negative_elbo": vae.negative_elbo, "vae.iwae_bound": vae.iwae_bound}[name]
    assert gm.exercises.evaluate(name, reference).passed
    for wrong in _wrong_versions()[name]:
        verdict = gm.exercises.evaluate(name, wrong)
        assert not verdict.passed, verdict.message
        assert verdict.message


@pytest.mark.parametrize("wrong, words", [
    (lambda l, x, mu, lv, beta=1.0: vae.bernoulli_nll(l, x) + vae.gaussian_kl(mu, lv), "beta = 0.25"),
    (lambda l, x, mu, lv, beta=1.0: beta * vae.bernoulli_nll(l, x) + vae.gaussian_kl(mu, lv), "beta = 0.25"),
    (lambda l, x, mu, lv, beta=1.0: vae.negative_elbo(l, x, mu, lv, beta) + 1e-3, "wrong values"),
    (lambda l, x, mu, lv, beta=1.0: vae.negative_elbo(l, x, mu, lv, beta).detach(), "detached"),
])
def test_negative_elbo_checker_catches_beta_offsets_and_detached_outputs(wrong, words):
    verdict = gm.exercises.evaluate("vae.negative_elbo", wrong)
    assert not verdict.passed and words in verdict.message, verdict.message


def test_negative_elbo_checker_uses_beta_both_ways():
    cases = gm.exercises._lookup("vae.negative_elbo").cases()
    assert any(c.kwargs.get("beta", 1.0) != 1.0 for c in cases)          # beta by keyword
    assert any(len(c.args) == 5 and c.args[4] != 1.0 for c in cases)     # beta as the fifth argument

    def no_grad_inside(l, x, mu, lv, beta=1.0):
        with torch.no_grad():
            return vae.negative_elbo(l, x, mu, lv, beta)

    def kl_detached(l, x, mu, lv, beta=1.0):   # right values; the KL cannot be trained
        return vae.bernoulli_nll(l, x) + beta * vae.gaussian_kl(mu, lv).detach()

    assert "torch.no_grad()" in gm.exercises.evaluate("vae.negative_elbo", no_grad_inside).message
    msg = gm.exercises.evaluate("vae.negative_elbo", kl_detached).message
    assert "no gradient flows back to `mu`" in msg and "detached" in msg


def test_stub_is_reported_not_raised():
    def stub(mu, logvar):
        raise NotImplementedError

    verdict = gm.exercises.evaluate("vae.gaussian_kl", stub)
    assert not verdict.passed and "not implemented" in verdict.message


# ------------------------------------------------------------------ real data (skipped without GENMODELS_DATA)
@pytest.mark.skipif(not os.environ.get("GENMODELS_DATA"), reason="GENMODELS_DATA is not set")
def test_short_training_on_mnist_beats_the_untrained_model():
    x, _ = gm.data.load_mnist(train=True, n=1024, device="cpu")
    xt = torch.bernoulli(x[:200], generator=_g(16))
    torch.manual_seed(0)
    model = vae.VAE(vae.VAEConfig(z_dim=8, hidden=(64,)))
    before = vae.iwae_nll(model, xt, k=10, generator=_g(17)).mean()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    step = vae.make_step(model, generator=_g(18))
    for i in range(80):
        loss, _ = step((x[(i * 128) % 1024:(i * 128) % 1024 + 128],), i)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = vae.iwae_nll(model, xt, k=10, generator=_g(19)).mean()
    assert after < before - 200, (before, after)
    assert after < 300


def test_aggregate_posterior_is_a_normalised_mixture():
    mu = torch.tensor([[0.0, 0.0], [3.0, -1.0]])
    logvar = torch.tensor([[0.0, 0.0], [-1.0, 0.5]])
    z = torch.randn(5, 2, generator=_g(20))
    ref = torch.stack([vae.gaussian_log_prob(z, m, lv) for m, lv in zip(mu, logvar)]).exp().mean(0).log()
    torch.testing.assert_close(vae.aggregate_posterior_log_prob(z, mu, logvar, chunk=2), ref)
    # integrates to 1 on a grid
    g = torch.linspace(-10, 10, 401)
    pts = torch.stack(torch.meshgrid(g, g, indexing="xy"), -1).reshape(-1, 2)
    mass = vae.aggregate_posterior_log_prob(pts, mu, logvar).exp().sum() * (g[1] - g[0]) ** 2
    assert abs(float(mass) - 1) < 1e-3


def test_kl_per_unit_sums_to_the_average_kl():
    model = _tiny_vae(5, z_dim=3)
    x = torch.rand(40, 1, 4, 4, generator=_g(21))
    per_unit = vae.kl_per_unit(model, x)
    mu, logvar = model.encode(x)
    assert per_unit.shape == (3,) and torch.all(per_unit >= 0)
    torch.testing.assert_close(per_unit.sum(), vae.gaussian_kl(mu, logvar).mean().detach())


def test_per_unit_kl_and_masked_bernoulli_nll_reuse_the_closed_forms():
    g = _g(31)
    mu, logvar = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    per_dim = vae._kl_per_dim(mu, logvar)
    assert per_dim.shape == (4, 3)
    torch.testing.assert_close(per_dim, torch.distributions.kl_divergence(
        torch.distributions.Normal(mu, (0.5 * logvar).exp()), torch.distributions.Normal(0.0, 1.0)))
    torch.testing.assert_close(per_dim.sum(-1), vae.gaussian_kl(mu, logvar))
    logits, x = torch.randn(4, 1, 3, 3, generator=g), torch.bernoulli(torch.full((4, 1, 3, 3), 0.5), generator=g)
    mask = torch.bernoulli(torch.full((4, 1, 3, 3), 0.5), generator=g)
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    torch.testing.assert_close(vae.bernoulli_nll(logits, x, mask), (bce * mask).flatten(1).sum(1))
    torch.testing.assert_close(vae.bernoulli_nll(logits, x, torch.ones_like(x)), vae.bernoulli_nll(logits, x))
    with pytest.raises(ValueError, match="mask"):
        vae.bernoulli_nll(logits, x, mask[:, :, :2])
