"""Writes notebooks/06_pix2pix_cyclegan.ipynb from the cells below (no outputs).

The chapter is written here as Python strings so that its cells can be edited as text;
run ``python tools/build_nb06.py`` after editing and commit both files.
"""
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CELLS = []


def md(text):
    CELLS.append(("markdown", text.strip("\n")))


def code(text):
    CELLS.append(("code", text.strip("\n")))


md(r"""
# 6. Image-to-image translation: Pix2Pix and CycleGAN

Many problems in vision have an image as the input *and* an image as the answer: a label
map of a building should become a photograph of it, a grey photograph a colour one, a
noisy scan a clean scan, an MRI slice a CT slice, a sketch a shoe. Chapter 5 trained a
generator that made images from noise. This chapter trains generators that make images
*from images*, and asks what changes when the output must agree with an input.

Two situations are worth separating. In the **paired** setting we own a training set of
pairs $(x, y)$: the label map and the photograph it describes. We can then learn the
conditional distribution $p(y \mid x)$ directly, and **Pix2Pix** {cite}`ch6-isola2017`
does it with a conditional GAN, a U-Net generator and a discriminator that judges small
patches. In the **unpaired** setting we only have a pile of images of each kind (photos of
horses, photos of zebras; handwritten digits scanned in one country, digits scanned in
another), and no one has told us which image of one pile corresponds to which of the other.
**CycleGAN** {cite}`ch6-zhu2017` learns a translation anyway, by asking that translating
there and back again returns what we started with.

**Learning goals.** By the end of this chapter you will be able to

- explain what a conditional GAN models, $p(y \mid x)$, and why its discriminator must see
  the input as well as the output;
- write the Pix2Pix objective (L1 plus a conditional adversarial term) and explain why a
  pixel loss alone gives blurry answers, and why L1 blurs less than a squared error;
- build a U-Net generator, say what its skip connections carry, and show what goes wrong
  without them;
- compute the receptive field of a PatchGAN discriminator from its layers and check it
  against the gradients of the network;
- write the cycle-consistency and identity losses of CycleGAN, and say what each prevents;
- use CycleGAN to adapt a classifier from one domain to another (MNIST to USPS) and
  measure whether it helped;
- recognise the ways a translator can lie: hidden information in a cycle, and features
  added or removed to match a target distribution, which matter most in medicine.

This chapter builds on chapter 5: the losses of the game (5.4) and (5.6) are reused as
they are.
""")

code(r"""
# Colab (or any fresh runtime): install the course package if it is missing.
# Torch is never reinstalled: the package asks only for torch>=2.1
# (Colab has it).
import importlib.util, subprocess, sys

if importlib.util.find_spec("genmodels_course") is None:
    subprocess.check_call(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "git+https://github.com/genmodels-course/genmodels-course",
        ]
    )
""")

md(r"""
The sizes of this chapter's experiments for the running profile come from
`gm.settings.translation()`, defined in the package (`genmodels_course/settings.py`),
where the chapter's benchmark script reads them too. The quick profile (used by the tests)
trains every model for a few steps only, so its figures show the machinery rather than
good translations; the cpu profile trains for minutes, the gpu profile longer and larger.
""")

code(r"""
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

import genmodels_course as gm
from genmodels_course import cyclegan, pix2pix
from genmodels_course import translation as tr

cfg = gm.settings.translation()  # defined in genmodels_course/settings.py
t_start = time.time()
gm.runtime.seed_everything(cfg.seed)
device = gm.runtime.device()
print(gm.runtime.profile(), cfg)
""")

md(r"""
## 6.1 Conditional GANs: modelling $p(y \mid x)$

A GAN as in chapter 5 learns to sample from $p_\text{data}$: its generator turns noise
$z$ into an image, and nothing decides *which* image. To control the output we give
both players extra information, the **condition**. Mirza and Osindero
{cite}`ch5-mirza2014` conditioned on a class label (section 5.8 did this on
Fashion-MNIST); nothing in the argument needs the condition to be a label. Here it is a
whole image $x$, and the generator must produce an image $y$ that goes with it. (In this
chapter $y$ is such an output image, not a class label as in chapters 1 and 5.)

In words: the generator $G(x, z)$ receives the input image (and, possibly, noise) and
proposes an output. The discriminator $D(x, y)$ receives a *pair*, an input and an output,
and says whether the pair looks like one from the training set. The value of the game is
the one of chapter 5 with every expectation taken over pairs:

$$ V(D, G) = \mathbb{E}_{(x, y) \sim p_\text{data}}\left[\log D(x, y)\right]
   + \mathbb{E}_{x \sim p_\text{data},\, z \sim p(z)}\left[\log\left(1 -
   D(x, G(x, z))\right)\right]. \tag{6.1} $$

The argument of section 5.2 goes through for each $x$ separately: for a fixed generator
the best discriminator is
$D^*(x, y) = p_\text{data}(y \mid x) / (p_\text{data}(y \mid x) + p_g(y \mid x))$, and
at the optimum of the game $p_g(y \mid x) = p_\text{data}(y \mid x)$ for every input. So a
conditional GAN is a model of the **conditional distribution** $p(y \mid x)$, the same
object that a discriminative model of chapter 1 estimates, except that $y$ is now an
image with millions of correlated values instead of one of $C$ classes.

Why must $D$ see $x$? An unconditional discriminator $D(y)$ only checks that the output
looks like *some* facade photograph. A generator could then ignore its input and always
paint its favourite facade; $D(y)$ would have no complaint. The pair $(x, y)$ lets the
discriminator reject a beautiful photograph that does not match the label map it came
with. In practice the pair is simply stacked along the channels: a 3-channel label map and
a 3-channel photograph make a 6-channel input for $D$.

Why a GAN at all, when we have pairs and could just regress $y$ on $x$? Because for most
inputs there are *many* right answers. A label map says "window here", not whether the
glass reflects the sky or shows a curtain; a grey photograph does not say whether the car
was red or blue. A regression loss asks for one answer per input, and the answer that
minimises an average error over many plausible outputs is an *average* of them: a blur.
The adversarial term rewards outputs that look like a sample from $p(y \mid x)$ instead.
""")

md(r"""
## 6.2 The Pix2Pix objective: L1 plus a conditional GAN

Isola et al. {cite}`ch6-isola2017` combine the two kinds of loss. The pixel loss keeps the
output close to the target where the input determines it (the layout, the low
frequencies); the adversarial term makes the output look real where it does not (texture,
edges, the high frequencies). Their pixel loss is the mean absolute error, the **L1 loss**,

$$ \mathcal{L}_{L1}(G) = \mathbb{E}_{x, y, z}\left[\lVert y - G(x, z) \rVert_1\right],
   \tag{6.2} $$

averaged over pixels in our code, and the generator they train is

$$ G^* = \arg\min_G \max_D \; V(D, G) + \lambda\, \mathcal{L}_{L1}(G), \qquad
   \lambda = 100. \tag{6.3} $$

As in chapter 5, the generator does not minimise $\log(1 - D)$ but the non-saturating
$-\log D(x, G(x, z))$ (5.6), so its loss is
$J_G = -\mathbb{E}[\log D(x, G(x, z))] + \lambda\, \mathcal{L}_{L1}(G)$, and the
discriminator minimises the binary cross-entropy (5.4) on real pairs and fake pairs. Two
small details from the paper: the discriminator's loss is halved, which slows it relative
to the generator, and its output is a grid of logits (section 6.4), each of which enters
the averages.

**Why L1 and not the squared error?** Suppose that, for a given input, a pixel of the
target is bright ($+1$) in 70% of the training pairs and dark ($-1$) in the other 30%:
the window is sometimes lit. Call the pixel's value $v$, a random variable over the
training pairs with this input. A network that can only output one value $\hat v$ for this
input minimises its average loss at

$$ \arg\min_{\hat v} \mathbb{E}\left[(v - \hat v)^2\right] = \mathbb{E}[v], \qquad
   \arg\min_{\hat v} \mathbb{E}\left[\lvert v - \hat v \rvert\right] =
   \operatorname{median}(v).
   \tag{6.4} $$

The squared error's answer is the mean, $0.7 - 0.3 = 0.4$: a grey that never occurs. The
absolute error's answer is the median, $+1$: one of the values that do occur. This is the
sense in which L1 is **robust**: the median ignores how far away the minority outcomes
are, while the mean is dragged towards them. It is not a cure. When the outcomes are
closer to 50/50, or when the uncertainty is about *where* an edge is rather than how
bright a pixel is, the per-pixel median is again a smeared image, and an L1-trained
network gives blurry answers too. That remaining blur is what the adversarial term of
(6.3) removes. The cell below checks (6.4) on the toy pixel by minimising both losses
over $\hat v$ with gradient descent.
""")

code(r"""
g_toy = torch.Generator().manual_seed(1)
bright = torch.rand(10_000, generator=g_toy) < 0.7
y_toy = torch.where(bright, 1.0, -1.0)  # +1 with probability 0.7, else -1
fits = {}
for name, loss_fn in (("squared", F.mse_loss), ("absolute", F.l1_loss)):
    c = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([c], lr=0.05)
    for _ in range(500):
        opt.zero_grad()
        loss_fn(c.expand_as(y_toy), y_toy).backward()
        opt.step()
    fits[name] = c.item()
print(
    f"mean {y_toy.mean():.3f}, median {y_toy.median():.3f}; best constant: "
    f"squared error {fits['squared']:.3f}, absolute error "
    f"{fits['absolute']:.3f}"
)
assert abs(fits["squared"] - y_toy.mean().item()) < 0.02
assert fits["absolute"] > 0.9

cs = torch.linspace(-1.5, 1.5, 301)
fig, ax = plt.subplots(figsize=(6, 2.6))
ax.plot(cs, ((y_toy[None] - cs[:, None]) ** 2).mean(1), label="squared error")
ax.plot(cs, (y_toy[None] - cs[:, None]).abs().mean(1), label="absolute error")
ax.axvline(y_toy.mean(), color="C0", ls=":", label="mean")
ax.axvline(1.0, color="C1", ls="--", label="median")
ax.set_xlabel("constant output")
ax.set_ylabel("average loss")
ax.legend(fontsize=8)
ax.set_title("a pixel that is +1 (70%) or -1 (30%)")
plt.show()
""")

md(r"""
### Exercise 6.1: the Pix2Pix generator loss

Write $J_G$ of (6.3) for one batch: `fake_logits` are the PatchGAN's logits on the fake
pairs $(x, G(x))$ (a grid per image: average over every patch of every image), `fake` is
$G(x)$, `target` is $y$, and `lam` is $\lambda$. Use the numerically stable form of chapter
5, $-\log \mathrm{sigmoid}(a) = \operatorname{softplus}(-a)$, and average the absolute
error over every pixel. The function returned by the check is the one the Pix2Pix runs of
section 6.5 train with.
""")

code(r"""
def pix2pix_generator_loss(fake_logits, fake, target, lam=100.0):
    # your code here
    raise NotImplementedError


pix2pix_generator_loss = gm.exercises.check(
    "translation.pix2pix_generator_loss", pix2pix_generator_loss
)
""")

md(r"""
```{admonition} Solution
:class: dropdown
Run `gm.exercises.solution("translation.pix2pix_generator_loss")` to print the reference.
It is `F.softplus(-fake_logits).mean() + lam * (fake - target).abs().mean()`: chapter 5's
non-saturating loss on every patch logit, plus $\lambda$ times the mean absolute error.
A squared error in place of the absolute one, a forgotten $\lambda$, or
`torch.log(torch.sigmoid(...))` (which gives infinity for a very confident discriminator)
all fail the check.
```
""")

md(r"""
## 6.3 The generator: a U-Net

The generator must map a $3 \times H \times W$ image to another one of the same size. The
classic shape for that is an **encoder-decoder**: strided convolutions halve the size and
double the channels until a small **bottleneck**, and transposed convolutions bring it
back up. The bottleneck forces the network to summarise the whole image, which is what
lets it decide, say, that a region is a balcony and should be painted as one.

But much of what the output needs is already in the input, at full resolution: in a label
map the outlines of every window; in a noisy image the edges of the objects. Pushing that
detail through a $2 \times 2$ bottleneck and reconstructing it is wasteful, and it
rarely works: the output comes out blurred and misaligned. The **U-Net** of Ronneberger et
al. {cite}`ch7-ronneberger2015` adds **skip connections**: the decoder level at each
resolution receives, besides the upsampled features from below, a copy of the encoder's
features at the same resolution, concatenated along the channels. The bottleneck then only
has to carry what is global; local detail takes the short path. (Chapter 7 uses a U-Net
for the same reason in its denoiser.)

Our `tr.UNetGenerator` follows Pix2Pix: 4x4 convolutions of stride 2 with LeakyReLU on the
way down, transposed 4x4 convolutions with ReLU on the way up, batch normalisation in
between, and a tanh at the end so that outputs lie in $[-1, 1]$ like the data. Because each
level halves the size, the height and width must be divisible by $2^{\text{depth}}$; the
network says so when they are not.

**Where is the noise?** A conditional GAN for $p(y \mid x)$ should take noise $z$ so that
it can produce different outputs for one input. Isola et al. found that a generator given
$z$ as an extra input simply learns to ignore it. Their generator has no $z$; its only
randomness is **dropout** (probability 0.5) in the decoder levels nearest the bottleneck,
which they keep on at test time. They report that the outputs then vary only a little: a
conditional GAN that truly samples diverse outputs was left as an open problem, taken up
by later work such as BicycleGAN {cite}`ch6-zhu2017multimodal`. We look at this in
section 6.5.

### Exercise 6.2: a skip connection

Write the operation at the heart of the U-Net: given the decoder's features `up` of shape
$(N, C_1, H, W)$ and the encoder's features `skip` of shape $(N, C_2, H, W)$ at the same
resolution, return their concatenation of shape $(N, C_1 + C_2, H, W)$, **decoder
first** (the order must match the weights of the next layer).
""")

code(r"""
def skip_concat(up, skip):
    # your code here
    raise NotImplementedError


skip_concat = gm.exercises.check("translation.skip_concat", skip_concat)
""")

md(r"""
```{admonition} Solution
:class: dropdown
Run `gm.exercises.solution("translation.skip_concat")` to print the reference. The core is
`torch.cat([up, skip], dim=1)`: dimension 0 is the batch, dimension 1 the channels.
The reference also checks that the batch and spatial sizes agree, so that a U-Net fed an
image of the wrong size fails with a message instead of a cryptic shape error.
```

Here are the shapes through the U-Net that section 6.5 trains, with and without the skip
connections. Each skip doubles the channels that the next decoder layer reads.
""")

code(r"""
size = cfg.size
G_demo = tr.UNetGenerator(3, 3, width=cfg.p2p_width, depth=cfg.p2p_depth)
h = torch.zeros(1, 3, size, size)
feats = []
for k, layer in enumerate(G_demo.down):
    h = layer(h)
    feats.append(h)
    print(f"encoder level {k + 1}: {tuple(h.shape)}")
feats.pop()  # the bottleneck is not a skip
for k, layer in enumerate(G_demo.up):
    h = layer(h)
    h = skip_concat(h, feats.pop())
    print(f"decoder level {k + 1} + skip: {tuple(h.shape)}")
print("output:", tuple(G_demo.out(h).shape))
n_params = sum(p.numel() for p in G_demo.parameters())
no_skip = tr.UNetGenerator(
    3, 3, width=cfg.p2p_width, depth=cfg.p2p_depth, skips=False
)
print(
    f"parameters: {n_params:,} with skips, "
    f"{sum(p.numel() for p in no_skip.parameters()):,} without"
)
try:
    G_demo(torch.zeros(1, 3, size + 2, size + 2))
except ValueError as err:
    print("ValueError:", err)
""")

md(r"""
## 6.4 The discriminator: PatchGAN

If the L1 term takes care of the low frequencies, the discriminator only has to judge
whether the *local* texture is right: whether bricks look like bricks and window frames
have sharp edges. Pix2Pix's discriminator is therefore fully convolutional and outputs
not one logit but a grid of them, each computed from a limited window of the input pair.
Each logit answers "is this patch real?", and the loss averages over all of them. The
authors call it a **PatchGAN**: it assumes that pixels further apart than a patch are
independent, a Markov random field on the image, an idea that goes back to the texture
models of Li and Wand {cite}`ch6-li2016`. A patch discriminator has fewer parameters than
one that sees the whole image, runs on images of any size, and, because every patch
is a training example, gets many examples out of one image.

How large is a patch? The **receptive field** of an output unit is the region of the
input that can influence it. Walk backwards from one output unit ($r = 1$). A convolution
of kernel size $k$ and stride $s$ computes each of $r$ neighbouring outputs from $k$
inputs, each shifted by $s$, so $r$ outputs see

$$ r_{\ell - 1} = (r_\ell - 1)\, s_\ell + k_\ell \tag{6.5} $$

inputs of layer $\ell$. Padding moves the window but does not change its size. Pix2Pix's
default discriminator has three 4x4 convolutions of stride 2 and two of stride 1, so
$1 \to 4 \to 7 \to 16 \to 34 \to 70$: the famous 70x70 PatchGAN on $256 \times 256$
images. With fewer strided layers the patches shrink to 34 and 16 pixels (our small
images use these), and with none at all the discriminator looks at 7x7 pixels and
can only judge the finest texture.

A formula is easy to get wrong, so we also *measure* the receptive field: take one
output logit near the middle, back-propagate it to a random input, and find the region
where the input gradient is not zero. The two must agree. (This works with batch norm in
evaluation mode, where it is an affine map per pixel; in training mode, or with instance
norm, every output depends on every input pixel through the normalisation statistics.)
""")

code(r"""
print("strided layers | from (6.5) | measured by gradients")
for n_layers in range(4):
    D_rf = tr.PatchDiscriminator(6, 8, n_layers)
    formula = tr.patch_receptive_field(D_rf)
    measured = tr.measured_receptive_field(D_rf, size=160)
    print(f"{n_layers:14d} | {formula:10d} | {measured}")
    assert measured == (formula, formula)
""")

md(r"""
## 6.5 Pix2Pix on facades

The **CMP facades** data set {cite}`ch6-tylecek2013` pairs 606 photographs of building
fronts with hand-drawn label maps of twelve classes (wall, window, door, balcony, cornice,
...), each class a colour. Pix2Pix uses 400 pairs for training and we test on the 106
pairs of its test split (fewer of both in the quick profile), at a reduced image size set
by the profile. The translation goes from
label map to photograph: the hard direction, because the label map says nothing about
colours, materials or lighting.
""")

code(r"""
lab_train, photo_train = gm.data.load_facades(
    "train", n=cfg.n_facades, size=cfg.size
)
lab_test, photo_test = gm.data.load_facades(
    "test", n=cfg.n_test, size=cfg.size
)
print("train", tuple(lab_train.shape), "test", tuple(lab_test.shape))
pairs = torch.stack([lab_train[:6], photo_train[:6]], 1).flatten(0, 1)
gm.viz.show_images(
    pairs.cpu(),
    nrow=6,
    value_range=(-1, 1),
    title="training pairs: label map, photograph",
)
plt.show()
""")

md(r"""
Below the PatchGAN that judges the pairs of this profile, on a test pair. The light
square is the receptive field of the central logit, measured as above; the heat map is the
absolute input gradient of that logit (the pair's six channels summed) at the start of
training. Every logit of the grid judges one such window.
""")

code(r"""
D_show = tr.PatchDiscriminator(6, cfg.p2p_width, cfg.p2p_d_layers)
D_show.eval()
pair = torch.cat([lab_test[:1], photo_test[:1]], 1).cpu().requires_grad_(True)
logits = D_show(pair)
i, j = logits.shape[2] // 2, logits.shape[3] // 2
(grad,) = torch.autograd.grad(logits[0, 0, i, j], pair)
heat = grad.abs().sum((0, 1))
rf = tr.patch_receptive_field(D_show)
fig, axes = plt.subplots(1, 2, figsize=(6, 3))
axes[0].imshow(gm.data.from_tanh_range(photo_test[0]).permute(1, 2, 0).cpu())
axes[0].imshow(heat > 0, alpha=0.35, cmap="gray")
axes[0].set_title(f"receptive field {rf}x{rf}", fontsize=9)
axes[1].imshow(heat, cmap="magma")
axes[1].set_title(f"|gradient| of logit ({i}, {j}) of a {logits.shape[2]}"
                  f"x{logits.shape[3]} grid", fontsize=9)
for ax in axes:
    ax.set_axis_off()
plt.show()
""")

md(r"""
**The training step.** One step of Pix2Pix, as `pix2pix.make_pix2pix_step` writes it:
mirror each pair at random (the data augmentation of the paper); compute $G(x)$; update
$D$ on the real pairs $(x, y)$ and the fake pairs $(x, G(x))$, the fakes detached so that
this update leaves $G$ alone; then update $G$ on $J_G$ (6.3), with the discriminator's
fresh logits on $(x, G(x))$. Adam with a learning rate of $2 \cdot 10^{-4}$ and
$\beta_1 = 0.5$, as in chapter 5.

**The ablation.** To see what each part of (6.3) does we train five generators with the
same data, architecture, seed and number of steps, and change one thing at a time:

| name | generator loss | what it tests |
| --- | --- | --- |
| L1 | $\lambda\, \mathcal{L}_{L1}$, no discriminator | regression with the robust loss |
| MSE | $\lambda\,$ mean squared error, no discriminator | regression with the mean's loss (6.4) |
| cGAN | $-\log D(x, G(x))$ alone | the adversarial term without a pixel anchor |
| L1 + cGAN | (6.3) | Pix2Pix |
| L1 + cGAN, no skips | (6.3), `skips=False` | the U-Net's skip connections |

Each run reports on the test pairs the L1 distance to the true photograph (lower is
better) and the **peak signal-to-noise ratio**, $\text{PSNR} = 10 \log_{10}(2^2 /
\text{MSE})$ in decibels for images in $[-1, 1]$ (higher is better). Read these numbers
with care: they reward the *average* answer, so a blurry regression can score as well as
or better than a sharp, plausible photograph whose windows are not lit exactly like the
real ones. That is the whole point of (6.4), and the reason Isola et al. also asked people
to judge their images. The figure matters as much as the table.
""")

code(r"""
variants = {
    "L1": dict(loss="l1"),
    "MSE": dict(loss="mse"),
    "cGAN": dict(loss="cgan"),
    "L1 + cGAN": dict(loss="l1+cgan"),
    "L1 + cGAN, no skips": dict(loss="l1+cgan", skips=False),
}
p2p_models, p2p_outputs, p2p_scores, p2p_hist = {}, {}, {}, {}
for name, change in variants.items():
    p2p_cfg = pix2pix.Pix2PixConfig(
        steps=cfg.p2p_steps,
        batch_size=cfg.p2p_batch,
        width=cfg.p2p_width,
        depth=cfg.p2p_depth,
        d_layers=cfg.p2p_d_layers,
        lam=cfg.lam,
        seed=cfg.seed,
        **change,
    )
    G_p, _, hist_p = pix2pix.train_pix2pix(
        lab_train,
        photo_train,
        p2p_cfg,
        generator_loss=pix2pix_generator_loss,  # your loss of exercise 6.1
        desc=f"pix2pix {name}",
    )
    out = pix2pix.translate(G_p, lab_test)
    p2p_models[name], p2p_outputs[name], p2p_hist[name] = G_p, out, hist_p
    p2p_scores[name] = (
        tr.l1_loss(out, photo_test).item(),
        tr.psnr(out, photo_test),
    )
print(f"{'test pairs: ' + str(len(lab_test)):22s}  L1     PSNR (dB)")
for name, (l1, ps) in p2p_scores.items():
    print(f"{name:22s} {l1:.4f}  {ps:.2f}")
""")

code(r"""
n_show = 6
rows = [("label map", lab_test)]
rows += [(name, out) for name, out in p2p_outputs.items()]
rows += [("photograph", photo_test)]
fig, axes = plt.subplots(len(rows), 1, figsize=(7, 1.25 * len(rows)))
for ax, (name, imgs) in zip(axes, rows):
    gm.viz.show_images(
        imgs[:n_show].cpu(), nrow=n_show, ax=ax, value_range=(-1, 1)
    )
    ax.set_title(name, fontsize=9, loc="left")
plt.tight_layout()
plt.show()
""")

md(r"""
What to look for (the details depend on the profile: the quick profile's few steps show
little but colour blobs; the cpu profile's minute of training on tiny images shows the
trends; the paper trains 200 epochs at $256 \times 256$):

- **L1** and **MSE** get the layout right, because the input determines it, and are
  smooth where the input is ambiguous. The MSE outputs are typically the more washed-out
  of the two: the mean of (6.4) at work.
- **cGAN** alone produces texture and contrast, but with nothing tying the colours
  to the real photograph it can drift, and early in training it tends to produce
  repeated artefacts (the checkerboard pattern of transposed convolutions is a common
  one); its L1 and PSNR are usually the worst of the table.
- **L1 + cGAN** keeps the layout of L1 and adds sharper local structure. Its L1 and PSNR
  need not beat L1 alone: a crisp guess of a window's reflection that is wrong costs more
  pixel error than a grey smear. Isola et al. saw the same and judged realism with people
  and with a segmentation network run on the outputs.
- **No skips**: everything must pass through the bottleneck, and fine detail (the exact
  outline of each window) comes out blurred or displaced; in short runs the plain
  encoder-decoder may not get past painting the average facade, the same for every input.

The losses of the run tell the story of the game. For the adversarial runs the generator
loss combines two terms that pull in different directions; below we plot the L1 error on
the training batches, which every variant logs.
""")

code(r"""
fig, ax = plt.subplots(figsize=(6, 2.8))
for name, hist_p in p2p_hist.items():
    steps = hist_p["step"]
    smooth = max(1, len(steps) // 15)
    vals = torch.tensor(hist_p["l1"])
    if len(vals) >= smooth:
        vals = vals.unfold(0, smooth, 1).mean(1)
    ax.plot(steps[smooth - 1:], vals, label=name)
ax.set_xlabel("step")
ax.set_ylabel("L1 on the training batch")
ax.legend(fontsize=7)
plt.show()
""")

md(r"""
### Dropout as the noise source

Pix2Pix keeps dropout active at test time. How much do the outputs vary? Below, four
draws for the same two test inputs with dropout on, and the average standard deviation
of a pixel across 8 draws, next to the average difference between the output and the real
photograph. (With dropout off the network is deterministic: `pix2pix.translate` runs it in
evaluation mode by default.)
""")

code(r"""
G_main = p2p_models["L1 + cGAN"]
draws = torch.stack(
    [pix2pix.translate(G_main, lab_test[:8], dropout=True) for _ in range(8)]
)
spread = draws.std(0).mean().item()
err = (draws.mean(0) - photo_test[:8]).abs().mean().item()
print(
    f"mean std of a pixel across 8 dropout draws: {spread:.4f}; "
    f"mean |error| of their average: {err:.4f}"
)
fig, axes = plt.subplots(1, 2, figsize=(8, 2.4))
for ax, k in zip(axes, (0, 1)):
    gm.viz.show_images(
        torch.cat([lab_test[k : k + 1], draws[:4, k]]).cpu(),
        nrow=5,
        ax=ax,
        value_range=(-1, 1),
    )
    ax.set_title(f"test input {k}: label map, 4 dropout draws", fontsize=9)
plt.tight_layout()
plt.show()
""")

md(r"""
The draws typically differ by far less than they differ from the truth: the generator
has learned to give nearly one answer per input, as Isola et al. observed. A conditional
GAN *can* represent $p(y \mid x)$, but nothing in (6.3) forces it to spread its outputs
over the modes, and the L1 term actively pulls them towards the median. Producing truly
diverse translations takes extra machinery, such as a latent code that the output must
reveal (BicycleGAN {cite}`ch6-zhu2017multimodal`).

## 6.6 CycleGAN: translation without pairs

Pairs are a luxury. Nobody photographed the same horse as a zebra, and nobody scanned the
same handwritten digit in two post offices. In the **unpaired** setting we have samples of
two domains, $\{x^{(n)}\} \sim p_\text{data}(x)$ in $X$ and $\{y^{(m)}\} \sim
p_\text{data}(y)$ in $Y$, and want a map $G: X \to Y$ whose output, for each $x$, is "the
same thing" rendered in the style of $Y$.

An adversarial loss alone gets us half way. Train $G$ against a discriminator $D_Y$ that
separates real images of $Y$ from translations $G(x)$:

$$ V_Y(D_Y, G) = \mathbb{E}_{y}\left[\log D_Y(y)\right] + \mathbb{E}_{x}\left[\log(1 -
   D_Y(G(x)))\right], \tag{6.6} $$

and likewise $V_X(D_X, F)$ for a map $F: Y \to X$ back. At the optimum the *distribution*
of $G(x)$ matches that of $Y$, but nothing ties a particular output to its input: any
map that sends the $X$ distribution onto the $Y$ distribution is optimal, including one
that sends every 3 to a 7 and every 7 to a 3, or that ignores $x$ and recycles its
favourite images (mode collapse, chapter 5). The problem is *under-constrained*.

Zhu et al. {cite}`ch6-zhu2017` add the constraint that a translation should be
reversible. If we translate a horse into a zebra and back, we should get the original
horse. With two generators $G: X \to Y$ and $F: Y \to X$, the **cycle-consistency loss**
is

$$ \mathcal{L}_\text{cyc}(G, F) = \mathbb{E}_{x}\left[\lVert F(G(x)) - x \rVert_1\right]
   + \mathbb{E}_{y}\left[\lVert G(F(y)) - y \rVert_1\right]. \tag{6.7} $$

Swapping the 3s and 7s is now penalised unless $F$ swaps them back, and mapping
everything to one image cannot be undone at all. Each generator must keep enough of its
input to reconstruct it: the content of $x$ survives the translation. The idea is the
"back-translation" check of human translators, applied to images.

A second, optional term is the **identity loss**, borrowed from Taigman et al.
{cite}`ch6-taigman2017`:

$$ \mathcal{L}_\text{id}(G, F) = \mathbb{E}_{y}\left[\lVert G(y) - y \rVert_1\right]
   + \mathbb{E}_{x}\left[\lVert F(x) - x \rVert_1\right]. \tag{6.8} $$

$G$ turns images into $Y$-images; given an image that already is one, it should leave it
alone. The cycle loss does not forbid $G$ to change colours globally (for example to
invert the tint of a painting) as long as $F$ changes them back; the identity loss does,
and Zhu et al. used it to keep the colours of paintings translated into photographs. The
full objective, with the weights of the paper,

$$ \min_{G, F} \max_{D_X, D_Y} \; V_Y(D_Y, G) + V_X(D_X, F) + \lambda_\text{cyc}\,
   \mathcal{L}_\text{cyc}(G, F) + \lambda_\text{id}\, \mathcal{L}_\text{id}(G, F), \qquad
   \lambda_\text{cyc} = 10,\; \lambda_\text{id} = 5. \tag{6.9} $$

(Zhu et al. replace the log losses of (6.6) by least squares {cite}`ch6-mao2017`; we keep
chapter 5's non-saturating loss, which works at our scale.) The generators are U-Nets
again (the paper uses residual networks, which keep the resolution throughout), with
instance normalisation and no dropout; the discriminators are PatchGANs. For the digits
of section 6.7 we lower the identity weight and raise the learning rate (both printed with
the settings at the top: `lam_id`, `cyc_lr`): our runs last minutes rather than the
paper's 200 epochs, and in short trial runs with the paper's values the generators stayed
close to copying their inputs, which the identity and cycle terms reward.

### Exercise 6.3: the cycle-consistency loss

Write (6.7) for one batch of each domain: `x` and its round trip `x_cycled` $= F(G(x))$,
`y` and `y_cycled` $= G(F(y))$. Each term is the mean absolute error over its own batch
and pixels (the two batches may have different sizes). The training of section 6.7 uses
your function.
""")

code(r"""
def cycle_consistency_loss(x, x_cycled, y, y_cycled):
    # your code here
    raise NotImplementedError


cycle_consistency_loss = gm.exercises.check(
    "translation.cycle_consistency_loss", cycle_consistency_loss
)

# a translator that changes nothing comes back exactly: the cycle loss is 0
x_any = torch.rand(4, 1, 28, 28) * 2 - 1
y_any = torch.rand(5, 1, 28, 28) * 2 - 1
identity = torch.nn.Identity()
zero = cycle_consistency_loss(
    x_any, identity(identity(x_any)), y_any, identity(identity(y_any))
)
assert zero.item() == 0.0
""")

md(r"""
```{admonition} Solution
:class: dropdown
Run `gm.exercises.solution("translation.cycle_consistency_loss")` to print the reference:
`(x_cycled - x).abs().mean() + (y_cycled - y).abs().mean()`. Summing instead of averaging
would scale the loss with the image size and batch size (and so change the meaning of
$\lambda_\text{cyc}$); a squared error is a legitimate variant, but not the one of the paper.
```

### Exercise 6.4: the identity loss

Write (6.8). This time you get the two networks: `G` maps $X \to Y$ and `F` maps
$Y \to X$, and `x`, `y` are batches of the two domains. Be careful which image goes into
which network.
""")

code(r"""
def identity_loss(G, F, x, y):
    # your code here
    raise NotImplementedError


identity_loss = gm.exercises.check("translation.identity_loss", identity_loss)
""")

md(r"""
```{admonition} Solution
:class: dropdown
Run `gm.exercises.solution("translation.identity_loss")` to print the reference:
`(G(y) - y).abs().mean() + (F(x) - x).abs().mean()`. The common mistake is `G(x) - x`:
that asks the translator to do nothing on its own inputs, which fights the adversarial
loss instead of anchoring colours.
```

## 6.7 Pixel-level domain adaptation: MNIST to USPS

A classifier trained on one data set often does worse on another that a person would
call "the same task": digits written by other people, scanned by another machine,
normalised by another pipeline. This **domain shift** is everyday life in applied machine
learning, and medicine is full of it (scanners of different vendors, protocols of different
hospitals). **Domain adaptation** asks for good accuracy on the *target* domain while
labels exist only in the *source* domain.

CycleGAN offers a pixel-level answer, the first step of CyCADA {cite}`ch6-hoffman2018`:
translate the labelled source images into the style of the target, keep their labels,
and train the classifier on the translations. If the translation changes the style but
keeps the digit, the classifier sees target-looking images with correct labels.

Our source is MNIST (labels used), our target USPS (labels used only to score the result
and for the upper bound). **Preprocessing.** USPS digits are $16 \times 16$ and fill their
frame; MNIST digits are centred in a $20 \times 20$ box inside $28 \times 28$. We resize
each USPS digit to $20 \times 20$ (bilinear) and pad it with zeros to $28 \times 28$
(`cyclegan.frame_digits`), so both domains share the size and the framing; what
remains is the difference in style: stroke width, slant, aspect ratio and the blur of the
scanner. Both are mapped to $[-1, 1]$ for the GAN.

**Protocol.** The same small LeNet-style classifier (`cyclegan.DigitClassifier`),
trained for the same number of steps, three times:

1. **source only**: on raw MNIST with its labels;
2. **CycleGAN**: on $G(x)$ for the same MNIST images, with their MNIST labels;
3. **target (upper bound)**: on the USPS training digits with their labels.

All three are tested on the 2,007 USPS test digits. For orientation, CyCADA reports 82.2%
for source only and 95.6% for its pixel-level adaptation (MNIST to USPS, LeNet, their
preprocessing and much longer training); our numbers come from this run and a much
smaller budget.
""")

code(r"""
x_mnist, y_mnist = gm.data.load_mnist(train=True, n=cfg.n_mnist)
x_usps, y_usps = gm.data.load_usps(train=True, n=cfg.n_usps)
x_usps = cyclegan.frame_digits(x_usps)
x_usps_test, y_usps_test = gm.data.load_usps(train=False)
x_usps_test = cyclegan.frame_digits(x_usps_test)
x_mnist_test, _ = gm.data.load_mnist(train=False, n=16)
print(
    f"MNIST {tuple(x_mnist.shape)}, USPS {tuple(x_usps.shape)}, "
    f"USPS test {tuple(x_usps_test.shape)}"
)
gm.viz.show_images(
    torch.cat([x_mnist[:12], x_usps[:12]]).cpu(),
    nrow=12,
    title="top: MNIST; bottom: USPS framed as MNIST",
)
plt.show()
""")

code(r"""
cyc_cfg = cyclegan.CycleGANConfig(
    steps=cfg.cyc_steps,
    batch_size=cfg.cyc_batch,
    width=cfg.cyc_width,
    lam_cyc=cfg.lam_cyc,
    lam_id=cfg.lam_id,
    lr=cfg.cyc_lr,
    seed=cfg.seed,
)
G_xy, F_yx, D_X, D_Y, hist_cyc = cyclegan.train_cyclegan(
    gm.data.to_tanh_range(x_mnist),
    gm.data.to_tanh_range(x_usps),
    cyc_cfg,
    cycle_loss=cycle_consistency_loss,  # exercise 6.3
    id_loss=identity_loss,  # exercise 6.4
)
fig, axes = plt.subplots(1, 2, figsize=(8, 2.6))
gm.viz.plot_history(
    hist_cyc, keys=("loss_g_adv", "loss_d"), ax=axes[0], smooth=10,
    title="adversarial losses",
)
gm.viz.plot_history(
    hist_cyc, keys=("loss_cyc", "loss_id"), ax=axes[1], smooth=10,
    title="cycle and identity (L1)",
)
plt.show()
""")

code(r"""
def to_usps(x01):  # MNIST in [0, 1] -> its USPS-style translation in [0, 1]
    out = pix2pix.translate(G_xy, gm.data.to_tanh_range(x01))
    return gm.data.from_tanh_range(out)


def to_mnist(x01):
    out = pix2pix.translate(F_yx, gm.data.to_tanh_range(x01))
    return gm.data.from_tanh_range(out)


m, u = x_mnist_test[:10], x_usps_test[:10]
grid = torch.cat([m, to_usps(m), to_mnist(to_usps(m)), u, to_mnist(u),
                  to_usps(to_mnist(u))])
gm.viz.show_images(
    grid.cpu(),
    nrow=10,
    title="MNIST, G(x), F(G(x)) | USPS, F(y), G(F(y))",
)
plt.show()
""")

code(r"""
x_translated = torch.cat(
    [to_usps(x_mnist[i : i + 1000]) for i in range(0, len(x_mnist), 1000)]
)
training_sets = {
    "source only (MNIST)": (x_mnist, y_mnist),
    "CycleGAN (G(MNIST))": (x_translated, y_mnist),
    "target (USPS labels)": (x_usps, y_usps),
}
accuracy, classifiers = {}, {}
for name, (xs, ys) in training_sets.items():
    net = cyclegan.train_digit_classifier(
        xs, ys, cfg.clf_steps, seed=cfg.seed, desc=name
    )
    classifiers[name] = net
    accuracy[name] = gm.metrics.accuracy(net, x_usps_test, y_usps_test)
print(f"accuracy on the {len(x_usps_test)} USPS test digits")
for name, acc in accuracy.items():
    print(f"  {name:22s} {100 * acc:5.1f}%")
# does G keep the digit? the USPS-trained classifier reads the translations
kept = gm.metrics.accuracy(
    classifiers["target (USPS labels)"], x_translated, y_mnist
)
kept_raw = gm.metrics.accuracy(
    classifiers["target (USPS labels)"], x_mnist, y_mnist
)
print(
    f"the USPS classifier reads {100 * kept:.1f}% of the translations G(x) "
    f"as their MNIST label ({100 * kept_raw:.1f}% of the raw MNIST digits)"
)
""")

md(r"""
Read the three numbers together. The gap between the first and the last is the cost of
the domain shift for this classifier and budget; the middle number says how much of it
the translation recovered in this run, and it can be *negative*: a translator that
changes some 4s into 9s hands the classifier wrong labels, and a poorly trained one adds
artefacts that exist in neither domain. The last line measures that risk directly: the
share of translated digits that a classifier trained on real USPS digits still reads as
their MNIST label, next to the same share for the untranslated digits. A translation that
made MNIST look like USPS while keeping the digits should raise it. CyCADA adds exactly this as a loss (**semantic consistency**: a
pretrained source classifier must give the same label before and after translation) and
aligns features as well as pixels; the cycle loss alone only promises that *some*
information survives, not that it is the label.

How much the translation helps depends on how long it trains: in short runs the
generators first learn to copy (the identity and cycle losses are easy to satisfy by
doing nothing, and the skip connections make copying easy), and only later do they
learn the style. The benchmark script trains the same experiment at the profile's sizes
and prints the numbers as JSON.

## 6.8 Denoising with and without pairs

Medical imaging has a translation problem of its own: a low-dose CT scan exposes the
patient to less radiation but is noisy, and a normal-dose scan is clean. Pairs of the
same patient at both doses are rare (nobody is scanned twice for a data set), while
collections of each kind are plentiful. Can a CycleGAN learn to denoise from *unpaired*
noisy and clean images, and how does it compare with Pix2Pix trained on pairs?

A small version on digits: MNIST images plus Gaussian noise of standard deviation
`dn_sigma` (clamped to $[0, 1]$) form the noisy domain $X$, and *other* MNIST images,
clean, form the domain $Y$. Pix2Pix sees the noisy digits together with their clean
originals; CycleGAN sees the same noisy digits and a disjoint set of clean ones. Both are
scored by PSNR against the clean test digits, next to the noisy input itself.
""")

code(r"""
g_dn = torch.Generator().manual_seed(5)
x_dn, _ = gm.data.load_mnist(train=True, n=2 * cfg.dn_n, seed=2)


def add_noise(x01, g):
    noise = torch.randn(x01.shape, generator=g).to(x01.device)
    return (x01 + cfg.dn_sigma * noise).clamp(0, 1)


clean_a, clean_b = x_dn[: cfg.dn_n], x_dn[cfg.dn_n :]
noisy_a = add_noise(clean_a, g_dn)
x_dn_test, _ = gm.data.load_mnist(train=False, n=500, seed=2)
noisy_test = add_noise(x_dn_test, g_dn)
tanh = gm.data.to_tanh_range
p2p_dn = pix2pix.Pix2PixConfig(
    steps=cfg.dn_steps,
    batch_size=cfg.cyc_batch,
    width=cfg.cyc_width,
    depth=2,
    d_layers=1,
    lam=cfg.lam,
    lr=cfg.cyc_lr,  # the CycleGAN's learning rate: a fair comparison
    seed=cfg.seed,
)
G_dn_paired, _, _ = pix2pix.train_pix2pix(
    tanh(noisy_a), tanh(clean_a), p2p_dn, desc="pix2pix denoiser"
)
cyc_dn = cyclegan.CycleGANConfig(
    steps=cfg.dn_steps,
    batch_size=cfg.cyc_batch,
    width=cfg.cyc_width,
    lam_cyc=cfg.lam_cyc,
    lam_id=cfg.lam_id,
    lr=cfg.cyc_lr,
    seed=cfg.seed,
)
G_dn_cycle = cyclegan.train_cyclegan(
    tanh(noisy_a), tanh(clean_b), cyc_dn, desc="CycleGAN denoiser"
)[0]
denoised = {
    "noisy input": tanh(noisy_test),
    "Pix2Pix (pairs)": pix2pix.translate(G_dn_paired, tanh(noisy_test)),
    "CycleGAN (no pairs)": pix2pix.translate(G_dn_cycle, tanh(noisy_test)),
}
dn_psnr = {k: tr.psnr(v, tanh(x_dn_test)) for k, v in denoised.items()}
for name, value in dn_psnr.items():
    print(f"PSNR vs the clean test digits, {name:20s} {value:.2f} dB")
rows_dn = [x_dn_test[:10]] + [
    gm.data.from_tanh_range(v[:10]) for v in denoised.values()
]
gm.viz.show_images(
    torch.cat(rows_dn).cpu(),
    nrow=10,
    title="clean, noisy, Pix2Pix, CycleGAN",
)
plt.show()
""")

md(r"""
With pairs, the denoiser is told exactly which clean image hides behind each noisy one;
without them, CycleGAN only knows what clean digits look like in general, and the cycle
loss asks it to keep enough of the input to put the noise back. Pairs carry strictly
more information, so with enough training the paired model should be at least as good;
with a few minutes of training either can come out ahead (both use the same learning
rate, steps and networks here), and the numbers above say what happened in this run.
PSNR also favours the blurrier of two answers when both are uncertain, as on the facades.
The unpaired one has a subtler weakness
that PSNR on average hides: its output only has to be *a* plausible clean digit, so where
the noise makes the input ambiguous it is free to choose, and it may choose a different
stroke (or, in a scan, a different anatomy) than the one that was there. That is the
subject of the next section.

## 6.9 What a cycle can hide, and what a translator can invent

Cycle consistency is a weaker guarantee than it looks. Three failure modes matter.

**Steganography.** $F$ must reconstruct $x$ from $G(x)$, but nothing says that the
information it uses must be *visible* in $G(x)$. Chu et al. {cite}`ch6-chu2017` showed
that a CycleGAN trained between aerial photographs and maps hides the details of the
photograph (which a map does not show) in a low-amplitude, high-frequency signal in the
map, from which $F$ rebuilds them. The translation is then not a clean rendering of the
content but a code, and it can be fragile: small perturbations of $G(x)$ can change
$F(G(x))$ a lot. The cell below tests our digit translator the same way: it adds a little
Gaussian noise to $G(x)$ before translating back and compares the reconstruction error
with the size of the noise.
""")

code(r"""
x_probe = gm.data.to_tanh_range(x_mnist_test)
with torch.no_grad():
    y_probe = G_xy(x_probe)
    base = (F_yx(y_probe) - x_probe).abs().mean().item()
    g_noise = torch.Generator().manual_seed(3)
    for std in (0.02, 0.05, 0.1):
        noise = std * torch.randn(y_probe.shape, generator=g_noise)
        noisy = (y_probe + noise.to(device)).clamp(-1, 1)
        err = (F_yx(noisy) - x_probe).abs().mean().item()
        print(
            f"noise std {std:.2f} on G(x): cycle L1 {base:.4f} -> {err:.4f}"
        )
""")

md(r"""
If the reconstruction error grows by much more than the noise added, $F$ is reading
information that sits in faint details of $G(x)$ rather than in the visible digit.
Whether that happens here depends on the run; Chu et al. found it in all their map
translators.

**Matching the distribution by changing the content.** The adversarial loss asks that
$G(x)$ *look like* the target domain, and the target domain comes with its own statistics
beyond style. The horse-to-zebra model of Zhu et al. was trained on ImageNet photographs
of horses and zebras; among its failure cases the paper shows a man riding a horse, who
is given stripes too, since no zebra in the training set had a rider. Backgrounds are a
quieter version of the same problem: zebras are photographed on dry savanna, horses
mostly on green pastures, and since the discriminator judges whole patches, a generator
is rewarded for changing the grass along with the animal. In a medical
image the same mechanism is not a curiosity. Cohen et al. {cite}`ch6-cohen2018` trained
CycleGANs to translate brain MRI between two contrasts; when the target domain's training
images had (or lacked) tumours in a different proportion than the source's, the
translator learned to *add* or *remove* tumours, because that was the cheapest way to
make its output look like the target distribution, and the results still looked entirely
realistic. Any low-level statistic that differs between the two collections (the noise of
one scanner, a ruler in every image of one hospital, a particular intensity range) is
something the translator is rewarded for imposing. A translated image is a *plausible*
image of the target domain, not a measurement.

**Many-to-one and one-to-many mappings.** The cycle assumes that the translation is a
bijection. Map to photo is one-to-many (many photos fit one map), photo to map many-to-one;
a cycle cannot hold exactly in both directions, which is one more reason for the hiding
above. Later methods loosen the constraint: UNIT shares a latent space between the domains
{cite}`ch6-liu2017`, and contrastive unpaired translation (CUT) drops the second
generator, asking only that each patch of the output be more similar to the patch of the
input at the same place than to other patches {cite}`ch6-park2020`.

## 6.10 An explorer

Pick a test digit and a direction: the panels show the input, its translation and the
round trip through the other generator. In the book (no live kernel) the explorer shows
two inputs in each direction.
""")

code(r"""
explore = {
    "MNIST -> USPS": (x_mnist_test, to_usps, to_mnist),
    "USPS -> MNIST": (x_usps_test[:16], to_mnist, to_usps),
}


def render(ax, index, direction):
    xs, there, back = explore[direction]
    x1 = xs[index : index + 1]
    y1 = there(x1)
    strip = torch.cat([x1, y1, back(y1)], dim=3)[0, 0]
    ax.imshow(strip.cpu(), cmap="gray", vmin=0, vmax=1)
    ax.set_title(f"{direction} #{index}\ninput | G | cycle", fontsize=8)
    ax.set_axis_off()


gm.widgets.explorer(
    render,
    controls={"index": (0, 15, 1), "direction": list(explore)},
    static={"direction": list(explore), "index": [0, 1]},
)
plt.show()
""")

md(r"""
## Summary

- A conditional GAN models $p(y \mid x)$: both players see the condition, and the
  discriminator judges (input, output) pairs (6.1). With an image as the condition it is an
  image-to-image translator.
- Pixel losses alone answer with an average of the plausible outputs: the mean for the
  squared error, the median for L1 (6.4). Pix2Pix adds a conditional adversarial term to
  L1 with $\lambda = 100$ (6.3): L1 anchors the layout, the GAN sharpens the texture.
- The U-Net's skip connections carry the input's detail past the bottleneck; without them
  the output loses fine structure. Its only noise is dropout, and its outputs barely vary.
- The PatchGAN judges overlapping patches whose size is the receptive field (6.5), 70
  pixels in the paper's network; the formula agrees with the gradient of the network.
- PSNR and L1 reward the average answer; a sharper, more realistic translation can score
  worse. Look at the images.
- CycleGAN learns without pairs: two generators, two discriminators (6.6), a
  cycle-consistency loss that makes translations reversible (6.7) and an identity loss
  that keeps colours (6.8), combined in (6.9).
- Translating labelled source images into the target style is pixel-level domain
  adaptation (CyCADA); whether it helps must be measured, along with whether the
  translation kept the labels.
- With pairs, a translator learns which output belongs to each input; without them (an
  unpaired denoiser, as for low-dose CT) it only learns what outputs look like in general.
- A translator can hide information in imperceptible signals and can add or remove
  content to match the target distribution. In medicine, a translated image is not
  evidence.

## Open questions

1. In (6.1) the discriminator sees the pair. What would a PatchGAN that only sees the
   output, $D(y)$, reward in the facades task? Try it by changing the step.
2. The L1 weight $\lambda = 100$ looks enormous. Compare the size of the two terms of
   (6.3) in the logged losses: which one dominates early and late in training?
3. Why does the identity loss (6.8) make sense for MNIST to USPS, but would be a bad
   idea for label maps to photographs?
4. A CycleGAN between two domains with different class proportions (more 1s in one
   domain than in the other) cannot be both cycle-consistent and label-preserving. Why?
   What would you expect to happen to the translated digits?
5. Design a test, in the spirit of section 6.9, that would reveal a translator that
   removes a feature (a tumour, a digit's stroke) to match the target domain.

## Further reading

Isola et al. {cite}`ch6-isola2017` and Zhu et al. {cite}`ch6-zhu2017` are both readable
and full of ablations and failure cases; their project pages show many more applications.
pix2pixHD {cite}`ch6-wang2018` scales paired translation to $2048 \times 1024$ with
multi-scale discriminators and a feature-matching loss. BicycleGAN
{cite}`ch6-zhu2017multimodal` makes the outputs diverse. For the unpaired setting, UNIT
{cite}`ch6-liu2017` and CUT {cite}`ch6-park2020` relax cycle consistency, CyCADA
{cite}`ch6-hoffman2018` combines pixel-level and feature-level adaptation, and Chu et al.
{cite}`ch6-chu2017` and Cohen et al. {cite}`ch6-cohen2018` are short and sobering reads on
what a cycle hides and what a translator invents. Chapter 7's diffusion models are today
also used for translation, conditioned on the input image, with the same caveats.

The last cell prints this run's numbers.
""")

code(r"""
summary = {
    "profile": gm.runtime.profile(),
    **{
        f"facades {name} (L1, PSNR dB)": (round(l1, 4), round(ps, 2))
        for name, (l1, ps) in p2p_scores.items()
    },
    **{
        f"USPS test accuracy, {name}": round(100 * acc, 1)
        for name, acc in accuracy.items()
    },
    "USPS classifier on G(MNIST), raw MNIST (%)": (
        round(100 * kept, 1),
        round(100 * kept_raw, 1),
    ),
    **{
        f"denoising PSNR dB, {name}": round(value, 2)
        for name, value in dn_psnr.items()
    },
    "wall time (s)": round(time.time() - t_start, 1),
}
for k, v in summary.items():
    print(f"{k:46s} {v}")
""")


def main():
    cells = []
    for i, (kind, text) in enumerate(CELLS):
        lines = text.split("\n")
        source = [line + "\n" for line in lines[:-1]] + [lines[-1]]
        cell = {"cell_type": kind, "id": f"ch6-{i:03d}", "metadata": {}, "source": source}
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
            cell = {"cell_type": "code", "execution_count": None, "id": cell["id"], "metadata": {},
                    "outputs": [], "source": source}
        cells.append(cell)
    nb = {"cells": cells,
          "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                       "language_info": {"name": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    path = ROOT / "notebooks" / "06_pix2pix_cyclegan.ipynb"
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {path} ({len(cells)} cells)")


if __name__ == "__main__":
    main()
