"""Benchmark of chapter 1: naive Bayes against logistic regression on binarised digits.

Runs the experiments of ``notebooks/01_discriminative_vs_generative.ipynb`` with the same
sizes and prints ONE JSON line with:

* ``crossing_digits8x8``, ``crossing_mnist``: the training-set size where logistic
  regression's mean test error (over ``seeds``) drops below Bernoulli naive Bayes' for good,
  interpolated in log N (``classic.crossing_point``); ``null`` if it never does in the range.
  ``nb_leads_at_*`` lists the sizes where naive Bayes had the lower mean error: when it is
  empty, logistic regression was ahead at every size and the crossing is only an upper bound
  (the smallest size). Anchor: Ng and Jordan (2001) find naive Bayes ahead with little data
  and logistic regression ahead with much, on UCI data sets.
* ``acc_naive_bayes``, ``acc_logistic_regression``: test accuracy on binarised MNIST, trained
  on ``n_train`` images (all 60,000 in the gpu profile).
* ``acc_missing50_*``: the same with 50% of the test pixels hidden at random: naive Bayes
  marginalises them exactly, logistic regression sees them mean-imputed.
* ``auroc_digits_vs_fashion``: MNIST test digits vs Fashion-MNIST test garments, scored by
  ``log p(x)`` under the naive Bayes model of digits.
* ``wall_s``: wall time of the whole run.

Usage::

    GENMODELS_DATA=/path/to/data python benchmarks/01_discriminative_vs_generative.py --profile cpu
"""
from __future__ import annotations

import json
import time

from _common import setup  # benchmarks/_common.py

from genmodels_course import settings  # the sizes, shared with the notebook


def main(argv=None) -> dict:
    t0 = time.time()
    args, profile, s = setup(__doc__.splitlines()[0], settings.classic, argv)

    import torch

    import genmodels_course as gm
    from genmodels_course import classic

    x, y = gm.data.load_mnist(train=True, n=s["n_train"])
    xt, yt = gm.data.load_mnist(train=False, n=s["n_test"])
    xf, _ = gm.data.load_fashion_mnist(train=False, n=s["n_test"])
    xb, xtb, xfb = (gm.data.binarize_static(v).flatten(1) for v in (x, xt, xf))

    fitters = classic.ng_jordan_fitters(10, alpha=s["alpha"], C=s["C"], max_iter=s["lr_iter"])
    nb_name, lr_name = "naive Bayes", "logistic regression"
    out = {"profile": profile, "device": str(gm.runtime.device()), "train_images": len(xb)}

    # learning curves: binarised 8x8 digits (1000 train / 797 test) and binarised MNIST
    xd, yd = gm.data.load_digits()
    xd = (xd.flatten(1) > 0.5).float()
    perm = torch.randperm(len(xd), generator=torch.Generator().manual_seed(args.seed)).to(xd.device)
    tr, te = perm[:1_000], perm[1_000:]
    for name, data, sizes in [("digits8x8", (xd[tr], yd[tr], xd[te], yd[te]), s["digits_sizes"]),
                              ("mnist", (xb, y, xtb, yt), s["mnist_sizes"])]:
        curves = classic.learning_curves(fitters, *data, sizes, s["seeds"])
        cross = classic.crossing_point(sizes, curves[nb_name], curves[lr_name])
        out[f"crossing_{name}"] = None if cross is None else round(cross, 1)
        out[f"nb_leads_at_{name}"] = [n for n, a, b in zip(sizes, curves[nb_name].mean(0), curves[lr_name].mean(0)) if a < b]
        out[f"curve_{name}"] = {"sizes": list(sizes), "nb_err": [round(v, 4) for v in curves[nb_name].mean(0)],
                                "lr_err": [round(v, 4) for v in curves[lr_name].mean(0)]}

    # full-data classifiers, missing pixels, anomaly detection
    nb = classic.BernoulliNB.fit(xb, y, 10, alpha=s["alpha"])
    lr = classic.fit_logistic_regression(xb, y, 10, C=s["C"], max_iter=s["lr_iter"])
    acc = lambda pred: round((pred == yt).float().mean().item(), 4)  # noqa: E731
    out["acc_naive_bayes"], out["acc_logistic_regression"] = acc(nb.predict(xtb)), acc(lr.predict(xtb))
    mask = classic.random_mask(xtb.shape, 0.5, torch.Generator().manual_seed(args.seed)).to(xtb.device)
    out["acc_missing50_naive_bayes"] = acc(nb.predict(xtb, mask))
    out["acc_missing50_logistic_regression"] = acc(lr.predict(classic.impute_mean(xtb, mask, xb.mean(0))))
    # anomaly score: -log p(x); digits are the normal class, garments the anomalies
    out["auroc_digits_vs_fashion"] = round(gm.metrics.auroc(-nb.log_prob(xtb), -nb.log_prob(xfb)), 4)
    out["wall_s"] = round(time.time() - t0, 1)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
