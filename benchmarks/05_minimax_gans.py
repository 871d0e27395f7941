"""Benchmark of chapter 5: GANs on the 2-D mixtures and a DCGAN on MNIST.

Prints ONE JSON line with

* for each method (``gan``: non-saturating GAN, ``pacgan``: packing 2, ``mbstd``: minibatch
  standard deviation, ``wgan-gp``) and each mixture (``ring8``, ``grid25``): the modes covered
  and the percent of high-quality samples (within 3 sigma of the nearest mode; 2,500 samples),
  mean over 5 seeds (trained together as an ensemble), plus the per-seed values.
  Anchors (PacGAN, Lin et al. 2018, Table 1): plain GAN 6.3/8 at 98.2% and 17.3/25 at 94.8%;
  PacGAN2 7.9/8 at 95.6% and 23.8/25 at 91.3%. Their networks are larger and train far longer.
* ``<mixture>/best``: the chapter's best method (WGAN-GP, ``BEST``) trained longer and wider
  (``best_steps``, ``best_hidden``): the run that is held to the target of the chapter's issue
  (8/8, at least 24/25 with at least 90% high-quality samples). ``--no-best`` skips it.
* ``dcgan_fd``: the Frechet distance between DCGAN samples and MNIST test images on the
  features of the package's MNIST classifier (``gm.metrics.fid``), and ``fd_floor_train_vs_test``:
  the same distance between MNIST training and test images (what a perfect model would get).
* ``wall_s``: wall time of the whole run.

With ``--save-weights`` it skips the 2-D comparison and trains the shipped DCGAN instead
(the sizes of ``settings.gan(weights=True)``: all of MNIST, longer, an EMA of the
generator), rounds it to fp16, measures what ships (``dcgan_confident``: the share of
``n_confident`` samples that the package's MNIST classifier labels with confidence >= 0.9,
``dcgan_class_shares``: each digit's share of them, ``dcgan_fd`` on ``n_fd`` samples against
the whole test set, ``fd_floor_train_vs_test`` at the same size) and writes
``genmodels_course/shipped/dcgan_mnist.safetensors`` with its manifest.

``--dataset fashion_mnist`` does the same for the conditional DCGAN of the chapter's section
5.8 on Fashion-MNIST (shipped as ``cdcgan_fashion_mnist``), scored with the package's
Fashion-MNIST classifier; sample i is drawn for class i % 10, and ``class_agreement`` is the
share of samples that the classifier assigns to the class they were drawn for
(``real_test_agreement``, ``real_test_confident``: the classifier on as many real test
garments, the ceiling to compare with).

Usage::

    GENMODELS_DATA=/path/to/data python benchmarks/05_minimax_gans.py --profile cpu
    python benchmarks/05_minimax_gans.py --profile cpu --save-weights   # the shipped DCGAN (~90 min)
    python benchmarks/05_minimax_gans.py --profile cpu --save-weights --dataset fashion_mnist
"""
from __future__ import annotations

import json
import sys
import time

from _common import command_line, setup  # benchmarks/_common.py

from genmodels_course import settings  # the sizes, shared with the notebook

METHODS = ("gan", "pacgan", "mbstd", "wgan-gp")
# Chosen on the grid from longer trial runs on a 2-core CPU (5 seeds): wgan-gp at 5,000 steps, width 256,
# kept 25/25 modes on every seed; gan at 5,000 steps/256 averaged 18.2/25 and pacgan at 4,000/128 24.0/25.
# mbstd was not tried at that length.
BEST = "wgan-gp"


def evaluate(gm, G, mix) -> dict:
    """Modes covered and high-quality percent of every ensemble member (2,500 samples each), and their means."""
    import torch

    from genmodels_course import gan

    xs = gan.sample_toy2d(G, 2500, generator=torch.Generator().manual_seed(123))
    per_seed = [gm.metrics.mode_coverage(x, mix.means, mix.sigma) for x in xs]
    modes = [c["modes"] for c in per_seed]
    hq = [100 * c["high_quality"] for c in per_seed]
    return {"modes": sum(modes) / len(modes), "hq_percent": round(sum(hq) / len(hq), 1),
            "modes_per_seed": modes, "hq_per_seed": [round(h, 1) for h in hq]}


def add_arguments(parser) -> None:
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of " + ",".join(METHODS))
    parser.add_argument("--no-dcgan", action="store_true", help="skip the DCGAN part")
    parser.add_argument("--no-best", action="store_true", help="skip the long run of the best method")
    parser.add_argument("--dataset", choices=["mnist", "fashion_mnist"], default="mnist",
                        help="the DCGAN's data: mnist (unconditional, shipped as dcgan_mnist) or "
                             "fashion_mnist (conditional, as in the chapter's section 5.8; shipped "
                             "as cdcgan_fashion_mnist)")


def main(argv=None) -> dict:
    args, profile, s = setup(__doc__.splitlines()[0], settings.gan, argv, add_arguments=add_arguments)
    s["steps"] = s["cmp_steps"]  # the comparison's steps, under the name used below

    import torch

    import genmodels_course as gm
    from genmodels_course import gan

    t0 = time.time()
    result = {"chapter": "05_minimax_gans", "profile": profile, "device": str(gm.runtime.device()),
              "steps_2d": s["steps"], "seeds": s["seeds"], "best": {"method": BEST, "steps": s["best_steps"],
                                                                    "hidden": s["best_hidden"]}}
    methods = [] if args.save_weights else args.methods.split(",")  # the shipped DCGAN only
    for mix_name, mix in (("ring8", gm.data.ring8()), ("grid25", gm.data.grid25())):
        for method in methods:
            cfg = gan.Toy2DConfig(method=method, steps=s["steps"], hidden=s["hidden"])
            G, _, _, _ = gan.train_toy2d(mix, cfg, ensemble=s["seeds"], progress=False)
            result[f"{mix_name}/{method}"] = evaluate(gm, G, mix)
        if not methods:
            continue
        if not args.no_best and BEST in methods and (s["best_steps"], s["best_hidden"]) == (s["steps"], s["hidden"]):
            result[f"{mix_name}/best"] = result[f"{mix_name}/{BEST}"]  # the same run: do not train it twice
        elif not args.no_best:
            t1 = time.time()
            cfg = gan.Toy2DConfig(method=BEST, steps=s["best_steps"], hidden=s["best_hidden"])
            G, _, _, _ = gan.train_toy2d(mix, cfg, ensemble=s["seeds"], progress=False)
            result[f"{mix_name}/best"] = {**evaluate(gm, G, mix), "train_s": round(time.time() - t1, 1)}
    if not args.no_dcgan:
        dcgan_part(args, argv, profile, s, result, gm, gan, torch)
    result["wall_s"] = round(time.time() - t0, 1)
    print(json.dumps(result))
    return result


def dcgan_part(args, argv, profile, s, result, gm, gan, torch) -> None:
    """The DCGAN on MNIST (or the conditional one on Fashion-MNIST): train or load it, measure it
    and, with --save-weights, ship it. Adds its numbers to ``result``."""
    ds = args.dataset
    conditional = ds == "fashion_mnist"
    name = "cdcgan_fashion_mnist" if conditional else "dcgan_mnist"
    load = gm.data.load_fashion_mnist if conditional else gm.data.load_mnist
    # build (or load) the feature network outside torch.no_grad: metrics.features() is a
    # no_grad function, and the first call would otherwise try to train the net without gradients
    gm.metrics.feature_net(ds, verbose=False)
    x, y = load(train=True, n=s["n_train"])
    if args.save_weights:
        cfg = gan.DCGANConfig(steps=s["dcgan_steps"], width=s["width"], z_dim=s["z_dim"],
                              batch_size=s["dcgan_batch"], ema_decay=s["dcgan_ema"],
                              depth=s["dcgan_depth"], conditional=conditional,
                              seed=args.seed, max_seconds=args.train_seconds)
    else:
        cfg = gan.DCGANConfig(steps=s["dcgan_steps"], width=s["width"], conditional=conditional)
    t1 = time.time()
    if args.remeasure:  # the shipped generator, measured again
        G, meta = gm.weights.load(name)
        t_train, hist = meta["wall_time_s"], None
    else:
        G, _, hist = gan.train_dcgan(x, y, cfg, progress=sys.stderr.isatty())
        t_train = time.time() - t1
        cfg.steps = hist.steps_done  # fewer where --train-seconds stopped the run
    if args.save_weights:  # measure what ships: the weights rounded to fp16
        gm.weights.round_as_saved(G)
    # the whole test set when the benchmark draws 10,000 samples; else as many as it draws
    x_test, y_test = load(train=False, n=None if s["n_fd"] >= 10_000 else s["n_fd"])
    # a conditional generator draws the ten classes in turn (label i % 10 for sample i)
    labels = torch.arange(s["n_fd"]) % 10 if conditional else None
    fake = gan.sample_images(G, s["n_fd"], y=labels, generator=torch.Generator().manual_seed(1))
    real_train, _ = load(train=True, n=s["n_fd"], seed=1)
    result["dcgan_dataset"] = ds
    result["dcgan_steps"] = cfg.steps
    result["dcgan_width"] = s["width"]
    result["dcgan_depth"] = (meta["config"].get("depth", 0) if args.remeasure
                             else cfg.depth if args.save_weights else 0)
    result["dcgan_fd"] = round(gm.metrics.fid(fake, x_test, ds), 2)
    result["fd_floor_train_vs_test"] = round(gm.metrics.fid_floor(real_train, x_test, dataset=ds), 2)
    result["n_fd"] = s["n_fd"]
    result["dcgan_train_s"] = round(t_train, 1)
    if not args.save_weights:
        return
    n_conf = s["n_confident"]
    conf = gm.metrics.confident_classes(fake[:n_conf], dataset=ds, threshold=0.9)
    shares = conf["class_shares"]
    result["dcgan_confident"] = round(conf["share_confident"], 4)
    result["dcgan_class_shares"] = [round(c, 4) for c in shares]
    result["n_confident"] = n_conf
    keys = ["dcgan_confident", "dcgan_class_shares", "n_confident", "dcgan_fd",
            "fd_floor_train_vs_test", "n_fd"]
    if conditional:
        # does the classifier see the class the generator was asked for? (real test images
        # give the classifier's own accuracy and confident share: the ceiling to compare with)
        probs = gm.metrics.class_probabilities(fake[:n_conf], ds)
        result["class_agreement"] = round(float((probs.argmax(1) == labels[:n_conf]).float().mean()), 4)
        real = gm.metrics.class_probabilities(x_test[:n_conf], ds)
        result["real_test_agreement"] = round(float((real.argmax(1) == y_test[:n_conf]).float().mean()), 4)
        result["real_test_confident"] = round(float((real.max(1).values >= 0.9).float().mean()), 4)
        keys += ["class_agreement", "real_test_agreement", "real_test_confident"]
    else:
        result["targets_met"] = {
            "confident>=0.90": conf["share_confident"] >= 0.90,
            "every digit in [6%, 14%]": all(0.06 <= c <= 0.14 for c in shares),
            "fd<=42": result["dcgan_fd"] <= 42}
    if hist is not None:
        result["loss_d_last"] = round(hist.mean("loss_d", last=10), 4)
        result["loss_g_last"] = round(hist.mean("loss_g", last=10), 4)
    if args.remeasure:
        gm.weights.update_metrics(name, {k: result[k] for k in keys}, command=command_line(argv))
        return
    data = "Fashion-MNIST (60,000 training images and their labels" if conditional else "MNIST (60,000 training images"
    result["weights"] = gm.weights.save(
        name, G, builder="genmodels_course.dcgan:DCGenerator",
        config={"z_dim": cfg.z_dim, "width": cfg.width, "n_classes": 10 if conditional else 0,
                "depth": cfg.depth},
        command=command_line(argv), profile=profile,
        machine=gm.weights.describe_machine(), wall_time_s=t_train,
        steps=cfg.steps, dtype=torch.float16,
        metrics={k: result[k] for k in keys},
        data=data + ", pixels in [0, 1] mapped to [-1, 1])",
        training={"batch_size": cfg.batch_size, "lr": cfg.lr, "betas": [0.5, 0.999],
                  "ema_decay": cfg.ema_decay, "loss": "non-saturating",
                  "seed": cfg.seed})["file"]


if __name__ == "__main__":
    main()
