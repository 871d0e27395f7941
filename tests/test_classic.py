"""Chapter 1: the classical generative models, tied to their equations by brute force."""
import itertools
import math

import numpy as np
import pytest
import torch

from genmodels_course import classic as c
from genmodels_course import exercises as ex


def _binary(n, d, p=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, d, generator=g, dtype=torch.float64) < p).double()


def _labels(n, k, seed=0):
    g = torch.Generator().manual_seed(seed + 100)
    y = torch.randint(0, k, (n,), generator=g)
    y[:k] = torch.arange(k)  # every class present
    return y


# ---------------------------------------------------------------- naive Bayes
def test_bernoulli_nb_closed_form_matches_counting():
    x, y = _binary(40, 6), _labels(40, 3)
    log_prior, theta = c.fit_bernoulli_nb(x, y, 3, alpha=0.5)
    for k in range(3):
        rows = x[y == k]
        assert math.isclose(log_prior[k].exp().item(), len(rows) / 40, rel_tol=1e-12)
        for d in range(6):
            assert math.isclose(theta[k, d].item(), (rows[:, d].sum().item() + 0.5) / (len(rows) + 1.0), rel_tol=1e-12)


def test_bernoulli_nb_posterior_equals_brute_force_bayes_rule():
    x, y = _binary(60, 5), _labels(60, 3)
    model = c.BernoulliNB.fit(x, y, 3, alpha=1.0)
    post = model.log_posterior(x).exp()
    prior = model.log_prior.exp()
    for i in range(5):
        # Bayes' rule with products of probabilities, no logs: p(y|x) = p(y) prod_d p(x_d|y) / sum_k ...
        joint = []
        for k in range(3):
            lik = 1.0
            for d in range(5):
                t = model.theta[k, d].item()
                lik *= t if x[i, d] == 1 else 1 - t
            joint.append(prior[k].item() * lik)
        expected = torch.tensor(joint) / sum(joint)
        assert torch.allclose(post[i], expected.double(), atol=1e-12)
    assert torch.allclose(post.sum(1), torch.ones(60, dtype=torch.float64))


def test_bernoulli_nb_matches_sklearn():
    from sklearn.naive_bayes import BernoulliNB as SkBNB

    x, y = _binary(200, 20, seed=3), _labels(200, 4, seed=3)
    for alpha in (1.0, 0.3):
        ours = c.BernoulliNB.fit(x, y, 4, alpha=alpha)
        sk = SkBNB(alpha=alpha).fit(x.numpy(), y.numpy())
        np.testing.assert_allclose(ours.log_joint(x).numpy(), sk.predict_joint_log_proba(x.numpy()), atol=1e-10)
        np.testing.assert_allclose(ours.log_posterior(x).numpy(), sk.predict_log_proba(x.numpy()), atol=1e-10)
        np.testing.assert_allclose(ours.theta.log().numpy(), sk.feature_log_prob_, atol=1e-12)


def test_gaussian_nb_matches_sklearn():
    from sklearn.naive_bayes import GaussianNB as SkGNB

    g = torch.Generator().manual_seed(4)
    x, y = torch.randn(150, 8, generator=g, dtype=torch.float64), _labels(150, 3, seed=4)
    x[:, 0] = 0.5  # a constant pixel: only var_smoothing keeps its variance positive
    for vs in (1e-9, 1e-2):
        ours = c.GaussianNB.fit(x, y, 3, var_smoothing=vs)
        sk = SkGNB(var_smoothing=vs).fit(x.numpy(), y.numpy())
        xt = torch.randn(20, 8, generator=g, dtype=torch.float64)
        np.testing.assert_allclose(ours.log_joint(xt).numpy(), sk.predict_joint_log_proba(xt.numpy()), rtol=1e-9)
        np.testing.assert_allclose(ours.var.numpy(), sk.var_, rtol=1e-9)


def test_gaussian_nb_is_stable_in_float32_on_offset_features():
    # features at 100 with std 0.01: expanding (x - mu)^2 into x^2 - 2 x mu + mu^2 loses every
    # digit of the difference in float32 (it flipped most predictions); scikit-learn is float64
    from sklearn.naive_bayes import GaussianNB as SkGNB

    g = torch.Generator().manual_seed(0)
    n, d, k = 600, 10, 3
    y = torch.arange(n) % k
    means = 0.01 * torch.randn(k, d, generator=g)
    x = (100 + means[y] + 0.01 * torch.randn(n, d, generator=g)).float()
    ours = c.GaussianNB.fit(x[:400], y[:400], k)
    sk = SkGNB().fit(x[:400].double().numpy(), y[:400].numpy())
    xt = x[400:]
    sk_joint = sk.predict_joint_log_proba(xt.double().numpy())
    assert ours.log_joint(xt).dtype == torch.float32
    np.testing.assert_allclose(ours.log_joint(xt).double().numpy(), sk_joint, atol=0.1)   # |values| ~ 35
    assert (ours.predict(xt).numpy() == sk.predict(xt.double().numpy())).mean() >= 0.99
    mask = torch.ones_like(xt, dtype=torch.bool)
    mask[:, 5:] = False                                   # hidden features are left out of the sum
    sk5 = SkGNB().fit(x[:400, :5].double().numpy(), y[:400].numpy())
    ours5 = ours.log_joint(xt, mask).double().numpy()
    np.testing.assert_allclose(ours5, sk5.predict_joint_log_proba(xt[:, :5].double().numpy()), atol=0.1)


def test_bernoulli_nb_is_a_normalised_distribution_over_all_images():
    x, y = _binary(30, 4), _labels(30, 2)
    model = c.BernoulliNB.fit(x, y, 2)
    every = torch.tensor(list(itertools.product([0.0, 1.0], repeat=4)), dtype=torch.float64)
    assert math.isclose(model.log_prob(every).exp().sum().item(), 1.0, rel_tol=1e-12)


def test_marginalising_a_pixel_equals_summing_the_joint_over_its_values():
    x, y = _binary(50, 6, seed=5), _labels(50, 3, seed=5)
    model = c.BernoulliNB.fit(x, y, 3)
    mask = torch.ones(50, 6, dtype=torch.bool)
    mask[:, 2] = False
    mask[::2, 4] = False
    hidden_once = model.log_joint(x, mask)
    # brute force: enumerate the values of the hidden pixels and add up p(x, y)
    for i in range(6):
        hid = [d for d in range(6) if not mask[i, d]]
        total = torch.zeros(3, dtype=torch.float64)
        for vals in itertools.product([0.0, 1.0], repeat=len(hid)):
            xi = x[i].clone()
            xi[hid] = torch.tensor(vals, dtype=torch.float64)
            total += model.log_joint(xi[None])[0].exp()
        assert torch.allclose(hidden_once[i].exp(), total, atol=1e-14)


def test_gaussian_marginalisation_equals_numerical_integral():
    g = torch.Generator().manual_seed(6)
    x, y = torch.randn(40, 3, generator=g, dtype=torch.float64), _labels(40, 2, seed=6)
    model = c.GaussianNB.fit(x, y, 2)
    x0 = x[:1]
    mask = torch.tensor([[True, False, True]])
    grid = torch.linspace(-12, 12, 20001, dtype=torch.float64)
    xs = x0.repeat(len(grid), 1)
    xs[:, 1] = grid
    dens = model.log_joint(xs).exp()                       # (G, K)
    integral = torch.trapezoid(dens, grid, dim=0)
    assert torch.allclose(model.log_joint(x0, mask)[0].exp(), integral, rtol=1e-6)


def test_samples_follow_the_class_conditionals():
    x, y = _binary(80, 5, seed=7), _labels(80, 2, seed=7)
    model = c.BernoulliNB.fit(x, y, 2)
    g = torch.Generator().manual_seed(0)
    n = 40_000
    xs = model.sample(torch.ones(n, dtype=torch.long), g)
    se = (model.theta[1] * (1 - model.theta[1]) / n).sqrt()
    assert ((xs.mean(0) - model.theta[1]).abs() < 5 * se).all()
    xs, ys = model.sample(n, g)
    assert abs(ys.double().mean().item() - model.log_prior[1].exp().item()) < 0.01
    gnb = c.GaussianNB.fit(torch.randn(80, 3, dtype=torch.float64, generator=g), y, 2)
    xg = gnb.sample(torch.zeros(n, dtype=torch.long), g)
    assert torch.allclose(xg.mean(0), gnb.mu[0], atol=5 * (gnb.var[0] / n).sqrt().max().item())
    assert torch.allclose(xg.var(0), gnb.var[0], rtol=0.05)


# ---------------------------------------------------------------- logistic regression
def test_logistic_regression_is_a_stationary_point_of_its_objective():
    g = torch.Generator().manual_seed(8)
    x, y = torch.randn(120, 5, generator=g, dtype=torch.float64), _labels(120, 3, seed=8)
    C = 0.5
    model = c.fit_logistic_regression(x, y, 3, C=C, max_iter=5000, tol=1e-12)
    w, b = model.weight.clone().requires_grad_(), model.bias.clone().requires_grad_()
    loss = C * torch.nn.functional.cross_entropy(x @ w.T + b, y, reduction="sum") + 0.5 * (w ** 2).sum()
    loss.backward()
    # sklearn's multinomial fit leaves the bias free up to a constant shift, so check the gradient only
    assert w.grad.abs().max() < 1e-3 and b.grad.abs().max() < 1e-3
    assert torch.allclose(model.log_posterior(x).exp().sum(1), torch.ones(120, dtype=torch.float64))


def test_logistic_regression_two_classes_keeps_k_columns():
    g = torch.Generator().manual_seed(9)
    x, y = torch.randn(50, 3, generator=g), _labels(50, 2, seed=9)
    model = c.fit_logistic_regression(x, y, 2)
    assert model.weight.shape == (2, 3) and model.log_posterior(x).shape == (50, 2)


def test_impute_mean_and_random_mask():
    x = torch.arange(6.0).reshape(2, 3)
    mask = torch.tensor([[True, False, True], [False, True, True]])
    out = c.impute_mean(x, mask, torch.tensor([10.0, 20.0, 30.0]))
    assert torch.equal(out, torch.tensor([[0.0, 20.0, 2.0], [10.0, 4.0, 5.0]]))
    m = c.random_mask((200, 500), 0.3, torch.Generator().manual_seed(0))
    assert abs(1 - m.double().mean().item() - 0.3) < 0.01


# ---------------------------------------------------------------- the joint table
def test_joint_table_equals_brute_force_counting():
    x = _binary(500, 4, p=0.4, seed=10)
    table = c.fit_joint_table(x)
    assert table.shape == (2, 2, 2, 2) and math.isclose(table.sum().item(), 1.0, rel_tol=1e-12)
    for cfg in itertools.product([0, 1], repeat=4):
        count = (x == torch.tensor(cfg, dtype=torch.float64)).all(1).sum().item()
        assert math.isclose(table[cfg].item(), count / 500, abs_tol=1e-12)
    smoothed = c.fit_joint_table(x, alpha=1.0)
    assert math.isclose(smoothed[0, 1, 1, 0].item(), (table[0, 1, 1, 0].item() * 500 + 1) / 516, rel_tol=1e-9)


def test_conditioning_the_table_equals_counting_matching_rows():
    x = _binary(2000, 4, p=0.5, seed=11)
    x[:, 1] = torch.where(torch.rand(2000, generator=torch.Generator().manual_seed(1)) < 0.8, x[:, 0], x[:, 1])
    table = c.fit_joint_table(x)
    observed = torch.tensor([1, -1, 0, -1])
    cond = c.condition_table(table, observed)
    rows = x[(x[:, 0] == 1) & (x[:, 2] == 0)]
    for a, b in itertools.product([0, 1], repeat=2):
        frac = ((rows[:, 1] == a) & (rows[:, 3] == b)).double().mean().item()
        assert math.isclose(cond[a, b].item(), frac, abs_tol=1e-12)
    marg = c.pixel_marginals(table, observed)
    assert math.isclose(marg[1].item(), rows[:, 1].mean().item(), abs_tol=1e-12)
    assert marg[0].item() == 1 and marg[2].item() == 0
    assert torch.allclose(c.condition_table(table, torch.tensor([-1, -1, -1, -1])), table)


def test_sampling_the_table_reproduces_its_frequencies():
    g = torch.Generator().manual_seed(12)
    table = torch.rand((2, 2, 2, 2), generator=g, dtype=torch.float64)
    table /= table.sum()
    n = 100_000
    samples = c.sample_joint_table(table, n, g)
    freq = c.fit_joint_table(samples)
    se = (table * (1 - table) / n).sqrt()
    assert ((freq - table).abs() < 5 * se).all()


def test_table_size_grows_as_two_to_the_pixels():
    assert c.joint_table_size(4) == 16 == c.fit_joint_table(_binary(10, 4)).numel()
    assert c.joint_table_size(784) == 2 ** 784
    assert 235 < math.log10(c.joint_table_size(784)) < 237


# ---------------------------------------------------------------- learning curves
def test_crossing_point():
    sizes = [10, 100, 1000]
    assert c.crossing_point(sizes, np.array([0.3, 0.2, 0.15]), np.array([0.4, 0.2, 0.10])) == pytest.approx(100)
    x = c.crossing_point(sizes, np.array([0.3, 0.2, 0.15]), np.array([0.4, 0.1, 0.05]))
    assert 10 < x < 100 and math.isclose(x, 10 ** 1.5)  # diff +0.1 -> -0.1: halfway in log n
    assert c.crossing_point(sizes, np.array([0.3, 0.2, 0.1]), np.array([0.4, 0.3, 0.2])) is None
    assert c.crossing_point(sizes, np.array([0.3, 0.2, 0.1]), np.array([0.2, 0.1, 0.0])) == 10


def test_balanced_subset_and_learning_curves():
    y = torch.cat([torch.zeros(90, dtype=torch.long), torch.ones(10, dtype=torch.long)])
    idx = c.balanced_subset(y, 10, 2, torch.Generator().manual_seed(0))
    assert len(set(idx.tolist())) == 10 and y[idx].sum().item() == 5
    x = _binary(100, 4, seed=13).float()
    res = c.learning_curves({"nb": lambda a, b: c.BernoulliNB.fit(a, b, 2).predict}, x, y, x, y, [4, 20], [0, 1], 2)
    assert res["nb"].shape == (2, 2) and ((res["nb"] >= 0) & (res["nb"] <= 1)).all()


# ---------------------------------------------------------------- bad input
def test_bad_input_raises_clear_errors():
    x, y = _binary(10, 4), _labels(10, 2)
    with pytest.raises(ValueError, match="binary"):
        c.BernoulliNB.fit(x * 0.5, y)
    with pytest.raises(ValueError, match="empty"):
        c.BernoulliNB.fit(x[:0], y[:0])
    with pytest.raises(ValueError, match="shape"):
        c.BernoulliNB.fit(x, y[:5])
    with pytest.raises(ValueError, match="n_classes"):
        c.BernoulliNB.fit(x, y, n_classes=1)
    model = c.BernoulliNB.fit(x, y)
    with pytest.raises(ValueError, match="pixels"):
        model.log_joint(_binary(3, 5))
    with pytest.raises(ValueError, match="mask"):
        model.log_joint(x, torch.ones(10, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"\(2,\)\*P"):
        c.sample_joint_table(torch.ones(3, 3) / 9, 5)
    with pytest.raises(ValueError, match="0, 1 or -1"):
        c.pixel_marginals(torch.ones(2, 2) / 4, torch.tensor([2, 0]))
    with pytest.raises(ValueError, match="frac_missing"):
        c.random_mask((2, 2), 1.5)
    with pytest.raises(ValueError, match="every class"):
        c.fit_logistic_regression(x, torch.zeros(10, dtype=torch.long), n_classes=2)


# ---------------------------------------------------------------- exercises
def _wrong_nb_no_smoothing(x, y, n_classes, alpha=1.0):
    log_prior, _ = c.fit_bernoulli_nb(x, y, n_classes, alpha)
    onehot = torch.nn.functional.one_hot(y, n_classes).to(x.dtype)
    return log_prior, (onehot.T @ x) / onehot.sum(0)[:, None]


def _wrong_nb_denominator(x, y, n_classes, alpha=1.0):
    log_prior, _ = c.fit_bernoulli_nb(x, y, n_classes, alpha)
    onehot = torch.nn.functional.one_hot(y, n_classes).to(x.dtype)
    return log_prior, (onehot.T @ x + alpha) / (onehot.sum(0)[:, None] + alpha)


def _wrong_nb_uniform_prior(x, y, n_classes, alpha=1.0):
    _, theta = c.fit_bernoulli_nb(x, y, n_classes, alpha)
    return torch.full((n_classes,), -math.log(n_classes)), theta


@pytest.mark.parametrize("name, wrongs", [
    ("classic.fit_bernoulli_nb", [_wrong_nb_no_smoothing, _wrong_nb_denominator, _wrong_nb_uniform_prior]),
    ("classic.log_posterior", [
        lambda lj: lj - torch.log(torch.exp(lj).sum(1, keepdim=True)),     # no max trick: underflows
        lambda lj: lj - torch.logsumexp(lj, dim=0, keepdim=True),           # normalises over examples
        lambda lj: torch.softmax(lj, dim=1),                                # probabilities, not logs
    ]),
    ("classic.condition_table", [
        lambda t, o: t[tuple(slice(None) if int(v) < 0 else int(v) for v in o)],   # not normalised
        lambda t, o: t[tuple(slice(None) if int(v) < 0 else 1 - int(v) for v in o)] /
        t[tuple(slice(None) if int(v) < 0 else 1 - int(v) for v in o)].sum(),       # flips the evidence
        lambda t, o: t.sum(dim=tuple(i for i, v in enumerate(o) if int(v) >= 0)),  # marginal, not conditional
    ]),
])
def test_exercise_checkers_pass_reference_and_fail_wrong_versions(name, wrongs):
    ref = getattr(c, name.split(".")[1])
    assert ex.evaluate(name, ref).passed
    for wrong in wrongs:
        verdict = ex.evaluate(name, wrong)
        assert not verdict.passed, f"{name} accepted a wrong version"
    assert not ex.evaluate(name, lambda *a, **k: (_ for _ in ()).throw(NotImplementedError())).passed


# ---------------------------------------------------------------- real data
def test_naive_bayes_and_logistic_regression_on_digits():
    import genmodels_course as gm

    x, y = gm.data.load_digits(device="cpu")
    xb = (x.flatten(1) > 0.5).float()
    nb = c.BernoulliNB.fit(xb[:1000], y[:1000], 10)
    lr = c.fit_logistic_regression(xb[:1000], y[:1000], 10)
    acc_nb = (nb.predict(xb[1000:]) == y[1000:]).float().mean().item()
    acc_lr = (lr.predict(xb[1000:]) == y[1000:]).float().mean().item()
    assert acc_nb > 0.8 and acc_lr > 0.8


def test_mnist_digits_are_more_likely_than_fashion_under_a_digit_model(data_available):
    import genmodels_course as gm
    from sklearn.metrics import roc_auc_score

    x, y = gm.data.load_mnist(train=True, n=3000, device="cpu")
    xt, _ = gm.data.load_mnist(train=False, n=500, device="cpu")
    xf, _ = gm.data.load_fashion_mnist(train=False, n=500, device="cpu")
    b = lambda z: gm.data.binarize_static(z)  # noqa: E731
    model = c.BernoulliNB.fit(b(x), y, 10)
    scores = torch.cat([model.log_prob(b(xt)), model.log_prob(b(xf))]).numpy()
    labels = np.r_[np.ones(500), np.zeros(500)]
    assert roc_auc_score(labels, scores) > 0.9


def test_ng_jordan_fitters_are_the_two_classifiers():
    y = torch.arange(60) % 3
    x = _binary(60, 6, seed=21).float()
    fitters = c.ng_jordan_fitters(3, alpha=0.5, C=10.0, max_iter=50)
    assert list(fitters) == ["naive Bayes", "logistic regression"]
    nb, lr = c.BernoulliNB.fit(x, y, 3, alpha=0.5), c.fit_logistic_regression(x, y, 3, C=10.0, max_iter=50)
    assert torch.equal(fitters["naive Bayes"](x, y)(x), nb.predict(x))
    assert torch.equal(fitters["logistic regression"](x, y)(x), lr.predict(x))
    res = c.learning_curves(fitters, x, y, x, y, [6, 30], [0], 3)
    assert set(res) == set(fitters) and all(v.shape == (1, 2) for v in res.values())
