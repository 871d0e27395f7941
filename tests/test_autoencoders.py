"""Autoencoders and the measures of a latent space (genmodels_course.autoencoders)."""
import math

import pytest
import torch
import torch.nn.functional as F

import genmodels_course as gm
from genmodels_course import autoencoders as ae


def test_shapes_and_bad_input():
    model = ae.Autoencoder(ae.AEConfig(hidden=(32,), z_dim=3))
    x = torch.rand(5, 1, 28, 28)
    assert model.encode(x).shape == (5, 3) and model(x).shape == x.shape
    assert model.reconstruct(x).min() >= 0 and model.codes(x).shape == (5, 3)
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        model.encode(torch.rand(5, 784))
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        model.decode(torch.rand(5, 2))
    with pytest.raises(ValueError, match="z_dim >= 1"):
        ae.Autoencoder(ae.AEConfig(z_dim=0))
    with pytest.raises(ValueError, match="same shape"):
        ae.reconstruction_loss(torch.zeros(2, 4), torch.zeros(2, 5))
    with pytest.raises(ValueError, match="non-empty"):
        ae.psnr(torch.zeros(0, 4), torch.zeros(0, 4))
    with pytest.raises(ValueError, match="mask_prob < 1"):
        ae.corruption_noise(x, 1.0)


def test_reconstruction_loss_is_bce_summed_per_image():
    g = torch.Generator().manual_seed(0)
    logits, x = torch.randn(4, 1, 5, 5, generator=g), torch.rand(4, 1, 5, 5, generator=g)
    ref = F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="sum") / 4
    torch.testing.assert_close(ae.reconstruction_loss(logits, x), ref)


def test_corrupt_and_denoising_loss():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(3, 1, 4, 4, generator=g)
    eps, keep = ae.corruption_noise(x, 0.5, generator=g)
    xt = ae.corrupt(x, eps, keep, 0.3)
    assert torch.all(xt[keep == 0] == 0) and xt.min() >= 0 and xt.max() <= 1
    torch.testing.assert_close(ae.corrupt(x, eps, torch.ones_like(x), 0.0), x)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 16), torch.nn.Unflatten(1, (1, 4, 4)))
    loss = ae.denoising_loss(model, x, eps, keep, 0.3)
    torch.testing.assert_close(loss, ae.reconstruction_loss(model(xt), x))   # the target is the clean x


def test_psnr_closed_form():
    x = torch.zeros(2, 1, 4, 4)
    y = x + 0.1
    torch.testing.assert_close(ae.psnr(y, x), torch.full((2,), 20.0))
    assert ae.psnr(x, x)[0] > 100


def test_fitted_gaussian_codes_moments():
    g = torch.Generator().manual_seed(2)
    codes = torch.randn(5000, 2, generator=g) @ torch.tensor([[2.0, 0.0], [1.0, 0.5]]) + 3.0
    z = ae.fitted_gaussian_codes(codes, 100_000, generator=g)
    torch.testing.assert_close(z.mean(0), codes.mean(0), atol=0.03, rtol=0)
    torch.testing.assert_close(torch.cov(z.T), torch.cov(codes.T), atol=0.05, rtol=0.03)


def test_continuity_of_linear_decoder_is_closed_form():
    """For g(z) = A z the RMS change is ||A u|| step scale / sqrt(D); with A orthonormal it is exact."""
    codes = torch.randn(200, 3, generator=torch.Generator().manual_seed(3))
    Q, _ = torch.linalg.qr(torch.randn(12, 3, generator=torch.Generator().manual_seed(4)))
    c = ae.continuity(lambda z: z @ Q.T, codes, step=0.1, generator=torch.Generator().manual_seed(5))
    expected = 0.1 * float(codes.var(0).mean().sqrt()) / math.sqrt(12)
    assert c == pytest.approx(expected, rel=1e-5)


def test_training_reduces_the_loss():
    torch.manual_seed(0)
    x = torch.rand(256, 1, 28, 28) ** 3
    model = ae.Autoencoder(ae.AEConfig(hidden=(64,), z_dim=4))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = gm.data.Batches(x, batch_size=64)
    hist = gm.train.fit(model, lambda b: ae.reconstruction_loss(model(b[0]), b[0]), batches,
                        optimizer=opt, steps=60, progress=False)
    assert hist["loss"][-1] < hist["loss"][0]
