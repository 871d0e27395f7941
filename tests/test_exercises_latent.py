"""Chapter 2's checkers pass their references and fail known-wrong versions."""
import torch
import torch.nn.functional as F

from genmodels_course import autoencoders as ae
from genmodels_course import exercises, latent, mixtures

from exercise_helpers import fails, passes  # tests/exercise_helpers.py


def test_names_are_registered():
    names = exercises.names()
    for n in ("latent.pca", "latent.ppca_ml", "latent.responsibilities", "latent.corrupt",
              "latent.denoising_loss"):
        assert n in names


def test_pca_checker():
    passes("latent.pca", latent.pca)

    def flipped(x, k):       # a sign flip of a component is still right
        m, c, v = latent.pca(x, k)
        return m, -c, v

    passes("latent.pca", flipped)

    def uncentred(x, k):
        _, s, vt = torch.linalg.svd(x, full_matrices=False)
        return x.mean(0), vt[:k], s[:k] ** 2 / len(x)

    def unbiased(x, k):
        m, c, v = latent.pca(x, k)
        return m, c, v * len(x) / (len(x) - 1)

    def columns_of_u(x, k):
        m = x.mean(0)
        u, s, _ = torch.linalg.svd(x - m, full_matrices=False)
        return m, u[:, :k].T, s[:k] ** 2 / len(x)

    fails("latent.pca", uncentred)
    fails("latent.pca", unbiased, "variances")
    fails("latent.pca", columns_of_u, "components")
    fails("latent.pca", lambda x, k: (_ for _ in ()).throw(NotImplementedError), "not implemented")


def test_ppca_ml_checker():
    passes("latent.ppca_ml", latent.ppca_ml)
    passes("latent.ppca_ml", lambda e, U, q: (U[:, :q] * (e[:q] - e[q:].mean()).sqrt(), e[q:].mean()))
    fails("latent.ppca_ml", lambda e, U, q: (U[:, :q] * e[:q].sqrt(), float(e[q:].mean())))       # forgets - sigma2
    fails("latent.ppca_ml", lambda e, U, q: (U[:, :q] * (e[:q] - e[q:].sum()).clamp(min=0).sqrt(),
                                               float(e[q:].sum())))                              # sum, not mean
    fails("latent.ppca_ml", lambda e, U, q: (U[:, :q] * (e[:q] - e[q:].mean()), float(e[q:].mean())))  # no sqrt


def test_responsibilities_checker():
    passes("latent.responsibilities", mixtures.responsibilities)

    def naive(log_pdf, log_w):
        p = log_pdf.exp() * log_w.exp()
        return p / p.sum(1, keepdim=True)

    msg = fails("latent.responsibilities", naive)
    assert "NaN" in msg or "-1000" in msg
    fails("latent.responsibilities", lambda lp, lw: torch.softmax(lp, dim=1))          # forgets the weights
    fails("latent.responsibilities", lambda lp, lw: torch.softmax(lp + lw, dim=0))     # wrong axis


def test_corrupt_checker():
    passes("latent.corrupt", ae.corrupt)
    fails("latent.corrupt", lambda x, eps, keep, s: keep * (x + s * eps))               # no clamp
    fails("latent.corrupt", lambda x, eps, keep, s: (keep * x + s * eps).clamp(0, 1))   # noise on masked pixels
    fails("latent.corrupt", lambda x, eps, keep, s: keep * (x + s ** 2 * eps).clamp(0, 1))


def test_denoising_loss_checker_compares_gradients():
    passes("latent.denoising_loss", ae.denoising_loss)

    def detached(model, x, eps, keep, s):
        return ae.denoising_loss(model, x, eps, keep, s).detach()

    def rebuilt(model, x, eps, keep, s):     # right number, no graph
        return torch.tensor(ae.denoising_loss(model, x, eps, keep, s).item())

    def noisy_target(model, x, eps, keep, s):
        xt = ae.corrupt(x, eps, keep, s)
        return ae.reconstruction_loss(model(xt), xt)

    def pixel_mean(model, x, eps, keep, s):
        return F.binary_cross_entropy_with_logits(model(ae.corrupt(x, eps, keep, s)), x)

    def clean_input(model, x, eps, keep, s):
        return ae.reconstruction_loss(model(x), x)

    def half_gradient(model, x, eps, keep, s):   # same value, gradient halved
        loss = ae.denoising_loss(model, x, eps, keep, s)
        return 0.5 * loss + 0.5 * loss.detach()

    fails("latent.denoising_loss", detached, "no gradient")
    fails("latent.denoising_loss", rebuilt, "no gradient")
    fails("latent.denoising_loss", noisy_target)
    fails("latent.denoising_loss", pixel_mean)
    fails("latent.denoising_loss", clean_input)
    fails("latent.denoising_loss", half_gradient, "gradient")
