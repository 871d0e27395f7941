"""Chapter 8: captions, the CLIP loss and zero-shot classification, classifier-free
guidance and the latent autoencoder, tied to independent computations."""
import math

import pytest
import torch
from torch.nn import functional as F

import genmodels_course as gm
from genmodels_course import captions as C
from genmodels_course import clip as CL
from genmodels_course import diffusion as D
from genmodels_course import guidance as G
from genmodels_course import latent_diffusion as LD


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------ captions
def _bars():
    x = torch.zeros(3, 1, 28, 28)
    x[0, 0, 4:24, 13:15] = 1.0   # thin
    x[1, 0, 4:24, 11:17] = 1.0   # thick
    x[2, 0, 9:19, 11:17] = 0.6   # thick, short, faint
    return x


def test_thickness_tells_a_thick_stroke_from_a_thin_one():
    m = C.measure(_bars())
    assert m["thickness"][1] > 2 * m["thickness"][0]
    # about w / 2 for a wide bar: width 6 -> 2.5 (20 x 6 bar, boundary 48 pixels)
    assert m["thickness"][1] == pytest.approx(120 / 48)
    assert m["size"][2] < m["size"][1]
    assert m["shade"][2] == pytest.approx(0.6) and m["shade"][1] == pytest.approx(1.0)


def test_slant_sign_follows_the_lean():
    x = torch.zeros(2, 1, 28, 28)
    for r in range(4, 24):
        x[0, 0, r, 20 - (r - 4) // 2] = 1.0   # "/": the top is to the right
        x[1, 0, r, 8 + (r - 4) // 2] = 1.0    # "\": the top is to the left
    s = C.measure(x)["slant"]
    assert s[0] > 0.3 and s[1] < -0.3
    assert float(s[0]) == pytest.approx(-float(s[1]), rel=1e-5)


def test_words_come_from_class_medians():
    m = {"thickness": torch.tensor([1.0, 2.0, 3.0, 4.0]), "size": torch.tensor([1.0, 1, 1, 1]),
         "slant": torch.tensor([0.1, -0.1, 0.1, -0.1]), "shade": torch.tensor([0.2, 0.4, 0.6, 0.8])}
    y = torch.tensor([0, 0, 12, 12])
    th = C.fit_thresholds(m, y)
    codes = C.attribute_codes(m, y, th)
    assert codes[:, 0].tolist() == [0, 1, 0, 1]          # thick relative to its own class
    assert codes[:, 3].tolist() == [0, 1, 0, 1]
    assert C.caption(0, codes[1].tolist(), C.TRAIN_TEMPLATES["digit"][0]) == "a thick small digit zero"
    assert C.caption(12, codes[3].tolist(), C.TRAIN_TEMPLATES["garment"][0]) == "a dark small pullover"
    keep = C.holdout_mask(y, codes, [(0, "thickness", 1)])
    assert keep.tolist() == [True, False, True, True]


def test_caption_and_measure_reject_bad_input():
    with pytest.raises(ValueError, match="label"):
        C.caption(20, [0, 0, 0, 0], "{name}")
    with pytest.raises(ValueError, match="codes"):
        C.caption(3, [0, 2, 0, 0], "{name}")
    with pytest.raises(ValueError, match="grey images"):
        C.measure(torch.zeros(2, 28, 28))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        C.measure(torch.full((1, 1, 28, 28), 2.0))
    with pytest.raises(ValueError, match="attribute"):
        C.holdout_mask(torch.zeros(2).long(), torch.zeros(2, 4).long(), [(0, "colour", 1)])


def test_tokenizer_round_trip_padding_and_unknown_words():
    tok = C.Tokenizer.for_captions()
    ids = tok.encode(["a thick digit seven", "a purple seven"], length=8)
    assert ids.shape == (2, 8) and ids.dtype == torch.long
    assert ids[0, 0] == tok.START and ids[0, 5:].eq(tok.PAD).all()
    assert ids[1, 2] == tok.UNK
    assert tok.decode(ids[:1]) == ["a thick digit seven"]
    for template in C.HELDOUT_TEMPLATES:   # zero-shot wordings use known words only
        assert tok.UNK not in tok.encode(template.format(name="ankle boot")).tolist()[0]
    with pytest.raises(ValueError):
        tok.encode([])


# ------------------------------------------------------------------ the contrastive loss
def _brute_force_clip_loss(i, t, logit_scale):
    i, t = i / i.norm(dim=1, keepdim=True), t / t.norm(dim=1, keepdim=True)
    B, s = len(i), math.exp(float(logit_scale))
    total = 0.0
    for a in range(B):
        row = [s * float(i[a] @ t[b]) for b in range(B)]
        col = [s * float(i[b] @ t[a]) for b in range(B)]
        total -= row[a] - math.log(sum(math.exp(v) for v in row))
        total -= col[a] - math.log(sum(math.exp(v) for v in col))
    return total / (2 * B)


def test_clip_loss_matches_a_brute_force_computation():
    g = _g(0)
    i, t = torch.randn(7, 5, generator=g, dtype=torch.float64), torch.randn(7, 5, generator=g, dtype=torch.float64)
    for scale in (0.0, 1.5, math.log(1 / 0.07)):
        got = float(CL.clip_loss(i, t, torch.tensor(scale, dtype=torch.float64)))
        assert got == pytest.approx(_brute_force_clip_loss(i, t, scale), rel=1e-10)


def test_clip_loss_is_symmetric_and_minimised_by_aligned_embeddings():
    g = _g(1)
    i, t = torch.randn(16, 8, generator=g), torch.randn(16, 8, generator=g)
    s = torch.tensor(2.0)
    assert torch.isclose(CL.clip_loss(i, t, s), CL.clip_loss(t, i, s))
    basis = torch.eye(16)
    assert CL.clip_loss(basis, basis, torch.tensor(math.log(100.0))) < 1e-6
    aligned = CL.clip_loss(basis, basis, s)
    for _ in range(5):
        noisy = basis + 0.3 * torch.randn(16, 16, generator=g)
        assert aligned < CL.clip_loss(basis, noisy, s)
    # random embeddings at tau = 1 score about log B
    assert float(CL.clip_loss(i, t, torch.tensor(0.0))) == pytest.approx(math.log(16), abs=0.3)


def test_clip_loss_trains_the_temperature_and_rejects_bad_input():
    g = _g(2)
    i = torch.randn(4, 3, generator=g, requires_grad=True)
    s = torch.tensor(1.0, requires_grad=True)
    CL.clip_loss(i, i.detach() + 0.01, s).backward()
    assert s.grad is not None and float(s.grad) < 0   # aligned pairs: a sharper softmax helps
    with pytest.raises(ValueError, match="same shape"):
        CL.clip_loss(torch.randn(4, 3), torch.randn(5, 3), torch.tensor(1.0))
    with pytest.raises(ValueError, match="non-empty"):
        CL.clip_loss(torch.randn(0, 3), torch.randn(0, 3), torch.tensor(1.0))
    with pytest.raises(ValueError, match="logit_scale"):
        CL.clip_loss(torch.randn(4, 3), torch.randn(4, 3), 1.0)


def test_zero_shot_picks_the_right_class_on_constructed_embeddings():
    classes = torch.eye(3, 6)                         # class k points along axis k
    g = _g(3)
    y = torch.tensor([2, 0, 1, 1, 0, 2])
    images = classes[y] * 5 + 0.2 * torch.randn(6, 6, generator=g)
    assert CL.zero_shot_classify(images, classes).tolist() == y.tolist()
    # a prompt ensemble: two wordings per class, one of them noisy, still right
    wordings = torch.stack([classes, classes + 0.3 * torch.randn(3, 6, generator=g)], 1)
    assert CL.zero_shot_classify(images, wordings).tolist() == y.tolist()
    logits = CL.zero_shot_logits(images, classes)
    assert logits.shape == (6, 3) and bool((logits.abs() <= 1 + 1e-6).all())
    with pytest.raises(ValueError, match="sizes differ"):
        CL.zero_shot_logits(images, torch.randn(3, 5))


def test_retrieve_returns_the_nearest_keys_best_first():
    keys = torch.eye(5)
    query = torch.tensor([[0.0, 0.1, 0.0, 1.0, 0.5]])
    assert CL.retrieve(query, keys, k=3).tolist() == [[3, 4, 1]]
    with pytest.raises(ValueError, match="k must"):
        CL.retrieve(query, keys, k=6)


def test_towers_shapes_order_sensitivity_and_errors():
    tok = C.Tokenizer.for_captions()
    with gm.runtime.seeded(0):
        model = CL.CLIP(len(tok), embed_dim=16, text_width=32, image_width=8)
    ids = tok.encode(["a thick small digit seven", "a small thick digit seven"], 12)
    e = model.encode_text(ids)
    assert e.shape == (2, 16) and torch.allclose(e.norm(dim=1), torch.ones(2))
    assert not torch.allclose(e[0], e[1])             # word order reaches the embedding
    feats, pad = model.text.token_features(ids)
    assert feats.shape == (2, 12, 32) and pad.shape == (2, 12)
    assert model.encode_image(torch.rand(3, 1, 28, 28)).shape == (3, 16)
    loss = model(torch.rand(2, 1, 28, 28), ids)
    loss.backward()
    assert model.logit_scale.grad is not None
    with pytest.raises(ValueError, match="int64"):
        model.encode_text(ids.float())
    with pytest.raises(ValueError, match="28, 28"):
        model.encode_image(torch.rand(3, 1, 32, 32))


def test_clip_step_learns_on_a_tiny_problem():
    tok = C.Tokenizer.for_captions()
    x = torch.zeros(20, 1, 28, 28)
    for k in range(20):                                # image k has a bar in row k
        x[k, 0, 4 + k, 4:24] = 1.0
    tokens = torch.stack([tok.encode([C.CLASS_NAMES[k]], 12)[0] for k in range(20)])[:, None]
    with gm.runtime.seeded(0):
        model = CL.CLIP(len(tok), embed_dim=16, text_width=32, image_width=8)
    step = CL.make_clip_step(model, generator=_g(4))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = float(step((x, tokens))[0].detach())
    for _ in range(60):
        opt.zero_grad()
        step((x, tokens))[0].backward()
        opt.step()
    assert float(step((x, tokens))[0].detach()) < 0.3 * first


# ------------------------------------------------------------------ guidance
class _Toy(torch.nn.Module):
    """eps(x, t, c) = 0.5 x + c[:, :1] (null: a fixed vector): conditional and not differ."""

    def __init__(self):
        super().__init__()
        self.null = torch.nn.Parameter(torch.tensor([3.0, 0.0]))

    def forward(self, x, t, c=None):
        c = self.null.expand(len(x), -1) if c is None else c
        return 0.5 * x + c[:, :1, None, None]


def test_cfg_ends_are_the_unconditional_and_conditional_estimates():
    g = _g(5)
    u, c = torch.randn(2, 3, 4, 4, generator=g), torch.randn(2, 3, 4, 4, generator=g)
    assert torch.equal(G.cfg_combine(u, c, 0.0), u)
    assert torch.allclose(G.cfg_combine(u, c, 1.0), c)
    assert torch.allclose(G.cfg_combine(u, c, 3.0), 3 * c - 2 * u)
    model, x = _Toy(), torch.randn(2, 1, 4, 4, generator=g)
    t, cond = torch.zeros(2, dtype=torch.long), torch.randn(2, 2, generator=g)
    assert torch.allclose(G.guided_eps(model, x, t, cond, 0.0), model(x, t, None))
    assert torch.allclose(G.guided_eps(model, x, t, cond, 1.0), model(x, t, cond))
    expected = model(x, t, None) + 2.5 * (model(x, t, cond) - model(x, t, None))
    assert torch.allclose(G.guided_eps(model, x, t, cond, 2.5), expected)   # one batched call
    with pytest.raises(ValueError, match="same shape"):
        G.cfg_combine(u, c[:1], 2.0)


def test_condition_dropout_rate_is_right_and_gradients_reach_null():
    g = _g(6)
    n, p = 50_000, 0.2
    c = torch.randn(n, 4, generator=g) + 10.0
    null = torch.zeros(4, requires_grad=True)
    out = G.drop_condition(c, null, torch.rand(n, generator=g), p)
    rate = float((out == 0).all(1).float().mean())
    assert abs(rate - p) < 4 * math.sqrt(p * (1 - p) / n)
    out.sum().backward()
    assert null.grad[0] == pytest.approx(rate * n)
    with pytest.raises(ValueError, match="p must"):
        G.drop_condition(c[:2], null, torch.rand(2), 1.5)
    with pytest.raises(ValueError, match="u must"):
        G.drop_condition(c[:2], null, torch.rand(3), 0.1)
    with pytest.raises(ValueError, match="null"):
        G.drop_condition(c[:2], torch.zeros(5), torch.rand(2), 0.1)


def test_cond_denoiser_shapes_start_and_null_condition():
    with gm.runtime.seeded(0):
        net = G.CondDenoiser(4, width=16, blocks=2, cond_dim=8, emb_dim=32)
    x, t = torch.randn(3, 4, 7, 7), torch.tensor([0, 10, 999])
    assert torch.equal(net(x, t, torch.randn(3, 8)), torch.zeros(3, 4, 7, 7))  # zero-initialised output
    assert net(torch.randn(2, 4, 28, 28), t[:2]).shape == (2, 4, 28, 28)
    with pytest.raises(ValueError, match="c must"):
        net(x, t, torch.randn(3, 7))
    with pytest.raises(ValueError, match="x must"):
        net(torch.randn(3, 1, 7, 7), t)


def _wake(net):
    # the zero-initialised layers make a fresh denoiser ignore c: give them weights
    g = _g(7)
    with torch.no_grad():
        for p in net.parameters():
            if not p.any():
                p.normal_(0.0, 0.1, generator=g)


def test_guided_sampling_at_w0_ignores_the_condition():
    with gm.runtime.seeded(1):
        net = G.CondDenoiser(4, width=16, blocks=2, cond_dim=8, emb_dim=32)
    _wake(net)
    schedule = D.NoiseSchedule.linear(100)
    z_T = torch.randn(2, 4, 7, 7, generator=_g(8))
    c1, c2 = torch.randn(2, 8, generator=_g(9)), torch.randn(2, 8, generator=_g(10))
    a = G.guided_sample(net, c1, z_T.shape, schedule, w=0.0, steps=5, x_T=z_T)
    b = G.guided_sample(net, c2, z_T.shape, schedule, w=0.0, steps=5, x_T=z_T)
    d = G.guided_sample(net, c2, z_T.shape, schedule, w=2.0, steps=5, x_T=z_T)
    assert torch.allclose(a, b) and not torch.allclose(b, d)
    with pytest.raises(ValueError, match="w must"):
        G.guided_sample(net, c1, z_T.shape, schedule, w=-1.0)


def test_cfg_step_trains_denoiser_and_null():
    with gm.runtime.seeded(2):
        net = G.CondDenoiser(4, width=16, blocks=2, cond_dim=8, emb_dim=32)
    _wake(net)
    step = G.make_cfg_step(net, D.NoiseSchedule.linear(100), p_uncond=0.5, generator=_g(11))
    loss = step((torch.randn(16, 4, 7, 7), torch.randn(16, 3, 8)))
    loss.backward()
    assert loss.ndim == 0 and net.null.grad is not None and net.null.grad.abs().sum() > 0


def test_training_steps_use_the_function_they_are_given():
    # the notebook trains with the learner's clip_loss and drop_condition through these steps
    seen = []

    def my_drop(c, null, u, p):
        seen.append(("drop", p))
        return G.drop_condition(c, null, u, p)

    with gm.runtime.seeded(3):
        net = G.CondDenoiser(4, width=16, blocks=2, cond_dim=8, emb_dim=32)
    G.make_cfg_step(net, D.NoiseSchedule.linear(100), p_uncond=0.25, generator=_g(13),
                    drop=my_drop)((torch.randn(4, 4, 7, 7), torch.randn(4, 2, 8)))

    def my_loss(image_emb, text_emb, logit_scale):
        seen.append(("loss", tuple(image_emb.shape)))
        return CL.clip_loss(image_emb, text_emb, logit_scale)

    tok = C.Tokenizer.for_captions()
    with gm.runtime.seeded(0):
        model = CL.CLIP(len(tok), embed_dim=16, text_width=32, image_width=8)
    tokens = torch.stack([tok.encode([C.CLASS_NAMES[k]], 12)[0] for k in range(3)])[:, None]
    x = torch.rand(3, 1, 28, 28, generator=_g(15))
    loss, logs = CL.make_clip_step(model, _g(14), loss=my_loss)((x, tokens))
    assert seen == [("drop", 0.25), ("loss", (3, 16))]
    torch.testing.assert_close(loss, model(x, tokens[:, 0]))  # one caption each: K = 1
    assert "tau" in logs


def _caption_condition(tokens, width=16):
    with gm.runtime.seeded(4):
        tower = CL.TextTower(len(C.Tokenizer.for_captions()), width=width, layers=1, heads=2,
                             length=tokens.shape[1], embed_dim=8)
    return tower, G.token_condition(tower, tokens)


def test_token_condition_zeroes_padding_and_flattens():
    tok = C.Tokenizer.for_captions()
    tokens = tok.encode(["handwritten seven", "a thick small digit two leaning left"], 12)
    tower, c = _caption_condition(tokens)
    assert c.shape == (2, 12 * 16)
    rows = c.view(2, 12, 16)
    pad = tokens == 0
    assert pad.any() and bool((rows[pad] == 0).all()) and bool((rows[~pad] != 0).any(-1).all())
    h, _ = tower.token_features(tokens)
    torch.testing.assert_close(rows[~pad], h[~pad])


def test_cross_attention_denoiser_reads_words_and_ignores_padding():
    tok = C.Tokenizer.for_captions()
    tokens = tok.encode(["handwritten seven", "handwritten two", "a thin large digit one"], 12)
    _, c = _caption_condition(tokens)
    with gm.runtime.seeded(5):
        net = G.CrossAttnDenoiser(4, width=16, blocks=2, context_dim=16, context_len=12, emb_dim=32)
    x, t = torch.randn(3, 4, 7, 7, generator=_g(16)), torch.tensor([0, 50, 999])
    assert torch.equal(net(x, t, c), torch.zeros(3, 4, 7, 7))  # zero-initialised output
    _wake(net)
    out = net(x, t, c)
    assert out.shape == x.shape and not torch.allclose(out[0], net(x, t, c.roll(1, 0))[0])
    # the weights of every layer are zero on padding tokens and sum to one over the words
    ctx, pad = net.context(c)
    with torch.no_grad():
        maps = net.attention_maps(x, t, c)
        h = net.stem(x)
        emb = net.time(t) + net.cond((ctx * (~pad)[..., None]).sum(1) / (~pad).sum(1, keepdim=True))
        _, a = net.attn[0](net.blocks[0](h, emb), ctx, pad, return_weights=True)
    assert len(maps) == 2 and maps[1].shape == (3, 4, 49, 12)
    torch.testing.assert_close(maps[0], a)
    for a in maps:
        assert float(a[pad[:, None, None, :].expand_as(a)].abs().max()) == 0.0
        torch.testing.assert_close(a.sum(-1), torch.ones_like(a.sum(-1)))
    # the null caption is a learned sequence of tokens, none of them padding
    assert net(x, t, None).shape == x.shape and not bool(net.context(net.null[None])[1].any())
    with pytest.raises(ValueError, match="all padding"):
        net(x, t, torch.zeros_like(c))
    with pytest.raises(ValueError, match="context_len"):
        net(x, t, c[:, :-1])
    # condition dropout and the guided estimate treat the flattened tokens like any condition
    step = G.make_cfg_step(net, D.NoiseSchedule.linear(100), p_uncond=0.5, generator=_g(17))
    loss = step((torch.randn(3, 4, 7, 7, generator=_g(18)), torch.stack([c, c.roll(1, 0)], 1)))
    loss.backward()
    assert net.null.grad.abs().sum() > 0 and net.attn[1].to_k.weight.grad.abs().sum() > 0
    torch.testing.assert_close(G.guided_eps(net, x, t, c, 0.0), net(x, t, None))
    torch.testing.assert_close(G.guided_eps(net, x, t, c, 2.0),
                               G.cfg_combine(net(x, t, None), net(x, t, c), 2.0))


def test_pixel_unet_adds_the_caption_to_the_time_embedding():
    with gm.runtime.seeded(6):
        net = G.CondUNet(1, channels=(8, 16), t_dim=16, cond_dim=8)
    x, t = torch.randn(2, 1, 28, 28, generator=_g(19)), torch.tensor([3, 700])
    c = F.normalize(torch.randn(2, 8, generator=_g(20)), dim=1)
    assert torch.equal(net(x, t, c), torch.zeros_like(x))  # zero-initialised output
    _wake(net)
    extra = net.cond(c * math.sqrt(8))
    torch.testing.assert_close(net(x, t, c), net.unet(x, t, extra=extra))
    assert not torch.allclose(net(x, t, c), net.unet(x, t))
    torch.testing.assert_close(net(x, t, None), net(x, t, net.null.expand(2, -1)))
    torch.testing.assert_close(net.unet(x, t, extra=torch.zeros(2, 16)), net.unet(x, t))
    with pytest.raises(ValueError, match="extra must"):
        net.unet(x, t, extra=torch.zeros(2, 15))
    with pytest.raises(ValueError, match="c must"):
        net(x, t, c[:, :7])
    with pytest.raises(ValueError, match="divisible"):
        net(torch.randn(2, 1, 27, 27), t, c)
    schedule = D.NoiseSchedule.linear(100)
    x_T = torch.randn(2, 1, 28, 28, generator=_g(21))
    a = G.guided_sample(net, c, x_T.shape, schedule, w=0.0, steps=4, x_T=x_T)
    b = G.guided_sample(net, c.flip(0), x_T.shape, schedule, w=0.0, steps=4, x_T=x_T)
    torch.testing.assert_close(a, b)


# ------------------------------------------------------------------ the latent autoencoder
def test_latent_autoencoder_shapes_scale_and_errors():
    with gm.runtime.seeded(0):
        ae = LD.LatentAutoencoder(channels=4, width=8)
    x = torch.rand(10, 1, 28, 28, generator=_g(12))
    scale = ae.fit_scale(x)
    z = ae.encode_dataset(x)
    assert z.shape == (10, 4, 7, 7) and scale > 0
    assert float(z.std()) == pytest.approx(1.0, rel=1e-4)
    out = ae.decode(z)
    assert out.shape == x.shape and bool(((out >= 0) & (out <= 1)).all())
    loss, logs = LD.make_ae_step(ae)((x,))
    assert loss.ndim == 0 and "reconstruction" in logs
    with pytest.raises(ValueError, match="latents"):
        ae.decode(torch.randn(2, 3, 7, 7))
    with pytest.raises(ValueError, match="images"):
        ae.encode(torch.rand(2, 1, 14, 14))


# ------------------------------------------------------------------ the exercises
def _wrong_loss_one_direction(i, t, s):
    i, t = F.normalize(i, dim=-1), F.normalize(t, dim=-1)
    return F.cross_entropy(s.exp() * i @ t.T, torch.arange(len(i)))


def _wrong_loss_no_normalise(i, t, s):
    logits = s.exp() * i @ t.T
    target = torch.arange(len(i))
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def _wrong_loss_scale_not_exp(i, t, s):
    i, t = F.normalize(i, dim=-1), F.normalize(t, dim=-1)
    logits = s * i @ t.T
    target = torch.arange(len(i))
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def _wrong_zs_no_normalise(i, p):
    return i @ (p.mean(1) if p.ndim == 3 else p).T


def _wrong_zs_no_renormalise(i, p):
    p = F.normalize(p, dim=-1)
    p = p.mean(1) if p.ndim == 3 else p
    return F.normalize(i, dim=-1) @ p.T


WRONG = {
    "clip.clip_loss": [_wrong_loss_one_direction, _wrong_loss_no_normalise, _wrong_loss_scale_not_exp,
                       lambda i, t, s: CL.clip_loss(i, t, s).detach()],
    "clip.zero_shot_logits": [_wrong_zs_no_normalise, _wrong_zs_no_renormalise,
                              lambda i, p: CL.zero_shot_logits(i, p).detach()],
    "guidance.cfg_combine": [lambda u, c, w: c + w * (c - u), lambda u, c, w: u + w * c,
                             lambda u, c, w: (1 - w) * c + w * u],
    "guidance.drop_condition": [lambda c, n, u, p: torch.where((u <= p)[:, None], n.expand_as(c), c),
                                lambda c, n, u, p: torch.where((u > p)[:, None], n.expand_as(c), c),
                                lambda c, n, u, p: torch.where((u < p)[:, None], torch.zeros_like(c), c),
                                lambda c, n, u, p: G.drop_condition(c, n.detach(), u, p)],
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_checkers_pass_the_reference_and_fail_wrong_versions(name):
    ex = gm.exercises._lookup(name)
    assert gm.exercises.evaluate(name, ex.reference).passed
    for wrong in WRONG[name]:
        verdict = gm.exercises.evaluate(name, wrong)
        assert not verdict.passed, f"{name} accepted a wrong version"
