"""The multi-scale flow of chapter 4 (gm.glow): invertibility, exact log-determinants
against autograd Jacobians, the squeeze, actnorm's start and the dequantisation."""
import math

import pytest
import torch

from genmodels_course import flows, glow


def _randomised(config: glow.GlowConfig, seed: int = 0) -> glow.Glow:
    """A flow whose couplings are not the identity (their last layers start at zero)."""
    torch.manual_seed(seed)
    flow = glow.Glow(config, seed=seed).double()
    with torch.no_grad():
        for m in flow.modules():
            if isinstance(m, glow.ConvCoupling):
                m.net[-1].weight.normal_(0, 0.3)
                m.net[-1].bias.normal_(0, 0.3)
    flow(torch.randn(16, config.channels, config.size, config.size, dtype=torch.float64))  # actnorm start
    return flow


def test_squeeze_is_a_permutation_that_unsqueeze_undoes():
    x = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).reshape(2, 3, 4, 6)
    y = glow.squeeze(x)
    assert y.shape == (2, 12, 2, 3)
    assert torch.equal(torch.sort(y.flatten())[0], torch.sort(x.flatten())[0])
    assert torch.equal(glow.unsqueeze(y), x)
    # one 2x2 patch becomes the four channels of one pixel
    assert y[0, :4, 0, 0].tolist() == [x[0, 0, 0, 0], x[0, 0, 0, 1], x[0, 0, 1, 0], x[0, 0, 1, 1]]


def test_squeeze_and_config_reject_sizes_they_cannot_take():
    with pytest.raises(ValueError, match="even height and width"):
        glow.squeeze(torch.zeros(1, 1, 5, 4))
    with pytest.raises(ValueError, match="divisible by 4"):
        glow.GlowConfig(size=14, levels=2)
    flow = glow.Glow(glow.GlowConfig(size=8, levels=2, steps=1, hidden=4))
    with pytest.raises(ValueError, match="8 x 8 images"):
        flow(torch.zeros(2, 1, 12, 12))
    with pytest.raises(ValueError, match="1 channels"):
        flow(torch.zeros(2, 3, 8, 8))


@pytest.mark.parametrize("levels", [1, 2])
def test_flow_inverts_to_numerical_precision(levels):
    flow = _randomised(glow.GlowConfig(size=8, levels=levels, steps=2, hidden=8))
    x = torch.randn(5, 1, 8, 8, dtype=torch.float64)
    zs, _ = flow(x)
    assert [tuple(z.shape[1:]) for z in zs] == flow.shapes
    assert sum(z[0].numel() for z in zs) == 64  # a flow keeps the dimension
    assert torch.allclose(flow.inverse(zs), x, atol=1e-10)


@pytest.mark.parametrize("levels", [1, 2])
def test_log_det_equals_that_of_the_autograd_jacobian(levels):
    flow = _randomised(glow.GlowConfig(size=4, levels=levels, steps=2, hidden=6), seed=levels)
    x = torch.randn(3, 1, 4, 4, dtype=torch.float64)

    def flat(v):
        zs, _ = flow(v.reshape(1, 1, 4, 4))
        return torch.cat([z.flatten() for z in zs])

    with torch.no_grad():
        _, log_det = flow(x)
    for i in range(3):
        jac = torch.autograd.functional.jacobian(flat, x[i].flatten())
        assert jac.shape == (16, 16)
        assert float(log_det[i]) == pytest.approx(float(torch.linalg.slogdet(jac)[1]), abs=1e-8)


def test_log_prob_is_the_change_of_variables():
    flow = _randomised(glow.GlowConfig(size=4, levels=2, steps=1, hidden=4))
    x = torch.randn(4, 1, 4, 4, dtype=torch.float64)
    zs, log_det = flow(x)
    by_hand = -0.5 * sum((z.flatten(1) ** 2).sum(1) for z in zs) - 8 * math.log(2 * math.pi) + log_det
    assert torch.allclose(flow.log_prob(x), by_hand)


def test_actnorm_starts_with_zero_mean_unit_variance_channels():
    layer = glow.ActNorm2d(3)
    x = torch.randn(64, 3, 5, 5) * torch.tensor([0.5, 2.0, 7.0]).view(1, 3, 1, 1) + 4.0
    y, log_det = layer(x)
    assert torch.allclose(y.mean((0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(y.std((0, 2, 3)), torch.ones(3), atol=1e-3)
    assert float(log_det[0].detach()) == pytest.approx(-25 * float(torch.log(x.std((0, 2, 3))).sum()), rel=1e-4)
    x2 = torch.randn(8, 3, 5, 5)  # the start happens once: later batches are not normalised
    assert not torch.allclose(layer(x2)[0].mean((0, 2, 3)), torch.zeros(3), atol=1e-2)
    assert torch.allclose(layer.inverse(layer(x2)[0]), x2, atol=1e-5)


def test_dequantize_logit_matches_logit_transform_and_stays_in_the_bins():
    x = torch.randint(0, 256, (6, 1, 4, 4)).float() / 255
    y, log_det = glow.dequantize_logit(x, torch.Generator().manual_seed(0))
    p = torch.sigmoid(y)
    u = ((p - 0.05) / 0.9) * 256 - torch.round(x * 255)  # the uniform noise inside each bin
    assert u.min() >= -1e-4 and u.max() <= 1 + 1e-4
    _, expected = flows.logit_transform(((p - 0.05) / 0.9).flatten(1))
    assert torch.allclose(log_det, expected, atol=1e-3)


def test_bits_per_dim_of_a_fresh_flow_follows_eq_4_9():
    torch.manual_seed(0)
    flow = glow.Glow(glow.GlowConfig(size=4, levels=1, steps=1, hidden=4))
    x = torch.rand(10, 1, 4, 4)
    bpd = glow.image_bits_per_dim(flow, x, torch.Generator().manual_seed(3))
    y, ld = glow.dequantize_logit(x, torch.Generator().manual_seed(3))
    with torch.no_grad():
        lp = flow.log_prob(y) + ld
    assert bpd == pytest.approx((-lp.mean().item() / 16 + math.log(256)) / math.log(2), rel=1e-5)


def test_samples_have_the_image_shape_and_temperature_zero_is_the_mode():
    flow = _randomised(glow.GlowConfig(size=8, levels=2, steps=1, hidden=4)).float()
    s = flow.sample(3, temperature=0.7, generator=torch.Generator().manual_seed(0))
    assert s.shape == (3, 1, 8, 8) and torch.isfinite(s).all()
    mode = flow.sample(2, temperature=0.0)
    assert torch.allclose(mode, flow.inverse([torch.zeros(2, *sh) for sh in flow.shapes]))
    with pytest.raises(ValueError, match="one per level"):
        flow.inverse([torch.zeros(1, 8, 2, 2)])
