"""Benchmark of chapter 4: a PixelCNN on binarised MNIST and RealNVP flows.

Trains the chapter's models with the sizes of ``notebooks/04_autoregressive_flows.ipynb``
(from ``gm.settings.flows``; the benchmark evaluates on more test images) and prints ONE
JSON line with:

* ``pixelcnn_test_nll``: the exact test negative log-likelihood (4.3) in nats per image
  on ``n_test`` test images (binarised once, with a fixed seed). Anchor: van den Oord et
  al. (2016) report 81.30 nats for a much larger PixelCNN trained far longer.
* ``flow_bits_per_dim``: the MLP RealNVP on dequantised MNIST, eq. (4.9), on the same
  test images (``null`` when the profile skips it).
* ``moons_log_lik``: the 2-D flow's mean log-likelihood of the two moons (standardised).
* ``sample_s_per_image``: seconds per image for the PixelCNN (784 passes), the MNIST flow
  (one inverse pass) and a VAE decoder of chapter 3's cpu size (one pass; untrained, only
  its shape matters for the time).
* ``wall_s``: wall time of the whole run.

With ``--save-weights`` it trains the shipped PixelCNN instead (``settings.flows(weights=True)``:
64 channels, 8 blocks, all of MNIST, a cosine-decayed learning rate; no MNIST flow), rounds
it to fp16, measures the rounded model on the whole test set and writes ``pixelcnn_mnist``
with its manifest into ``genmodels_course/shipped/``; ``--remeasure`` measures the shipped
one again. ``--model glow`` does the same for the multi-scale flow of ``gm.glow``
(``glow_mnist``: its test bits/dim on all 10,000 images, one dequantisation).

Usage::

    GENMODELS_DATA=/path/to/data python benchmarks/04_autoregressive_flows.py --profile cpu
    python benchmarks/04_autoregressive_flows.py --profile cpu --save-weights  # ~1 hour
    python benchmarks/04_autoregressive_flows.py --profile cpu --save-weights --model glow
"""
from __future__ import annotations

import dataclasses
import json
import sys
import time

from _common import command_line, setup  # benchmarks/_common.py

from genmodels_course import settings  # the sizes, shared with the notebook


def _model_option(parser) -> None:
    parser.add_argument("--model", choices=("pixelcnn", "glow"), default="pixelcnn",
                        help="with --save-weights/--remeasure: which model to ship (glow: the "
                             "multi-scale flow of gm.glow; --steps then sets glow_steps)")


def glow_run(args, profile: str, s, argv=None) -> dict:
    """Train (or, with --remeasure, load) the multi-scale flow; measure bits/dim on the
    test images; with --save-weights ship it as ``glow_mnist``."""
    import torch

    import genmodels_course as gm
    from genmodels_course import glow

    t0, dev = time.time(), gm.runtime.device()
    x_train, _ = gm.data.load_mnist(train=True, n=s["n_train"])
    x_test, _ = gm.data.load_mnist(train=False, n=s["n_test"])
    config = glow.GlowConfig(levels=s["glow_levels"], steps=s["glow_depth"], hidden=s["glow_hidden"])
    curve = []
    if args.remeasure:
        flow, meta = gm.weights.load("glow_mnist", device=dev)
        train_s, loss_last = meta["wall_time_s"], None
    else:
        flow = glow.Glow(config, seed=args.seed).to(dev)
        opt = torch.optim.Adam(flow.parameters(), lr=s["lr"])
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, s["glow_steps"])
        g_deq = gm.runtime.generator(args.seed + 1)
        every = max(1, s["glow_steps"] // 10)

        def step(batch, i):
            y, log_det = glow.dequantize_logit(batch[0].to(dev), g_deq)
            loss = -(flow.log_prob(y) + log_det).mean() / 784  # nats per pixel
            if (i + 1) % every == 0:
                curve.append(dict(step=i + 1, train_s=round(time.time() - start, 1),
                                  test_bpd_1000=round(glow.image_bits_per_dim(
                                      flow, x_test[:1000].to(dev), gm.runtime.generator(5)), 4)))
                flow.train()
                print(json.dumps(curve[-1]), file=sys.stderr, flush=True)
            return loss

        start = time.time()
        hist = gm.train.fit(flow, step, gm.data.Batches(x_train, batch_size=s["glow_batch"], seed=args.seed),
                            optimizer=opt, scheduler=sched, steps=s["glow_steps"], amp=False, grad_clip=50.0,
                            desc="Glow MNIST", progress=sys.stderr.isatty(), log_every=50)
        train_s, loss_last = time.time() - start, hist.mean("loss", last=10)
        if args.save_weights:  # measure what ships: the weights rounded to fp16
            gm.weights.round_as_saved(flow)
    bpd = glow.image_bits_per_dim(flow, x_test.to(dev), gm.runtime.generator(22))
    t = time.time()
    with torch.no_grad():
        flow.sample(100, temperature=0.8, generator=gm.runtime.generator(7, dev))
    if dev.type == "cuda":
        torch.cuda.synchronize()
    result = dict(chapter="04_autoregressive_flows", model="glow", profile=profile, device=str(dev),
                  torch_threads=torch.get_num_threads(), n_train=int(x_train.shape[0]),
                  n_test=int(x_test.shape[0]), glow_steps=s["glow_steps"], config=dataclasses.asdict(config),
                  train_s=round(train_s, 1),
                  train_loss_last=None if loss_last is None else round(loss_last, 4),
                  test_bits_per_dim=round(bpd, 4), curve=curve,
                  sample_s_per_image=round((time.time() - t) / 100, 6), wall_s=round(time.time() - t0, 1))
    numbers = {"test_bits_per_dim": result["test_bits_per_dim"], "n_test": result["n_test"],
               "sample_s_per_image": result["sample_s_per_image"]}
    if args.remeasure:
        gm.weights.update_metrics("glow_mnist", numbers, command=command_line(argv))
    elif args.save_weights:
        result["weights"] = gm.weights.save(
            "glow_mnist", flow, builder="genmodels_course.glow:Glow",
            config_class="genmodels_course.glow:GlowConfig", config=dataclasses.asdict(config),
            command=command_line(argv), profile=profile, machine=gm.weights.describe_machine(),
            wall_time_s=train_s, steps=s["glow_steps"], metrics=numbers,
            training={"batch_size": s["glow_batch"], "lr": s["lr"], "schedule": "cosine to 0",
                      "grad_clip": 50.0, "seed": args.seed},
            data=f"uniformly dequantised MNIST, logit with alpha 0.05 ({int(x_train.shape[0]):,} "
                 "training images)")["file"]
    print(json.dumps(result))
    return result


def main(argv=None) -> dict:
    args, profile, s = setup(__doc__.splitlines()[0], settings.flows, argv,
                             steps_key="pcnn_steps", add_arguments=_model_option)
    if args.model == "glow":
        if args.steps is not None:
            s["glow_steps"] = args.steps
        return glow_run(args, profile, s, argv)

    import torch

    import genmodels_course as gm
    from genmodels_course import autoregressive as ar
    from genmodels_course import flows as fl

    t0 = time.time()
    dev = gm.runtime.device()
    progress = sys.stderr.isatty()
    x_train, _ = gm.data.load_mnist(train=True, n=s["n_train"])
    x_test, _ = gm.data.load_mnist(train=False, n=s["n_test"])
    xb_test = gm.data.binarize_dynamic(x_test, generator=gm.runtime.generator(1234))
    batches = gm.data.Batches(x_train, batch_size=s["batch"], seed=args.seed)

    # ---- PixelCNN
    config = ar.PixelCNNConfig(channels=s["pcnn_channels"], layers=s["pcnn_layers"])
    if args.remeasure:
        pcnn, meta = gm.weights.load("pixelcnn_mnist", device=dev)
        t_pcnn, loss_last = meta["wall_time_s"], None
    else:
        with gm.runtime.seeded(args.seed):
            pcnn = ar.PixelCNN(config).to(dev)
        opt = torch.optim.Adam(pcnn.parameters(), lr=s["lr"])
        # the shipped run's longer training decays the learning rate (cosine) to zero
        sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, s["pcnn_steps"])
                 if args.save_weights else None)
        start = time.time()
        hist = gm.train.fit(pcnn, ar.make_step(pcnn, generator=gm.runtime.generator(args.seed + 1)),
                            batches, optimizer=opt, scheduler=sched, steps=s["pcnn_steps"], amp=False,
                            desc="PixelCNN", progress=progress, log_every=50 if args.save_weights else None)
        t_pcnn, loss_last = time.time() - start, hist.mean("loss", last=10)
    if args.save_weights:  # measure what ships: the weights rounded to fp16
        gm.weights.round_as_saved(pcnn)
    pcnn.eval()
    pcnn_nll = float(ar.nll(pcnn, xb_test).mean())
    g = gm.runtime.generator(7)
    t = time.time()
    ar.sample(pcnn, s["n_sample"], generator=g)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    pcnn_s = (time.time() - t) / s["n_sample"]

    # ---- the 2-D flow on two moons
    moons = gm.data.two_moons(s["n_moons"], noise=0.05, seed=args.seed)
    moons = ((moons - moons.mean(0)) / moons.std(0)).to(dev)
    with gm.runtime.seeded(args.seed):
        flow2d = fl.RealNVP(fl.alternating_masks(2, s["flow2d_layers"]),
                            hidden=s["flow2d_hidden"]).to(dev)
    gm.train.fit(flow2d, lambda b: -flow2d.log_prob(b[0]).mean(),
                 gm.data.Batches(moons, batch_size=s["flow2d_batch"], seed=args.seed),
                 optimizer=torch.optim.Adam(flow2d.parameters(), lr=s["flow2d_lr"]),
                 steps=s["flow2d_steps"], amp=False, desc="RealNVP 2-D", progress=progress)
    with torch.no_grad():
        moons_ll = float(flow2d.log_prob(moons).mean())

    # ---- the flow on dequantised MNIST
    flow_bpd = flow_s = None
    if s["mflow_steps"] > 0:
        with gm.runtime.seeded(args.seed):
            mflow = fl.RealNVP(fl.checkerboard_masks(28, 28, s["mflow_layers"]),
                               hidden=s["mflow_hidden"]).to(dev)
        g_deq = gm.runtime.generator(21)

        def log_prob(x01):
            y, log_det = fl.logit_transform(x01)
            return mflow.log_prob(y) + log_det

        gm.train.fit(mflow, lambda b: -log_prob(gm.vae_gaussian.dequantise(
                         b[0].flatten(1), generator=g_deq)).mean(),
                     batches, optimizer=torch.optim.Adam(mflow.parameters(), lr=s["lr"]),
                     steps=s["mflow_steps"], amp=False, desc="RealNVP MNIST", progress=progress)
        mflow.eval()
        x_deq = gm.vae_gaussian.dequantise(x_test.flatten(1), generator=gm.runtime.generator(22))
        with torch.no_grad():
            lp = torch.cat([log_prob(x_deq[i:i + 500]) for i in range(0, len(x_deq), 500)])
            flow_bpd = fl.bits_per_dim(lp, 784)
            t = time.time()
            mflow.sample(100, generator=g)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            flow_s = (time.time() - t) / 100

    # ---- a VAE decoder of chapter 3's cpu size, for the sampling time only
    vae_net = gm.vae.VAE(gm.vae.VAEConfig(z_dim=32, hidden=(400,))).to(dev).eval()
    with torch.no_grad():
        t = time.time()
        for _ in range(10):
            torch.sigmoid(vae_net.decode(torch.randn(100, 32, generator=g, device=dev)))
        if dev.type == "cuda":
            torch.cuda.synchronize()
        vae_s = (time.time() - t) / 1000

    result = dict(
        chapter="04_autoregressive_flows", profile=profile, device=str(dev),
        device_name=torch.cuda.get_device_name(0) if dev.type == "cuda" else dev.type,
        torch_threads=torch.get_num_threads(), n_train=int(x_train.shape[0]),
        n_test=int(xb_test.shape[0]), pcnn_steps=s["pcnn_steps"],
        pcnn_channels=s["pcnn_channels"], pcnn_layers=s["pcnn_layers"], pcnn_train_s=round(t_pcnn, 1),
        pcnn_train_loss_last=None if loss_last is None else round(loss_last, 3),
        pixelcnn_test_nll=round(pcnn_nll, 3),
        flow_bits_per_dim=None if flow_bpd is None else round(flow_bpd, 4),
        moons_log_lik=round(moons_ll, 4),
        sample_s_per_image=dict(pixelcnn=round(pcnn_s, 5),
                                flow=None if flow_s is None else round(flow_s, 7),
                                vae=round(vae_s, 8)),
        wall_s=round(time.time() - t0, 1),
    )
    numbers = {"test_nll_nats": result["pixelcnn_test_nll"], "n_test": result["n_test"],
               "sample_s_per_image": result["sample_s_per_image"]["pixelcnn"]}
    if args.remeasure:
        gm.weights.update_metrics("pixelcnn_mnist", numbers, command=command_line(argv))
    elif args.save_weights:
        result["weights"] = gm.weights.save(
            "pixelcnn_mnist", pcnn, builder="genmodels_course.autoregressive:PixelCNN",
            config_class="genmodels_course.autoregressive:PixelCNNConfig",
            config=dataclasses.asdict(config), command=command_line(argv), profile=profile,
            machine=gm.weights.describe_machine(), wall_time_s=t_pcnn, steps=s["pcnn_steps"],
            metrics=numbers, training={"batch_size": s["batch"], "lr": s["lr"],
                                       "schedule": "cosine to 0", "seed": args.seed},
            data=f"dynamically binarised MNIST ({int(x_train.shape[0]):,} training images)")["file"]
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
