import math

import pytest
import torch

import genmodels_course as gm
from genmodels_course import ebm


def test_langevin_reaches_a_known_gaussian():
    mean = torch.tensor([1.0, -2.0])
    cov = torch.tensor([[1.0, 0.6], [0.6, 0.5]])
    energy = ebm.gaussian_energy(mean, cov)
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(4000, 2, generator=g) * 3
    x = ebm.langevin(energy, x0, n_steps=600, step_size=0.02, generator=g)
    torch.testing.assert_close(x.mean(0), mean, atol=0.06, rtol=0)
    torch.testing.assert_close(torch.cov(x.T), cov, atol=0.06, rtol=0)


def test_langevin_step_formula():
    x, grad, noise = torch.ones(2, 2), torch.full((2, 2), 2.0), torch.full((2, 2), 3.0)
    out = ebm.langevin_step(x, grad, 0.25, noise)
    torch.testing.assert_close(out, torch.full((2, 2), 1 - 0.25 + 0.5 * 3))


def test_cd_loss_gradient_is_the_energy_difference():
    with gm.runtime.seeded(0):
        model = ebm.EnergyMLP(2, 16)
    x_data, x_model = torch.randn(8, 2), torch.randn(8, 2)
    loss, gap = ebm.cd_loss(model, x_data, x_model, alpha=0.0)
    assert torch.isclose(loss, gap)
    assert loss.requires_grad


def test_cd_training_lowers_energy_on_the_data():
    with gm.runtime.seeded(0):
        model = ebm.EnergyMLP(2, 32)
    data = torch.randn(512, 2) * 0.3 + torch.tensor([1.5, 1.5])
    buf = ebm.ReplayBuffer(512, 2, generator=torch.Generator().manual_seed(0))
    step = ebm.make_cd_step(model, buf, n_steps=10, step_size=0.01,
                            generator=torch.Generator().manual_seed(1))
    gm.train.fit(model, step, gm.data.Batches(data, batch_size=128),
                 optimizer=torch.optim.Adam(model.parameters(), lr=1e-3), steps=150,
                 amp=False, progress=False)
    with torch.no_grad():
        far = torch.tensor([[-2.0, -2.0]])
        assert model(data).mean() < model(far).mean()


def test_bad_inputs_are_named():
    model = ebm.EnergyMLP(2, 8)
    with pytest.raises(ValueError, match="D = 2"):
        model(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="empty"):
        model(torch.zeros(0, 2))
    with pytest.raises(ValueError, match="step_size"):
        ebm.langevin(model, torch.zeros(2, 2), 5, 0.0)
