"""Chapter 7's math tied to code: the closed-form forward process against iterating it,
the reverse posterior against brute-force conditioning, the samplers on a 1-D toy whose
exact denoiser is known, the U-Net's plumbing, and the exercise checkers."""
import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

import genmodels_course as gm
from genmodels_course import diffusion as D
from genmodels_course.nn import SinusoidalTimeEmbedding, TimeMLP, UNet


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def _small(T=50, dtype=torch.float64):
    return D.NoiseSchedule.linear(T=T, beta_start=1e-3, beta_end=0.2, dtype=dtype)


class GaussianOracle(torch.nn.Module):
    """The exact noise predictor E[eps | x_t] when the data are 1-D N(m, s^2):
    x_t ~ N(sqrt(abar) m, abar s^2 + 1 - abar), and eps = -sqrt(1 - abar) * score(x_t)."""

    def __init__(self, schedule, m=2.0, s=0.5):
        super().__init__()
        self.abar, self.m, self.s = schedule.alphas_cumprod, m, s

    def forward(self, x, t):
        a = self.abar[t].to(x.dtype).reshape(-1, *([1] * (x.ndim - 1)))
        return (1 - a).sqrt() * (x - a.sqrt() * self.m) / (a * self.s ** 2 + 1 - a)


# ------------------------------------------------------------------ schedules
def test_linear_schedule_numbers():
    s = D.NoiseSchedule.linear(1000)
    assert s.T == 1000 and s.kind == "linear"
    torch.testing.assert_close(s.betas[[0, -1]], torch.tensor([1e-4, 0.02]))
    torch.testing.assert_close(s.alphas_cumprod, torch.cumprod(1 - s.betas.double(), 0).float())
    assert torch.all(s.alphas_cumprod[1:] < s.alphas_cumprod[:-1])
    assert s.alphas_cumprod[-1] < 1e-4            # x_T is (almost) pure noise
    assert s.posterior_variance[0] == 0           # the last reverse step is deterministic
    assert s.alphas_cumprod_prev[0] == 1
    torch.testing.assert_close(s.alphas_cumprod_prev[1:], s.alphas_cumprod[:-1])
    torch.testing.assert_close(s.snr(), s.alphas_cumprod / (1 - s.alphas_cumprod))


def test_cosine_schedule_matches_its_definition():
    T, off = 1000, 0.008
    s = D.NoiseSchedule.cosine(T, dtype=torch.float64)
    f = lambda u: math.cos((u / T + off) / (1 + off) * math.pi / 2) ** 2  # noqa: E731
    for t in (0, 10, 250, 500, 900):   # code index t is the paper's step t + 1
        assert abs(float(s.alphas_cumprod[t]) - f(t + 1) / f(0)) < 1e-10
    assert float(s.betas.max()) <= 0.999
    # the cosine schedule destroys information more slowly in the middle than the linear one
    lin = D.NoiseSchedule.linear(T, dtype=torch.float64)
    assert s.alphas_cumprod[T // 2] > 3 * lin.alphas_cumprod[T // 2]


def test_schedule_rejects_bad_betas():
    for bad in (torch.tensor([0.1, 1.2]), torch.tensor([]), torch.tensor([[0.1]]), torch.tensor([0.0, 0.1])):
        with pytest.raises(ValueError):
            D.NoiseSchedule(bad)
    with pytest.raises(ValueError):
        D.linear_betas(10, 0.5, 0.1)
    with pytest.raises(ValueError):
        D.cosine_betas(0)


# ------------------------------------------------------------------ forward process
def test_q_sample_closed_form_matches_iterating_single_steps():
    """Eq. 7.2 against t applications of eq. 7.1, mean and variance by Monte Carlo."""
    s = _small()
    n, g = 200_000, _g(0)
    x0 = torch.full((n, 1), 1.5, dtype=torch.float64)
    x = x0.clone()
    for t in range(30):
        x = D.q_step(x, torch.full((n,), t), torch.randn(n, 1, generator=g, dtype=torch.float64), s)
        if t in (0, 9, 29):
            abar = float(s.alphas_cumprod[t])
            mean, var = math.sqrt(abar) * 1.5, 1 - abar
            se_mean, se_var = math.sqrt(var / n), var * math.sqrt(2 / n)
            assert abs(float(x.mean()) - mean) < 5 * se_mean
            assert abs(float(x.var()) - var) < 5 * se_var
            direct = D.q_sample(x0, torch.full((n,), t), torch.randn(n, 1, generator=g, dtype=torch.float64), s)
            assert abs(float(direct.mean()) - float(x.mean())) < 5 * math.sqrt(2) * se_mean
            assert abs(float(direct.var()) - float(x.var())) < 5 * math.sqrt(2) * se_var


def test_q_sample_is_the_reparameterised_gaussian():
    s = _small()
    g = _g(1)
    x0, eps = torch.randn(4, 1, 3, 3, generator=g, dtype=torch.float64), torch.randn(4, 1, 3, 3, generator=g, dtype=torch.float64)
    t = torch.tensor([0, 5, 20, 49])
    xt = D.q_sample(x0, t, eps, s)
    a = s.alphas_cumprod[t].reshape(4, 1, 1, 1)
    torch.testing.assert_close(xt, a.sqrt() * x0 + (1 - a).sqrt() * eps)
    torch.testing.assert_close(D.predict_x0(xt, t, eps, s), x0)     # eq. 7.6 inverts eq. 7.2
    assert torch.equal(D.q_sample(x0, 7, eps, s), D.q_sample(x0, torch.full((4,), 7), eps, s))


# ------------------------------------------------------------------ reverse posterior
def _brute_force_posterior(s, x0, xt, t):
    """Condition the joint Gaussian of (x_{t-1}, x_t) given x_0 on x_t, with 2x2 matrices."""
    abar_prev = float(s.alphas_cumprod_prev[t])
    a, b = float(s.alphas[t]), float(s.betas[t])
    m = torch.tensor([math.sqrt(abar_prev) * x0, math.sqrt(abar_prev * a) * x0], dtype=torch.float64)
    v = 1 - abar_prev
    S = torch.tensor([[v, math.sqrt(a) * v], [math.sqrt(a) * v, a * v + b]], dtype=torch.float64)
    mean = m[0] + S[0, 1] / S[1, 1] * (xt - m[1])
    var = S[0, 0] - S[0, 1] ** 2 / S[1, 1]
    return float(mean), float(var)


def _grid_posterior(s, x0, xt, t):
    """Bayes' rule on a fine grid: p(x_{t-1} | x_t, x_0) prop. to q(x_t | x_{t-1}) q(x_{t-1} | x_0)."""
    abar_prev = float(s.alphas_cumprod_prev[t])
    a, b = float(s.alphas[t]), float(s.betas[t])
    grid = torch.linspace(-8, 8, 400_001, dtype=torch.float64)
    logp = (Normal(math.sqrt(abar_prev) * x0, math.sqrt(1 - abar_prev)).log_prob(grid)
            + Normal(math.sqrt(a) * grid, math.sqrt(b)).log_prob(torch.tensor(xt, dtype=torch.float64)))
    w = torch.softmax(logp, 0)
    mean = float((w * grid).sum())
    return mean, float((w * (grid - mean) ** 2).sum())


@pytest.mark.parametrize("t", [1, 7, 25, 49])
def test_posterior_matches_brute_force_conditioning(t):
    s = _small()
    x0, xt = 0.7, -0.4
    mean, var = D.posterior_mean_variance(torch.tensor([[x0]], dtype=torch.float64),
                                          torch.tensor([[xt]], dtype=torch.float64), torch.tensor([t]), s)
    bm, bv = _brute_force_posterior(s, x0, xt, t)
    gm_, gv = _grid_posterior(s, x0, xt, t)
    assert abs(float(mean) - bm) < 1e-10 and abs(float(var) - bv) < 1e-10
    assert abs(float(mean) - gm_) < 1e-6 and abs(float(var) - gv) < 1e-6 * max(1.0, gv)


def test_posterior_at_t0_is_the_clean_image_and_shapes():
    s = _small()
    x0, xt = torch.randn(3, 1, 4, 4, dtype=torch.float64), torch.randn(3, 1, 4, 4, dtype=torch.float64)
    mean, var = D.posterior_mean_variance(x0, xt, torch.tensor([0, 0, 0]), s)
    torch.testing.assert_close(mean, x0)
    assert var.shape == (3, 1, 1, 1) and torch.all(var == 0)


def test_reverse_step_with_true_noise_lands_on_posterior_mean():
    s = _small()
    g = _g(2)
    x0, eps, z = (torch.randn(5, 2, generator=g, dtype=torch.float64) for _ in range(3))
    t = torch.tensor([1, 4, 17, 33, 49])
    xt = D.q_sample(x0, t, eps, s)
    mean, var = D.posterior_mean_variance(x0, xt, t, s)
    torch.testing.assert_close(D.ddpm_step(eps, xt, t, torch.zeros_like(xt), s), mean)
    torch.testing.assert_close(D.ddpm_step(eps, xt, t, z, s), mean + var.sqrt() * z)
    # the same mean in Ho et al.'s form, (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(alpha_t)
    b, a, ab = (v[t].reshape(-1, 1) for v in (s.betas, s.alphas, s.alphas_cumprod))
    torch.testing.assert_close(mean, (xt - b / (1 - ab).sqrt() * eps) / a.sqrt())
    # variance "beta" adds sqrt(beta_t) z instead; t = 0 adds no noise at all
    torch.testing.assert_close(D.ddpm_step(eps, xt, t, z, s, variance="beta"), mean + b.sqrt() * z)
    t0 = torch.zeros(5, dtype=torch.long)
    torch.testing.assert_close(D.ddpm_step(eps, D.q_sample(x0, t0, eps, s), t0, z, s), x0)


def test_vlb_term_is_weighted_noise_error():
    """KL(q(x_{t-1}|x_t,x_0) || p_theta(x_{t-1}|x_t)) = lambda_t (eps - eps_hat)^2 (eq. 7.7)."""
    s = _small()
    g = _g(3)
    x0, eps, eps_hat = (torch.randn(6, 3, generator=g, dtype=torch.float64) for _ in range(3))
    t = torch.tensor([1, 2, 10, 30, 40, 49])
    xt = D.q_sample(x0, t, eps, s)
    for variance in ("posterior", "beta"):
        q_mean, _ = D.posterior_mean_variance(x0, xt, t, s)
        q_var = s.posterior_variance[t].reshape(-1, 1)
        p_mean = D.ddpm_step(eps_hat, xt, t, torch.zeros_like(xt), s)
        p_var = (s.posterior_variance if variance == "posterior" else s.betas)[t].reshape(-1, 1)
        kl_same_var = D.normal_kl(q_mean, p_var, p_mean, p_var)
        lam = D.vlb_weights(s, variance)[t].reshape(-1, 1)
        torch.testing.assert_close(kl_same_var, lam * (eps - eps_hat) ** 2)
    ref = kl_divergence(Normal(q_mean, q_var.sqrt()), Normal(p_mean, p_var.sqrt()))
    torch.testing.assert_close(D.normal_kl(q_mean, q_var, p_mean, p_var), ref)
    w = D.vlb_weights(s)
    assert torch.isfinite(w).all() and w[1] > w[-1]   # the bound weighs small t most


def test_eps_loss_is_zero_for_the_oracle_of_a_point_mass():
    s = _small()
    c = 0.3
    oracle = lambda x, t: (x - s.alphas_cumprod[t].reshape(-1, 1).sqrt() * c) / (1 - s.alphas_cumprod[t].reshape(-1, 1)).sqrt()  # noqa: E731
    x0 = torch.full((64, 2), c, dtype=torch.float64)
    assert float(D.eps_loss(oracle, x0, s, generator=_g(4))) < 1e-20
    t, noise = torch.randint(0, 50, (64,), generator=_g(5)), torch.randn(64, 2, generator=_g(6), dtype=torch.float64)
    zero = lambda x, t: torch.zeros_like(x)  # noqa: E731
    torch.testing.assert_close(D.eps_loss(zero, x0, s, t=t, noise=noise), (noise ** 2).mean().float())


def test_min_snr_weighting_is_min_snr_gamma_times_the_x0_error():
    """Min-SNR-gamma (Hang et al. 2023) is defined on the x0 error: weight min(SNR_t, gamma).
    The eps form must equal it, sample by sample, for any model; a huge gamma is L_simple."""
    s = _small()
    x0 = torch.randn(64, 3, generator=_g(7), dtype=torch.float64)
    t = torch.arange(64) % 50
    noise = torch.randn(64, 3, generator=_g(8), dtype=torch.float64)
    model = lambda x, t: 0.7 * x + 0.01 * t.reshape(-1, 1)  # noqa: E731  any wrong denoiser
    snr = s.snr()[t]
    assert (snr > 5).any() and (snr < 5).any()  # both sides of gamma are exercised
    xt = D.q_sample(x0, t, noise, s)
    x0_hat = D.predict_x0(xt, t, model(xt, t), s)
    expected = (snr.clamp(max=5.0) * ((x0 - x0_hat) ** 2).mean(1)).mean()
    got = D.eps_loss(model, x0, s, t=t, noise=noise, min_snr_gamma=5.0)
    torch.testing.assert_close(got, expected.float(), rtol=1e-5, atol=0)
    simple = D.eps_loss(model, x0, s, t=t, noise=noise)
    torch.testing.assert_close(D.eps_loss(model, x0, s, t=t, noise=noise, min_snr_gamma=1e12), simple)
    assert float(got) < float(simple)  # the low-noise steps count less
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="min_snr_gamma"):
            D.eps_loss(model, x0, s, t=t, noise=noise, min_snr_gamma=bad)


# ------------------------------------------------------------------ samplers on a 1-D toy
def test_ddim_eta1_full_steps_equals_ddpm():
    s = D.NoiseSchedule.linear(1000, dtype=torch.float64)
    oracle = GaussianOracle(s)
    xa = D.ddpm_sample(oracle, (2000, 1), s, generator=_g(7), device="cpu")
    xb = D.ddim_sample(oracle, (2000, 1), s, steps=1000, eta=1.0, generator=_g(7), device="cpu")
    # same noise in the same order: eta = 1 over every step IS ancestral DDPM (Song et al. 2021)
    torch.testing.assert_close(xa.double(), xb.double(), atol=1e-5, rtol=1e-5)


def test_ddpm_and_ddim_match_in_distribution_on_a_gaussian_toy():
    from scipy.stats import ks_2samp

    s = D.NoiseSchedule.linear(1000, dtype=torch.float64)
    m, sd = 2.0, 0.5
    oracle = GaussianOracle(s, m, sd)
    n = 10_000
    ddpm = D.ddpm_sample(oracle, (n, 1), s, generator=_g(8), device="cpu").double().squeeze(1)
    ddim1 = D.ddim_sample(oracle, (n, 1), s, steps=1000, eta=1.0, generator=_g(9), device="cpu").double().squeeze(1)
    ddim0 = D.ddim_sample(oracle, (n, 1), s, steps=1000, eta=0.0, generator=_g(10), device="cpu").double().squeeze(1)
    assert ks_2samp(ddpm.numpy(), ddim1.numpy()).pvalue > 1e-3
    for x in (ddpm, ddim1, ddim0):    # all three recover the data distribution N(2, 0.5^2)
        assert abs(float(x.mean()) - m) < 0.02
        assert abs(float(x.std()) - sd) < 0.02
    # fewer deterministic steps: a discretisation error that grows as the steps get coarser
    err = {k: abs(float(D.ddim_sample(oracle, (n, 1), s, steps=k, generator=_g(10)).std()) - sd) for k in (20, 50)}
    assert err[50] < 0.05 and err[20] > err[50] and err[20] > abs(float(ddim0.std()) - sd)
    # DDIM with eta = 0 is deterministic given x_T
    x_T = torch.randn(10, 1, generator=_g(11), dtype=torch.float64)
    a = D.ddim_sample(oracle, (10, 1), s, steps=20, x_T=x_T)
    b = D.ddim_sample(oracle, (10, 1), s, steps=20, x_T=x_T)
    assert torch.equal(a, b)


def test_ddim_step_with_true_noise_recovers_x_prev_of_the_same_eps():
    """With the true eps, DDIM (eta = 0) jumps along the line x_t = sqrt(abar) x0 + sqrt(1 - abar) eps."""
    s = _small()
    g = _g(12)
    x0, eps = torch.randn(4, 3, generator=g, dtype=torch.float64), torch.randn(4, 3, generator=g, dtype=torch.float64)
    t, t_prev = torch.tensor([49, 30, 10, 5]), torch.tensor([20, 3, -1, 4])
    xt = D.q_sample(x0, t, eps, s)
    got = D.ddim_step(eps, xt, t, t_prev, s, eta=0.0)
    want = torch.where((t_prev >= 0).reshape(-1, 1), D.q_sample(x0, t_prev.clamp(min=0), eps, s), x0)
    torch.testing.assert_close(got, want)


def test_ddim_timesteps_and_sampler_trajectories():
    ts = D.ddim_timesteps(1000, 50)
    assert len(ts) == 50 and ts[0] == 0 and ts[-1] == 999 and torch.all(ts[1:] > ts[:-1])
    assert D.ddim_timesteps(1000, 1).tolist() == [999]
    with pytest.raises(ValueError):
        D.ddim_timesteps(10, 11)
    s = _small()
    oracle = GaussianOracle(s)
    x, traj = D.ddim_sample(oracle, (7, 1), s, steps=10, generator=_g(13), return_trajectory=True)
    assert len(traj) == 11 and traj[0][0] == 50 and traj[-1][0] == 0 and torch.equal(traj[-1][1], x)
    x, traj = D.ddpm_sample(oracle, (7, 1), s, generator=_g(14), trajectory_every=10)
    assert [k for k, _ in traj] == [50, 40, 30, 20, 10, 0]


# ------------------------------------------------------------------ bad input
def test_bad_input_raises_clear_errors():
    s = _small()
    x = torch.randn(3, 2)
    with pytest.raises(ValueError, match="t must lie"):
        D.q_sample(x, torch.tensor([0, 1, 50]), torch.randn(3, 2), s)
    with pytest.raises(ValueError, match="noise must have the shape"):
        D.q_sample(x, torch.tensor([0, 1, 2]), torch.randn(3, 3), s)
    with pytest.raises(ValueError, match="shape \\(3,\\)"):
        D.q_sample(x, torch.tensor([0, 1]), torch.randn(3, 2), s)
    with pytest.raises(ValueError, match="integer tensor"):
        D.q_sample(x, torch.tensor([0.0, 1.0, 2.0]), torch.randn(3, 2), s)
    with pytest.raises(ValueError, match="non-empty batch"):
        D.q_sample(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long), torch.zeros(0, 2), s)
    with pytest.raises(ValueError, match="NoiseSchedule"):
        D.q_sample(x, torch.tensor([0, 1, 2]), torch.randn(3, 2), None)
    with pytest.raises(ValueError, match="noise is required"):
        D.ddpm_step(x, x, torch.tensor([0, 1, 2]), None, s)
    with pytest.raises(ValueError, match="variance"):
        D.ddpm_step(x, x, torch.tensor([0, 1, 2]), x, s, variance="learned")
    with pytest.raises(ValueError, match="t_prev"):
        D.ddim_step(x, x, torch.tensor([3, 3, 3]), torch.tensor([3, 1, 1]), s)
    with pytest.raises(ValueError, match="eta"):
        D.ddim_step(x, x, 3, 2, s, eta=-1.0)
    with pytest.raises(ValueError):
        UNet(1, (16, 32, 32))(torch.randn(2, 1, 30, 30), torch.tensor([1, 2]))
    with pytest.raises(ValueError):
        UNet(1, (16, 32))(torch.randn(2, 3, 28, 28), torch.tensor([1, 2]))
    with pytest.raises(ValueError):
        SinusoidalTimeEmbedding(7)
    with pytest.raises(ValueError):
        TimeMLP(d=2)(torch.randn(4, 3), torch.tensor([0, 1, 2, 3]))
    with pytest.raises(ValueError):
        TimeMLP(d=2, fourier=-1)


# ------------------------------------------------------------------ networks
def test_time_embedding_is_bounded_and_tells_steps_apart():
    emb = SinusoidalTimeEmbedding(64)
    e = emb(torch.arange(1000))
    assert e.shape == (1000, 64) and e.abs().max() <= 1.0 + 1e-6
    torch.testing.assert_close(e.pow(2).sum(1), torch.full((1000,), 32.0))   # sin^2 + cos^2 per frequency
    d = torch.cdist(e, e)
    assert float(d[~torch.eye(1000, dtype=torch.bool)].min()) > 0.1          # no two steps share a code
    assert float(d[0, 1]) < float(d[0, 500])                                  # nearby steps, nearby codes


def test_unet_shapes_init_and_time_dependence():
    torch.manual_seed(0)
    net = UNet(1, channels=(8, 16, 16), t_dim=32)
    x, t = torch.randn(3, 1, 28, 28), torch.tensor([0, 500, 999])
    out = net(x, t)
    assert out.shape == x.shape
    assert torch.all(out == 0)          # zero-initialised last conv: the untrained net predicts eps = 0
    loss = D.eps_loss(net, x, D.NoiseSchedule.linear(1000), generator=_g(15))
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())
    with torch.no_grad():               # after one update the output depends on t
        for p in net.parameters():
            p.add_(0.01 * torch.randn_like(p))
        same = net(x[:1].repeat(2, 1, 1, 1), torch.tensor([10, 900]))
    assert not torch.allclose(same[0], same[1])
    rgb = UNet(3, channels=(8, 16), t_dim=16, blocks=2)
    assert rgb(torch.randn(2, 3, 16, 16), torch.tensor([1, 2])).shape == (2, 3, 16, 16)


def test_time_mlp_learns_the_gaussian_denoiser_quickly():
    """A short fit of L_simple on 1-D Gaussian data approaches the known optimal loss."""
    torch.manual_seed(0)
    s = D.NoiseSchedule.linear(100, beta_start=1e-3, beta_end=0.2)
    data = 2.0 + 0.5 * torch.randn(4096, 1, generator=_g(16))
    net = TimeMLP(d=1, hidden=64, layers=2, t_dim=16, fourier=8, fourier_scale=1.0)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    g = _g(17)
    for _ in range(400):
        loss = D.eps_loss(net, data[torch.randint(0, 4096, (256,), generator=g)], s, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    t, noise = torch.randint(0, 100, (4096,), generator=g), torch.randn(4096, 1, generator=g)
    with torch.no_grad():
        learned = float(D.eps_loss(net, data, s, t=t, noise=noise))
        best = float(D.eps_loss(GaussianOracle(s.to(dtype=torch.float32)), data, s, t=t, noise=noise))
        trivial = float(D.eps_loss(lambda x, t: torch.zeros_like(x), data, s, t=t, noise=noise))
    assert best < learned < best + 0.25 * (trivial - best), (best, learned, trivial)


# ------------------------------------------------------------------ exercises
def test_checkers_pass_the_reference():
    for name in ("diffusion.q_sample", "diffusion.posterior_mean_variance", "diffusion.ddpm_step"):
        ex = gm.exercises._lookup(name)
        assert gm.exercises.evaluate(name, ex.reference).passed, name


def test_q_sample_checker_fails_wrong_versions():
    def no_sqrt(x0, t, noise, schedule):
        a = schedule.alphas_cumprod[t].reshape(-1, *([1] * (x0.ndim - 1)))
        return a * x0 + (1 - a) * noise

    def wrong_alpha(x0, t, noise, schedule):  # uses alpha_t instead of alpha-bar_t
        a = schedule.alphas[t].reshape(-1, *([1] * (x0.ndim - 1)))
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    def off_by_one(x0, t, noise, schedule):
        a = schedule.alphas_cumprod_prev[t].reshape(-1, *([1] * (x0.ndim - 1)))
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    def no_broadcast(x0, t, noise, schedule):
        a = schedule.alphas_cumprod[t]
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    for wrong in (no_sqrt, wrong_alpha, off_by_one, no_broadcast):
        assert not gm.exercises.evaluate("diffusion.q_sample", wrong).passed, wrong.__name__


def _bc(a, x):
    return a.reshape(-1, *([1] * (x.ndim - 1)))


def test_posterior_checker_fails_wrong_versions():
    def swapped(x0, xt, t, s):
        return _bc(s.posterior_mean_coef2[t], xt) * x0 + _bc(s.posterior_mean_coef1[t], xt) * xt, _bc(s.posterior_variance[t], xt)

    def beta_variance(x0, xt, t, s):
        mean = _bc(s.posterior_mean_coef1[t], xt) * x0 + _bc(s.posterior_mean_coef2[t], xt) * xt
        return mean, _bc(s.betas[t], xt)

    def abar_not_prev(x0, xt, t, s):
        ab, b, a = s.alphas_cumprod[t], s.betas[t], s.alphas[t]
        mean = _bc(b * ab.sqrt() / (1 - ab), xt) * x0 + _bc((1 - ab) * a.sqrt() / (1 - ab), xt) * xt
        return mean, _bc(b, xt)

    def only_mean(x0, xt, t, s):
        return _bc(s.posterior_mean_coef1[t], xt) * x0 + _bc(s.posterior_mean_coef2[t], xt) * xt

    name = "diffusion.posterior_mean_variance"
    for wrong in (swapped, beta_variance, abar_not_prev, only_mean):
        assert not gm.exercises.evaluate(name, wrong).passed, wrong.__name__
    # a variance returned at full shape (B, ...) is fine: it is the same number per coordinate
    def full_shape(x0, xt, t, s):
        mean, var = D.posterior_mean_variance(x0, xt, t, s)
        return mean, var.expand_as(xt)
    assert gm.exercises.evaluate(name, full_shape).passed


def test_ddpm_step_checker_fails_wrong_versions():
    def noise_at_t0(eps, xt, t, noise, s):
        b, a, ab = (_bc(v[t], xt) for v in (s.betas, s.alphas, s.alphas_cumprod))
        return (xt - b / (1 - ab).sqrt() * eps) / a.sqrt() + _bc(s.posterior_variance[t], xt).sqrt() * noise + 0.01 * noise

    def no_noise(eps, xt, t, noise, s):
        b, a, ab = (_bc(v[t], xt) for v in (s.betas, s.alphas, s.alphas_cumprod))
        return (xt - b / (1 - ab).sqrt() * eps) / a.sqrt()

    def forgot_division(eps, xt, t, noise, s):
        b, ab = _bc(s.betas[t], xt), _bc(s.alphas_cumprod[t], xt)
        var = _bc(s.posterior_variance[t], xt)
        return xt - b / (1 - ab).sqrt() * eps + var.sqrt() * noise

    def minus_eps_unscaled(eps, xt, t, noise, s):
        a = _bc(s.alphas[t], xt)
        var = _bc(s.posterior_variance[t], xt)
        return (xt - eps) / a.sqrt() + var.sqrt() * noise

    for wrong in (noise_at_t0, no_noise, forgot_division, minus_eps_unscaled):
        assert not gm.exercises.evaluate("diffusion.ddpm_step", wrong).passed, wrong.__name__

    def sigma_beta_masked(eps, xt, t, noise, s):   # also right at t = 0 but wrong variance elsewhere
        b, a, ab = (_bc(v[t], xt) for v in (s.betas, s.alphas, s.alphas_cumprod))
        return (xt - b / (1 - ab).sqrt() * eps) / a.sqrt() + _bc((t > 0).to(xt.dtype), xt) * b.sqrt() * noise
    assert not gm.exercises.evaluate("diffusion.ddpm_step", sigma_beta_masked).passed


# ------------------------------------------------------------------ parity with diffusers
def test_schedule_and_step_match_diffusers():
    diffusers = pytest.importorskip("diffusers")
    for kind, ours in (("linear", D.NoiseSchedule.linear(1000)), ("squaredcos_cap_v2", D.NoiseSchedule.cosine(1000))):
        ref = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_schedule=kind)
        torch.testing.assert_close(ours.alphas_cumprod, ref.alphas_cumprod.float(), atol=1e-5, rtol=1e-4)
    ref = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", clip_sample=False,
                                  variance_type="fixed_small")
    ref.set_timesteps(1000)
    ours = D.NoiseSchedule.linear(1000)
    g = _g(18)
    xt, eps = torch.randn(2, 1, 8, 8, generator=g), torch.randn(2, 1, 8, 8, generator=g)
    for t in (999, 500, 10, 1, 0):
        got_ref = ref.step(eps, t, xt, generator=_g(100 + t)).prev_sample
        noise = torch.randn(2, 1, 8, 8, generator=_g(100 + t))   # diffusers draws its noise the same way
        got = D.ddpm_step(eps, xt, torch.full((2,), t), noise, ours)
        torch.testing.assert_close(got, got_ref, atol=1e-4, rtol=1e-4)
