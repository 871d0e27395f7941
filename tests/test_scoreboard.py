"""Chapter 9's scoreboard: every shipped model draws, the measures behave on known cases."""
from __future__ import annotations

import pytest
import torch

import genmodels_course as gm
from genmodels_course import scoreboard


@pytest.fixture(scope="module")
def mnist():
    x_train, _ = gm.data.load_mnist(train=True, device="cpu")
    x_test, _ = gm.data.load_mnist(train=False, device="cpu")
    return x_train, x_test


@pytest.fixture(scope="module")
def split(mnist):
    return scoreboard.disjoint_subsets(len(mnist[1]), 300, seed=0)


@pytest.fixture(scope="module")
def ref(mnist, split):
    x_train, x_test = mnist
    return scoreboard.reference(x_test[split[0]], x_train)


def test_the_split_is_random_and_disjoint():
    a, b = scoreboard.disjoint_subsets(10_000, 1_000, seed=0)
    assert len(set(a.tolist()) | set(b.tolist())) == 2_000
    assert a.float().mean() > 3_000 and b.float().mean() > 3_000  # not by position
    with pytest.raises(ValueError, match="n_images / 2"):
        scoreboard.disjoint_subsets(10, 6)


@pytest.mark.parametrize("name", sorted(scoreboard.MODELS))
def test_every_shipped_model_draws_images_in_the_unit_range(name):
    sampler = scoreboard.shipped_sampler(name, device="cpu")
    n = 1 if name == "pixelcnn_mnist" else 6
    x, per_1000 = scoreboard.draw(sampler, n, seed=3)
    assert x.shape == (n, 1, 28, 28) and x.device.type == "cpu"
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0 and per_1000 > 0
    assert sampler.title in scoreboard.MODELS[name][0] and name in sampler.label
    again, _ = scoreboard.draw(sampler, n, seed=3)
    assert torch.equal(x, again)  # the seed decides the samples


def test_unknown_models_and_empty_draws_are_refused():
    with pytest.raises(ValueError, match="no scoreboard entry"):
        scoreboard.shipped_sampler("stylegan_mnist")
    sampler = scoreboard.shipped_sampler("vae_mnist", device="cpu")
    with pytest.raises(ValueError, match="n > 0"):
        scoreboard.draw(sampler, 0)


def test_a_memoriser_is_caught_and_fresh_data_is_not(mnist, ref, split):
    x_train, x_test = mnist
    copied = scoreboard.score(x_train[:300], ref, kid_subset=150, kid_subsets=20)
    fresh = scoreboard.score(x_test[split[1]], ref, kid_subset=150, kid_subsets=20)
    assert copied["copies"] == 1.0
    assert fresh["copies"] < 0.05
    assert abs(fresh["kid"]) < 3 * fresh["kid_std"]  # the same distribution: no bias
    # both are real digits: high precision and recall, most of them confident
    for s in (copied, fresh):
        assert s["precision"] > 0.6 and s["recall"] > 0.6
        assert s["confident"] > 0.85 and s["classes"] > 8.5


def test_damage_moves_the_measures_the_right_way(mnist, ref, split):
    _, x_test = mnist
    fresh = x_test[split[1]]
    g = torch.Generator().manual_seed(0)
    clean = scoreboard.score(fresh, ref, kid_subset=300, kid_subsets=5)
    noisy = scoreboard.score((fresh + 0.5 * torch.randn(fresh.shape, generator=g)).clamp(0, 1), ref,
                             kid_subset=300, kid_subsets=5)
    assert noisy["fd"] > 5 * clean["fd"] and noisy["kid"] > clean["kid"] + 5 * clean["kid_std"]
    assert noisy["precision"] < clean["precision"] and noisy["confident"] < clean["confident"]


def test_score_rejects_bad_images(ref):
    with pytest.raises(ValueError, match="shape"):
        scoreboard.score(torch.rand(10, 28, 28), ref)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        scoreboard.score(torch.rand(10, 1, 28, 28) * 2 - 1, ref)
    with pytest.raises(ValueError, match="shape"):
        scoreboard.reference(torch.rand(5, 1, 32, 32), torch.rand(5, 1, 28, 28))


def test_likelihoods_share_one_binarisation(mnist):
    _, x_test = mnist
    x = x_test[:40]
    lik = scoreboard.likelihoods(x, iwae_k=5, seed=7, device="cpu")
    # the PixelCNN's number is its exact NLL of the binarisation drawn with the seed
    binary = gm.data.binarize_dynamic(x, generator=gm.runtime.generator(7, device="cpu"))
    pcnn, meta = gm.weights.load("pixelcnn_mnist", device="cpu")
    assert lik["pixelcnn_nats"] == pytest.approx(float(gm.autoregressive.nll(pcnn, binary).mean()), rel=1e-5)
    assert 60 < lik["pixelcnn_nats"] < 130 and 60 < lik["vae_nats"] < 150
    glow_meta = gm.weights.manifest("glow_mnist")
    assert abs(lik["glow_bits_per_dim"] - glow_meta["metrics"]["test_bits_per_dim"]) < 0.15


def test_the_copy_check_can_be_left_out_and_agrees_with_evaluation(mnist, ref):
    x_train, _ = mnist
    fast = scoreboard.score(x_train[:100], ref, kid_subset=50, kid_subsets=5, copies=False)
    assert fast["copies"] is None and fast["n"] == 100
    direct = gm.evaluation.memorisation(x_train[:100], ref.train, ref.test, 0.01)
    assert scoreboard.copy_check(x_train[:100], ref, 0.01)["share_copies"] == direct["share_copies"] == 1.0
