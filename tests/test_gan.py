"""Tests for chapter 5 (genmodels_course.gan): the minimax game tied to independent computations."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import integrate, stats
from torch import nn

from genmodels_course import exercises, gan

# Two 1-D Gaussians with known densities: p_data = N(0, 1), p_g = N(1.5, 0.8^2).
MU_D, SD_D, MU_G, SD_G = 0.0, 1.0, 1.5, 0.8


def _log_p(x, mu, sd):
    return -0.5 * ((x - mu) / sd) ** 2 - math.log(sd * math.sqrt(2 * math.pi))


def _jsd_quad():
    p = stats.norm(MU_D, SD_D).pdf
    q = stats.norm(MU_G, SD_G).pdf

    def integrand(x):
        a, b = p(x), q(x)
        m = 0.5 * (a + b)
        out = 0.0
        if a > 0:
            out += 0.5 * a * math.log(a / m)
        if b > 0:
            out += 0.5 * b * math.log(b / m)
        return out

    return integrate.quad(integrand, -15, 15, limit=200)[0]


@pytest.fixture(scope="module")
def samples():
    g = torch.Generator().manual_seed(0)
    n = 400_000
    real = MU_D + SD_D * torch.randn(n, generator=g, dtype=torch.float64)
    fake = MU_G + SD_G * torch.randn(n, generator=g, dtype=torch.float64)
    return real, fake


def _dstar_logit(x):
    return gan.optimal_discriminator(_log_p(x, MU_D, SD_D), _log_p(x, MU_G, SD_G))


def test_value_at_optimal_discriminator_is_minus_log4_plus_2jsd(samples):
    real, fake = samples
    v = gan.value_function(_dstar_logit(real), _dstar_logit(fake)).item()
    expected = -math.log(4) + 2 * _jsd_quad()
    assert abs(v - expected) < 5e-3, (v, expected)


def test_optimal_discriminator_maximises_monte_carlo_value(samples):
    real, fake = samples
    best = gan.value_function(_dstar_logit(real), _dstar_logit(fake)).item()
    perturbations = [
        lambda a, x: a + 0.3,                 # shifted
        lambda a, x: a - 0.3,
        lambda a, x: 1.3 * a,                 # over-confident
        lambda a, x: 0.7 * a,                 # under-confident
        lambda a, x: a + 0.3 * torch.sin(3 * x),
        lambda a, x: torch.zeros_like(a),     # D = 1/2 everywhere
    ]
    for f in perturbations:
        other = gan.value_function(f(_dstar_logit(real), real), f(_dstar_logit(fake), fake)).item()
        assert other < best - 1e-4, (other, best)


def test_global_optimum_value_is_minus_log4():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1000, generator=g, dtype=torch.float64)
    a = gan.optimal_discriminator(_log_p(x, 0, 1), _log_p(x, 0, 1))  # p_g = p_data -> D* = 1/2
    assert torch.allclose(torch.sigmoid(a), torch.full_like(a, 0.5))
    assert math.isclose(gan.value_function(a, a).item(), -math.log(4), rel_tol=1e-12)


def test_jensen_shannon_on_a_grid_matches_quadrature():
    x = torch.linspace(-15, 15, 200_001, dtype=torch.float64)
    p = torch.exp(_log_p(x, MU_D, SD_D))
    q = torch.exp(_log_p(x, MU_G, SD_G))
    dx = (x[1] - x[0]).item()
    assert abs(gan.jensen_shannon(p, q, dx).item() - _jsd_quad()) < 1e-6
    assert gan.jensen_shannon(p, p, dx).item() == pytest.approx(0.0, abs=1e-12)
    # disjoint supports: JSD = log 2
    a = torch.tensor([1.0, 0.0]); b = torch.tensor([0.0, 1.0])
    assert gan.jensen_shannon(a, b, 1.0).item() == pytest.approx(math.log(2))


LOGITS = [torch.randn(64, generator=torch.Generator().manual_seed(2)) * 4,
          torch.tensor([-300.0, -40.0, -1.0, 0.0, 2.0, 50.0, 400.0])]


@pytest.mark.parametrize("r", LOGITS)
@pytest.mark.parametrize("f", LOGITS)
def test_losses_agree_with_torch_bce_with_logits(r, f):
    bce = F.binary_cross_entropy_with_logits
    d = gan.discriminator_loss(r, f)
    assert torch.allclose(d, bce(r, torch.ones_like(r)) + bce(f, torch.zeros_like(f)), atol=1e-6)
    assert torch.allclose(gan.generator_loss_nonsaturating(f), bce(f, torch.ones_like(f)), atol=1e-6)
    assert torch.allclose(gan.generator_loss_saturating(f), -bce(f, torch.zeros_like(f)), atol=1e-6)
    assert torch.allclose(gan.value_function(r, f), -d)
    assert torch.isfinite(d)


def test_saturating_gradient_vanishes_where_nonsaturating_does_not():
    a = torch.tensor([-20.0, -5.0, 0.0, 5.0], requires_grad=True)
    (g_sat,) = torch.autograd.grad(gan.generator_loss_saturating(a), a)
    (g_ns,) = torch.autograd.grad(gan.generator_loss_nonsaturating(a), a)
    n = a.numel()
    assert torch.allclose(g_sat, -torch.sigmoid(a.detach()) / n)
    assert torch.allclose(g_ns, -(1 - torch.sigmoid(a.detach())) / n)
    # D confidently rejects a fake (logit -20): saturating gradient ~ 1e-9, non-saturating ~ -1/n
    assert abs(g_sat[0].item()) < 1e-8 and abs(g_ns[0].item() + 1 / n) < 1e-8


def test_gradient_penalty_zero_for_unit_norm_linear_critic():
    torch.manual_seed(3)
    lin = nn.Linear(5, 1)
    with torch.no_grad():
        lin.weight /= lin.weight.norm()
    real, fake, eps = torch.randn(32, 5), torch.randn(32, 5), torch.rand(32, 1)
    assert gan.gradient_penalty(lin, real, fake, eps).item() == pytest.approx(0.0, abs=1e-10)
    with torch.no_grad():
        lin.weight *= 3.0  # norm 3 -> penalty (3 - 1)^2 = 4 for every sample
    assert gan.gradient_penalty(lin, real, fake, eps).item() == pytest.approx(4.0, rel=1e-5)


def test_gradient_penalty_matches_per_sample_loop_and_trains_the_critic():
    torch.manual_seed(4)
    critic = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
    real, fake, eps = torch.randn(6, 3), torch.randn(6, 3), torch.rand(6, 1)
    gp = gan.gradient_penalty(critic, real, fake, eps)
    manual = []
    for i in range(6):
        xi = (eps[i] * real[i] + (1 - eps[i]) * fake[i]).clone().requires_grad_(True)
        (gi,) = torch.autograd.grad(critic(xi[None]).sum(), xi)
        manual.append((gi.norm() - 1) ** 2)
    assert torch.allclose(gp, torch.stack(manual).mean(), atol=1e-6)
    gp.backward()
    assert critic[0].weight.grad is not None and critic[0].weight.grad.abs().sum() > 0


def test_simultaneous_gda_spirals_out_alternating_stays_bounded():
    lr, steps = 0.1, 200
    sim = gan.gda_xy(1.0, 0.0, lr, steps, simultaneous=True)
    r = sim.norm(dim=1)
    assert torch.allclose(r, (1 + lr**2) ** (torch.arange(steps + 1, dtype=torch.float64) / 2), rtol=1e-10)
    alt = gan.gda_xy(1.0, 0.0, lr, 2000, simultaneous=False).norm(dim=1)
    assert alt.max() < 1.1 and alt.min() > 0.9  # orbits: neither diverges nor converges to (0, 0)


def test_minibatch_stddev_and_pack():
    torch.manual_seed(5)
    h = torch.randn(8, 3)
    out = gan.minibatch_stddev(h, group_size=4)
    assert out.shape == (8, 4) and torch.equal(out[:, :3], h)
    expected0 = h[:4].std(dim=0, unbiased=False).mean()
    assert torch.allclose(out[:4, 3], expected0.expand(4), atol=1e-6)
    same = gan.minibatch_stddev(torch.ones(8, 3))
    assert same[:, 3].max() < 1e-3  # a collapsed batch has (almost) no spread
    img = gan.minibatch_stddev(torch.randn(4, 2, 5, 5))
    assert img.shape == (4, 3, 5, 5)
    x = torch.arange(12.0).reshape(6, 2)
    assert torch.equal(gan.pack(x, 2), torch.tensor([[0.0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]))
    with pytest.raises(ValueError, match="divisible"):
        gan.pack(x, 4)


def test_ensemble_members_are_independent():
    torch.manual_seed(6)
    G = gan.Generator2D(z_dim=2, hidden=16, ensemble=3)
    D = gan.Discriminator2D(hidden=16, pack=2, mbstd=True, ensemble=3)
    z = torch.randn(3 * 8, 2)
    x = G(z)
    assert x.shape == (24, 2) and D(x).shape == (12,)
    # a loss on member 1's samples only must not touch members 0 and 2
    loss = gan.generator_loss_nonsaturating(D(x)[4:8])
    loss.backward()
    for p in list(G.parameters()) + list(D.parameters()):
        assert p.grad[0].abs().sum() == 0 and p.grad[2].abs().sum() == 0 and p.grad[1].abs().sum() > 0
    single = gan.Generator2D(z_dim=2, hidden=16)
    with torch.no_grad():
        for p, q in zip(single.parameters(), G.parameters()):
            p.copy_(q[1:2])
    assert torch.allclose(single(z[8:16]), x[8:16], atol=1e-6)


def test_train_toy2d_runs_and_snapshots():
    import genmodels_course as gm

    cfg = gan.Toy2DConfig(method="gan", steps=30, batch_size=64, hidden=32)
    G, D, hist, snaps = gan.train_toy2d(gm.data.ring8(), cfg, snapshot_every=10, n_snapshot=100, progress=False)
    assert len(hist["loss_d"]) == 30 and all(math.isfinite(v) for v in hist["loss_d"])
    assert [s["step"] for s in snaps] == [0, 10, 20, 30]
    assert snaps[-1]["samples"].shape == (100, 2) and snaps[-1]["surface"].shape == (64, 64)
    for method in ("wgan-gp", "pacgan", "mbstd", "saturating"):
        cfg = gan.Toy2DConfig(method=method, steps=3, batch_size=16, hidden=16)
        G, D, hist, _ = gan.train_toy2d(gm.data.grid25(), cfg, ensemble=2, progress=False)
        assert gan.sample_toy2d(G, 10).shape == (2, 10, 2)
    with pytest.raises(ValueError, match="method"):
        gan.Toy2DConfig(method="vanilla")


def test_dcgan_shapes_and_conditioning():
    torch.manual_seed(7)
    G = gan.DCGenerator(z_dim=8, width=8, n_classes=10)
    D = gan.DCDiscriminator(width=8, n_classes=10)
    y = torch.arange(4)
    x = G(torch.randn(4, 8), y)
    assert x.shape == (4, 1, 28, 28) and x.abs().max() <= 1
    assert D(x, y).shape == (4,)
    with pytest.raises(ValueError, match="labels"):
        G(torch.randn(4, 8))
    with pytest.raises(ValueError, match="28, 28"):
        gan.DCDiscriminator(width=8)(torch.zeros(2, 1, 32, 32))
    u = torch.rand(3, 1, 28, 28)
    assert torch.allclose(gan.from_tanh_range(gan.to_tanh_range(u)), u)


def test_interpolate_latents():
    g = torch.Generator().manual_seed(8)
    z0, z1 = torch.randn(64, generator=g), torch.randn(64, generator=g)
    for spherical in (True, False):
        path = gan.interpolate_latents(z0, z1, 7, spherical=spherical)
        assert path.shape == (7, 64)
        assert torch.allclose(path[0], z0, atol=1e-5) and torch.allclose(path[-1], z1, atol=1e-5)
    slerp = gan.interpolate_latents(z0, z1, 7).norm(dim=1)
    lerp = gan.interpolate_latents(z0, z1, 7, spherical=False).norm(dim=1)
    assert slerp[3] > lerp[3]  # the straight line dips towards the origin


def test_bad_inputs_raise_value_error():
    with pytest.raises(ValueError, match="empty"):
        gan.discriminator_loss(torch.zeros(0), torch.zeros(3))
    with pytest.raises(ValueError, match="floating"):
        gan.generator_loss_nonsaturating(torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="tensor"):
        gan.value_function([0.0], torch.zeros(2))
    with pytest.raises(ValueError, match="same shape"):
        gan.gradient_penalty(nn.Linear(2, 1), torch.zeros(3, 2), torch.zeros(4, 2), torch.rand(3, 1))
    with pytest.raises(ValueError, match="eps"):
        gan.gradient_penalty(nn.Linear(2, 1), torch.zeros(3, 2), torch.zeros(3, 2), torch.rand(2, 1))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        gan.gradient_penalty(nn.Linear(2, 1), torch.zeros(3, 2), torch.zeros(3, 2), torch.full((3, 1), 2.0))
    with pytest.raises(ValueError, match="same shape"):
        gan.optimal_discriminator(torch.zeros(3), torch.zeros(4))
    with pytest.raises(ValueError, match="noise"):
        gan.Generator2D(z_dim=2)(torch.zeros(5, 3))
    with pytest.raises(ValueError, match="steps"):
        gan.gda_xy(1, 0, -0.1, 10)
    with pytest.raises(ValueError, match="non-negative"):
        gan.jensen_shannon(torch.tensor([-1.0]), torch.tensor([1.0]), 1.0)


# ------------------------------------------------------------------ the exercise checkers
def _naive_d_loss(r, f):  # log of a sigmoid: -inf / NaN for confident discriminators
    return -(torch.log(torch.sigmoid(r)).mean() + torch.log(1 - torch.sigmoid(f)).mean())


def _swapped_d_loss(r, f):
    return F.softplus(r).mean() + F.softplus(-f).mean()


def _summed_d_loss(r, f):
    return F.softplus(-r).sum() + F.softplus(f).sum()


def _naive_ns(f):
    return -torch.log(torch.sigmoid(f)).mean()


def _gp_no_graph(critic, real, fake, eps):
    eps = eps.reshape(-1, *([1] * (real.dim() - 1)))
    x = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (g,) = torch.autograd.grad(critic(x).sum(), x)  # no create_graph: cannot train the critic
    return ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()


def _gp_squared_norm(critic, real, fake, eps):
    eps = eps.reshape(-1, *([1] * (real.dim() - 1)))
    x = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (g,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return ((g.flatten(1).pow(2).sum(1) - 1) ** 2).mean()


def _gp_batch_norm(critic, real, fake, eps):
    eps = eps.reshape(-1, *([1] * (real.dim() - 1)))
    x = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (g,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return (g.norm() - 1) ** 2  # one norm over the whole batch


def _gp_last_dim(critic, real, fake, eps):
    eps = eps.reshape(-1, *([1] * (real.dim() - 1)))
    x = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (g,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return ((g.norm(dim=-1) - 1) ** 2).mean()  # wrong for images: the norm must cover all pixels


@pytest.mark.parametrize("name, reference, wrong", [
    ("gan.discriminator_loss", gan.discriminator_loss, [_naive_d_loss, _swapped_d_loss, _summed_d_loss]),
    ("gan.generator_loss_nonsaturating", gan.generator_loss_nonsaturating,
     [_naive_ns, gan.generator_loss_saturating, lambda f: F.softplus(f).mean()]),
    ("gan.gradient_penalty", gan.gradient_penalty, [_gp_no_graph, _gp_squared_norm, _gp_batch_norm, _gp_last_dim]),
])
def test_checkers_pass_reference_and_fail_wrong_versions(name, reference, wrong):
    assert exercises.evaluate(name, reference).passed
    for fn in wrong:
        verdict = exercises.evaluate(name, fn)
        assert not verdict.passed, fn
        assert verdict.message


def _no_grad(fn):
    def wrapped(*args):
        with torch.no_grad():
            return fn(*args)
    return wrapped


@pytest.mark.parametrize("name, reference", [
    ("gan.discriminator_loss", gan.discriminator_loss),
    ("gan.generator_loss_nonsaturating", gan.generator_loss_nonsaturating),
])
def test_loss_checkers_fail_outputs_that_cannot_be_trained(name, reference):
    for wrong in (lambda *a: reference(*a).detach(), _no_grad(reference),
                  lambda *a: torch.tensor(reference(*a).item())):
        verdict = exercises.evaluate(name, wrong)
        assert not verdict.passed and "detached" in verdict.message, verdict.message


def test_discriminator_checker_fails_a_loss_with_one_term_detached():
    def fake_term_detached(r, f):  # right values, but D would never learn to reject fakes
        return F.softplus(-r).mean() + F.softplus(f).mean().detach()

    verdict = exercises.evaluate("gan.discriminator_loss", fake_term_detached)
    assert not verdict.passed and "`fake_logits`" in verdict.message, verdict.message


def test_gradient_penalty_cases_leave_the_global_rng_alone():
    state = torch.get_rng_state()
    assert exercises.evaluate("gan.gradient_penalty", gan.gradient_penalty).passed
    assert torch.equal(torch.get_rng_state(), state)


def test_checker_reports_not_implemented():
    def stub(r, f):
        raise NotImplementedError

    verdict = exercises.evaluate("gan.discriminator_loss", stub)
    assert not verdict.passed and "not implemented" in verdict.message


def test_truncated_noise_and_adain():
    z = gan.truncated_noise(500, 8, 0.5, generator=torch.Generator().manual_seed(9))
    assert z.shape == (500, 8) and z.abs().max() <= 0.5
    torch.manual_seed(10)
    h = 3 + 2 * torch.randn(2, 4, 6, 6)
    scale, bias = torch.rand(2, 4) + 0.5, torch.randn(2, 4)
    out = gan.adain(h, scale, bias)
    assert torch.allclose(out.mean(dim=(2, 3)), bias, atol=1e-5)
    assert torch.allclose(out.std(dim=(2, 3), unbiased=False), scale, atol=1e-3)
    with pytest.raises(ValueError, match="adain"):
        gan.adain(h, scale[:, :2], bias)


def test_train_dcgan_tiny_run():
    torch.manual_seed(11)
    x, y = torch.rand(32, 1, 28, 28), torch.arange(32) % 10
    seen = []
    cfg = gan.DCGANConfig(steps=3, batch_size=16, z_dim=8, width=4, conditional=True)
    G, D, hist = gan.train_dcgan(x, y, cfg, on_step=lambda i, r, f: seen.append((i, r.shape, f.shape)),
                                 progress=False)
    assert [s[0] for s in seen] == [0, 1, 2] and seen[0][1] == (16,)
    assert len(hist["loss_d"]) == 3
    imgs = gan.sample_images(G, 12)
    assert imgs.shape == (12, 1, 28, 28) and imgs.min() >= 0 and imgs.max() <= 1
    with pytest.raises(ValueError, match="28"):
        gan.train_dcgan(torch.rand(32, 1, 8, 8), y, cfg)


def test_recipes_leave_the_global_generator_alone_and_repeat_exactly():
    import genmodels_course as gm

    cfg = gan.Toy2DConfig(method="wgan-gp", steps=5, batch_size=16, hidden=16)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    G1, _, h1, _ = gan.train_toy2d(gm.data.ring8(), cfg, progress=False)
    x1 = gan.sample_toy2d(G1, 20, generator=torch.Generator().manual_seed(4))
    assert torch.equal(torch.get_rng_state(), before)  # no reseeding, no draws from it
    G2, _, h2, _ = gan.train_toy2d(gm.data.ring8(), cfg, progress=False)
    assert h1["loss_d"] == h2["loss_d"]
    assert torch.equal(x1, gan.sample_toy2d(G2, 20, generator=torch.Generator().manual_seed(4)))
    _, _, h3, _ = gan.train_toy2d(gm.data.ring8(), cfg, progress=False,
                                  generator=gm.runtime.generator(99))
    assert h3["loss_d"] != h1["loss_d"]  # the training noise follows the generator given
    x, y = torch.rand(32, 1, 28, 28, generator=torch.Generator().manual_seed(1)), torch.arange(32) % 10
    dc = gan.DCGANConfig(steps=2, batch_size=16, z_dim=8, width=4)
    before = torch.get_rng_state()
    Ga, _, ha = gan.train_dcgan(x, y, dc, progress=False)
    Gb, _, hb = gan.train_dcgan(x, y, dc, progress=False)
    assert ha["loss_g"] == hb["loss_g"]
    g = torch.Generator().manual_seed(3)
    assert torch.equal(gan.sample_images(Ga, 4, generator=g), gan.sample_images(Gb, 4, generator=g.manual_seed(3)))


def test_gan_steps_return_tensors_not_floats():
    # a float would mean an .item() per step: a GPU sync that fit avoids on unlogged steps
    G, D = gan.Generator2D(hidden=8), gan.Discriminator2D(hidden=8)
    opt_g, opt_d = torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters())
    for method in ("gan", "wgan-gp"):
        step = gan.make_gan_step(G, D, opt_g, opt_d, gan.Toy2DConfig(method=method, n_critic=1))
        out = step((torch.randn(8, 2),))
        assert all(isinstance(v, torch.Tensor) and v.ndim == 0 and not v.requires_grad for v in out.values())
    Gc, Dc = gan.DCGenerator(z_dim=4, width=4), gan.DCDiscriminator(width=4)
    step = gan.make_dcgan_step(Gc, Dc, torch.optim.Adam(Gc.parameters()), torch.optim.Adam(Dc.parameters()))
    out = step((torch.rand(4, 1, 28, 28), torch.zeros(4, dtype=torch.long)), 0)
    assert all(isinstance(v, torch.Tensor) and v.ndim == 0 for v in out.values())


def test_train_dcgan_with_ema_returns_the_averaged_generator():
    x, y = torch.rand(32, 1, 28, 28, generator=torch.Generator().manual_seed(1)), torch.arange(32) % 10
    raw = gan.DCGANConfig(steps=4, batch_size=16, z_dim=8, width=4)
    avg = gan.DCGANConfig(steps=4, batch_size=16, z_dim=8, width=4, ema_decay=0.5)
    G_raw, _, h_raw = gan.train_dcgan(x, y, raw, progress=False)
    G_avg, _, h_avg = gan.train_dcgan(x, y, avg, progress=False)
    assert h_raw["loss_g"] == h_avg["loss_g"]  # the game itself is unchanged
    assert not G_avg.training and not any(p.requires_grad for p in G_avg.parameters())
    # the average of the iterates differs from the last iterate, and lies between the start and it
    init = gan.DCGenerator(8, 4, 0, generator=torch.Generator().manual_seed(0))
    w0, w_raw, w_avg = (m.net[0].weight.detach() for m in (init, G_raw, G_avg))
    assert not torch.allclose(w_avg, w_raw)
    assert (w_avg - w0).norm() < (w_raw - w0).norm()
    for key, buf in G_raw.state_dict().items():  # batch-norm statistics: the live generator's
        if "running" in key:
            assert torch.equal(buf, G_avg.state_dict()[key])


def test_discriminator_features_are_the_input_of_the_last_layer():
    D = gan.DCDiscriminator(width=4, generator=torch.Generator().manual_seed(0))
    D.train()
    x = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    f = gan.discriminator_features(D, x, batch_size=2)
    assert f.shape == (5, 8 * 7 * 7) and D.training  # restores the mode it found
    D.eval()
    with torch.no_grad():
        logits = D(gan.to_tanh_range(x))  # D reads [-1, 1]; the features take [0, 1]
        # the final 7x7 convolution of the flattened features gives D's logits back
        last = D.net[-1]
        again = f @ last.weight.flatten(1).T + last.bias
    assert torch.allclose(again.flatten(), logits, atol=1e-5)
    Dc = gan.DCDiscriminator(width=4, n_classes=10)
    assert gan.discriminator_features(Dc, x, torch.arange(5)).shape == (5, 8 * 7 * 7)
    with pytest.raises(ValueError, match="labels"):
        gan.discriminator_features(Dc, x)
    with pytest.raises(ValueError, match="28"):
        gan.discriminator_features(D, torch.rand(2, 1, 8, 8))


def test_dcgan_depth_adds_same_size_convolutions_and_keeps_depth_zero_layout():
    g = torch.Generator().manual_seed(0)
    base, deep = gan.DCGenerator(8, 4, generator=g), gan.DCGenerator(8, 4, depth=2, generator=g)
    # depth 0 is the DCGAN paper's layout: the shipped weights' layer names stay valid
    assert list(base.state_dict()) == list(gan.DCGenerator(8, 4).state_dict())
    convs = [m for m in deep.net if isinstance(m, torch.nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(3, 3)] * 4  # two at 7x7, two at 14x14
    assert [c.in_channels for c in convs] == [8, 8, 4, 4]
    assert deep(torch.randn(3, 8)).shape == (3, 1, 28, 28)
    D = gan.DCDiscriminator(width=4, depth=1)
    x = torch.rand(3, 1, 28, 28)
    assert D(x).shape == (3,)
    assert gan.discriminator_features(D, x).shape == (3, 8 * 7 * 7)
    critic = gan.DCDiscriminator(width=4, depth=1, batch_norm=False)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in critic.modules())
    with pytest.raises(ValueError, match="depth"):
        gan.DCGenerator(8, 4, depth=-1)
    cfg = gan.DCGANConfig(steps=2, batch_size=16, z_dim=8, width=4, depth=1)
    G, D, _ = gan.train_dcgan(torch.rand(32, 1, 28, 28), torch.arange(32) % 10, cfg, progress=False)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in G.net) == 2
    assert sum(isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3) for m in D.net) == 2
