"""The sizes of the models that the package ships (``gm.weights``), one dict per chapter.

``settings.<chapter>(weights=True)`` applies one of them on top of the chapter's profile:
the run of the chapter's benchmark with ``--save-weights`` that trained the shipped model.
Each comment says what the shipped model is and why it has these sizes.
"""

# The shipped VAE (`benchmarks/03_elbo_vae.py --save-weights`, weights=True): long enough on
# two CPU cores (about 30 minutes of training, ~150 epochs) to pass the chapter's target of
# <= 90 nats at K = 1,000 on the whole test set, with the learning rate a tenth for the last
# 15% of the steps.
_VAE_WEIGHTS = dict(n_train=None, n_test=10_000, main_steps=70_000, batch=128, z_dim=32,
                    hidden=(512, 256), lr=1e-3, lr_final_frac=0.15, nll_k=1_000, iwae_n=10_000)

# The shipped PixelCNN (`benchmarks/04_... --save-weights`, weights=True): 64 channels, 8
# blocks, all of MNIST, a cosine-decayed learning rate, the whole binarised test set; no
# MLP flow (mflow_steps=0). `--model glow` trains the shipped multi-scale flow instead.
_FLOWS_WEIGHTS = dict(n_train=None, n_test=10_000, pcnn_channels=64, pcnn_layers=8,
                      pcnn_steps=7_000, batch=32, lr=2e-3, n_sample=4, mflow_steps=0,
                      glow_steps=7_000)

# The shipped DCGAN (`benchmarks/05_minimax_gans.py --save-weights`, weights=True): the
# chapter's DCGAN on all of MNIST, wider, two 3x3 convolutions deeper at each resolution
# (depth=2) and trained ~31 epochs (29,093 steps: the 100 minutes of one CPU thread that the
# recorded run was given, `--train-seconds 6000`), with an EMA of G's weights; measured on
# n_confident samples (the classifier's confident share and the class shares) and n_fd
# samples (the Frechet distance, against the whole test set).
_GAN_WEIGHTS = dict(n_train=None, dcgan_steps=29_093, width=48, dcgan_depth=2,
                    dcgan_batch=64, dcgan_ema=0.999, n_fd=10_000, n_confident=2_000)

# The shipped Pix2Pix (`benchmarks/06_pix2pix_cyclegan.py --save-weights`, weights=True): the
# chapter's L1 + cGAN translator at the gpu profile's size and width, on all 400 training
# facades, trained ~40x longer than the cpu profile's; ``judge_*``: the U-Net that scores it
# (photographs -> label maps, the same judge as the ablation's, at this size).
_P2P_WEIGHTS = dict(size=128, n_facades=None, n_test=106, p2p_steps=6_000, p2p_width=32, p2p_depth=5,
                    p2p_d_layers=3, p2p_batch=8, judge_steps=1_500, judge_width=16)

# The shipped U-Net (`benchmarks/07_diffusion.py --save-weights`, weights=True): the cpu
# profile's U-Net on all of MNIST, trained ~67x longer with a slower EMA (its manifest
# says how later runs went on from it). n_fd DDIM-50 samples for the Frechet distance
# (10,000, as the DCGAN's), the first n_confident of them for the confident and class
# shares; a CPU cannot afford more than n_ddpm DDPM-1000 samples.
_DIFFUSION_WEIGHTS = dict(img_n_train=None, img_channels=(16, 32, 32), img_t_dim=64,
                          img_steps=10_000, img_batch=32, img_lr=1e-3, ema_decay=0.999,
                          n_fd=10_000, n_ddpm=100, n_confident=2_000)

# the sizes of the shipped chapter 8 models (``benchmarks/08_... --save-weights``): the
# notebook's cpu sizes, on more images and trained longer (the latent denoiser
# reached 0.57 / 0.84 prompt agreement at 3,000 / 10,000 steps, w = 3, in a cpu run)
_CLIP_WEIGHTS = dict(n_train=30_000, clip_steps=2_000, ae_steps=1_500, ldm_steps=20_000,
                     ldm_width=48, ldm_blocks=4, ema_decay=0.999, sweep_n=100, ddim_steps=25,
                     n_compose=100, pix_steps=10_000, curve_every=1_000, curve_n=10)
