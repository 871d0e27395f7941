import math

import numpy as np
import pytest
import torch

import genmodels_course as gm
from genmodels_course import metrics


def test_frechet_distance_matches_closed_form_for_gaussians():
    # For diagonal covariances the distance is |mu_a - mu_b|^2 + sum (sqrt(a_i) - sqrt(b_i))^2.
    g = torch.Generator().manual_seed(0)
    n, d = 200_000, 3
    sa, sb = torch.tensor([1.0, 2.0, 0.5]), torch.tensor([0.5, 1.0, 3.0])
    mb = torch.tensor([1.0, -1.0, 0.0])
    a = torch.randn(n, d, generator=g) * sa.sqrt()
    b = mb + torch.randn(n, d, generator=g) * sb.sqrt()
    exact = float((mb**2).sum() + ((sa.sqrt() - sb.sqrt()) ** 2).sum())
    assert metrics.frechet_distance(a, b) == pytest.approx(exact, rel=0.02)
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_agrees_with_scipy_sqrtm_on_full_covariances():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 6)) @ rng.normal(size=(6, 6))
    b = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6)) + 0.3
    ma, mb = a.mean(0), b.mean(0)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy_linalg.sqrtm(ca @ cb).real
    expected = ((ma - mb) ** 2).sum() + np.trace(ca + cb - 2 * covmean)
    assert metrics.frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="dimensions differ"):
        metrics.frechet_distance(a, b[:, :3])
    with pytest.raises(ValueError, match="N >= 2"):
        metrics.frechet_distance(a[:1], b)


def test_frechet_distance_on_one_dimensional_features():
    # 1-D: d^2 = (m1 - m2)^2 + s1^2 + s2^2 - 2 s1 s2 with s the standard deviations (sample
    # statistics, np.cov's unbiased variance); it used to crash (np.cov returns a 0-d array)
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.5, 2.0, size=(300, 1)), rng.normal(-1.0, 0.7, size=(250, 1))
    v1, v2 = a.var(ddof=1), b.var(ddof=1)
    exact = (a.mean() - b.mean()) ** 2 + v1 + v2 - 2 * math.sqrt(v1 * v2)
    assert metrics.frechet_distance(a, b) == pytest.approx(exact, rel=1e-9)
    assert metrics.frechet_distance(torch.from_numpy(a), torch.from_numpy(b)) == pytest.approx(exact, rel=1e-9)
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)


def test_feature_net_init_is_fixed_by_the_seed():
    state = torch.get_rng_state()
    with gm.runtime.seeded(0):  # what feature_net does
        one = metrics.FeatureNet()
    with gm.runtime.seeded(0):
        two = metrics.FeatureNet()
    with gm.runtime.seeded(1):
        other = metrics.FeatureNet()
    assert torch.equal(torch.get_rng_state(), state)  # the caller's random stream is untouched
    for p, q, r in zip(one.parameters(), two.parameters(), other.parameters()):
        assert torch.equal(p, q) and not torch.equal(p, r)


def test_mode_coverage_counts_modes_and_quality():
    ring = gm.data.ring8()
    s = ring.sample(2500, torch.Generator().manual_seed(0))
    full = metrics.mode_coverage(s, ring.means, ring.sigma)
    assert full["modes"] == 8
    # 2-D isotropic Gaussian: P(|x - mu| <= 3 sigma) = 1 - exp(-9/2)
    assert full["high_quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.01)
    half = s[torch.cdist(s, ring.means).argmin(1) < 4]
    assert metrics.mode_coverage(half, ring.means, ring.sigma)["modes"] == 4
    far = torch.full((10, 2), 5.0)
    assert metrics.mode_coverage(far, ring.means, ring.sigma) == {"modes": 0, "high_quality": 0.0, "counts": [0] * 8}
    with pytest.raises(ValueError):
        metrics.mode_coverage(torch.zeros(0, 2), ring.means, ring.sigma)


def test_bits_per_dim():
    assert metrics.bits_per_dim(784 * math.log(2), 784) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        metrics.bits_per_dim(1.0, 0)


def test_accuracy_from_logits_and_model():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]])
    y = torch.tensor([0, 1, 1])
    assert metrics.accuracy(logits, y=y) == pytest.approx(2 / 3)
    assert metrics.accuracy(torch.nn.Identity(), logits, y) == pytest.approx(2 / 3)


def test_feature_net_learns_and_gives_a_floor(data_available, tmp_path, monkeypatch):
    monkeypatch.setenv("GENMODELS_CACHE", str(tmp_path))
    metrics._NETS.clear()
    with torch.no_grad():  # as when fid() is the first caller: training must still work
        net = metrics.feature_net("mnist", n_train=3000, epochs=3, verbose=False)
    x, y = gm.data.load_mnist(train=False, n=1000)
    assert metrics.accuracy(net, x, y) > 0.85
    assert list(tmp_path.glob("feature_nets/*.safetensors"))
    metrics._NETS.clear()  # second call loads the cached weights
    again = metrics.feature_net("mnist", n_train=3000, epochs=3, verbose=False)
    assert torch.equal(again.features(x[:5]), net.features(x[:5]))
    with pytest.raises(ValueError, match="28, 28"):
        net.features(torch.zeros(2, 1, 16, 16))
    with pytest.raises(ValueError, match="dataset"):
        metrics.feature_net("cifar")
    metrics._NETS.clear()


def test_effective_classes_counts_spread_over_classes(data_available, tmp_path, monkeypatch):
    monkeypatch.setenv("GENMODELS_CACHE", str(tmp_path))
    metrics._NETS.clear()
    metrics.feature_net("mnist", n_train=3000, epochs=3, verbose=False)
    monkeypatch.setattr(metrics, "_feature_settings", lambda: {"n_train": 3000, "epochs": 3})
    x, y = gm.data.load_mnist(train=False, n=2000)
    diverse = metrics.effective_classes(x)
    collapsed = metrics.effective_classes(x[y == 1][:200])
    assert 8.0 < diverse <= 10.0
    assert 1.0 <= collapsed < 2.0
    with pytest.raises(ValueError, match="no images"):
        metrics.effective_classes(x[:0])
    metrics._NETS.clear()


# ---------------------------------------------------------------- AUROC
@pytest.mark.parametrize("seed", [0, 1])
def test_auroc_matches_sklearn_including_ties(seed):
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    normal = rng.integers(0, 6, size=300).astype(float)  # few distinct values: many ties
    anomalous = rng.integers(2, 9, size=200).astype(float)
    labels = np.r_[np.zeros(len(normal)), np.ones(len(anomalous))]
    expected = roc_auc_score(labels, np.r_[normal, anomalous])
    assert metrics.auroc(normal, anomalous) == pytest.approx(expected, abs=1e-12)
    assert metrics.auroc(torch.tensor(normal), torch.tensor(anomalous)) == pytest.approx(expected, abs=1e-12)
    cont_n, cont_a = rng.normal(size=100), rng.normal(0.5, 1.0, size=150)
    assert metrics.auroc(cont_n, cont_a) == pytest.approx(
        roc_auc_score(np.r_[np.zeros(100), np.ones(150)], np.r_[cont_n, cont_a]), abs=1e-12)


def test_auroc_extremes_and_errors():
    assert metrics.auroc([0.0, 1.0], [2.0, 3.0]) == 1.0  # every anomaly scores higher
    assert metrics.auroc([2.0, 3.0], [0.0, 1.0]) == 0.0
    assert metrics.auroc([1.0, 1.0], [1.0]) == 0.5  # all tied: chance
    # a log-likelihood is a normality score: its negative ranks the anomalies
    assert metrics.auroc(-torch.tensor([-1.0, -2.0]), -torch.tensor([-5.0, -6.0])) == 1.0
    with pytest.raises(ValueError, match="no anomalous"):
        metrics.auroc([1.0], [])
    with pytest.raises(ValueError, match="non-finite"):
        metrics.auroc([1.0, float("nan")], [2.0])


# ---------------------------------------------------------------- precision and recall
def _brute_precision_recall(real, fake, k):
    def radii(x):
        return [sorted(float((a - b).norm()) for j, b in enumerate(x) if j != i)[k - 1] for i, a in enumerate(x)]

    def inside(points, centres, r):
        return [any(float((p - c).norm()) <= rc for c, rc in zip(centres, r)) for p in points]

    precision = sum(inside(fake, real, radii(real))) / len(fake)
    recall = sum(inside(real, fake, radii(fake))) / len(real)
    return precision, recall


@pytest.mark.parametrize("k", [1, 3])
def test_precision_recall_equals_brute_force(k):
    g = torch.Generator().manual_seed(0)
    real = torch.randn(40, 3, generator=g, dtype=torch.float64)
    shift = torch.tensor([1.5, 0.0, 0.0], dtype=torch.float64)
    fake = 0.7 * torch.randn(30, 3, generator=g, dtype=torch.float64) + shift  # overlaps the real cloud in part
    expected = _brute_precision_recall(real, fake, k)
    assert metrics.precision_recall(real, fake, k=k) == pytest.approx(expected)
    assert metrics.precision_recall(real, fake, k=k, chunk=7) == pytest.approx(expected)  # chunking changes nothing
    assert 0.0 < expected[0] < 1.0 and 0.0 < expected[1] < 1.0  # the toy is not a trivial case


def test_precision_recall_on_identical_and_on_disjoint_sets():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(200, 8, generator=g)
    assert metrics.precision_recall(x, x.clone()) == (1.0, 1.0)
    assert metrics.precision_recall(x, x + 1_000.0) == (0.0, 0.0)
    # half of the fakes on the data, half far away: precision 1/2; recall stays high
    half = torch.cat([x[:100], x[:100] + 1_000.0])
    precision, recall = metrics.precision_recall(x, half)
    assert precision == 0.5 and recall >= 0.5
    with pytest.raises(ValueError, match="k"):
        metrics.precision_recall(x[:3], x[:3], k=3)
    with pytest.raises(ValueError, match="dimensions"):
        metrics.precision_recall(x, x[:, :4])


# ---------------------------------------------------------------- the Frechet floor
def test_fid_floor_compares_a_random_subset_of_n_training_images_with_the_test_set(monkeypatch):
    calls = []
    monkeypatch.setattr(metrics, "fid", lambda a, b, dataset="mnist": calls.append((a, b, dataset)) or 1.5)
    x_train, x_test = torch.arange(1000.0), torch.arange(2000.0, 2100.0)
    assert metrics.fid_floor(x_train, x_test) == 1.5
    a, b, dataset = calls[-1]
    # as many as the test set, distinct training images, spread over the whole set (not its
    # last rows, which in MNIST are not representative)
    assert len(a) == 100 and len(set(a.tolist())) == 100 and set(a.tolist()) <= set(x_train.tolist())
    assert a.min() < 500 < a.max() and torch.equal(b, x_test) and dataset == "mnist"
    metrics.fid_floor(x_train, x_test, n=60, dataset="fashion_mnist")
    assert len(calls[-1][0]) == 60 and calls[-1][2] == "fashion_mnist"
    metrics.fid_floor(x_train, x_test, n=60, seed=0)
    same = calls[-1][0]
    metrics.fid_floor(x_train, x_test, n=60, seed=1)
    other = calls[-1][0]
    metrics.fid_floor(x_train, x_test, n=60, seed=0)
    assert torch.equal(same, calls[-1][0]) and not torch.equal(same, other)  # fixed by the seed
    metrics.fid_floor(x_train[:3], x_test, n=50)  # fewer training images than n: all of them
    assert torch.equal(calls[-1][0], x_train[:3])
    with pytest.raises(ValueError, match="at least 2"):
        metrics.fid_floor(x_train, x_test, n=1)


def test_confident_classes_counts_confident_samples_and_class_shares(monkeypatch):
    # a stub classifier whose logits are the first 10 pixels of each image: the answer is known
    class Stub(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return x.flatten(1)[:, :10] + 0 * self.w

    monkeypatch.setattr(metrics, "feature_net", lambda dataset="mnist": Stub())
    x = torch.zeros(8, 1, 28, 28)
    for i, (cls, logit) in enumerate([(0, 10.0), (0, 10.0), (1, 10.0), (3, 10.0),
                                      (3, 1.0), (3, 1.0), (7, 10.0), (7, 0.5)]):
        x[i, 0, 0, cls] = logit   # p(top) = e^10 / (e^10 + 9) > 0.99; e^1 / (e + 9) = 0.23
    out = metrics.confident_classes(x, batch_size=3)
    assert out["share_confident"] == pytest.approx(5 / 8)
    assert out["class_shares"] == pytest.approx([2 / 8, 1 / 8, 0, 3 / 8, 0, 0, 0, 2 / 8, 0, 0])
    assert metrics.confident_classes(x, threshold=0.2)["share_confident"] == pytest.approx(7 / 8)
    with pytest.raises(ValueError, match="no images"):
        metrics.confident_classes(x[:0])
    with pytest.raises(ValueError, match="threshold"):
        metrics.confident_classes(x, threshold=1.5)


def test_random_shift_moves_each_image_by_at_most_the_limit():
    x = torch.zeros(64, 1, 12, 12)
    x[:, 0, 6, 5] = 1.0  # one bright pixel, away from the border
    moved = metrics.random_shift(x, 2, torch.Generator().manual_seed(0))
    assert moved.shape == x.shape
    assert torch.equal(moved.sum((1, 2, 3)), x.sum((1, 2, 3)))  # nothing falls off
    rows, cols = moved[:, 0].flatten(1).argmax(1).div(12, rounding_mode="floor"), moved[:, 0].flatten(1).argmax(1) % 12
    assert (rows - 6).abs().max() <= 2 and (cols - 5).abs().max() <= 2
    assert len(set(zip(rows.tolist(), cols.tolist()))) > 10  # the offsets differ per image
    assert torch.equal(metrics.random_shift(x, 0), x)
    edge = torch.zeros(200, 1, 8, 8)
    edge[:, 0, 0, 0] = 1.0  # at the corner some shifts push it out, leaving zeros
    assert metrics.random_shift(edge, 1, torch.Generator().manual_seed(1)).sum() < 200


def test_feature_net_is_the_shipped_classifier_in_every_profile(data_available, monkeypatch):
    metrics._NETS.clear()
    monkeypatch.setattr(metrics, "train_feature_net",
                        lambda *a, **k: pytest.fail("the default classifier must not be trained"))
    net = metrics.feature_net("mnist")
    shipped, meta = gm.weights.load("classifier_mnist", device="cpu")
    x, y = gm.data.load_mnist(train=False, n=2000)
    assert torch.allclose(net(x[:50].to(next(net.parameters()).device)).cpu(), shipped(x[:50]), atol=1e-5)
    assert not any(p.requires_grad for p in net.parameters())
    probs = metrics.class_probabilities(x)
    accuracy = float((probs.argmax(1).cpu() == y).float().mean())
    confident = float((probs.max(1).values >= 0.9).float().mean())
    # the numbers its manifest records hold on this sample of the test split
    assert accuracy > 0.98 and abs(accuracy - meta["metrics"]["test_accuracy"]) < 0.01
    assert confident > 0.95
    assert metrics.feature_net("fashion_mnist") is not net
    metrics._NETS.clear()


@pytest.mark.parametrize("channels, data_range", [(1, 1.0), (3, 2.0)])
def test_ssim_equals_torchmetrics(channels, data_range):
    from torchmetrics.functional.image import structural_similarity_index_measure as reference

    g = torch.Generator().manual_seed(channels)
    x = torch.rand(3, channels, 24, 20, generator=g) * data_range - (data_range - 1) / 2
    y = x + 0.1 * data_range * torch.randn(x.shape, generator=g)
    ours = metrics.ssim(y, x, data_range=data_range)
    theirs = reference(y, x, data_range=data_range, reduction="none")
    assert ours.shape == (3,)
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_ssim_is_one_for_identical_images_and_falls_with_noise_and_blur():
    g = torch.Generator().manual_seed(4)
    x = torch.nn.functional.avg_pool2d(torch.rand(2, 1, 36, 36, generator=g), 3, 1, 1)  # some structure
    assert torch.allclose(metrics.ssim(x, x), torch.ones(2), atol=1e-5)
    noisy = [metrics.ssim(x + s * torch.randn(x.shape, generator=g), x).mean() for s in (0.01, 0.05, 0.2)]
    assert noisy[0] > noisy[1] > noisy[2]
    # a flat grey image of the right mean keeps the PSNR finite but has no structure: SSIM low
    flat = torch.full_like(x, x.mean().item())
    assert metrics.ssim(flat, x).max() < 0.2 < noisy[1]


def test_ssim_rejects_bad_inputs():
    x = torch.rand(2, 1, 16, 16)
    with pytest.raises(ValueError, match="same shape"):
        metrics.ssim(x, x[:1])
    with pytest.raises(ValueError, match="odd window"):
        metrics.ssim(x, x, window=10)
    with pytest.raises(ValueError, match="odd window"):
        metrics.ssim(x[..., :4, :4], x[..., :4, :4])
