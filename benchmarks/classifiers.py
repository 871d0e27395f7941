"""The package's classifiers (``gm.metrics.feature_net``): train, measure, ship.

Every chapter that scores images (the Frechet distance, the share of confidently
recognised samples, prompt agreement) reads them through one small CNN per data set,
``gm.metrics.FeatureNet``. This script trains it on the full training split of MNIST and
of Fashion-MNIST (``gm.metrics.train_feature_net``: random shifts of up to 2 pixels, Adam
with a one-cycle learning rate), rounds the weights to fp16, measures the rounded network
on the test split and, with ``--save-weights``, writes ``classifier_<data set>`` with its
manifest into ``genmodels_course/shipped/``. Prints ONE JSON line: per data set the test
accuracy, the share of test images classified with confidence >= 0.9 (the number a
generative model's "confident" share is read against) and the training time.

Usage::

    GENMODELS_DATA=/path/to/data python benchmarks/classifiers.py --save-weights
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time

from _common import command_line  # benchmarks/_common.py


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["mnist", "fashion_mnist"],
                        choices=["mnist", "fashion_mnist"])
    parser.add_argument("--epochs", type=float, default=6)
    parser.add_argument("--n-train", type=int, default=None, help="default: the whole training split")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-weights", action="store_true",
                        help="write the classifiers into genmodels_course/shipped/ with manifests")
    args = parser.parse_args(argv)

    import torch

    import genmodels_course as gm
    from genmodels_course import metrics as M

    gm.runtime.seed_everything(args.seed)
    result = {"epochs": args.epochs, "device": str(gm.runtime.device())}
    for dataset in args.datasets:
        t0 = time.time()
        net = M.train_feature_net(dataset, args.n_train, args.epochs, args.seed,
                                  verbose=sys.stderr.isatty())
        wall = time.time() - t0
        gm.weights.round_as_saved(net)  # what ships
        x, y = M._LOADERS[dataset](train=False)
        with torch.no_grad():
            probs = torch.cat([net(x[i:i + 1000].to(next(net.parameters()).device)).softmax(1).cpu()
                               for i in range(0, len(x), 1000)])
        numbers = {"test_accuracy": round(float((probs.argmax(1) == y).float().mean()), 4),
                   "test_confident": round(float((probs.max(1).values >= 0.9).float().mean()), 4),
                   "n_test": len(x)}
        result[dataset] = {**numbers, "train_s": round(wall, 1)}
        if args.save_weights:
            batches = len(gm.data.Batches(*M._LOADERS[dataset](train=True, n=args.n_train), batch_size=128))
            gm.weights.save(
                M.SHIPPED_CLASSIFIERS[dataset], net, builder="genmodels_course.metrics:FeatureNet",
                config={"n_classes": 10}, command=command_line(argv), profile="cpu",
                machine=gm.weights.describe_machine(), wall_time_s=wall,
                steps=math.ceil(args.epochs * batches), metrics=numbers,
                data=f"{dataset} training split, pixels in [0, 1]",
                training={"epochs": args.epochs, "batch_size": 128, "optimizer": "Adam, one-cycle lr 2e-3",
                          "augmentation": "random shifts of up to 2 pixels", "seed": args.seed})
            result[dataset]["weights"] = M.SHIPPED_CLASSIFIERS[dataset]
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
