"""Chapter 6: the U-Net and the PatchGAN, their sizes, the receptive field (6.4) measured by
gradients, the losses (6.2)-(6.7) against hand computations, the recipes, and the checkers."""
import dataclasses
import math

import pytest
import torch
import torch.nn.functional as nnf
from torch import nn

import genmodels_course as gm
from genmodels_course import cyclegan, exercises, pix2pix
from genmodels_course import translation as T


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- shapes
@pytest.mark.parametrize("size, depth", [(16, 4), (32, 4), (32, 5), (64, 5), (28, 2), (24, 3)])
@pytest.mark.parametrize("skips", [True, False])
def test_unet_keeps_the_size(size, depth, skips):
    G = T.UNetGenerator(3, 2, width=4, depth=depth, skips=skips, generator=_g())
    out = G(torch.randn(2, 3, size, size, generator=_g(1)))
    assert out.shape == (2, 2, size, size)
    assert out.abs().max() <= 1  # tanh


def test_unet_without_skips_has_fewer_decoder_inputs():
    with_skips = T.UNetGenerator(3, 3, width=4, depth=3, generator=_g())
    without = T.UNetGenerator(3, 3, width=4, depth=3, skips=False, generator=_g())
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(without) < n(with_skips)


@pytest.mark.parametrize("shape, words", [
    ((1, 3, 30, 30), "divisible by 8"),
    ((1, 3, 32, 20), "divisible by 8"),
    ((1, 1, 32, 32), "3 channels"),
    ((3, 32, 32), "(N, C, H, W)"),
    ((0, 3, 32, 32), "non-empty"),
])
def test_unet_rejects_sizes_it_cannot_take(shape, words):
    G = T.UNetGenerator(3, 3, width=4, depth=3, generator=_g())
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        G(torch.zeros(shape))


@pytest.mark.parametrize("n_layers, size, grid", [(3, 256, 30), (3, 128, 14), (2, 64, 14), (1, 32, 14), (1, 28, 12),
                                                  (0, 16, 14)])
def test_patchgan_grid(n_layers, size, grid):
    D = T.PatchDiscriminator(6, 4, n_layers, generator=_g())
    assert D(torch.randn(2, 6, size, size, generator=_g(1))).shape == (2, 1, grid, grid)


def test_patchgan_rejects_small_inputs_and_wrong_channels():
    D = T.PatchDiscriminator(6, 4, 3, generator=_g())
    assert D(torch.zeros(1, 6, D.min_size, D.min_size)).shape == (1, 1, 1, 1)
    with pytest.raises(ValueError, match="at least"):
        D(torch.zeros(1, 6, D.min_size - 1, D.min_size - 1))
    with pytest.raises(ValueError, match="6 channels"):
        D(torch.zeros(1, 3, 64, 64))
    with pytest.raises(ValueError, match="norm"):
        T.PatchDiscriminator(6, 4, 3, norm="group")


# ---------------------------------------------------------------- receptive field (6.4)
def test_receptive_field_formula():
    assert T.receptive_field([(4, 2), (4, 2), (4, 2), (4, 1), (4, 1)]) == 70
    assert T.receptive_field([(3, 1)] * 3) == 7
    with pytest.raises(ValueError):
        T.receptive_field([])


@pytest.mark.parametrize("n_layers, expected", [(0, 7), (1, 16), (2, 34), (3, 70)])
@pytest.mark.parametrize("norm", ["batch", "none"])
def test_receptive_field_from_the_architecture_equals_the_gradient_support(n_layers, expected, norm):
    D = T.PatchDiscriminator(3, 4, n_layers, norm=norm, generator=_g())
    assert T.patch_receptive_field(D) == expected
    assert T.measured_receptive_field(D, size=160) == (expected, expected)


def test_receptive_field_by_brute_force_row_by_row():
    # An independent measurement: shift one input row at a time and see whether the
    # central logit moves; the rows that move it span the receptive field.
    D = T.PatchDiscriminator(1, 2, 1, norm="none", generator=_g()).double().eval()
    x = torch.randn(1, 1, 40, 40, generator=_g(2), dtype=torch.float64)
    out = D(x)
    i, j = out.shape[2] // 2, out.shape[3] // 2
    hits = []
    for r in range(40):
        x3 = x.clone()
        x3[0, 0, r, :] += 1.0
        if (D(x3)[0, 0, i, j] - out[0, 0, i, j]).abs() > 1e-12:
            hits.append(r)
    assert max(hits) - min(hits) + 1 == T.patch_receptive_field(D) == 16


# ---------------------------------------------------------------- losses vs hand computations
def test_l1_and_pix2pix_generator_loss_by_hand():
    fake = torch.tensor([[[[0.5, -0.5], [1.0, 0.0]]]])
    target = torch.tensor([[[[0.0, 0.0], [0.0, 0.0]]]])
    assert T.l1_loss(fake, target).item() == pytest.approx(0.5)
    logits = torch.tensor([0.0, 0.0])  # D = 1/2: -log(1/2) each
    loss = T.pix2pix_generator_loss(logits, fake, target, lam=10.0)
    assert loss.item() == pytest.approx(math.log(2) + 10 * 0.5)
    assert T.pix2pix_generator_loss(torch.tensor([-500.0]), fake, target, lam=0).item() == pytest.approx(500)
    with pytest.raises(ValueError, match="same shape"):
        T.l1_loss(fake, target[..., :1])


def test_cycle_and_identity_losses_by_hand():
    x, y = torch.zeros(2, 1, 2, 2), torch.ones(3, 1, 2, 2)
    assert T.cycle_consistency_loss(x, x + 0.25, y, y - 1.0).item() == pytest.approx(1.25)
    shift = nn.Identity()
    assert T.identity_loss(shift, shift, x, y).item() == 0.0

    class Add(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.c = c

        def forward(self, t):
            return t + self.c

    # G(y) - y = 0.5 everywhere, F(x) - x = -2 everywhere
    assert T.identity_loss(Add(0.5), Add(-2.0), x, y).item() == pytest.approx(2.5)


def test_identity_generators_give_zero_cycle_loss():
    x = torch.tanh(torch.randn(4, 3, 8, 8, generator=_g(3)))
    y = torch.tanh(torch.randn(5, 1, 8, 8, generator=_g(4)))
    G = F = nn.Identity()
    assert T.cycle_consistency_loss(x, F(G(x)), y, G(F(y))).item() == 0.0


def test_psnr_by_hand():
    a = torch.zeros(2, 1, 4, 4)
    b = a + 0.2  # MSE 0.04, span 2: 10 log10(4 / 0.04) = 20 dB
    assert T.psnr(b, a) == pytest.approx(20.0, abs=1e-4)
    assert T.psnr(b, a, max_value=1.0) == pytest.approx(10 * math.log10(1 / 0.04), abs=1e-4)


def test_skip_concat_checks_shapes():
    assert T.skip_concat(torch.zeros(2, 3, 4, 4), torch.ones(2, 5, 4, 4)).shape == (2, 8, 4, 4)
    with pytest.raises(ValueError, match="spatial"):
        T.skip_concat(torch.zeros(2, 3, 4, 4), torch.ones(2, 5, 8, 8))


# ---------------------------------------------------------------- recipes
def test_pix2pix_trains_and_lowers_l1(monkeypatch):
    g = _g(5)
    x = torch.tanh(torch.randn(16, 3, 16, 16, generator=g))
    y = -x  # an easy paired task: invert the colours
    cfg = pix2pix.Pix2PixConfig(steps=60, batch_size=8, width=8, depth=3, d_layers=1, lr=2e-3)
    G, D, hist = pix2pix.train_pix2pix(x, y, cfg, progress=False)
    assert hist["l1"][-1] < hist["l1"][0]
    assert pix2pix.translate(G, x).shape == y.shape
    G_l1, D_none, _ = pix2pix.train_pix2pix(x, y, pix2pix.Pix2PixConfig(steps=2, batch_size=8, width=4, depth=2,
                                                                         loss="l1"), progress=False)
    assert D_none is None
    with pytest.raises(ValueError, match="loss"):
        pix2pix.Pix2PixConfig(loss="l2")
    with pytest.raises(ValueError, match="divisible"):
        pix2pix.train_pix2pix(x[:, :, :12, :12], y[:, :, :12, :12], cfg, progress=False)


def test_pix2pix_max_seconds_stops_early_and_records_the_steps():
    g = _g(6)
    x = torch.tanh(torch.randn(16, 3, 16, 16, generator=g))
    cfg = pix2pix.Pix2PixConfig(steps=100_000, batch_size=8, width=4, depth=2, d_layers=1, max_seconds=0.5)
    _, _, hist = pix2pix.train_pix2pix(x, -x, cfg, progress=False)
    assert 0 < hist.steps_done < 100_000 and len(hist["l1"]) == hist.steps_done


def test_translate_with_dropout_varies_and_restores_mode():
    G = T.UNetGenerator(1, 1, width=4, depth=2, dropout=0.5, generator=_g())
    G.eval()
    x = torch.randn(2, 1, 8, 8, generator=_g(6))
    a, b = pix2pix.translate(G, x, dropout=True), pix2pix.translate(G, x, dropout=True)
    assert not torch.equal(a, b)
    assert torch.equal(pix2pix.translate(G, x), pix2pix.translate(G, x))
    assert not G.training


def test_cyclegan_runs_and_uses_the_given_losses():
    g = _g(7)
    x = torch.tanh(torch.randn(8, 1, 12, 12, generator=g))
    y = torch.tanh(torch.randn(8, 1, 12, 12, generator=g))
    calls = []

    def cyc(*a):
        calls.append("cyc")
        return T.cycle_consistency_loss(*a)

    cfg = cyclegan.CycleGANConfig(steps=3, batch_size=4, width=4, depth=2, d_layers=0)
    G, F, D_X, D_Y, hist = cyclegan.train_cyclegan(x, y, cfg, progress=False, cycle_loss=cyc)
    assert calls == ["cyc"] * 3 and len(hist["loss_cyc"]) == 3
    assert G(x).shape == x.shape and F(y).shape == y.shape
    with pytest.raises(ValueError, match="same height"):
        cyclegan.train_cyclegan(x, y[:, :, :8, :8], cfg, progress=False)


def _frozen_linear_classifier(g, pixels=16, classes=3):
    f = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(pixels, classes))
    with torch.no_grad():
        f[1].weight.copy_(torch.randn(classes, pixels, generator=g))
        f[1].bias.zero_()
    return f.requires_grad_(False)


def test_semantic_consistency_loss_by_hand():
    g = _g(11)
    f = _frozen_linear_classifier(g)
    x, y = torch.tanh(torch.randn(5, 1, 4, 4, generator=g)), torch.tanh(torch.randn(6, 1, 4, 4, generator=g))
    gx, fy = torch.tanh(torch.randn(5, 1, 4, 4, generator=g)), torch.tanh(torch.randn(6, 1, 4, 4, generator=g))
    w = f[1].weight
    by_hand = 0.0
    for src, out in ((x, gx), (y, fy)):  # logits of images mapped from [-1, 1] to [0, 1]
        label = (((src + 1) / 2).flatten(1) @ w.T).argmax(1)
        logits = ((out + 1) / 2).flatten(1) @ w.T
        by_hand += (torch.logsumexp(logits, 1) - logits[torch.arange(len(label)), label]).mean()
    assert torch.allclose(cyclegan.semantic_consistency_loss(f, x, gx, y, fy), by_hand, atol=1e-6)
    # a translation that keeps the classifier's reading scores lower than one that flips it
    assert cyclegan.semantic_consistency_loss(f, x, x, y, y) < cyclegan.semantic_consistency_loss(f, x, -x, y, -y)
    with pytest.raises(ValueError, match="pair up"):
        cyclegan.semantic_consistency_loss(f, x, gx[:3], y, fy)
    with pytest.raises(ValueError, match="frozen"):
        cyclegan.semantic_consistency_loss(f.requires_grad_(True), x, gx, y, fy)


def test_cyclegan_with_semantic_loss_trains_generators_not_the_classifier():
    g = _g(12)
    x = torch.tanh(torch.randn(8, 1, 12, 12, generator=g))
    y = torch.tanh(torch.randn(8, 1, 12, 12, generator=g))
    f = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(144, 3))
    before = [p.detach().clone() for p in f.parameters()]
    cfg = cyclegan.CycleGANConfig(steps=3, batch_size=4, width=4, depth=2, d_layers=0, lam_sem=1.0)
    with pytest.raises(ValueError, match="needs classifier"):
        cyclegan.train_cyclegan(x, y, cfg, progress=False)
    G, F, _, _, hist = cyclegan.train_cyclegan(x, y, cfg, progress=False, classifier=f)
    assert len(hist["loss_sem"]) == 3 and all(v > 0 for v in hist["loss_sem"])
    assert all(torch.equal(a, b) for a, b in zip(before, f.parameters()))
    plain = cyclegan.train_cyclegan(x, y, dataclasses.replace(cfg, lam_sem=0.0), progress=False)[0]
    assert not torch.allclose(plain(x), G(x))  # the semantic term changed the training


def test_resize_and_classifier_check_inputs():
    framed = cyclegan.frame_digits(torch.rand(3, 1, 16, 16))
    assert framed.shape == (3, 1, 28, 28)
    assert framed[:, :, :4].abs().sum() == 0 and framed[:, :, :, -4:].abs().sum() == 0  # MNIST's margin
    assert framed[:, :, 4:24, 4:24].min() >= 0 and framed.max() <= 1
    with pytest.raises(ValueError):
        cyclegan.frame_digits(torch.rand(0, 1, 16, 16))
    with pytest.raises(ValueError, match="box"):
        cyclegan.frame_digits(torch.rand(2, 1, 16, 16), box=30)
    with pytest.raises(ValueError, match="28, 28"):
        cyclegan.train_digit_classifier(torch.rand(4, 1, 16, 16), torch.zeros(4, dtype=torch.long), steps=1)


def test_the_digit_classifier_repeats_with_the_same_seed():
    # dropout draws its masks from torch's global generator; the trainer seeds it, so a
    # benchmark's source-only figure is the same in every run (it varied by ~2.7 points before)
    x, y = torch.rand(64, 1, 28, 28), torch.randint(0, 10, (64,))
    nets = [cyclegan.train_digit_classifier(x, y, steps=5, batch_size=16, seed=3, progress=False)
            for _ in range(2)]
    assert all(torch.equal(a, b) for a, b in zip(nets[0].parameters(), nets[1].parameters()))
    other = cyclegan.train_digit_classifier(x, y, steps=5, batch_size=16, seed=4, progress=False)
    assert not torch.equal(next(other.parameters()), next(nets[0].parameters()))


# ---------------------------------------------------------------- the zoom of the digit translator
def _square(size=32, side=8, value=1.0):
    x = -torch.ones(1, 1, size, size)
    lo = (size - side) // 2
    x[..., lo:lo + side, lo:lo + side] = value
    return x


def test_zoom_shift_starts_as_the_identity_and_zooms_and_shifts_as_its_parameters_say():
    z = cyclegan.ZoomShift(1, generator=torch.Generator().manual_seed(0))
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    scale, shift = z.params(x)
    assert torch.equal(scale, torch.ones(3)) and torch.equal(shift, torch.zeros(3, 2))
    assert torch.allclose(z(x), x, atol=1e-5)
    with torch.no_grad():
        z.loc[-1].bias.copy_(torch.tensor([math.log(0.5), 0.0, 0.0]))  # s = 0.5: twice as large
    big = z(_square())
    ink = (big > 0).float()
    assert 15 <= ink.sum(dim=3).max() <= 17 and 15 <= ink.sum(dim=2).max() <= 17  # side 8 -> 16
    with torch.no_grad():
        z.loc[-1].bias.copy_(torch.tensor([math.log(2.0), 0.0, 0.0]))  # s = 2: half as large
    small = z(_square(side=32, value=1.0))  # a full frame shrinks to its middle half, black around
    assert small[..., :7, :].max() == -1 and small[..., 9:23, 9:23].min() > 0.99
    with torch.no_grad():  # a shift of +0.25 (an eighth of the width) moves the content left
        z.loc[-1].bias.copy_(torch.tensor([0.0, math.atanh(0.25 / z.max_shift), 0.0]))
    moved = z(_square())
    cols = (moved[0, 0] > 0).any(0).nonzero().flatten()
    assert cols.min().item() == 12 - 4 and cols.max().item() == 19 - 4


def test_zoom_shift_passes_gradients_to_its_localisation_network_and_checks_inputs():
    z = cyclegan.ZoomShift(1, generator=torch.Generator().manual_seed(0))
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    (z(x) * torch.linspace(-1, 1, 28)).sum().backward()
    assert z.loc[-1].bias.grad.abs().sum() > 0 and z.loc[0].weight.grad is not None
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        z(torch.rand(2, 3, 28, 28))
    with pytest.raises(ValueError, match="max_shift"):
        cyclegan.ZoomShift(1, max_shift=2.0)


def test_a_cyclegan_with_zoom_trains_zoom_then_unet_generators():
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(16, 1, 28, 28, generator=g) * 2 - 1, torch.rand(16, 1, 28, 28, generator=g) * 2 - 1
    cfg = cyclegan.CycleGANConfig(steps=3, batch_size=8, width=4, zoom=True)
    G, F, _, _, hist = cyclegan.train_cyclegan(x, y, cfg, progress=False)
    assert isinstance(G.zoom, cyclegan.ZoomShift) and isinstance(F.unet, T.UNetGenerator)
    assert G(x).shape == x.shape and len(hist["loss_cyc"]) == 3
    scale, _ = G.zoom.params(x)
    assert not torch.equal(scale, torch.ones(16))  # the zoom trained with the rest
    plain = cyclegan.train_cyclegan(x, y, dataclasses.replace(cfg, zoom=False), progress=False)[0]
    assert isinstance(plain, T.UNetGenerator)


# ---------------------------------------------------------------- the checkers
def _detached(fn):
    return lambda *a, **k: fn(*a, **k).detach()


WRONG = {
    "translation.skip_concat": [
        lambda up, skip: torch.cat([skip, up], dim=1),                      # encoder first
        lambda up, skip: torch.cat([up, skip], dim=0),                      # along the batch
        lambda up, skip: up + skip.mean(1, keepdim=True),                   # added, not concatenated
        _detached(T.skip_concat),
    ],
    "translation.pix2pix_generator_loss": [
        lambda a, fake, y, lam=100.0: nnf.softplus(-a).mean() + lam * ((fake - y) ** 2).mean(),  # MSE
        lambda a, fake, y, lam=100.0: nnf.softplus(a).mean() + lam * (fake - y).abs().mean(),    # saturating sign
        lambda a, fake, y, lam=100.0: -torch.log(torch.sigmoid(a)).mean() + lam * (fake - y).abs().mean(),
        lambda a, fake, y, lam=100.0: nnf.softplus(-a).mean() + (fake - y).abs().mean(),          # no lambda
        _detached(T.pix2pix_generator_loss),
    ],
    "translation.cycle_consistency_loss": [
        lambda x, xc, y, yc: ((xc - x) ** 2).mean() + ((yc - y) ** 2).mean(),   # squared
        lambda x, xc, y, yc: (xc - x).abs().mean(),                             # one direction only
        lambda x, xc, y, yc: (xc - x).abs().sum() + (yc - y).abs().sum(),       # sums
        _detached(T.cycle_consistency_loss),
    ],
    "translation.identity_loss": [
        lambda G, F, x, y: (G(x) - x).abs().mean() + (F(y) - y).abs().mean(),   # wrong domains
        lambda G, F, x, y: (G(y) - y).abs().mean(),                             # one network only
        lambda G, F, x, y: ((G(y) - y) ** 2).mean() + ((F(x) - x) ** 2).mean(),
        _detached(T.identity_loss),
    ],
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_checker_passes_the_reference_and_fails_wrong_versions(name):
    ex = exercises._lookup(name)
    assert ex.grad
    assert exercises.evaluate(name, ex.reference).passed
    for wrong in WRONG[name]:
        verdict = exercises.evaluate(name, wrong)
        assert not verdict.passed, f"{name} accepted a wrong version"
    assert "detached" in exercises.evaluate(name, WRONG[name][-1]).message


def test_chapter_settings_profiles():
    quick, cpu = gm.settings.translation(profile="quick"), gm.settings.translation(profile="cpu")
    assert set(quick) == set(cpu)
    assert cpu.size % 2 ** cpu.p2p_depth == 0 and quick.size % 2 ** quick.p2p_depth == 0


def test_encoder_features_pool_every_encoder_level():
    G = T.UNetGenerator(3, 3, width=4, depth=3, generator=_g(13))
    x = torch.tanh(torch.randn(5, 3, 16, 16, generator=_g(14)))
    G.train()
    feats = pix2pix.encoder_features(G, x, batch_size=2)
    assert feats.shape == (5, 4 + 8 + 16) and G.training  # widths of the 3 levels; mode restored
    G.eval()
    h, by_hand = x, []
    with torch.no_grad():
        for layer in G.down:
            h = layer(h)
            by_hand.append(h.mean(dim=(2, 3)))
    assert torch.allclose(feats, torch.cat(by_hand, 1), atol=1e-6)
    with pytest.raises(ValueError, match="3, H, W"):
        pix2pix.encoder_features(G, x[:, :1])
    with pytest.raises(TypeError, match="UNetGenerator"):
        pix2pix.encoder_features(torch.nn.Identity(), x)


def test_judge_scores_are_best_for_the_real_photographs():
    g = _g(15)
    photos = torch.tanh(torch.randn(40, 3, 16, 16, generator=g))
    labels = photos.flip(1)  # a layout the judge can learn: the photo with its channels reversed
    judge = pix2pix.train_pix2pix(photos, labels, pix2pix.Pix2PixConfig(
        steps=60, batch_size=8, width=8, depth=2, loss="l1", dropout=0.0, flip=False, lr=2e-3), progress=False)[0]
    real = pix2pix.judge_scores(judge, photos, photos, labels)
    noise = pix2pix.judge_scores(judge, torch.tanh(torch.randn(photos.shape, generator=g)), photos, labels)
    assert real["fd"] < 1e-6 < noise["fd"]
    assert real["label_l1"] < noise["label_l1"]
    with pytest.raises(ValueError, match="one shape"):
        pix2pix.judge_scores(judge, photos[:3], photos, labels)
