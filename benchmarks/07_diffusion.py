"""Benchmark of chapter 7: a DDPM (epsilon-prediction U-Net) on MNIST, sampled with DDPM
and DDIM.

Trains the chapter's U-Net with L_simple (eq. 7.8), the linear schedule of Ho et al.
(T = 1000), an EMA of the weights (the sizes of ``notebooks/07_diffusion.ipynb``, from
``gm.settings.diffusion``; the gpu run trains longer), and prints ONE JSON line with:

* ``fd_ddpm1000``, ``fd_ddim50``, ``fd_ddim20``: the Frechet distance, on the package's
  MNIST classifier features (``gm.metrics.fid``), between ``n_ddpm_samples`` DDPM and
  ``n_samples`` DDIM samples (EMA weights) and the MNIST test set (10,000 images);
* ``fd_floor``: the same distance between ``n_samples`` training images and the test set
  (``gm.metrics.fid_floor``), the floor that no model should be expected to beat;
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

from genmodels_course import settings  # the sizes, shared with the notebook


def main(argv=None) -> dict:
    args, profile, s = setup(__doc__.splitlines()[0], settings.diffusion, argv, steps_key="img_steps")

    import torch

    import genmodels_course as gm
    from genmodels_course import diffusion as D

    t0 = time.time()
    dev = gm.runtime.device()
    progress = sys.stderr.isatty()

    x_train, _ = gm.data.load_mnist(train=True, n=s["img_n_train"])
    x_test, _ = gm.data.load_mnist(train=False)
    schedule = D.NoiseSchedule.linear(s["T"], device=dev)
    net = gm.nn.UNet(1, channels=s["img_channels"], t_dim=s["img_t_dim"]).to(dev)
    ema = gm.train.EMA(net, decay=s["ema_decay"])
    opt = torch.optim.Adam(net.parameters(), lr=s["img_lr"])
    g = gm.runtime.generator(args.seed + 1)

    def step(batch):
        return D.eps_loss(net, gm.data.to_tanh_range(batch[0]), schedule, generator=g)

    history = gm.train.fit(net, step, gm.data.Batches(x_train, batch_size=s["img_batch"], seed=args.seed),
                           optimizer=opt, steps=s["img_steps"], ema=ema, grad_clip=1.0, desc="U-Net",
                           progress=progress, log_every=50)
    t_train = time.time() - t0
    model = ema.module

    def sample(n, chunk, fn):
        # returns (images in [0, 1], seconds); chunks keep memory bounded
        if dev.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = []
        for i in range(0, n, chunk):
            with gm.runtime.autocast():
                out.append(gm.data.from_tanh_range(fn(min(chunk, n - i), i)).float())
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return torch.cat(out), time.perf_counter() - start

    chunk = 2_000 if dev.type == "cuda" else 100
    ddpm, t_ddpm = sample(s["n_ddpm"], chunk, lambda k, i: D.ddpm_sample(
        model, (k, 1, 28, 28), schedule, generator=gm.runtime.generator(10 + i), clip=1.0))
    ddim50, t_50 = sample(s["n_fd"], chunk, lambda k, i: D.ddim_sample(
        model, (k, 1, 28, 28), schedule, steps=50, generator=gm.runtime.generator(20 + i), clip=1.0))
    ddim20, t_20 = sample(s["n_fd"], chunk, lambda k, i: D.ddim_sample(
        model, (k, 1, 28, 28), schedule, steps=20, generator=gm.runtime.generator(20 + i), clip=1.0))

    result = {
        "chapter": "07_diffusion",
        "profile": profile,
        "device": str(dev),
        "train_steps": s["img_steps"],
        "final_loss": round(sum(history["loss"][-10:]) / len(history["loss"][-10:]), 5),
        "n_samples": s["n_fd"],
        "n_ddpm_samples": s["n_ddpm"],
        "fd_floor": round(gm.metrics.fid_floor(x_train, x_test, n=s["n_fd"]), 3),
        "fd_ddpm1000": round(gm.metrics.fid(ddpm, x_test), 3),
        "fd_ddim50": round(gm.metrics.fid(ddim50, x_test), 3),
        "fd_ddim20": round(gm.metrics.fid(ddim20, x_test), 3),
        "s_per_1000_ddpm1000": round(1000 * t_ddpm / s["n_ddpm"], 2),
        "s_per_1000_ddim50": round(1000 * t_50 / s["n_fd"], 2),
        "s_per_1000_ddim20": round(1000 * t_20 / s["n_fd"], 2),
    }
    result["ddim50_within_25pct"] = bool(result["fd_ddim50"] <= 1.25 * result["fd_ddpm1000"])
    result["train_s"] = round(t_train, 1)
    result["wall_s"] = round(time.time() - t0, 1)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
