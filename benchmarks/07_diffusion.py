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
* ``ddim_eta``: DDIM's eta (``--eta``, default 0: deterministic);
* ``train_s``, ``wall_s``: training time and wall time of the whole run.

The other target of the chapter, DDPM below chapter 5's DCGAN distance, compares this
line with the output of ``benchmarks/05_minimax_gans.py`` in the same profile.

With ``--save-weights`` it trains the shipped U-Net instead (``settings.diffusion(
weights=True)``), rounds the EMA weights to fp16, measures what ships on ``n_fd`` DDIM-50
samples (``confident``: the share that the package's MNIST classifier labels with
confidence >= 0.9; ``class_shares``: each digit's share; ``fd_ddim50`` against the whole
test set) and compares ``n_ddpm`` DDPM-1000 samples with as many DDIM-50 samples
(``fd_ddpm1000_n``, ``fd_ddim50_n``, ``fd_floor_n``: the same small n for all three), skips
DDIM-20, and writes ``genmodels_course/shipped/unet_mnist.safetensors`` with its manifest
(``--dataset fashion_mnist``: the same on Fashion-MNIST, scored with the package's
Fashion-MNIST classifier, written as ``unet_fashion_mnist``).

Usage::

    GENMODELS_DATA=/path/to/data python benchmarks/07_diffusion.py --profile gpu
    python benchmarks/07_diffusion.py --profile cpu --save-weights   # the shipped U-Net (~75 min)
    python benchmarks/07_diffusion.py --profile cpu --remeasure --eta 1   # stochastic DDIM on it
"""
from __future__ import annotations

import json
import sys
import time

from _common import command_line, setup  # benchmarks/_common.py

from genmodels_course import settings  # the sizes, shared with the notebook


def _positive(text: str) -> float:
    """A number > 0 for --min-snr-gamma, refused before any data are loaded."""
    import argparse

    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number above 0 (the paper uses 5), got {text!r}")
    return value


def add_arguments(parser) -> None:
    parser.add_argument("--dataset", choices=["mnist", "fashion_mnist"], default="mnist",
                        help="the images of the U-Net (default: mnist); the shipped weights are "
                             "named unet_<dataset>")
    parser.add_argument("--eta", type=float, default=0.0,
                        help="DDIM's eta for every DDIM sample (default 0: deterministic; 1: as much "
                             "fresh noise per step as DDPM, which RESULTS.md found helps an unconverged U-Net)")
    parser.add_argument("--init-from", default=None, metavar="NAME",
                        help="with --save-weights: go on training the shipped U-Net NAME (weights and "
                             "EMA start from it) instead of a fresh one; the manifest chains the two "
                             "commands and adds up their steps and times")
    parser.add_argument("--lr-schedule", choices=["constant", "cosine"], default="constant",
                        help="the learning rate over the run: constant (default) or a cosine decay "
                             "from img_lr to 0 over the run's steps")
    parser.add_argument("--cpu-bf16", action="store_true",
                        help="train under bf16 autocast on a CPU with native bf16 (AVX512-BF16 or AMX; "
                             "about 1.5x faster, fp32 weights); the measurements stay fp32")
    parser.add_argument("--min-snr-gamma", type=_positive, default=None, metavar="GAMMA",
                        help="train with the Min-SNR-gamma weighting (Hang et al. 2023; 5 in the paper) "
                             "instead of L_simple: steps whose SNR is above GAMMA count less")


def main(argv=None) -> dict:
    args, profile, s = setup(__doc__.splitlines()[0], settings.diffusion, argv, steps_key="img_steps",
                             add_arguments=add_arguments)

    import torch

    import genmodels_course as gm
    from genmodels_course import diffusion as D

    t0 = time.time()
    dev = gm.runtime.device()
    progress = sys.stderr.isatty()

    load = gm.data.load_mnist if args.dataset == "mnist" else gm.data.load_fashion_mnist
    x_train, _ = load(train=True, n=s["img_n_train"])
    x_test, _ = load(train=False)
    args.name = f"unet_{args.dataset}"
    schedule = D.NoiseSchedule.linear(s["T"], device=dev)
    init = None
    if args.init_from:
        if not args.save_weights or args.remeasure:
            raise SystemExit("--init-from goes on training a shipped U-Net: use it with --save-weights")
        net, init = gm.weights.load(args.init_from, device=dev)
        net.train()
        s["img_channels"], s["img_t_dim"] = tuple(init["config"]["channels"]), init["config"]["t_dim"]
    else:
        net = gm.nn.UNet(1, channels=s["img_channels"], t_dim=s["img_t_dim"]).to(dev)
    ema = gm.train.EMA(net, decay=s["ema_decay"])
    opt = torch.optim.Adam(net.parameters(), lr=s["img_lr"])
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=s["img_steps"])
             if args.lr_schedule == "cosine" else None)
    g = gm.runtime.generator(args.seed + 1)

    def step(batch):
        return D.eps_loss(net, gm.data.to_tanh_range(batch[0]), schedule, generator=g,
                          min_snr_gamma=args.min_snr_gamma)

    if args.remeasure:  # the shipped U-Net, measured again
        model, meta = gm.weights.load(args.name, device=dev)
        history, t_train = None, meta["wall_time_s"]
        # the printout describes the shipped model, not the settings' sizes
        s["img_channels"], s["img_t_dim"] = tuple(meta["config"]["channels"]), meta["config"]["t_dim"]
        s["img_steps"] = meta["steps"]
        s["img_batch"] = (meta.get("training") or {}).get("batch_size", s["img_batch"])
    else:
        with gm.runtime.cpu_bf16(args.cpu_bf16):
            dtype = gm.runtime.autocast_dtype()  # what the training loop's autocast runs in
            args.autocast = str(dtype).removeprefix("torch.") if dtype is not None else "none (fp32)"
            history = gm.train.fit(net, step, gm.data.Batches(x_train, batch_size=s["img_batch"], seed=args.seed),
                                   optimizer=opt, scheduler=sched, steps=s["img_steps"], ema=ema, grad_clip=1.0,
                                   desc="U-Net", progress=progress, log_every=50, max_seconds=args.train_seconds)
        t_train = time.time() - t0
        s["img_steps"] = history.steps_done  # fewer where --train-seconds stopped the run
        model = ema.module
    if args.save_weights:  # measure what ships: the averaged weights rounded to fp16
        gm.weights.round_as_saved(model)
        gm.metrics.feature_net(args.dataset, verbose=False)  # built outside no_grad

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
    if args.save_weights:
        return save_weights(args, argv, profile, s, gm, D, torch, model, schedule, sample,
                            x_train, x_test, history, t_train, t0, chunk, init)
    ddpm, t_ddpm = sample(s["n_ddpm"], chunk, lambda k, i: D.ddpm_sample(
        model, (k, 1, 28, 28), schedule, generator=gm.runtime.generator(10 + i), clip=1.0))
    ddim50, t_50 = sample(s["n_fd"], chunk, lambda k, i: D.ddim_sample(
        model, (k, 1, 28, 28), schedule, steps=50, eta=args.eta, generator=gm.runtime.generator(20 + i), clip=1.0))
    ddim20, t_20 = sample(s["n_fd"], chunk, lambda k, i: D.ddim_sample(
        model, (k, 1, 28, 28), schedule, steps=20, eta=args.eta, generator=gm.runtime.generator(20 + i), clip=1.0))

    result = {
        "chapter": "07_diffusion",
        "profile": profile,
        "device": str(dev),
        "train_steps": s["img_steps"],
        "final_loss": round(sum(history["loss"][-10:]) / len(history["loss"][-10:]), 5),
        "n_samples": s["n_fd"],
        "n_ddpm_samples": s["n_ddpm"],
        "ddim_eta": args.eta,
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


def save_weights(args, argv, profile, s, gm, D, torch, model, schedule, sample, x_train, x_test,
                 history, t_train, t0, chunk, init=None) -> dict:
    """The --save-weights measurements on the fp16 EMA weights, then the weights and manifest.

    ``init``: the manifest of the shipped U-Net that this run went on training (--init-from),
    or None; the new manifest then chains the commands and adds up the steps and times."""
    ddim50, t_50 = sample(s["n_fd"], chunk, lambda k, i: D.ddim_sample(
        model, (k, 1, 28, 28), schedule, steps=50, eta=args.eta, generator=gm.runtime.generator(20 + i), clip=1.0))
    n = s["n_ddpm"]
    ddpm, t_ddpm = sample(n, chunk, lambda k, i: D.ddpm_sample(
        model, (k, 1, 28, 28), schedule, generator=gm.runtime.generator(10 + i), clip=1.0))
    conf = gm.metrics.confident_classes(ddim50[:s["n_confident"]], dataset=args.dataset, threshold=0.9)
    shares = conf["class_shares"]
    result = {
        "chapter": "07_diffusion", "dataset": args.dataset, "profile": profile, "device": str(model.out[-1].weight.device),
        "train_steps": s["img_steps"], "img_batch": s["img_batch"],
        "img_channels": list(s["img_channels"]), "img_t_dim": s["img_t_dim"],
        "ema_decay": s["ema_decay"],
        "final_loss": None if history is None else round(sum(history["loss"][-10:]) / 10, 5),
        "n_samples": s["n_fd"], "n_confident": s["n_confident"], "ddim_eta": args.eta,
        "confident": round(conf["share_confident"], 4),
        "class_shares": [round(c, 4) for c in shares],
        "fd_ddim50": round(gm.metrics.fid(ddim50, x_test, args.dataset), 3),
        "fd_floor": round(gm.metrics.fid_floor(x_train, x_test, n=s["n_fd"], dataset=args.dataset), 3),
        "n_ddpm_samples": n,
        "fd_ddpm1000_n": round(gm.metrics.fid(ddpm, x_test, args.dataset), 3),
        "fd_ddim50_n": round(gm.metrics.fid(ddim50[:n], x_test, args.dataset), 3),
        "fd_floor_n": round(gm.metrics.fid_floor(x_train, x_test, n=n, dataset=args.dataset), 3),
        "s_per_1000_ddpm1000": round(1000 * t_ddpm / n, 2),
        "s_per_1000_ddim50": round(1000 * t_50 / s["n_fd"], 2),
    }
    result["ddim50_within_25pct"] = bool(result["fd_ddim50_n"] <= 1.25 * result["fd_ddpm1000_n"])
    if args.dataset == "mnist":  # issue 14's targets are MNIST's
        result["targets_met"] = {"confident>=0.95": conf["share_confident"] >= 0.95,
                                 "every digit in [6%, 14%]": all(0.06 <= c <= 0.14 for c in shares),
                                 "ddim50 within 25% of ddpm1000": result["ddim50_within_25pct"]}
    result["train_s"] = round(t_train, 1)
    keys = ("confident", "class_shares", "n_confident", "fd_ddim50", "fd_floor", "n_samples",
            "fd_ddpm1000_n", "fd_ddim50_n", "fd_floor_n", "n_ddpm_samples", "ddim50_within_25pct")
    keys += ("ddim_eta",) if args.eta else ()  # manifests of deterministic DDIM stay as they were
    if args.remeasure:
        gm.weights.update_metrics(args.name, {k: result[k] for k in keys}, command=command_line(argv))
        result["wall_s"] = round(time.time() - t0, 1)
        print(json.dumps(result))
        return result
    run = {"command": command_line(argv), "machine": gm.weights.describe_machine(),
           "wall_time_s": t_train, "steps": s["img_steps"]}
    if init is not None:  # the chain of runs that made these weights, each reproducible in turn
        run = gm.weights.chain(init, **run)
    loss = ("L_simple (eq. 7.8)" if args.min_snr_gamma is None else
            f"eq. 7.8 weighted by min(SNR, {args.min_snr_gamma:g}) / SNR (Min-SNR, Hang et al. 2023)")
    training = {"loss": loss, "schedule": f"linear, T = {s['T']}",
                "batch_size": s["img_batch"], "lr": s["img_lr"], "lr_schedule": args.lr_schedule,
                "grad_clip": 1.0, "ema_decay": s["ema_decay"], "weights": "EMA", "seed": args.seed,
                "autocast": args.autocast}
    result["weights"] = gm.weights.save(
        args.name, model, builder="genmodels_course.nn:UNet",
        config={"in_channels": 1, "channels": list(s["img_channels"]), "t_dim": s["img_t_dim"]},
        profile=profile, dtype=torch.float16, **run,
        metrics={k: result[k] for k in keys},
        data=f"{'MNIST' if args.dataset == 'mnist' else 'Fashion-MNIST'} (60,000 training images, "
             "pixels in [0, 1] mapped to [-1, 1])",
        training=training,
        sampling="clip=1.0 on the estimate of x0 at every step")["file"]
    result["wall_s"] = round(time.time() - t0, 1)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
