"""Chapter 2's settings, defined once for its notebook and its benchmark.

``latent_settings()`` returns the active profile's sizes (``gm.runtime.pick``);
``latent_settings("cpu")`` those of a named profile (the benchmark's ``--profile``).
"""
from __future__ import annotations

from . import runtime

COMMON = dict(seed=0, batch_size=128, lr=1e-3, threshold=0.9, pca_k_max=100,
              ae_z=2, dae_z=32, dae_sigma=0.5, dae_mask=0.25, gmm_dim=20,
              ppca_qs=(1, 2, 5, 10, 20, 50), fa_q=10, nmf_k=16, bench_z=(2, 8, 32))
QUICK = dict(n_train=2_000, n_test=500, hidden=(256,), ae_steps=300, dae_steps=300,
             vae_steps=300, fa_iters=20, gmm_ks=(1, 2, 5, 10), gmm_iters=25,
             n_samples=500, min_pixel_std=0.1, nmf_n=1_000)
CPU = dict(n_train=15_000, n_test=2_000, hidden=(512, 256), ae_steps=2_000, dae_steps=1_200,
           vae_steps=1_200, fa_iters=60, gmm_ks=(1, 2, 5, 10, 20, 40), gmm_iters=60,
           n_samples=2_000, min_pixel_std=0.1, nmf_n=5_000)
GPU = dict(n_train=None, n_test=10_000, hidden=(512, 256), ae_steps=8_000, dae_steps=5_000,
           vae_steps=6_000, fa_iters=200, gmm_ks=(1, 2, 5, 10, 20, 40, 80), gmm_iters=150,
           n_samples=5_000, min_pixel_std=0.1, nmf_n=10_000)


def latent_settings(profile: str | None = None) -> runtime.Settings:
    """The settings of ``profile`` ('quick', 'cpu' or 'gpu'; default: the active one)."""
    if profile is None:
        return runtime.pick(quick=QUICK, cpu=CPU, gpu=GPU, **COMMON)
    if profile not in ("quick", "cpu", "gpu"):
        raise ValueError(f"latent_settings expects profile 'quick', 'cpu' or 'gpu', got {profile!r}")
    settings = runtime.Settings(COMMON)
    settings.update(CPU)
    settings.update({"quick": QUICK, "gpu": GPU, "cpu": {}}[profile])
    return settings
