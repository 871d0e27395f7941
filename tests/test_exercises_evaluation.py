"""Chapter 9's checkers pass their references and fail known-wrong versions."""
import numpy as np
import scipy.linalg
import torch

from genmodels_course import evaluation, exercises, metrics

from exercise_helpers import fails, passes  # tests/exercise_helpers.py


def test_names_are_registered():
    names = exercises.names()
    for n in ("frechet_distance", "mmd2_unbiased", "precision"):
        assert f"evaluation.{n}" in names


# ---------------------------------------------------------------- Frechet distance
def test_frechet_distance_checker():
    name = "evaluation.frechet_distance"
    passes(name, evaluation.gaussian_frechet_distance)

    def with_scipy(mu1, cov1, mu2, cov2):  # the route of pytorch-fid: a float, not a tensor
        cross = scipy.linalg.sqrtm(cov1.numpy() @ cov2.numpy()).real
        return float(((mu1 - mu2) ** 2).sum() + torch.trace(cov1) + torch.trace(cov2) - 2 * np.trace(cross))

    passes(name, with_scipy)

    def root(c):
        w, v = torch.linalg.eigh(c)
        return (v * w.clamp_min(0).sqrt()) @ v.T

    def entrywise_sqrt(mu1, cov1, mu2, cov2):  # sqrt of the entries, not of the matrix
        return (mu1 - mu2).pow(2).sum() + torch.trace(cov1 + cov2 - 2 * (cov1 * cov2).abs().sqrt())

    def product_of_roots(mu1, cov1, mu2, cov2):  # C1^{1/2} C2^{1/2}: right only when they commute
        return (mu1 - mu2).pow(2).sum() + torch.trace(cov1 + cov2 - 2 * root(cov1) @ root(cov2))

    def no_factor_two(mu1, cov1, mu2, cov2):
        cross = torch.trace(root(root(cov1) @ cov2 @ root(cov1)))
        return (mu1 - mu2).pow(2).sum() + torch.trace(cov1) + torch.trace(cov2) - cross

    def no_mean_term(mu1, cov1, mu2, cov2):
        return evaluation.gaussian_frechet_distance(mu1, cov1, mu1, cov2)

    for wrong in (entrywise_sqrt, product_of_roots, no_factor_two, no_mean_term):
        fails(name, wrong, "should be")
    fails(name, lambda *a: evaluation.gaussian_frechet_distance(*a).expand(3), "one number")


# ---------------------------------------------------------------- MMD
def test_mmd2_unbiased_checker():
    name = "evaluation.mmd2_unbiased"
    passes(name, evaluation.mmd2_unbiased)

    def with_masks(a, b, kernel):  # a different but right way: means over off-diagonal masks
        off_a, off_b = ~torch.eye(len(a), dtype=torch.bool), ~torch.eye(len(b), dtype=torch.bool)
        return kernel(a, a)[off_a].mean() + kernel(b, b)[off_b].mean() - 2 * kernel(a, b).mean()

    passes(name, with_masks)

    def biased(a, b, kernel):  # the diagonal kept: V-statistic
        return kernel(a, a).mean() + kernel(b, b).mean() - 2 * kernel(a, b).mean()

    def no_two(a, b, kernel):
        n, m = len(a), len(b)
        kaa, kbb = kernel(a, a), kernel(b, b)
        return ((kaa.sum() - kaa.trace()) / (n * (n - 1)) + (kbb.sum() - kbb.trace()) / (m * (m - 1))
                - kernel(a, b).mean())

    def divides_by_n_squared(a, b, kernel):  # diagonal removed, but averaged over n^2 pairs
        kaa, kbb = kernel(a, a), kernel(b, b)
        return ((kaa.sum() - kaa.trace()) / len(a) ** 2 + (kbb.sum() - kbb.trace()) / len(b) ** 2
                - 2 * kernel(a, b).mean())

    for wrong in (biased, no_two, divides_by_n_squared):
        fails(name, wrong, "should be")
    assert "raised" in fails(name, lambda a, b, kernel: kernel(a, b[:, :1]).mean())
    assert "NaN" in fails(name, lambda a, b, kernel: torch.tensor(float("nan"), dtype=torch.float64))
    assert "one number" in fails(name, lambda a, b, kernel: kernel(a, a).sum(1))


# ---------------------------------------------------------------- precision
def test_precision_checker():
    name = "evaluation.precision"
    passes(name, evaluation.precision)
    passes(name, lambda real, fake, k=3: metrics.precision_recall(real, fake, k)[0])  # a float is fine

    def itself_a_neighbour(real, fake, k=3):  # the zero distance to itself counted: radii too small
        radii = torch.cdist(real, real).topk(k, dim=1, largest=False).values[:, k - 1]
        return (torch.cdist(fake, real) <= radii).any(1).double().mean()

    def fake_radii(real, fake, k=3):  # balls around the fakes, of the fakes' k-NN radii
        radii = torch.cdist(fake, fake).topk(k + 1, dim=1, largest=False).values[:, k]
        return (torch.cdist(fake, real) <= radii[:, None]).any(1).double().mean()

    def all_balls(real, fake, k=3):  # inside every ball instead of at least one
        radii = torch.cdist(real, real).topk(k + 1, dim=1, largest=False).values[:, k]
        return (torch.cdist(fake, real) <= radii).all(1).double().mean()

    for wrong in (itself_a_neighbour, fake_radii, all_balls):
        fails(name, wrong, "should be")
    assert "raised" in fails(name, lambda real, fake, k=3: 1 / 0)
    assert "one number" in fails(name, lambda real, fake, k=3: torch.zeros(len(fake)))


def test_solutions_print_the_references(capsys):
    for name, text in [("evaluation.frechet_distance", "def gaussian_frechet_distance"),
                       ("evaluation.mmd2_unbiased", "def mmd2_unbiased"),
                       ("evaluation.precision", "def precision")]:
        exercises.solution(name)
        assert text in capsys.readouterr().out


def test_check_prints_the_hint_and_returns_the_reference(capsys):
    def not_done(a, b, kernel):
        raise NotImplementedError

    assert exercises.check("evaluation.mmd2_unbiased", not_done) is evaluation.mmd2_unbiased
    out = capsys.readouterr().out
    assert "not implemented yet" in out and "Hint:" in out
