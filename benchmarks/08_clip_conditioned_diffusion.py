"""Benchmark of chapter 8: a small CLIP on captioned MNIST + Fashion-MNIST, and a
text-conditioned latent diffusion model with classifier-free guidance.

Trains, with the sizes of ``notebooks/08_clip_conditioned_diffusion.ipynb`` (from
``gm.settings.clip``; the held-out combinations removed from training as there): the
CLIP (eq. 8.2), the 4x7x7 latent autoencoder, and the FiLM denoiser with condition
dropout (eq. 8.5). Prints ONE JSON line with:

* ``zero_shot``: 20-way zero-shot accuracy on the test images of both data sets, for each
  held-out wording (``gm.captions.HELDOUT_TEMPLATES``) and their ensemble (eq. 8.3);
* ``sweep``: for each guidance scale ``w`` (eq. 8.6), on ``sweep_n`` DDIM samples per digit
  prompt "handwritten {name}": ``accuracy`` and ``confidence`` of the MNIST classifier for
  the prompted digit, ``spread`` (within-prompt feature spread) and ``fd`` (Frechet
  distance to the MNIST test digits), and the same numbers for real test digits;
* ``compose``: for the held-out thick sevens and a seen control (thick fours), the share
  of samples measured thicker than the class median for the "thick" and "thin" prompts;
* ``cost_pixel_over_latent``: seconds per training step and per guided sample of the same
  denoiser on the 4x7x7 latents and on 1x28x28 pixels, and their ratios (cost only);
* ``train_s``, ``wall_s``.

With ``--save-weights`` it trains the shipped models instead (``settings.clip(weights=True)``:
the same networks on more images, trained longer), rounds them to fp16, measures the
rounded models as above and writes ``clip_captions``, ``latent_ae_captions`` and
``ldm_captions`` (the EMA denoiser) with their manifests into ``genmodels_course/shipped/``,
which the chapter loads and measures again in its own run.

Usage::

    GENMODELS_DATA=/path/to/data python benchmarks/08_clip_conditioned_diffusion.py --profile cpu
    python benchmarks/08_clip_conditioned_diffusion.py --profile cpu --save-weights  # ~30 min
"""
from __future__ import annotations

import json
import sys
import time

from _common import command_line, setup  # benchmarks/_common.py

from genmodels_course import settings  # the sizes, shared with the notebook


#: the shipped denoiser of each ``--denoiser`` choice
DENOISERS = {"film": "ldm_captions", "cross": "ldm_xattn_captions", "pixel": "t2i_unet_captions"}


def add_arguments(parser) -> None:
    parser.add_argument("--denoiser", choices=sorted(DENOISERS), default="film",
                        help="film: the FiLM denoiser on the latents (default); cross: the same "
                             "with cross-attention over the caption's tokens; pixel: chapter 7's "
                             "U-Net on 28x28 pixels. With --save-weights, cross and pixel reuse the "
                             "shipped CLIP (and autoencoder) and train only the denoiser")


def main(argv=None) -> dict:
    args, profile, s = setup(__doc__.splitlines()[0], settings.clip, argv, steps_key="ldm_steps",
                             add_arguments=add_arguments)

    import torch

    import genmodels_course as gm
    from genmodels_course import captions as C
    from genmodels_course import clip as CL
    from genmodels_course import diffusion as D
    from genmodels_course import guidance as G
    from genmodels_course import latent_diffusion as LD

    t0 = time.time()
    dev = gm.runtime.device()
    progress = sys.stderr.isatty()
    kind = args.denoiser
    if kind == "pixel" and args.steps is not None:  # --steps sets the trained denoiser's steps
        s["pix_steps"] = args.steps
    steps = s["pix_steps"] if kind == "pixel" else s["ldm_steps"]
    tok = C.Tokenizer.for_captions()
    x, y, codes, tokens, th = C.load_captioned(True, s["n_train"], tokenizer=tok, length=s["length"])
    xt, yt, _, _, _ = C.load_captioned(False, s["n_test"], thresholds=th, tokenizer=tok)
    keep = C.holdout_mask(y, codes, s["heldout"])
    x, y, tokens = x[keep], y[keep], tokens[keep]

    schedule = D.NoiseSchedule.linear(s["T"], device=dev)
    if args.remeasure or (args.save_weights and kind != "film"):  # the shipped CLIP and autoencoder
        model, meta = gm.weights.load("clip_captions", device=dev)
        if meta["vocabulary"] != tok.itos:
            raise SystemExit("the caption vocabulary changed since the shipped CLIP was trained: "
                             "retrain with --save-weights")
        ae, _ = gm.weights.load("latent_ae_captions", device=dev)
        t_clip = 0.0
    else:
        with gm.runtime.seeded(args.seed):
            model = CL.CLIP(len(tok), s["embed_dim"], s["text_width"], s["text_layers"],
                            s["image_width"], s["length"]).to(dev)
        gm.train.fit(model, CL.make_clip_step(model, gm.runtime.generator(args.seed + 1)),
                     gm.data.Batches(x, tokens, batch_size=s["clip_batch"], seed=args.seed),
                     optimizer=torch.optim.Adam(model.parameters(), lr=s["lr"]), steps=s["clip_steps"],
                     desc="CLIP", progress=progress)
        model.eval()
        with gm.runtime.seeded(args.seed):
            ae = LD.LatentAutoencoder(s["latent_channels"], s["ae_width"]).to(dev)
        gm.train.fit(ae, LD.make_ae_step(ae), gm.data.Batches(x, batch_size=s["ae_batch"], seed=1),
                     optimizer=torch.optim.Adam(ae.parameters(), lr=2e-3), steps=s["ae_steps"],
                     desc="autoencoder", progress=progress)
        ae.eval()
        ae.fit_scale(x)
        t_clip = time.time() - t0
    for net in (model, ae):
        for q in net.parameters():
            q.requires_grad_(False)

    def condition(tok_batch):  # what the denoiser is told about a caption
        if kind == "cross":
            return G.token_condition(model.text, tok_batch)
        return model.encode_text(tok_batch)

    def embed(texts):
        with torch.no_grad():
            return condition(tok.encode(texts, s["length"], device=dev))

    def sample(c, seed, w, net=None):
        net = den if net is None else net
        shape = (1, 28, 28) if kind == "pixel" else (s["latent_channels"], 7, 7)
        out = G.guided_sample(net, c, (len(c), *shape), schedule, w=w, steps=s["ddim_steps"],
                              generator=gm.runtime.generator(seed))
        with torch.no_grad():
            return gm.data.from_tanh_range(out).clamp(0, 1) if kind == "pixel" else ae.decode(out)

    labels_of = lambda n: torch.arange(10, device=dev).repeat_interleave(n)  # noqa: E731
    c_digit = embed([f"handwritten {name}" for name in C.DIGITS])
    curve = []
    if args.remeasure:
        den, meta = gm.weights.load(DENOISERS[kind], device=dev)
        t_train, curve = meta["wall_time_s"], meta["metrics"].get("curve", [])
    else:
        data = gm.data.to_tanh_range(x) if kind == "pixel" else ae.encode_dataset(x)
        with torch.no_grad():
            cond = torch.stack([CL.embed_in_batches(condition, tokens[:, k])
                                for k in range(tokens.shape[1])], 1)
        with gm.runtime.seeded(args.seed + 1):
            if kind == "pixel":
                den = G.CondUNet(1, s["pix_channels"], s["pix_t_dim"], s["embed_dim"]).to(dev)
            elif kind == "cross":
                den = G.CrossAttnDenoiser(s["latent_channels"], s["ldm_width"], s["ldm_blocks"],
                                          s["text_width"], s["length"]).to(dev)
            else:
                den = G.CondDenoiser(s["latent_channels"], s["ldm_width"], s["ldm_blocks"],
                                     s["embed_dim"]).to(dev)
        ema = gm.train.EMA(den, decay=s["ema_decay"])
        step = G.make_cfg_step(den, schedule, s["p_uncond"], gm.runtime.generator(args.seed + 3))
        batches = gm.data.Batches(data, cond, batch_size=s["pix_batch" if kind == "pixel" else "ldm_batch"],
                                  seed=2)
        opt = torch.optim.Adam(den.parameters(), lr=s["lr"])
        # train in segments; after each, the prompt agreement at w = 3 on a few samples per
        # digit (the learning curve that a matched-quality cost comparison reads)
        every = min(s["curve_every"], steps)
        t_den, done = 0.0, 0
        n = s["curve_n"]
        while done < steps:
            seg = min(every, steps - done)
            start = time.time()
            gm.train.fit(den, step, batches, optimizer=opt, steps=seg, ema=ema, grad_clip=1.0,
                         desc=f"{kind} denoiser {done + seg}/{steps}", progress=progress)
            t_den += time.time() - start
            done += seg
            xs = sample(c_digit.repeat_interleave(n, 0), 99, 3.0, net=ema.module)
            curve.append({"step": done, "train_s": round(t_den, 1),
                          "accuracy_w3": round(G.prompt_agreement(xs, labels_of(n))["accuracy"], 4)})
            print(json.dumps({"curve": curve[-1]}), file=sys.stderr, flush=True)
        den, t_train = ema.module, t_clip + t_den
    den.eval()
    if args.save_weights:  # measure what ships: every model rounded to fp16
        for net in (model, ae, den):
            gm.weights.round_as_saved(net)

    img = CL.embed_in_batches(model.encode_image, xt)
    zero_shot = {}
    for template in C.HELDOUT_TEMPLATES:
        p = CL.embed_prompts(model, tok, [template], C.CLASS_NAMES)
        zero_shot[template] = round(float((CL.zero_shot_classify(img, p) == yt).float().mean()), 4)
    p = CL.embed_prompts(model, tok, C.HELDOUT_TEMPLATES, C.CLASS_NAMES)
    hits = (CL.zero_shot_classify(img, p) == yt).float()
    zero_shot["ensemble"] = round(float(hits.mean()), 4)
    # each data set on its own (still 20-way: a digit may be mistaken for a garment)
    zero_shot["ensemble_mnist"] = round(float(hits[yt < 10].mean()), 4)
    zero_shot["ensemble_fashion"] = round(float(hits[yt >= 10].mean()), 4)

    n = s["sweep_n"]
    labels = labels_of(n)
    c = c_digit.repeat_interleave(n, 0)
    x_digits, y_digits = xt[yt < 10], yt[yt < 10]
    sweep = []
    for w in s["sweep_ws"]:
        xs = torch.cat([sample(c[i:i + 500], 5 + i, w) for i in range(0, len(c), 500)])
        a = G.prompt_agreement(xs, labels)
        sweep.append({"w": w, "accuracy": round(a["accuracy"], 4), "confidence": round(a["confidence"], 4),
                      "spread": round(G.feature_spread(xs, labels), 3),
                      "fd": round(gm.metrics.fid(xs, x_digits), 3)})
    real = G.prompt_agreement(x_digits, y_digits)
    with torch.no_grad():
        recon = G.prompt_agreement(ae.decode(ae.encode(x_digits)), y_digits)
    real["spread"] = G.feature_spread(x_digits, y_digits)
    compose = {}
    for label, name in ((7, "seven (held out)"), (4, "four (seen)")):
        shares = {}
        for word in ("thick", "thin"):
            prompt = f"the number {C.DIGITS[label]} written with {word} strokes"
            xs = sample(embed([prompt]).expand(s["n_compose"], -1), 6, 3.0)
            shares[word] = round(float((C.measure(xs)["thickness"] > th["thickness"][label]).float().mean()), 3)
        compose[name] = shares
    cost = pixel_vs_latent_cost(s, G, D, torch, schedule, c_digit[3:4], dev) if kind == "film" else None
    result = {
        "chapter": "08_clip_conditioned_diffusion", "profile": profile, "device": str(dev),
        "denoiser": kind, "n_train": len(x), "clip_steps": s["clip_steps"], "denoiser_steps": steps,
        "curve_w3": curve, "curve_n_per_digit": s["curve_n"],
        "zero_shot": zero_shot, "sweep": sweep, "sweep_n_per_digit": n,
        "real_digits": {k: round(v, 4) for k, v in real.items()},
        "recon_agreement": round(recon["accuracy"], 4),
        "compose_share_thicker_than_median_w3": compose,
        "cost_pixel_over_latent": cost,
        "ae_s_per_train_step": ae_step_seconds(s, LD, torch, dev),
        "train_s": round(t_train, 1), "wall_s": round(time.time() - t0, 1),
    }
    if args.remeasure:
        for name, numbers in metrics_of(s, result, kind).items():
            gm.weights.update_metrics(name, numbers, command=command_line(argv))
    elif args.save_weights:
        result["weights"] = save_weights(args, argv, profile, s, gm, tok, model, ae, den, result, t_train,
                                         kind)
    print(json.dumps(result))
    return result


def pixel_vs_latent_cost(s, G, D, torch, schedule, c, dev, reps: int = 10) -> dict:
    """What the latent space saves: seconds per training step (batch ``ldm_batch``) and per
    guided DDIM sample of the same FiLM denoiser on 4x7x7 latents and on 1x28x28 pixels,
    freshly initialised and fed noise (cost only: no pixel model is trained to a matched
    quality, and the time of a step does not depend on what the tensors hold)."""
    out = {}
    for space, shape in (("latent", (s["latent_channels"], 7, 7)), ("pixel", (1, 28, 28))):
        net = G.CondDenoiser(shape[0], s["ldm_width"], s["ldm_blocks"], s["embed_dim"]).to(dev)
        opt = torch.optim.Adam(net.parameters(), lr=s["lr"])
        data = torch.randn(s["ldm_batch"], *shape, device=dev)
        cond = c.expand(len(data), -1)

        def step():
            loss = D.eps_loss(lambda xt, t: net(xt, t, cond), data, schedule)
            opt.zero_grad()
            loss.backward()
            opt.step()

        step()  # warm-up
        start = time.perf_counter()
        for _ in range(reps):
            step()
        train = (time.perf_counter() - start) / reps
        start = time.perf_counter()
        G.guided_sample(net, c.expand(16, -1), (16, *shape), schedule, w=3.0, steps=s["ddim_steps"])
        sample = (time.perf_counter() - start) / 16
        out[space] = {"s_per_train_step": round(train, 4), "s_per_sample": round(sample, 5)}
    out["train_ratio"] = round(out["pixel"]["s_per_train_step"] / out["latent"]["s_per_train_step"], 1)
    out["sample_ratio"] = round(out["pixel"]["s_per_sample"] / out["latent"]["s_per_sample"], 1)
    return out


def ae_step_seconds(s, LD, torch, dev, reps: int = 10) -> float:
    """Seconds per training step of the latent autoencoder (batch ``ae_batch``): the cost
    that latent diffusion pays before its denoiser trains, for the cost comparison."""
    ae = LD.LatentAutoencoder(s["latent_channels"], s["ae_width"]).to(dev)
    step = LD.make_ae_step(ae)
    opt = torch.optim.Adam(ae.parameters(), lr=2e-3)
    data = torch.rand(s["ae_batch"], 1, 28, 28, device=dev)
    for i in range(reps + 1):
        if i == 1:
            start = time.perf_counter()
        out = step((data,))
        loss = out[0] if isinstance(out, tuple) else out
        opt.zero_grad()
        loss.backward()
        opt.step()
    return round((time.perf_counter() - start) / reps, 4)


def metrics_of(s, result, kind: str = "film") -> dict:
    """The numbers each shipped model's manifest records, by model name (for ``kind``
    ``cross`` or ``pixel`` only the denoiser: the CLIP and the autoencoder are the shipped ones)."""
    sweep = {f"w={r['w']:g}": {k: r[k] for k in ("accuracy", "confidence", "fd")} for r in result["sweep"]}
    den = {"prompt_agreement": sweep, "n_per_digit": s["sweep_n"], "ddim_steps": s["ddim_steps"],
           "real_digits": result["real_digits"], "compose": result["compose_share_thicker_than_median_w3"],
           "curve": result["curve_w3"], "curve_n_per_digit": s["curve_n"]}
    if kind != "film":
        if kind == "cross":
            den["ae_s_per_train_step"] = result["ae_s_per_train_step"]
            den["ae_steps"] = s["ae_steps"]
        return {DENOISERS[kind]: den}
    return {"clip_captions": {"zero_shot": result["zero_shot"]},
            "latent_ae_captions": {"recon_agreement": result["recon_agreement"]},
            "ldm_captions": den}


def save_weights(args, argv, profile, s, gm, tok, model, ae, den, result, t_train, kind="film") -> list:
    """Write the shipped models with manifests that record the run's numbers: all three for
    ``film``, only the denoiser for ``cross`` and ``pixel``."""
    common = dict(command=command_line(argv), profile=profile, machine=gm.weights.describe_machine(),
                  wall_time_s=t_train,
                  data=f"captioned MNIST + Fashion-MNIST ({result['n_train']:,} training images, "
                       f"held out: {list(map(list, s['heldout']))})")
    numbers = metrics_of(s, result, kind)
    training = {"ema_decay": s["ema_decay"], "p_uncond": s["p_uncond"], "lr": s["lr"], "weights": "EMA",
                "seed": args.seed}
    if kind == "pixel":
        meta = gm.weights.save("t2i_unet_captions", den, builder="genmodels_course.guidance:CondUNet",
                               config={"in_channels": 1, "channels": list(s["pix_channels"]),
                                       "t_dim": s["pix_t_dim"], "cond_dim": s["embed_dim"]},
                               steps=s["pix_steps"], metrics=numbers["t2i_unet_captions"],
                               training=dict(training, batch_size=s["pix_batch"],
                                             condition="clip_captions text embedding"), **common)
        return [meta["file"]]
    if kind == "cross":
        meta = gm.weights.save("ldm_xattn_captions", den, builder="genmodels_course.guidance:CrossAttnDenoiser",
                               config={"in_channels": s["latent_channels"], "width": s["ldm_width"],
                                       "blocks": s["ldm_blocks"], "context_dim": s["text_width"],
                                       "context_len": s["length"]},
                               steps=s["ldm_steps"], metrics=numbers["ldm_xattn_captions"],
                               training=dict(training, batch_size=s["ldm_batch"],
                                             condition="clip_captions token features (token_condition)"),
                               **common)
        return [meta["file"]]
    metas = [
        gm.weights.save("clip_captions", model, builder="genmodels_course.clip:CLIP",
                        config={"vocab_size": len(tok), "embed_dim": s["embed_dim"],
                                "text_width": s["text_width"], "text_layers": s["text_layers"],
                                "image_width": s["image_width"], "length": s["length"]},
                        steps=s["clip_steps"], metrics=numbers["clip_captions"],
                        vocabulary=list(tok.itos), **common),
        gm.weights.save("latent_ae_captions", ae, builder="genmodels_course.latent_diffusion:LatentAutoencoder",
                        config={"channels": s["latent_channels"], "width": s["ae_width"]},
                        steps=s["ae_steps"], metrics=numbers["latent_ae_captions"],
                        **common),
        gm.weights.save("ldm_captions", den, builder="genmodels_course.guidance:CondDenoiser",
                        config={"in_channels": s["latent_channels"], "width": s["ldm_width"],
                                "blocks": s["ldm_blocks"], "cond_dim": s["embed_dim"]},
                        steps=s["ldm_steps"], metrics=numbers["ldm_captions"],
                        training=dict(training, batch_size=s["ldm_batch"]), **common),
    ]
    return [m["file"] for m in metas]


if __name__ == "__main__":
    main()
