"""Benchmark of chapter 2: latent variables and latent spaces.

Trains the chapter's models with the sizes of ``gm.settings.latent(profile)``
(the same function the notebook reads) and prints ONE JSON line with:

* ``recon_pca_d{d}``, ``recon_ae_d{d}``: test squared error per image of PCA and of an MLP
  autoencoder with the same latent size ``d`` (``bench_z``: 2, 8, 32).
* ``test_ll_ppca``, ``test_ll_fa``, ``test_ll_gmm``: test log-likelihood per image (nats)
  on the same data, the pixels whose training standard deviation exceeds ``min_pixel_std``:
  pPCA and factor analysis with ``fa_q`` factors, and a Gaussian mixture with the best of
  ``gmm_ks`` components (chosen on the test split, as in the notebook) fitted to the
  ``gmm_dim`` PCA codes, with isotropic Gaussian noise (the mean discarded eigenvalue) in
  the orthogonal complement, so that it is a density on the same pixels.
* ``psnr_noisy``, ``psnr_dae``, ``psnr_pca``: denoising PSNR (dB) on corrupted test images
  of the corrupted input, of the denoising autoencoder (code size ``dae_z``), and of the
  PCA projection with ``dae_z`` components.
* ``confident_ae_prior``, ``confident_ae_fitted``, ``confident_vae_prior``,
  ``confident_real``: the fraction of images that the package's MNIST classifier labels
  with probability >= ``threshold``: decoded N(0, I) samples of the 2-D autoencoder, decoded
  samples of the Gaussian fitted to its codes, prior samples of a 2-D VAE (chapter 3's
  model, trained as long as the autoencoder), and real test digits.
* ``continuity_pca``, ``continuity_ae``, ``continuity_vae``: RMS pixel change for a move of
  5% of the code spread (``gm.autoencoders.continuity``), d = 2.
* ``wall_s``: wall time of the whole run.

Usage::

    GENMODELS_DATA=/path/to/data python benchmarks/02_latent_variables.py --profile cpu
"""
from __future__ import annotations

import json
import math
import sys
import time

from _common import setup  # benchmarks/_common.py

from genmodels_course import settings  # the sizes, shared with the notebook


def main(argv=None) -> dict:
    t0 = time.time()
    args, profile, cfg = setup(__doc__.splitlines()[0], settings.latent, argv)
    import torch

    import genmodels_course as gm

    dev = gm.runtime.device()
    steps = cfg["steps"] if "steps" in cfg else None
    x_train, _ = gm.data.load_mnist(train=True, n=cfg["n_train"])
    x_test, _ = gm.data.load_mnist(train=False, n=cfg["n_test"])
    X, X_test = x_train.flatten(1).double().cpu(), x_test.flatten(1).double().cpu()
    result = {"profile": profile, "n_train": len(X), "n_test": len(X_test)}
    batches = gm.data.Batches(x_train, batch_size=cfg["batch_size"], seed=args.seed)

    def train_ae(z_dim, n_steps, step_fn=None, seed=0):
        with gm.runtime.seeded(seed):
            model = gm.autoencoders.Autoencoder(gm.autoencoders.AEConfig(hidden=cfg["hidden"], z_dim=z_dim)).to(dev)
        loss = step_fn(model) if step_fn else (lambda b: gm.autoencoders.reconstruction_loss(model(b[0]), b[0]))
        gm.train.fit(model, loss, batches, optimizer=torch.optim.Adam(model.parameters(), lr=cfg["lr"]),
                     steps=n_steps, progress=False)
        return model.eval()

    # reconstruction: PCA vs autoencoder at equal latent size
    pca = gm.latent.fit_pca(X, max(cfg["bench_z"]))
    models = {}
    for d in cfg["bench_z"]:
        models[d] = train_ae(d, steps or cfg["ae_steps"], seed=args.seed + d)
        rec = models[d].reconstruct(x_test).flatten(1).double().cpu()
        result[f"recon_ae_d{d}"] = round(gm.latent.reconstruction_error(X_test, rec), 3)
        result[f"recon_pca_d{d}"] = round(gm.latent.reconstruction_error(
            X_test, pca.reconstruct(X_test, d).clamp(0, 1)), 3)

    # densities on the same (active) pixels
    active = X.std(0) > cfg["min_pixel_std"]
    Xa, Xa_test = X[:, active], X_test[:, active]
    result["active_pixels"] = int(active.sum())
    result["test_ll_ppca"] = round(gm.latent.fit_ppca(Xa, cfg["fa_q"]).log_prob(Xa_test).mean().item(), 2)
    fa, _ = gm.latent.fit_factor_analysis(Xa, cfg["fa_q"], iters=cfg["fa_iters"])
    result["test_ll_fa"] = round(fa.log_prob(Xa_test).mean().item(), 2)
    k = cfg["gmm_dim"]
    pca_a = gm.latent.fit_pca(Xa, k)
    evals = torch.linalg.eigvalsh(torch.cov(Xa.T, correction=0)).flip(0)
    s2 = float(evals[k:].mean())
    Z, Z_test = pca_a.encode(Xa), pca_a.encode(Xa_test)
    resid = (Xa_test - pca_a.decode(Z_test)).pow(2).sum(1)
    log_noise = -0.5 * ((Xa.shape[1] - k) * math.log(2 * math.pi * s2) + resid / s2)
    best = -math.inf
    for K in cfg["gmm_ks"]:
        mix, _ = gm.mixtures.fit_gmm(Z, K, iters=cfg["gmm_iters"], reg=1e-4,
                                     generator=torch.Generator().manual_seed(args.seed))
        ll = (mix.log_prob(Z_test) + log_noise).mean().item()
        if ll > best:
            best, result["gmm_K"] = ll, K
    result["test_ll_gmm"] = round(best, 2)

    # denoising
    def dae_loss(model):
        g = gm.runtime.generator(args.seed + 8)

        def step(batch):
            eps, keep = gm.autoencoders.corruption_noise(batch[0], cfg["dae_mask"], generator=g)
            return gm.autoencoders.denoising_loss(model, batch[0], eps, keep, cfg["dae_sigma"])
        return step

    dae = train_ae(cfg["dae_z"], steps or cfg["dae_steps"], step_fn=dae_loss, seed=args.seed + 1)
    eps, keep = gm.autoencoders.corruption_noise(x_test, cfg["dae_mask"], generator=gm.runtime.generator(args.seed + 9))
    x_noisy = gm.autoencoders.corrupt(x_test, eps, keep, cfg["dae_sigma"])
    x_pca = pca.reconstruct(x_noisy.flatten(1).double().cpu(), cfg["dae_z"]).clamp(0, 1).float().view_as(x_test).to(dev)
    for name, img in (("noisy", x_noisy), ("dae", dae.reconstruct(x_noisy)), ("pca", x_pca)):
        result[f"psnr_{name}"] = round(gm.autoencoders.psnr(img, x_test).mean().item(), 3)

    # completeness and continuity at d = 2
    ae2 = models[2] if 2 in models else train_ae(2, steps or cfg["ae_steps"])
    with gm.runtime.seeded(args.seed):
        vae = gm.vae.VAE(gm.vae.VAEConfig(z_dim=2, hidden=cfg["hidden"])).to(dev)
    gm.train.fit(vae, gm.vae.make_step(vae, binarize=False, generator=gm.runtime.generator(args.seed + 6)),
                 batches, optimizer=torch.optim.Adam(vae.parameters(), lr=cfg["lr"]),
                 steps=steps or cfg["vae_steps"], progress=False)
    vae.eval()
    g = gm.runtime.generator(args.seed + 4)
    n, thr = cfg["n_samples"], cfg["threshold"]
    conf = gm.autoencoders.confident_fraction
    with torch.no_grad():
        codes = ae2.codes(x_train)
        result["confident_real"] = round(conf(x_test, thr), 4)
        result["confident_ae_prior"] = round(conf(torch.sigmoid(ae2.decode(torch.randn(n, 2, generator=g, device=dev))), thr), 4)
        z_fit = gm.autoencoders.fitted_gaussian_codes(codes, n, generator=g)
        result["confident_ae_fitted"] = round(conf(torch.sigmoid(ae2.decode(z_fit)), thr), 4)
        result["confident_vae_prior"] = round(conf(vae.sample(n, generator=g), thr), 4)
        pca_dec = lambda z: pca.decode(z.cpu().double()).clamp(0, 1).float()  # noqa: E731
        gc = lambda c: torch.Generator(device=c.device).manual_seed(7)  # noqa: E731
        c_pca, c_ae, c_vae = pca.encode(X_test, 2), ae2.codes(x_test), vae.encode(x_test)[0]
        result["continuity_pca"] = round(gm.autoencoders.continuity(pca_dec, c_pca, generator=gc(c_pca)), 5)
        result["continuity_ae"] = round(gm.autoencoders.continuity(
            lambda z: torch.sigmoid(ae2.decode(z)), c_ae, generator=gc(c_ae)), 5)
        result["continuity_vae"] = round(gm.autoencoders.continuity(
            lambda z: torch.sigmoid(vae.decode(z)), c_vae, generator=gc(c_vae)), 5)
    result["device"] = str(dev)
    result["wall_s"] = round(time.time() - t0, 1)
    return result


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
