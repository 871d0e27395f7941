import pytest
import torch

import genmodels_course as gm
from genmodels_course import autoregressive as ar


def _net(kernel=3, channels=8, layers=2):
    with gm.runtime.seeded(0):
        return ar.PixelCNN(ar.PixelCNNConfig(channels=channels, layers=layers,
                                             first_kernel=kernel))


def test_causal_mask_values():
    a, b = ar.causal_mask(3, "A"), ar.causal_mask(3, "B")
    assert torch.equal(a, torch.tensor([[1., 1, 1], [1, 0, 0], [0, 0, 0]]))
    assert torch.equal(b, torch.tensor([[1., 1, 1], [1, 1, 0], [0, 0, 0]]))
    assert ar.causal_mask(1, "A").sum() == 0 and ar.causal_mask(1, "B").sum() == 1


@pytest.mark.parametrize("bad", [(4, "A"), (0, "B"), (3, "C")])
def test_causal_mask_rejects_bad_arguments(bad):
    with pytest.raises(ValueError):
        ar.causal_mask(*bad)


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_masked_conv_sees_only_the_past(mask_type):
    """Output i depends on no input >= i (type A) or > i (type B), by gradients."""
    with gm.runtime.seeded(0):
        conv = ar.MaskedConv2d(1, 4, 5, mask_type)
    conv.weight.data.uniform_(0.5, 1.0)  # no accidental zeros
    h, w = 6, 6
    for i in range(h * w):
        x = torch.randn(1, 1, h, w, requires_grad=True)
        conv(x)[0, :, i // w, i % w].sum().backward()
        dep = x.grad[0, 0].flatten() != 0
        later = torch.arange(h * w) >= (i if mask_type == "A" else i + 1)
        assert not dep[later].any(), f"pixel {i} sees the future"
        assert mask_type == "A" or dep[i], "type B should see its own position"


def test_whole_network_is_causal_and_has_a_blind_spot():
    net = _net(kernel=3, layers=3)
    h = w = 9
    r, c = 5, 4
    grad = ar.input_gradient(net, (1, h, w), (r, c)).flatten()
    i = r * w + c
    assert (grad[i:] == 0).all(), "the conditional of a pixel sees itself or later pixels"
    assert (grad[:i] > 0).any()
    # the blind spot: a pixel above and to the right, earlier in raster order, is unseen
    assert grad[(r - 1) * w + c + 3] == 0


def test_log_prob_equals_sum_of_sequential_conditionals():
    net = _net()
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(3, 1, 5, 6, generator=g) < 0.5).float()
    fast = ar.log_prob(net, x)
    slow = ar.sequential_log_prob(net, x)
    assert fast.shape == (3,)
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)


def test_probabilities_of_all_tiny_images_sum_to_one():
    net = _net()
    codes = torch.arange(2 ** 6)
    x = ((codes[:, None] >> torch.arange(6)) & 1).float().reshape(-1, 1, 2, 3)
    with torch.no_grad():
        total = torch.logsumexp(ar.log_prob(net, x), 0)
    assert abs(total.item()) < 1e-5


def test_sample_shapes_and_reproducibility():
    net = _net()
    a = ar.sample(net, 2, shape=(1, 4, 4), generator=torch.Generator().manual_seed(1))
    b = ar.sample(net, 2, shape=(1, 4, 4), generator=torch.Generator().manual_seed(1))
    assert a.shape == (2, 1, 4, 4) and torch.equal(a, b)
    assert set(a.unique().tolist()) <= {0.0, 1.0}


def test_bad_inputs_are_named():
    net = _net()
    with pytest.raises(ValueError, match="binary"):
        ar.log_prob(net, torch.full((2, 1, 4, 4), 0.5))
    with pytest.raises(ValueError, match="N, 1, H, W"):
        ar.log_prob(net, torch.zeros(2, 16))
    with pytest.raises(ValueError, match="empty"):
        ar.nll(net, torch.zeros(0, 1, 4, 4))
    with pytest.raises(ValueError):
        ar.sample(net, 0)


def test_training_step_lowers_the_loss():
    net = _net()
    x = torch.rand(64, 1, 8, 8)
    step = ar.make_step(net, generator=torch.Generator().manual_seed(0))
    h = gm.train.fit(net, step, gm.data.Batches(x, batch_size=32),
                     optimizer=torch.optim.Adam(net.parameters(), lr=1e-2), steps=30,
                     amp=False, progress=False)
    assert h.mean("loss", last=5) < h["loss"][0]
