"""Benchmark of chapter 3: a VAE on dynamically binarised MNIST.

Trains the chapter's main model (the sizes of ``notebooks/03_elbo_vae.ipynb``, from
``gm.settings.vae``; the gpu run trains longer) and prints ONE JSON line with:

* ``test_nll_iwae``: the test negative log-likelihood in nats, estimated with the IWAE
  bound at ``iwae_k`` importance samples on ``n_nll`` test images (binarised once, with a
  fixed seed). Anchor: the one-stochastic-layer VAE of Burda et al. (2016), Table 1,
  reports 86.76 nats after about 3,300 epochs; the target for the gpu profile is <= 90.
* ``test_neg_elbo``: the negative ELBO on all ``n_test`` test images.
* ``active_units``: latent units with ``Var_x(E_q[z_j|x]) > 0.01`` (Burda et al., 2016).
* ``auroc_elbo``, ``auroc_rec``: anomaly detection of Fashion-MNIST test images among
  MNIST test images, scored by the negative ELBO and by the reconstruction error.
* ``wall_s``: wall time of the whole run.

Usage::

    GENMODELS_DATA=/path/to/data python benchmarks/03_elbo_vae.py --profile cpu
    python benchmarks/03_elbo_vae.py --profile cpu --save-weights   # the shipped VAE (~40 min)
"""
from __future__ import annotations

import json
import sys
import time

from _common import command_line, setup  # benchmarks/_common.py

from genmodels_course import settings  # the sizes, shared with the notebook


def main(argv=None) -> dict:
    args, profile, s = setup(__doc__.splitlines()[0], settings.vae, argv, steps_key="main_steps")

    import torch

    import genmodels_course as gm
    from genmodels_course import vae

    t0 = time.time()
    dev = gm.runtime.device()

    x_train, _ = gm.data.load_mnist(train=True, n=s["n_train"])
    x_test, _ = gm.data.load_mnist(train=False, n=s["n_test"])
    x_ood, _ = gm.data.load_fashion_mnist(train=False, n=s["n_test"])
    g_eval = gm.runtime.generator(1234)
    xb_test = gm.data.binarize_dynamic(x_test, generator=g_eval)      # binarised once, fixed seed
    xb_ood = gm.data.binarize_dynamic(x_ood, generator=g_eval)

    model = vae.VAE(vae.VAEConfig(z_dim=s["z_dim"], hidden=s["hidden"])).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=s["lr"])
    step = vae.make_step(model, generator=gm.runtime.generator(args.seed + 1))
    batches = gm.data.Batches(x_train, batch_size=s["batch"], seed=args.seed)
    # the learning rate drops tenfold for the last lr_final_frac of the steps (0: never)
    decay_at = s["main_steps"] - int(s["main_steps"] * s["lr_final_frac"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1.0 if i < decay_at else 0.1)
    history = gm.train.fit(model, step, batches, optimizer=opt, steps=s["main_steps"], amp=False,
                           scheduler=sched, desc="VAE", progress=sys.stderr.isatty(), log_every=50)
    t_train = time.time() - t0
    if args.save_weights:  # measure what ships: the weights rounded to fp16
        gm.weights.round_as_saved(model)

    model.eval()
    g = gm.runtime.generator(99)
    nll = vae.iwae_nll(model, xb_test[:s["iwae_n"]], k=s["nll_k"], batch_size=32 if dev.type == "cpu" else 256,
                       k_chunk=250 if dev.type == "cpu" else 1000, generator=g)
    def neg_elbo(xb):  # 20 samples per image, in blocks of 500 images
        return torch.cat([-vae.log_weights(model, xb[i:i + 500], 20, generator=g).mean(1)
                          for i in range(0, xb.shape[0], 500)])

    def rec_error(xb):  # -log p(x | z) at z = mu(x)
        return vae.bernoulli_nll(model.decode(vae.posterior_means(model, xb)[0]), xb)

    with torch.no_grad():
        nelbo_test, nelbo_ood = neg_elbo(xb_test), neg_elbo(xb_ood)
        rec_test, rec_ood = rec_error(xb_test), rec_error(xb_ood)
    auroc_elbo = gm.metrics.auroc(nelbo_test, nelbo_ood)  # MNIST normal, Fashion-MNIST anomalous
    auroc_rec = gm.metrics.auroc(rec_test, rec_ood)
    active, _ = vae.active_units(model, xb_test)
    result = dict(
        chapter="03_elbo_vae", profile=profile, device=str(dev),
        device_name=torch.cuda.get_device_name(0) if dev.type == "cuda" else dev.type,
        torch_threads=torch.get_num_threads(),
        n_train=int(x_train.shape[0]), steps=s["main_steps"], batch=s["batch"],
        epochs=round(s["main_steps"] * s["batch"] / x_train.shape[0], 1), z_dim=s["z_dim"],
        hidden=list(s["hidden"]), train_loss_last=round(history.mean("loss", last=5), 3),
        test_nll_iwae=round(float(nll.mean()), 3), iwae_k=s["nll_k"], n_nll=int(nll.shape[0]),
        n_test=int(xb_test.shape[0]),
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
            wall_time_s=t_train, steps=s["main_steps"], dtype=torch.float16,
            metrics={k: result[k] for k in ("test_nll_iwae", "iwae_k", "n_nll", "test_neg_elbo",
                                            "active_units", "auroc_elbo", "auroc_rec")},
            data="dynamically binarised MNIST (60,000 training images)")["file"]
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
