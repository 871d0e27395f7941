import math

import pytest
import torch
from torch.autograd.functional import jacobian

import genmodels_course as gm
from genmodels_course import flows as fl


def _layer(dim=4, seed=0):
    mask = fl.alternating_masks(dim, 1)[0]
    with gm.runtime.seeded(seed):
        layer = fl.AffineCoupling(mask, hidden=16).double()
        for p in layer.parameters():  # leave the identity start: random weights everywhere
            p.data.normal_(0, 0.5)
    return layer


def test_coupling_inverts_to_numerical_precision():
    layer = _layer()
    x = torch.randn(10, 4, dtype=torch.float64)
    y, _ = layer(x)
    assert not torch.allclose(x, y)
    torch.testing.assert_close(layer.inverse(y), x, atol=1e-12, rtol=1e-12)


def test_coupling_log_det_matches_autograd_jacobian():
    layer = _layer()
    x = torch.randn(5, 4, dtype=torch.float64)
    _, log_det = layer(x)
    for n in range(5):
        jac = jacobian(lambda v: layer(v[None])[0][0], x[n])
        torch.testing.assert_close(log_det[n], torch.linalg.slogdet(jac)[1])


def test_realnvp_log_det_matches_jacobian_and_inverts():
    with gm.runtime.seeded(1):
        flow = fl.RealNVP(fl.alternating_masks(3, 4), hidden=8).double()
        for p in flow.parameters():
            p.data.normal_(0, 0.3)
    x = torch.randn(4, 3, dtype=torch.float64)
    z, log_det = flow(x)
    for n in range(4):
        jac = jacobian(lambda v: flow(v[None])[0][0], x[n])
        torch.testing.assert_close(log_det[n], torch.linalg.slogdet(jac)[1])
    torch.testing.assert_close(flow.inverse(z), x)
    assert len(flow.trajectory(x.float().double())) == 5


def test_2d_flow_density_integrates_to_one():
    with gm.runtime.seeded(2):
        flow = fl.RealNVP(fl.alternating_masks(2, 6), hidden=16)
        for p in flow.parameters():
            p.data.normal_(0, 0.3)
    xs, ys, log_p = fl.grid_log_density(flow.log_prob, lim=7.0, n=400)
    cell = (xs[1] - xs[0]).item() ** 2
    assert abs(log_p.exp().sum().item() * cell - 1.0) < 0.02


def test_untrained_flow_is_the_standard_normal():
    flow = fl.RealNVP(fl.alternating_masks(2, 4))
    x = torch.randn(6, 2)
    torch.testing.assert_close(flow.log_prob(x), fl.standard_normal_log_prob(x))


def test_logit_transform_log_det_and_bits_per_dim():
    x = torch.rand(3, 5, dtype=torch.float64)
    y, log_det = fl.logit_transform(x)
    for n in range(3):
        jac = jacobian(lambda v: fl.logit_transform(v[None])[0][0], x[n])
        torch.testing.assert_close(log_det[n], torch.linalg.slogdet(jac)[1])
    # a uniform density on [0, 1]^D (log p = 0) costs exactly 8 bits per 8-bit pixel
    assert fl.bits_per_dim(torch.zeros(4), 784) == pytest.approx(8.0)
    assert fl.bits_per_dim(torch.full((2,), 784 * math.log(2)), 784) == pytest.approx(7.0)


def test_masks():
    a, b = fl.alternating_masks(4, 2)
    assert torch.equal(a + b, torch.ones(4))
    c = fl.checkerboard_masks(2, 2, 2)
    assert torch.equal(c[0], torch.tensor([0., 1, 1, 0])) and torch.equal(c[0] + c[1], torch.ones(4))


def test_bad_inputs_are_named():
    flow = fl.RealNVP(fl.alternating_masks(2, 2))
    with pytest.raises(ValueError, match="D = 2"):
        flow.log_prob(torch.zeros(3, 5))
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        flow.log_prob(torch.zeros(3))
    with pytest.raises(ValueError, match="empty"):
        flow.log_prob(torch.zeros(0, 2))
    with pytest.raises(ValueError, match="dim >= 2"):
        fl.alternating_masks(1, 2)
    with pytest.raises(ValueError, match="dequantise"):
        fl.logit_transform(torch.full((2, 3), 2.0))
    with pytest.raises(ValueError):
        fl.bits_per_dim(torch.zeros(0), 784)


def test_actnorm_initialises_from_data_inverts_and_has_the_right_log_det():
    layer = fl.ActNorm(3).double()
    x = torch.randn(200, 3, dtype=torch.float64) * torch.tensor([2.0, 0.5, 1.0]) + 3.0
    y, log_det = layer(x)
    torch.testing.assert_close(y.mean(0), torch.zeros(3, dtype=torch.float64), atol=1e-6, rtol=0)
    torch.testing.assert_close(y.std(0), torch.ones(3, dtype=torch.float64), atol=1e-4, rtol=0)
    torch.testing.assert_close(layer.inverse(y), x)
    jac = jacobian(lambda v: layer(v[None])[0][0], x[0])
    torch.testing.assert_close(log_det[0], torch.linalg.slogdet(jac)[1])


@pytest.mark.parametrize("shape", [(5, 3), (4, 2, 3, 2)])
def test_invertible_1x1_conv_inverts_and_its_log_det_is_the_jacobians(shape):
    torch.manual_seed(0)
    layer = fl.InvertibleConv1x1(shape[1], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():  # move away from the rotation it starts as
        layer.log_s.add_(torch.tensor([0.3, -0.2, 0.5][: shape[1]]))
        layer.lower.add_(0.4)
        layer.upper.add_(-0.3)
    x = torch.randn(*shape, dtype=torch.float64)
    layer = layer.double()
    y, log_det = layer(x)
    assert y.shape == x.shape and log_det.shape == (shape[0],)
    assert torch.allclose(layer.inverse(y), x, atol=1e-10)
    w = layer.weight()
    assert torch.allclose(torch.linalg.slogdet(w).logabsdet, layer.log_s.sum(), atol=1e-10)
    one = x[:1]
    jac = torch.autograd.functional.jacobian(lambda v: layer(v)[0], one).reshape(one.numel(), one.numel())
    assert torch.allclose(torch.linalg.slogdet(jac).logabsdet, log_det[0], atol=1e-8)
    # the lower and upper factors stay triangular whatever the optimiser does to the raw tensors
    assert torch.allclose(w, layer.p @ (torch.tril(layer.lower, -1) + torch.eye(shape[1], dtype=w.dtype))
                          @ (torch.triu(layer.upper, 1) + torch.diag(layer.sign * layer.log_s.exp())))
    with pytest.raises(ValueError, match="shape"):
        layer(torch.randn(2, shape[1] + 1, dtype=torch.float64))


def test_invertible_1x1_conv_starts_as_a_rotation():
    layer = fl.InvertibleConv1x1(4, generator=torch.Generator().manual_seed(0))
    w = layer.weight()
    assert torch.allclose(w @ w.T, torch.eye(4), atol=1e-5)
    assert abs(float(layer.log_s.detach().sum())) < 1e-5
