"""Benchmark of chapter 7: a DDPM (epsilon-prediction U-Net) on MNIST, sampled with DDPM
and DDIM.

Trains the chapter's U-Net with L_simple (eq. 7.8), the linear schedule of Ho et al.
(T = 1000), an EMA of the weights, and prints ONE JSON line with:

* ``fd_ddpm1000``, ``fd_ddim50``, ``fd_ddim20``: the Frechet distance, on the package's
  MNIST classifier features (``gm.metrics.fid``), between ``n_samples`` samples (EMA
  weights) and the MNIST test set (10,000 images in the gpu profile);
* ``fd_floor``: the same distance between ``n_samples`` training images and the test set,
  the floor that no model should be expected to beat;
* ``s_per_1000_ddpm1000``, ``s_per_1000_ddim50``, ``s_per_1000_ddim20``: sampling wall time
  per 1,000 samples;
* ``ddim50_within_25pct``: whether DDIM-50's distance is within 25% of DDPM-1000's (the
  chapter's target; for context, the DDIM paper's Table 1 reports CIFAR-10 FID 4.67 at 50
  steps against 4.04 at 1000);
* ``train_s``, ``wall_s``: training time and wall time of the whole run.

The other target of the chapter, DDPM below chapter 5's DCGAN distance, compares this
line with the output of ``benchmarks/05_minimax_gans.py`` in the same profile.

Usage::

    GENMODELS_DATA=/path/to/data python benchmarks/07_diffusion.py --profile gpu
"""
from __future__ import annotations

import json
import sys
import time

from _common import setup  # benchmarks/_common.py

PROFILES = {
    # The U-Net of the notebook per profile (keep in sync with notebooks/07_diffusion.ipynb);
    # the gpu profile trains longer than the notebook, which has a 3-minute budget.
    "quick": dict(n_train=2_000, channels=(8, 16, 16), t_dim=32, steps=40, batch=32, lr=1e-3, ema=0.9,
                  n_samples=64, n_ddpm=16),
    "cpu": dict(n_train=20_000, channels=(16, 32, 32), t_dim=64, steps=300, batch=32, lr=1e-3, ema=0.95,
                n_samples=300, n_ddpm=20),
    "gpu": dict(n_train=None, channels=(64, 128, 128), t_dim=256, steps=30_000, batch=128, lr=2e-4, ema=0.9995,
                n_samples=10_000, n_ddpm=10_000),
}


def main(argv=None) -> dict:
    args, profile, s = setup(__doc__.splitlines()[0], PROFILES, argv)

    import torch

    import genmodels_course as gm
    from genmodels_course import diffusion as D

    t0 = time.time()
    dev = gm.runtime.device()
    progress = sys.stderr.isatty()

    x_train, _ = gm.data.load_mnist(train=True, n=s["n_train"])
    x_test, _ = gm.data.load_mnist(train=False)
    schedule = D.NoiseSchedule.linear(1000, device=dev)
    net = gm.nn.UNet(1, channels=s["channels"], t_dim=s["t_dim"]).to(dev)
    ema = gm.train.EMA(net, decay=s["ema"])
    opt = torch.optim.Adam(net.parameters(), lr=s["lr"])
    g = gm.runtime.generator(args.seed + 1)

    def step(batch):
        return D.eps_loss(net, batch[0] * 2 - 1, schedule, generator=g)

    history = gm.train.fit(net, step, gm.data.Batches(x_train, batch_size=s["batch"], seed=args.seed),
                           optimizer=opt, steps=s["steps"], ema=ema, grad_clip=1.0, desc="U-Net",
                           progress=progress, log_every=50)
    t_train = time.time() - t0
    model = ema.module

    def to_pixels(x):
        return ((x + 1) / 2).clamp(0, 1)

    def sample(n, chunk, fn):
        # returns (images in [0, 1], seconds); chunks keep memory bounded
        if dev.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = []
        for i in range(0, n, chunk):
            with gm.runtime.autocast():
                out.append(to_pixels(fn(min(chunk, n - i), i)).float())
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return torch.cat(out), time.perf_counter() - start

    chunk = 2_000 if dev.type == "cuda" else 100
    ddpm, t_ddpm = sample(s["n_ddpm"], chunk, lambda k, i: D.ddpm_sample(
        model, (k, 1, 28, 28), schedule, generator=gm.runtime.generator(10 + i), clip=1.0))
    ddim50, t_50 = sample(s["n_samples"], chunk, lambda k, i: D.ddim_sample(
        model, (k, 1, 28, 28), schedule, steps=50, generator=gm.runtime.generator(20 + i), clip=1.0))
    ddim20, t_20 = sample(s["n_samples"], chunk, lambda k, i: D.ddim_sample(
        model, (k, 1, 28, 28), schedule, steps=20, generator=gm.runtime.generator(20 + i), clip=1.0))

    n_ref = min(s["n_samples"], len(x_test))
    result = {
        "chapter": "07_diffusion",
        "profile": profile,
        "device": str(dev),
        "train_steps": s["steps"],
        "final_loss": round(sum(history["loss"][-10:]) / len(history["loss"][-10:]), 5),
        "n_samples": s["n_samples"],
        "n_ddpm_samples": s["n_ddpm"],
        "fd_floor": round(gm.metrics.fid(x_train[-n_ref:], x_test), 3),
        "fd_ddpm1000": round(gm.metrics.fid(ddpm, x_test), 3),
        "fd_ddim50": round(gm.metrics.fid(ddim50, x_test), 3),
        "fd_ddim20": round(gm.metrics.fid(ddim20, x_test), 3),
        "s_per_1000_ddpm1000": round(1000 * t_ddpm / s["n_ddpm"], 2),
        "s_per_1000_ddim50": round(1000 * t_50 / s["n_samples"], 2),
        "s_per_1000_ddim20": round(1000 * t_20 / s["n_samples"], 2),
    }
    result["ddim50_within_25pct"] = bool(result["fd_ddim50"] <= 1.25 * result["fd_ddpm1000"])
    result["train_s"] = round(t_train, 1)
    result["wall_s"] = round(time.time() - t0, 1)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
