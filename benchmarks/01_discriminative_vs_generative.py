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

import argparse
import json
import os
import time

PROFILES = {  # keep in sync with the notebook's cfg
    "quick": dict(n_train=3_000, n_test=1_000, mnist_sizes=[10, 30, 100, 300, 1_000],
                  digits_sizes=[10, 30, 100, 300, 1_000], seeds=[0, 1], lr_iter=100),
    "cpu": dict(n_train=20_000, n_test=5_000, mnist_sizes=[10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000],
                digits_sizes=[10, 20, 40, 80, 160, 320, 640, 1_000], seeds=[0, 1, 2], lr_iter=100),
    "gpu": dict(n_train=None, n_test=None, mnist_sizes=[10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000],
                digits_sizes=[10, 20, 40, 80, 160, 320, 640, 1_000], seeds=[0, 1, 2, 3, 4], lr_iter=100),
}
COMMON = dict(alpha=1.0, C=100.0, seed=0)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default=None,
                        help="quick | cpu | gpu (default: the runtime's active profile)")
    args = parser.parse_args(argv)
    if args.profile == "quick":
        os.environ["GENMODELS_QUICK"] = "1"

    import torch
    from sklearn.metrics import roc_auc_score

    import genmodels_course as gm
    from genmodels_course import classic

    t0 = time.time()
    profile = args.profile or gm.runtime.profile()
    s = dict(PROFILES[profile], **COMMON)
    gm.runtime.seed_everything(s["seed"])

    x, y = gm.data.load_mnist(train=True, n=s["n_train"])
    xt, yt = gm.data.load_mnist(train=False, n=s["n_test"])
    xf, _ = gm.data.load_fashion_mnist(train=False, n=s["n_test"])
    xb, xtb, xfb = (gm.data.binarize_static(v).flatten(1) for v in (x, xt, xf))

    def nb_fitter(a, b):
        return classic.BernoulliNB.fit(a, b, 10, alpha=s["alpha"]).predict

    def lr_fitter(a, b):
        return classic.fit_logistic_regression(a, b, 10, C=s["C"], max_iter=s["lr_iter"]).predict

    fitters = {"nb": nb_fitter, "lr": lr_fitter}
    out = {"profile": profile, "device": str(gm.runtime.device()), "train_images": len(xb)}

    # learning curves: binarised 8x8 digits (1000 train / 797 test) and binarised MNIST
    xd, yd = gm.data.load_digits()
    xd = (xd.flatten(1) > 0.5).float()
    perm = torch.randperm(len(xd), generator=torch.Generator().manual_seed(s["seed"])).to(xd.device)
    tr, te = perm[:1_000], perm[1_000:]
    for name, data, sizes in [("digits8x8", (xd[tr], yd[tr], xd[te], yd[te]), s["digits_sizes"]),
                              ("mnist", (xb, y, xtb, yt), s["mnist_sizes"])]:
        curves = classic.learning_curves(fitters, *data, sizes, s["seeds"])
        cross = classic.crossing_point(sizes, curves["nb"], curves["lr"])
        out[f"crossing_{name}"] = None if cross is None else round(cross, 1)
        out[f"nb_leads_at_{name}"] = [n for n, a, b in zip(sizes, curves["nb"].mean(0), curves["lr"].mean(0)) if a < b]
        out[f"curve_{name}"] = {"sizes": list(sizes), "nb_err": [round(v, 4) for v in curves["nb"].mean(0)],
                                "lr_err": [round(v, 4) for v in curves["lr"].mean(0)]}

    # full-data classifiers, missing pixels, anomaly detection
    nb = classic.BernoulliNB.fit(xb, y, 10, alpha=s["alpha"])
    lr = classic.fit_logistic_regression(xb, y, 10, C=s["C"], max_iter=s["lr_iter"])
    acc = lambda pred: round((pred == yt).float().mean().item(), 4)  # noqa: E731
    out["acc_naive_bayes"], out["acc_logistic_regression"] = acc(nb.predict(xtb)), acc(lr.predict(xtb))
    mask = classic.random_mask(xtb.shape, 0.5, torch.Generator().manual_seed(s["seed"])).to(xtb.device)
    out["acc_missing50_naive_bayes"] = acc(nb.predict(xtb, mask))
    out["acc_missing50_logistic_regression"] = acc(lr.predict(classic.impute_mean(xtb, mask, xb.mean(0))))
    scores = torch.cat([nb.log_prob(xtb), nb.log_prob(xfb)]).cpu().numpy()
    labels = [1] * len(xtb) + [0] * len(xfb)
    out["auroc_digits_vs_fashion"] = round(float(roc_auc_score(labels, scores)), 4)
    out["wall_s"] = round(time.time() - t0, 1)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
