"""Chapter 3's Gaussian decoder: its likelihood against torch.distributions, the variance
options, dequantisation, and a training step that learns."""
import math

import pytest
import torch

from genmodels_course import vae_gaussian as vg
from genmodels_course.vae import VAEConfig


def test_gaussian_nll_matches_torch_normal():
    g = torch.Generator().manual_seed(0)
    x, mean = torch.rand(5, 1, 4, 4, generator=g), torch.rand(5, 1, 4, 4, generator=g)
    for logvar in (torch.randn(5, 1, 4, 4, generator=g), torch.tensor(-1.3),
                   torch.randn(1, 4, 4, generator=g)):
        ref = -torch.distributions.Normal(mean, torch.exp(0.5 * logvar)).log_prob(x).flatten(1).sum(1)
        assert torch.allclose(vg.gaussian_nll(x, mean, logvar), ref, atol=1e-5)
    # a small variance makes the density large: the NLL of a good fit is negative
    assert (vg.gaussian_nll(x, x, torch.tensor(-8.0)) < 0).all()


def test_gaussian_nll_bad_input():
    x = torch.rand(3, 4)
    with pytest.raises(ValueError, match="same non-empty shape"):
        vg.gaussian_nll(x, torch.rand(3, 5), torch.zeros(()))
    with pytest.raises(ValueError, match="broadcasts"):
        vg.gaussian_nll(x, x, torch.zeros(2))
    with pytest.raises(ValueError, match="same non-empty shape"):
        vg.gaussian_nll(x[:0], x[:0], torch.zeros(()))


def test_dequantise_keeps_each_level_in_its_bin():
    k = torch.arange(256.0)
    x = (k / 255).repeat(50)
    y = vg.dequantise(x, generator=torch.Generator().manual_seed(1))
    assert torch.equal(torch.floor(y * 256), k.repeat(50)) and 0 <= y.min() and y.max() < 1
    assert abs(float((y * 256 - k.repeat(50)).mean()) - 0.5) < 0.05  # u ~ U[0, 1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        vg.dequantise(torch.tensor([1.5]))


@pytest.mark.parametrize("variance", ["pixel", "shared", 0.1])
def test_decoder_shapes_floor_and_what_is_learned(variance):
    cfg = VAEConfig(x_shape=(1, 4, 4), z_dim=3, hidden=(8,))
    model = vg.GaussianDecoderVAE(cfg, variance=variance, min_logvar=-6.0)
    mean, logvar = model.decode(torch.randn(7, 3) * 50)
    assert mean.shape == (7, 1, 4, 4) and ((0 <= mean) & (mean <= 1)).all()
    assert logvar.shape == ((7, 1, 4, 4) if variance == "pixel" else ())
    assert (logvar >= -6.0).all()
    n_decoder_out = model.decoder[-1].out_features
    assert n_decoder_out == (32 if variance == "pixel" else 16)
    learned = any(n == "raw_logvar" for n, _ in model.named_parameters())
    assert learned == (variance == "shared")
    if variance == 0.1:
        assert float(logvar) == pytest.approx(math.log(0.1))
    x = model.sample(4, noise=True, generator=torch.Generator().manual_seed(0))
    assert x.shape == (4, 1, 4, 4) and not torch.equal(x, model.sample(4))


def test_bad_variance_and_bad_shapes():
    with pytest.raises(ValueError, match="variance"):
        vg.GaussianDecoderVAE(variance="per-image")
    with pytest.raises(ValueError, match="variance"):
        vg.GaussianDecoderVAE(variance=-1.0)
    model = vg.GaussianDecoderVAE(VAEConfig(x_shape=(1, 4, 4), z_dim=3, hidden=(8,)))
    with pytest.raises(ValueError, match="non-empty batch"):
        model.encode(torch.rand(2, 1, 5, 5))
    with pytest.raises(ValueError, match="codes of shape"):
        model.decode(torch.rand(2, 4))


def test_training_step_learns_and_the_shared_variance_falls():
    g = torch.Generator().manual_seed(0)
    protos = torch.rand(4, 1, 4, 4, generator=g).round()
    x = protos[torch.randint(0, 4, (256,), generator=g)]
    model = vg.GaussianDecoderVAE(VAEConfig(x_shape=(1, 4, 4), z_dim=2, hidden=(32,)),
                                  variance="shared")
    step = vg.make_gaussian_step(model, generator=torch.Generator().manual_seed(1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(150):
        loss, logs = step((x,))
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < first - 10 and float(logs["sigma"]) < 0.5
    rec, kl = vg.elbo_terms(model, vg.dequantise(x, generator=g), generator=g)
    assert rec.shape == kl.shape == (256,) and (kl >= 0).all()


def test_bits_per_dim_of_the_uniform_density_is_eight():
    assert vg.bits_per_dim(torch.zeros(10), 784) == pytest.approx(8.0)
    assert vg.bits_per_dim(torch.full((3,), -784 * math.log(2)), 784) == pytest.approx(7.0)
