"""Figures used throughout the book: image grids, 2-D samples and densities, loss curves."""
from __future__ import annotations

import math

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch


def use_house_style() -> None:
    """The book's figure defaults; applied when the package is imported.

    Opaque white backgrounds (a transparent figure turns unreadable on a dark page or a
    dark notebook theme) and, in a notebook with the inline backend, images at twice
    the resolution they are shown at, so lines and digits stay sharp on the web page.
    """
    plt.rcParams.update({"figure.facecolor": "white", "savefig.facecolor": "white",
                         "axes.facecolor": "white", "figure.dpi": 100})
    if "inline" not in matplotlib.get_backend():
        return
    try:
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:  # an old IPython without matplotlib-inline: keep its defaults
        return
    set_matplotlib_formats("retina")


use_house_style()


def _numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().float().cpu().numpy()
    return np.asarray(x)


def image_grid(x, nrow: int = 8, pad: int = 1, value_range=(0.0, 1.0)) -> np.ndarray:
    """Tile images ``(N, C, H, W)`` (or ``(N, H, W)``) into one ``(H', W', C)`` array in [0, 1]."""
    x = _numpy(x)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise ValueError(f"image_grid expects images of shape (N, C, H, W) or (N, H, W), got {x.shape}")
    if len(x) == 0:
        raise ValueError("image_grid got an empty batch of images")
    lo, hi = value_range
    x = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    n, c, h, w = x.shape
    ncol = min(nrow, n)
    nrows = math.ceil(n / ncol)
    grid = np.ones((nrows * (h + pad) + pad, ncol * (w + pad) + pad, c), dtype=np.float32)
    for k in range(n):
        r, col = divmod(k, ncol)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[top:top + h, left:left + w] = x[k].transpose(1, 2, 0)
    return grid


def show_images(x, nrow: int = 8, title: str | None = None, ax=None, value_range=(0.0, 1.0)):
    """Show a batch of images as one grid; returns the figure."""
    grid = image_grid(x, nrow=nrow, value_range=value_range)
    if ax is None:
        rows, cols = grid.shape[:2]
        scale = 6.0 / max(rows, cols)
        _, ax = plt.subplots(figsize=(max(2.0, cols * scale), max(2.0, rows * scale)))
    if grid.shape[2] == 1:
        ax.imshow(grid[..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(grid, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax.figure


def scatter2d(x, ax=None, s: float = 2.0, alpha: float = 0.5, title: str | None = None, **kw):
    """Scatter plot of 2-D points ``(n, 2)`` with equal axes; returns the axes."""
    x = _numpy(x)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"scatter2d expects points of shape (n, 2), got {x.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    ax.scatter(x[:, 0], x[:, 1], s=s, alpha=alpha, **kw)
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    return ax


def density2d(log_prob, lim=(-3.0, 3.0), n: int = 200, ax=None, title: str | None = None, cmap: str = "viridis"):
    """Image of ``exp(log_prob)`` over the square ``lim x lim``; ``log_prob`` maps ``(m, 2) -> (m,)``."""
    lo, hi = lim
    g = torch.linspace(lo, hi, n)
    xx, yy = torch.meshgrid(g, g, indexing="xy")
    pts = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)
    with torch.no_grad():
        dens = _numpy(log_prob(pts)).reshape(n, n)
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(np.exp(dens - dens.max()), origin="lower", extent=(lo, hi, lo, hi), cmap=cmap)
    if title:
        ax.set_title(title)
    return ax


def plot_history(history, keys=("loss",), ax=None, smooth: int = 0, title: str | None = None, logy: bool = False):
    """Curves of logged values against the step; ``smooth`` is a moving-average window."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    steps = np.asarray(history["step"])
    for k in keys:
        if k not in history:
            raise KeyError(f"history has no {k!r}; it has {sorted(history)}")
        y = np.asarray(history[k], dtype=float)
        if smooth and len(y) > smooth:
            y = np.convolve(y, np.ones(smooth) / smooth, mode="valid")
            ax.plot(steps[smooth - 1:], y, label=k)
        else:
            ax.plot(steps, y, label=k)
    ax.set_xlabel("step")
    if logy:
        ax.set_yscale("log")
    ax.legend()
    if title:
        ax.set_title(title)
    return ax
