"""Benchmark of chapter 9: one scoreboard for every shipped MNIST model of the book.

Trains nothing. Loads the shipped VAE (chapter 3), PixelCNN and multi-scale flow
(chapter 4), DCGAN (chapter 5) and diffusion U-Net (chapter 7) through ``gm.weights``,
draws samples with fixed seeds (``n`` from the fast models, ``n_slow`` DDIM-50 samples of
the U-Net, ``n_pixelcnn`` PixelCNN samples; sizes from ``gm.settings.evaluation``, the
function the notebook reads), scores them with ``gm.scoreboard.score`` against ``n`` random
test images (the reference) and prints ONE JSON line with:

* ``rows``: for each model, and for two reference rows (``fresh real images``: ``n``
  other random test images, a perfect model at this size; ``training images``: ``n`` random ones, a memoriser),
  ``n``, ``fd`` (Frechet distance, eq. 9.2), ``kid`` and ``kid_std`` (eq. 9.3-9.4),
  ``precision`` and ``recall`` (eq. 9.5), ``confident`` (share the package's classifier
  labels with confidence >= 0.9), ``classes`` (effective number of classes), ``copies``
  (share of samples closer to a training image than 99% of test images, eq. 9.6) and
  ``s_per_1000`` (sampling time on this machine);
* ``likelihoods``: the VAE's IWAE bound (K = 1000) and the PixelCNN's exact NLL in nats on
  the same binarised ``n_nll`` test images, the flow's bits/dim on the 8-bit images;
* ``labels``: who trained each model (the manifests' labels); ``wall_s``.

Usage::

    GENMODELS_DATA=/path/to/data python benchmarks/09_evaluating_generative_models.py --profile cpu
"""
from __future__ import annotations

import json
import time

from _common import setup  # benchmarks/_common.py

from genmodels_course import settings  # the sizes, shared with the notebook


def main(argv=None) -> dict:
    t0 = time.time()
    args, profile, cfg = setup(__doc__.splitlines()[0], settings.evaluation, argv)
    import genmodels_course as gm

    dev = gm.runtime.device()
    x_train, _ = gm.data.load_mnist(train=True, device="cpu")
    x_test, _ = gm.data.load_mnist(train=False, device="cpu")
    n = min(cfg["n"], len(x_test) // 2)
    i_ref, i_fresh = gm.scoreboard.disjoint_subsets(len(x_test), n, seed=cfg["seed"])
    ref = gm.scoreboard.reference(x_test[i_ref], x_train)
    budget = {"pixelcnn_mnist": cfg["n_pixelcnn"], "unet_mnist": cfg["n_slow"]}
    i_train = gm.scoreboard.disjoint_subsets(len(x_train), n, seed=cfg["seed"])[0]
    sets = {"fresh real images": (x_test[i_fresh], None), "training images": (x_train[i_train], None)}
    labels = {}
    for name in gm.scoreboard.MODELS:
        sampler = gm.scoreboard.shipped_sampler(name, device=dev)
        x, speed = gm.scoreboard.draw(sampler, min(budget.get(name, n), n), seed=args.seed)
        sets[sampler.title], labels[sampler.title] = (x, speed), sampler.label
    rows = {}
    for title, (x, speed) in sets.items():
        s = gm.scoreboard.score(x, ref, k=cfg["k"], kid_subset=cfg["kid_subset"],
                                kid_subsets=cfg["kid_subsets"], copy_quantile=cfg["copy_quantile"],
                                seed=args.seed)
        s["s_per_1000"] = None if speed is None else round(speed, 2)
        rows[title] = {k: (round(v, 5) if isinstance(v, float) else v) for k, v in s.items()}
    lik = gm.scoreboard.likelihoods(x_test[:cfg["n_nll"]], iwae_k=1000, seed=args.seed, device=dev)
    result = {"chapter": "09_evaluating_generative_models", "profile": profile, "device": str(dev),
              "n_reference": n, "rows": rows, "n_nll": cfg["n_nll"],
              "likelihoods": {k: round(v, 4) for k, v in lik.items()}, "labels": labels,
              "wall_s": round(time.time() - t0, 1)}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
