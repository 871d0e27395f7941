"""The sizes of every chapter's experiments, in one place.

Each chapter's notebook and its benchmark script (``benchmarks/NN_*.py``) read the same
function here, so the two cannot drift apart::

    cfg = gm.settings.vae()                          # a notebook: the active profile
    s = settings.vae(profile="cpu", benchmark=True)  # a benchmark: a named profile

A function returns :func:`runtime.pick` of its profile (``None``: the active one): a
:class:`runtime.Settings`, a dict whose keys read as attributes. ``cpu`` is the base that
``quick`` and ``gpu`` override key by key, and every profile has the same keys.

``benchmark=True`` applies, on top, what the benchmark measures beyond the notebook's time
budget (a longer gpu run, more samples for a distance, more seeds for a mean); the
``_BENCHMARK`` dict of each chapter lists exactly those differences and why.
"""
from __future__ import annotations

from . import runtime
# the sizes of the shipped models (weights=True), kept apart from the profiles
from ._shipped_sizes import (_CLIP_WEIGHTS, _DIFFUSION_WEIGHTS, _FLOWS_WEIGHTS, _GAN_WEIGHTS,
                             _P2P_WEIGHTS, _VAE_WEIGHTS)

__all__ = ["tour", "classic", "latent", "vae", "flows", "gan", "translation", "diffusion",
           "clip", "evaluation", "CHAPTERS"]


def _chapter(profile: str | None, benchmark: bool, overrides: dict | None,
             shipped: dict | None, settings: runtime.Settings) -> runtime.Settings:
    """Apply a chapter's benchmark overrides (exactly the named profile's, no cpu base),
    then, where ``shipped`` is given, the sizes of its shipped weights."""
    if benchmark and overrides:
        settings.update(overrides[profile or runtime.profile()])
    settings.update(shipped or {})
    return settings


def tour(profile: str | None = None, benchmark: bool = False) -> runtime.Settings:
    """Chapter 0 (``notebooks/00_tour.ipynb``): an MLP classifier on MNIST."""
    return _chapter(profile, benchmark, None, None, runtime.pick(
        quick=dict(n_train=2_000, steps=150),
        cpu=dict(n_train=20_000, steps=1_500),
        gpu=dict(n_train=None, steps=3_000),  # None: the whole training set
        batch_size=128,
        lr=1e-3,
        seed=0,
        profile=profile,
    ))


def classic(profile: str | None = None, benchmark: bool = False) -> runtime.Settings:
    """Chapter 1 (``01_discriminative_vs_generative``): naive Bayes vs logistic regression.

    ``mnist_sizes``, ``digits_sizes``: the training-set sizes of the learning curves,
    each averaged over ``seeds``; ``missing``: the fractions of hidden test pixels.
    """
    return _chapter(profile, benchmark, None, None, runtime.pick(
        quick=dict(n_train=3_000, n_test=1_000, mnist_sizes=[10, 30, 100, 300, 1_000],
                   digits_sizes=[10, 30, 100, 300, 1_000], seeds=[0, 1], lr_iter=100),
        cpu=dict(n_train=20_000, n_test=5_000,
                 mnist_sizes=[10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000],
                 digits_sizes=[10, 20, 40, 80, 160, 320, 640, 1_000], seeds=[0, 1, 2], lr_iter=100),
        gpu=dict(n_train=None, n_test=None,
                 mnist_sizes=[10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000],
                 digits_sizes=[10, 20, 40, 80, 160, 320, 640, 1_000], seeds=[0, 1, 2, 3, 4],
                 lr_iter=100),
        alpha=1.0,  # Laplace smoothing of naive Bayes
        C=100.0,  # inverse L2 strength of logistic regression: weak, close to plain maximum likelihood
        missing=[0.0, 0.25, 0.5, 0.75, 0.9, 0.95],
        seed=0,
        profile=profile,
    ))


def latent(profile: str | None = None, benchmark: bool = False) -> runtime.Settings:
    """Chapter 2 (``02_latent_variables``): PCA, pPCA, factor analysis, mixtures, autoencoders.

    ``pca_k_max``: components of the PCA curves; ``ppca_qs``: the latent sizes of the pPCA
    likelihood curve; ``fa_q``, ``fa_iters``: factor analysis; ``gmm_ks``, ``gmm_iters``,
    ``gmm_dim``: the mixtures (EM on a ``gmm_dim``-D PCA projection); ``ae_z``/``ae_steps``:
    the 2-D autoencoder; ``dae_*``: the denoising autoencoder (noise ``dae_sigma``, masked
    share ``dae_mask``); ``bench_z``: the latent sizes that the benchmark compares;
    ``min_pixel_std``: pixels that vary less are left out of the density comparisons.
    """
    return _chapter(profile, benchmark, None, None, runtime.pick(
        quick=dict(n_train=2_000, n_test=500, hidden=(256,), ae_steps=300, dae_steps=300,
                   vae_steps=300, fa_iters=20, gmm_ks=(1, 2, 5, 10), gmm_iters=25,
                   n_samples=500, nmf_n=1_000),
        cpu=dict(n_train=15_000, n_test=2_000, hidden=(512, 256), ae_steps=2_000,
                 dae_steps=1_200, vae_steps=1_200, fa_iters=60, gmm_ks=(1, 2, 5, 10, 20, 40),
                 gmm_iters=60, n_samples=2_000, nmf_n=5_000),
        gpu=dict(n_train=None, n_test=10_000, hidden=(512, 256), ae_steps=8_000,
                 dae_steps=5_000, vae_steps=6_000, fa_iters=200,
                 gmm_ks=(1, 2, 5, 10, 20, 40, 80), gmm_iters=150, n_samples=5_000,
                 nmf_n=10_000),
        seed=0, batch_size=128, lr=1e-3, threshold=0.9, pca_k_max=100, ae_z=2, dae_z=32,
        dae_sigma=0.5, dae_mask=0.25, gmm_dim=20, ppca_qs=(1, 2, 5, 10, 20, 50), fa_q=10,
        nmf_k=16, bench_z=(2, 8, 32), min_pixel_std=0.1,
        profile=profile,
    ))


_VAE_BENCHMARK = {
    # nll_k: importance samples of the benchmark's test NLL (-L_K on the first iwae_n test
    # images); the gpu value is the protocol of Burda et al. (2016), K = 5,000. The gpu run
    # trains 60k steps (about 256 epochs) instead of 20k: no 3-minute budget, a <= 90 nats target.
    "quick": dict(nll_k=100),
    "cpu": dict(nll_k=1_000),
    "gpu": dict(nll_k=5_000, main_steps=60_000),
}


def vae(profile: str | None = None, benchmark: bool = False,
        weights: bool = False) -> runtime.Settings:
    """Chapter 3 (``03_elbo_vae``): a VAE on dynamically binarised MNIST.

    ``weights=True``: the sizes of the shipped model instead (``_VAE_WEIGHTS``).
    ``main_steps``: the main model; ``side_*``: the small models of the latent-space, beta
    and collapse experiments; ``gauss_steps``: each Gaussian-decoder VAE of section 3.11
    (``side_hidden`` wide); ``iwae_ks``: the K of the IWAE bounds, on ``iwae_n`` test images.
    """
    return _chapter(profile, benchmark, _VAE_BENCHMARK,
                    _VAE_WEIGHTS if weights else None, runtime.pick(
        quick=dict(n_train=3_000, n_test=300, main_steps=300, hidden=(256,), z_dim=16,
                   side_steps=120, side_hidden=(128,), betas=(0.25, 1.0, 4.0),
                   iwae_ks=(1, 10, 100), iwae_n=100, free_bits=0.25, gauss_steps=400),
        cpu=dict(n_train=None, n_test=2_000, main_steps=1_500, hidden=(400,), z_dim=32,
                 side_steps=500, side_hidden=(256,), betas=(0.25, 0.5, 1.0, 2.0, 4.0),
                 iwae_ks=(1, 10, 100, 1000), iwae_n=300, free_bits=0.25,
                 gauss_steps=1_500),
        gpu=dict(n_train=None, n_test=10_000, main_steps=20_000, hidden=(512, 256), z_dim=32,
                 batch=256, side_steps=3_000, side_hidden=(400,), betas=(0.25, 0.5, 1.0, 2.0, 4.0),
                 iwae_ks=(1, 10, 100, 1000), iwae_n=10_000, free_bits=0.25,
                 gauss_steps=5_000),
        batch=128,
        lr=1e-3,
        lr_final_frac=0.0,  # > 0: the last fraction of the steps at lr / 10
        collapse_z=32,
        collapse_beta=4.0,
        seed=0,
        profile=profile,
    ))


def flows(profile: str | None = None, benchmark: bool = False,
          weights: bool = False) -> runtime.Settings:
    """Chapter 4 (``04_autoregressive_flows``): PixelCNN, RealNVP, an energy-based model.

    ``pcnn_*``: the PixelCNN on binarised MNIST (``n_train`` images, ``n_test`` for its
    test NLL, ``n_sample`` images drawn pixel by pixel); ``flow2d_*``: the RealNVP on two
    moons; ``mflow_*``: the RealNVP on dequantised MNIST (``mflow_steps = 0`` skips it);
    ``ebm_*``: the energy MLP trained by contrastive divergence with ``langevin_steps``
    Langevin steps per training step; ``glow_*``: the multi-scale flow (``gm.glow``).
    ``weights=True``: the sizes of the shipped PixelCNN instead (``_FLOWS_WEIGHTS``).
    """
    return _chapter(profile, benchmark, _FLOWS_BENCHMARK,
                    _FLOWS_WEIGHTS if weights else None, runtime.pick(
        quick=dict(n_train=2_000, n_test=200, pcnn_channels=16, pcnn_layers=2,
                   pcnn_steps=100, batch=32, n_sample=2, flow2d_steps=300,
                   mflow_steps=40, mflow_layers=4, mflow_hidden=128, ebm_steps=100,
                   langevin_steps=15, glow_steps=30),
        cpu=dict(n_train=20_000, n_test=1_000, pcnn_channels=32, pcnn_layers=3,
                 pcnn_steps=800, batch=32, n_sample=4, flow2d_steps=2_000,
                 mflow_steps=800, mflow_layers=6, mflow_hidden=256, ebm_steps=500,
                 langevin_steps=30, glow_steps=400),
        gpu=dict(n_train=None, n_test=10_000, pcnn_channels=64, pcnn_layers=6,
                 pcnn_steps=4_000, batch=64, n_sample=16, flow2d_steps=5_000,
                 mflow_steps=6_000, mflow_layers=8, mflow_hidden=512, ebm_steps=1_500,
                 langevin_steps=40, glow_steps=8_000),
        lr=1e-3,
        glow_levels=2, glow_depth=8, glow_hidden=64, glow_batch=64,  # the multi-scale flow
        flow2d_layers=8,
        flow2d_hidden=64,
        flow2d_batch=256,
        flow2d_lr=3e-3,  # the small 2-D flow trains faster at a larger step
        n_moons=4_000,
        ebm_hidden=128,
        ebm_batch=256,
        langevin_step_size=0.01,
        ebm_buffer=1_000,  # persistent Langevin chains of the replay buffer
        seed=0,
        profile=profile,
    ))


_FLOWS_BENCHMARK = {
    # n_test: the benchmark's test NLL uses more of the test set than the notebook
    "quick": dict(n_test=500),
    "cpu": dict(n_test=2_000),
    "gpu": dict(n_test=10_000),
}


_GAN_BENCHMARK = {
    # seeds: the comparison is a mean over an ensemble of seeds (5, as the PacGAN table);
    # best_*: the long run of the best method (WGAN-GP), held to the chapter's target;
    # the gpu comparison runs 10k steps, as long as its best run (which then reuses it);
    # n_fd: the quick profile measures a Frechet distance too (the notebook skips it).
    "quick": dict(seeds=2, best_steps=100, best_hidden=64, n_fd=500),
    "cpu": dict(seeds=5, best_steps=8_000, best_hidden=256),
    "gpu": dict(seeds=5, best_steps=10_000, best_hidden=256, cmp_steps=10_000),
}


def gan(profile: str | None = None, benchmark: bool = False,
        weights: bool = False) -> runtime.Settings:
    """Chapter 5 (``05_minimax_gans``): GANs on 2-D mixtures and a DCGAN on MNIST.

    ``steps_2d``: the first GAN on the ring; ``cmp_steps``: each run of the comparison of
    remedies; ``seeds``: independent GANs trained side by side (an ensemble) in the
    comparison; ``n_fd``: images per Frechet distance (0: skipped); ``probe_sizes``: the
    labelled images of each linear probe on the discriminator's features, ``probe_test``:
    the test images it is scored on; ``n_shipped``: samples drawn from the shipped DCGAN.
    ``weights=True``: the sizes of the shipped DCGAN instead (``_GAN_WEIGHTS``).
    """
    return _chapter(profile, benchmark, _GAN_BENCHMARK,
                    _GAN_WEIGHTS if weights else None, runtime.pick(
        quick=dict(steps_2d=200, hidden=64, batch_size=128, sweep_steps=100, cmp_steps=100,
                   seeds=1, d_only_steps=40, dcgan_steps=40, width=16, n_train=2_000, n_fd=0,
                   probe_sizes=(100,), probe_test=500, n_shipped=200),
        cpu=dict(steps_2d=2_000, hidden=128, batch_size=256, sweep_steps=1_000, cmp_steps=1_500,
                 seeds=1, d_only_steps=300, dcgan_steps=500, width=32, n_train=20_000, n_fd=2_000,
                 probe_sizes=(100, 1_000), probe_test=5_000, n_shipped=2_000),
        gpu=dict(steps_2d=2_500, hidden=256, batch_size=256, sweep_steps=1_000, cmp_steps=3_000,
                 seeds=5, d_only_steps=500, dcgan_steps=3_000, width=64, n_train=None, n_fd=10_000,
                 probe_sizes=(100, 1_000), probe_test=10_000, n_shipped=2_000),
        z_dim_2d=2,
        z_dim=64,
        seed=0,
        profile=profile,
    ))


def translation(profile: str | None = None, benchmark: bool = False,
                weights: bool = False) -> runtime.Settings:
    """Chapter 6 (``06_pix2pix_cyclegan``): Pix2Pix on facades, CycleGAN on MNIST <-> USPS.

    ``p2p_*``: each Pix2Pix run of the ablation (five: L1, MSE, cGAN, L1 + cGAN, L1 + cGAN
    without skips) on ``n_facades`` training pairs of ``size`` pixels, scored on ``n_test``
    test pairs; ``cyc_*``: the CycleGAN between ``n_mnist`` MNIST and all 7,291 USPS
    training digits (resized to ``usps_box`` and centred in 28 x 28); ``clf_steps``: each digit classifier (source only,
    translated, target) scored on the 2,007 USPS test digits (``lam_sem``: the weight of (6.10)
    in the second CycleGAN); ``dn_*``: the denoising experiment (Pix2Pix on ``dn_n``
    noisy/clean pairs, CycleGAN on ``dn_n`` noisy and ``dn_n`` other clean digits);
    ``n_shipped``: test label maps that the shipped Pix2Pix translates in the notebook.
    ``weights=True``: the sizes of the shipped Pix2Pix instead (``_P2P_WEIGHTS``).
    """
    return _chapter(profile, benchmark, None, _P2P_WEIGHTS if weights else None, runtime.pick(
        quick=dict(size=32, n_facades=64, n_test=16, p2p_steps=15, p2p_width=8, p2p_depth=4,
                   p2p_d_layers=1, p2p_batch=8, n_mnist=1_000, n_usps=1_000, cyc_steps=15,
                   cyc_width=8, cyc_batch=16, clf_steps=20, dn_n=500, dn_steps=10, n_shipped=8),
        cpu=dict(size=64, n_facades=400, n_test=106, p2p_steps=150, p2p_width=16, p2p_depth=5,
                 p2p_d_layers=2, p2p_batch=16, n_mnist=10_000, n_usps=None, cyc_steps=1_000,
                 cyc_width=16, cyc_batch=32, clf_steps=1_500, dn_n=3_000, dn_steps=200, n_shipped=106),
        gpu=dict(size=128, n_facades=400, n_test=106, p2p_steps=1_500, p2p_width=32, p2p_depth=5,
                 p2p_d_layers=3, p2p_batch=16, n_mnist=None, n_usps=None, cyc_steps=3_000,
                 cyc_width=32, cyc_batch=64, clf_steps=1_500, dn_n=20_000, dn_steps=2_000, n_shipped=106),
        lam=100.0,  # Pix2Pix: weight of the pixel loss (Isola et al.)
        lam_cyc=10.0, lam_sem=1.0,  # CycleGAN: the cycle weight of Zhu et al.; CyCADA's (6.10)
        usps_box=28,  # USPS resized to fill 28 x 28 (20: framed as MNIST's digits)
        lam_id=1.0,  # the identity weight: weaker than the paper's lam_cyc / 2 (see the notebook)
        cyc_lr=1e-3,  # CycleGAN's Adam learning rate: 5x the paper's, for runs of minutes
        dn_sigma=0.4,  # denoising: std of the Gaussian noise added to MNIST in [0, 1]
        seed=0, profile=profile,
    ))


_DIFFUSION_BENCHMARK = {
    # n_ddpm: the benchmark measures DDPM-1000's Frechet distance, which needs more samples
    # than the notebook draws; the gpu run trains 10x longer with the smaller learning rate
    # and slower EMA of Ho et al. (2020), and measures on the whole MNIST test set.
    "quick": dict(n_ddpm=16),
    "cpu": dict(n_ddpm=20),
    "gpu": dict(n_ddpm=10_000, n_fd=10_000, img_steps=30_000, img_lr=2e-4, ema_decay=0.9995),
}


def diffusion(profile: str | None = None, benchmark: bool = False,
              weights: bool = False) -> runtime.Settings:
    """Chapter 7 (``07_diffusion``): DDPM and DDIM on a swiss roll, MNIST and Fashion-MNIST.

    ``roll_*``: the 2-D model; ``img_*``: the U-Net on MNIST; ``n_ddpm``, ``n_fd``: samples
    drawn with DDPM (1000 steps) and with DDIM (for the Frechet distances); ``n_shipped``:
    DDIM-50 samples drawn from the shipped U-Net; ``vae_steps``,
    ``gan_*``, ``latent_steps``: the models of the comparison table.
    ``weights=True``: the sizes of the shipped U-Net instead (``_DIFFUSION_WEIGHTS``).
    """
    return _chapter(profile, benchmark, _DIFFUSION_BENCHMARK,
                    _DIFFUSION_WEIGHTS if weights else None, runtime.pick(
        quick=dict(roll_steps=1_500, roll_batch=256, roll_n_samples=500, roll_ema=0.98,
                   img_n_train=2_000, img_channels=(8, 16, 16), img_t_dim=32, img_steps=25,
                   img_batch=16, fashion_steps=10, n_ddpm=1, n_fd=32, n_shipped=16, fashion_fd=False,
                   vae_steps=150, gan_steps=30, gan_width=16, latent_steps=400, ema_decay=0.9),
        cpu=dict(roll_steps=3_000, roll_batch=256, roll_n_samples=1_000, roll_ema=0.995,
                 img_n_train=20_000, img_channels=(16, 32, 32), img_t_dim=64, img_steps=150,
                 img_batch=32, fashion_steps=40, n_ddpm=2, n_fd=100, n_shipped=300, fashion_fd=False,
                 vae_steps=1_000, gan_steps=200, gan_width=32, latent_steps=1_500, ema_decay=0.95),
        gpu=dict(roll_steps=5_000, roll_batch=512, roll_n_samples=4_000, roll_ema=0.995,
                 img_n_train=None, img_channels=(64, 128, 128), img_t_dim=256, img_steps=3_000,
                 img_batch=128, fashion_steps=1_000, n_ddpm=1_000, n_fd=2_000, n_shipped=2_000, fashion_fd=True,
                 vae_steps=3_000, gan_steps=2_000, gan_width=64, latent_steps=4_000,
                 ema_decay=0.999),
        T=1000,
        lr=2e-3,
        img_lr=1e-3,
        seed=0,
        profile=profile,
    ))


_CLIP_BENCHMARK = {
    # sweep_n: the benchmark scores each guidance scale on more samples per digit than
    # the notebook draws (the agreement and the Frechet distance are noisy at 10-20).
    "quick": dict(sweep_n=10),
    "cpu": dict(sweep_n=50),
    "gpu": dict(sweep_n=200),
}


def clip(profile: str | None = None, benchmark: bool = False,
         weights: bool = False) -> runtime.Settings:
    """Chapter 8 (``08_clip_conditioned_diffusion``): a small CLIP on captioned MNIST and
    Fashion-MNIST, a latent autoencoder and a text-conditioned latent diffusion model.

    ``n_train``/``n_test``: images from each data set; ``clip_*``: the contrastive model;
    ``ae_*``: the autoencoder to ``latent_channels`` x 7 x 7; ``ldm_*``: the FiLM denoiser
    on the latents; ``p_uncond``: condition dropout; ``sweep_ws``: the guidance scales of
    the sweep, each on ``sweep_n`` samples per digit; ``pix_*``: the pixel-space U-Net
    (``benchmarks/08_... --denoiser pixel``); ``curve_every``/``curve_n``: the benchmark's
    learning curve (agreement at w = 3 on ``curve_n`` samples per digit); ``heldout``: (class, attribute, code)
    combinations removed from every training set (section 8.7).
    ``weights=True``: the sizes of the shipped models instead (``_CLIP_WEIGHTS``).
    """
    return _chapter(profile, benchmark, _CLIP_BENCHMARK,
                    _CLIP_WEIGHTS if weights else None, runtime.pick(
        quick=dict(n_train=1_500, n_test=500, clip_steps=60, ae_steps=80, ldm_steps=150,
                   ldm_width=32, ldm_blocks=3, sweep_ws=(0.0, 1.0, 3.0), sweep_n=8,
                   ddim_steps=15, n_compose=16, ema_decay=0.9, pix_steps=30, curve_every=150,
                   curve_n=2),
        cpu=dict(n_train=10_000, n_test=2_000, clip_steps=500, ae_steps=600, ldm_steps=3_000,
                 ldm_width=48, ldm_blocks=4, sweep_ws=(0.0, 1.0, 2.0, 3.0, 5.0), sweep_n=20,
                 ddim_steps=25, n_compose=50, ema_decay=0.99, pix_steps=1_000, curve_every=1_000,
                 curve_n=5),
        gpu=dict(n_train=None, n_test=10_000, clip_steps=3_000, ae_steps=3_000,
                 ldm_steps=8_000, ldm_width=96, ldm_blocks=4,
                 sweep_ws=(0.0, 1.0, 2.0, 3.0, 5.0, 8.0), sweep_n=100, ddim_steps=50,
                 n_compose=200, ema_decay=0.999, pix_steps=8_000, curve_every=1_000,
                 curve_n=20),
        clip_batch=128, image_width=16, embed_dim=64, text_width=64, text_layers=2, length=12,
        ae_batch=64, ae_width=16, latent_channels=4, ldm_batch=64,
        pix_channels=(16, 32, 32),  # the pixel-space U-Net: chapter 7's cpu size
        pix_t_dim=64, pix_batch=64, p_uncond=0.1, T=1000, lr=1e-3,
        heldout=((7, "thickness", 1), (18, "shade", 1)), seed=0, profile=profile,
    ))


#: the benchmark scores every shipped model on more samples than the notebook can afford
_EVALUATION_BENCHMARK = {"quick": {}, "cpu": dict(n=5_000, n_slow=1_000, n_pixelcnn=100),
                         "gpu": dict(n=10_000, n_slow=10_000, n_pixelcnn=1_000)}


def evaluation(profile: str | None = None, benchmark: bool = False) -> runtime.Settings:
    """Chapter 9 (``09_evaluating_generative_models``): ``n`` samples of the fast models and
    real images per set; ``n_slow`` DDIM-50 samples of the U-Net; ``n_pixelcnn`` PixelCNN
    samples (784 passes each); ``n_nll`` test images for likelihoods; ``sizes``/``repeats``:
    the bias curves; ``sweep_levels``: the metric sweep; ``n_toy``: the 2-D example."""
    return _chapter(profile, benchmark, _EVALUATION_BENCHMARK, None, runtime.pick(
        quick=dict(n=200, n_slow=32, n_pixelcnn=5, n_nll=200, sizes=(25, 50, 100, 200),
                   repeats=2, sweep_levels=3, n_toy=500),
        cpu=dict(n=2_000, n_slow=500, n_pixelcnn=24, n_nll=2_000,
                 sizes=(25, 50, 100, 250, 500, 1_000, 2_000), repeats=3, sweep_levels=6, n_toy=2_000),
        gpu=dict(n=10_000, n_slow=5_000, n_pixelcnn=500, n_nll=10_000, repeats=5, sweep_levels=8,
                 sizes=(25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000), n_toy=5_000),
        kid_subset=1_000, kid_subsets=50, k=3, copy_quantile=0.01, mixture_weight=0.01,
        seed=0, profile=profile,
    ))


#: notebook (and benchmark) file stem -> the name of its function here
CHAPTERS = {"00_tour": "tour", "01_discriminative_vs_generative": "classic",
            "02_latent_variables": "latent", "03_elbo_vae": "vae", "04_autoregressive_flows": "flows",
            "05_minimax_gans": "gan", "06_pix2pix_cyclegan": "translation",
            "07_diffusion": "diffusion", "08_clip_conditioned_diffusion": "clip",
            "09_evaluating_generative_models": "evaluation"}
