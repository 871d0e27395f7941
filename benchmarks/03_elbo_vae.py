"""Benchmark of chapter 3: a VAE on dynamically binarised MNIST.

Trains the chapter's main model (the same sizes as ``notebooks/03_elbo_vae.ipynb``) and
prints ONE JSON line with:

* ``test_nll_iwae``: the test negative log-likelihood in nats, estimated with the IWAE
  bound at ``iwae_k`` importance samples on ``n_test`` test images (binarised once, with a
  fixed seed). Anchor: the one-stochastic-layer VAE of Burda et al. (2016), Table 1,
  reports 86.76 nats after about 3,300 epochs; the target for the gpu profile is <= 90.
* ``test_neg_elbo``: the negative ELBO on the same images (always above the IWAE value).
* ``active_units``: latent units with ``Var_x(E_q[z_j|x]) > 0.01`` (Burda et al., 2016).
* ``auroc_elbo``, ``auroc_rec``: anomaly detection of Fashion-MNIST test images among
  MNIST test images, scored by the negative ELBO and by the reconstruction error.
* ``wall_s``: wall time of the whole run.

Usage::

    GENMODELS_DATA=/path/to/data python benchmarks/03_elbo_vae.py --profile cpu
"""
from __future__ import annotations

import json
import sys
import time

from _common import command_line, setup  # benchmarks/_common.py

PROFILES = {
    # the main model of the notebook, per profile (keep in sync with the notebook's cfg);
    # the gpu profile trains longer than the notebook (60k steps, about 256 epochs, vs 20k)
    # because the benchmark has no 3-minute budget and its target is <= 90 nats.
    "quick": dict(n_train=3_000, steps=300, batch=128, z_dim=16, hidden=(256,), lr=1e-3,
                  iwae_k=64, n_test=200, n_ood=200),
    "cpu": dict(n_train=None, steps=1_500, batch=128, z_dim=32, hidden=(400,), lr=1e-3,
                iwae_k=1000, n_test=1000, n_ood=2000),
    "gpu": dict(n_train=None, steps=60_000, batch=256, z_dim=32, hidden=(512, 256), lr=1e-3,
                iwae_k=5000, n_test=None, n_ood=None),
    # the shipped weights (--save-weights): long enough on 2 CPU cores (about 30 minutes of
    # training, ~190 epochs) to pass the chapter's target of <= 90 nats at K = 1000; the
    # learning rate drops tenfold for the last 15% of the steps.
    "weights": dict(n_train=None, steps=70_000, batch=128, z_dim=32, hidden=(512, 256), lr=1e-3,
                    lr_final_frac=0.15, iwae_k=1000, n_test=None, n_ood=2000),
}


def main(argv=None) -> dict:
    args, profile, s = setup(__doc__.splitlines()[0], PROFILES, argv)

    import torch
    from sklearn.metrics import roc_auc_score

    import genmodels_course as gm
    from genmodels_course import vae

    t0 = time.time()
    dev = gm.runtime.device()

    x_train, _ = gm.data.load_mnist(train=True, n=s["n_train"])
    x_test, _ = gm.data.load_mnist(train=False, n=s["n_test"])
    x_ood, _ = gm.data.load_fashion_mnist(train=False, n=s["n_ood"])
    g_eval = gm.runtime.generator(1234)
    xb_test = gm.data.binarize_dynamic(x_test, generator=g_eval)      # binarised once, fixed seed
    xb_ood = gm.data.binarize_dynamic(x_ood, generator=g_eval)

    model = vae.VAE(vae.VAEConfig(z_dim=s["z_dim"], hidden=s["hidden"])).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=s["lr"])
    step = vae.make_step(model, generator=gm.runtime.generator(args.seed + 1))
    batches = gm.data.Batches(x_train, batch_size=s["batch"], seed=args.seed)
    main_steps = s["steps"] - int(s["steps"] * s.get("lr_final_frac", 0.0))
    history = gm.train.fit(model, step, batches, optimizer=opt, steps=main_steps, amp=False,
                           desc="VAE", progress=sys.stderr.isatty(), log_every=50)
    if main_steps < s["steps"]:  # a second, quieter phase at a tenth of the learning rate
        for group in opt.param_groups:
            group["lr"] = s["lr"] / 10
        history = gm.train.fit(model, step, batches, optimizer=opt, steps=s["steps"] - main_steps,
                               amp=False, desc="VAE (lr / 10)", progress=sys.stderr.isatty(),
                               log_every=50)
    t_train = time.time() - t0
    if args.save_weights:  # measure what ships: the weights rounded to fp16
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(p.half().float())

    model.eval()
    g = gm.runtime.generator(99)
    nll = vae.iwae_nll(model, xb_test, k=s["iwae_k"], batch_size=32 if dev.type == "cpu" else 256,
                       k_chunk=250 if dev.type == "cpu" else 1000, generator=g)
    with torch.no_grad():
        nelbo_test = -vae.log_weights(model, xb_test, 20, generator=g).mean(1)
        nelbo_ood = torch.cat([-vae.log_weights(model, xb_ood[i:i + 500], 20, generator=g).mean(1)
                               for i in range(0, xb_ood.shape[0], 500)])
        rec_test = vae.bernoulli_nll(model.decode(vae.posterior_means(model, xb_test)[0]), xb_test)
        rec_ood = vae.bernoulli_nll(model.decode(vae.posterior_means(model, xb_ood)[0]), xb_ood)
    labels = [0] * len(nelbo_test) + [1] * len(nelbo_ood)
    auroc_elbo = roc_auc_score(labels, torch.cat([nelbo_test, nelbo_ood]).cpu().numpy())
    auroc_rec = roc_auc_score(labels, torch.cat([rec_test, rec_ood]).cpu().numpy())
    active, _ = vae.active_units(model, xb_test)
    result = dict(
        chapter="03_elbo_vae", profile=profile, device=str(dev),
        device_name=torch.cuda.get_device_name(0) if dev.type == "cuda" else dev.type,
        torch_threads=torch.get_num_threads(),
        n_train=int(x_train.shape[0]), steps=s["steps"], batch=s["batch"],
        epochs=round(s["steps"] * s["batch"] / x_train.shape[0], 1), z_dim=s["z_dim"],
        hidden=list(s["hidden"]), train_loss_last=round(history.mean("loss", last=5), 3),
        test_nll_iwae=round(float(nll.mean()), 3), iwae_k=s["iwae_k"], n_test=int(xb_test.shape[0]),
        test_neg_elbo=round(float(nelbo_test.mean()), 3),
        active_units=active, auroc_elbo=round(float(auroc_elbo), 4), auroc_rec=round(float(auroc_rec), 4),
        n_ood=int(xb_ood.shape[0]), train_s=round(t_train, 1), wall_s=round(time.time() - t0, 1),
    )
    if args.save_weights:
        result["weights"] = gm.weights.save(
            "vae_mnist", model, builder="genmodels_course.vae:VAE",
            config_class="genmodels_course.vae:VAEConfig",
            config={"z_dim": s["z_dim"], "hidden": list(s["hidden"])},
            command=command_line(argv), profile=profile, machine=gm.weights.describe_machine(),
            wall_time_s=t_train, steps=s["steps"], dtype=torch.float16,
            metrics={k: result[k] for k in ("test_nll_iwae", "iwae_k", "n_test", "test_neg_elbo",
                                            "active_units", "auroc_elbo", "auroc_rec")},
            data="dynamically binarised MNIST (60,000 training images)")["file"]
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
