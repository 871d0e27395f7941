"""Interactive explorers with a static fallback.

An explorer is one drawing function and a few controls. In a live notebook (Jupyter,
Colab) it becomes sliders and an updating figure; where no kernel will answer (the web
book, ``GENMODELS_STATIC=1``, or ipywidgets missing) it draws a row of small multiples at
a few chosen values instead, so the page still shows what the sliders would.

    def render(ax, t):
        ax.imshow(noisy(x0, t)); ax.set_title(f"t = {t}")

    gm.widgets.explorer(render, controls={"t": (0, 999, 10)}, static={"t": [0, 250, 500, 999]})
"""
from __future__ import annotations

import itertools

import matplotlib.pyplot as plt


def interactive_available() -> bool:
    """True in a live IPython kernel with ipywidgets, unless ``GENMODELS_STATIC=1``."""
    from .runtime import static_output

    if static_output():
        return False
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def _control(name, spec, value):
    import ipywidgets as w

    if isinstance(spec, (list, tuple)) and len(spec) == 3 and all(isinstance(v, (int, float)) for v in spec):
        lo, hi, step = spec
        cls = w.IntSlider if all(isinstance(v, int) for v in spec) else w.FloatSlider
        return cls(min=lo, max=hi, step=step, value=value if value is not None else lo,
                   description=name, continuous_update=False)
    if isinstance(spec, (list, tuple)):
        return w.Dropdown(options=list(spec), value=value if value is not None else spec[0], description=name)
    raise ValueError(f"control {name!r}: expected (min, max, step) or a list of options, got {spec!r}")


def static_figure(render, static: dict, figsize_per=(3.0, 3.0), max_panels: int = 8,
                  max_width: float = 8.0, max_cols: int = 5):
    """Draw ``render(ax, **values)`` for each combination of the ``static`` values.

    Panels go side by side, at most ``max_cols`` a row, and the figure is at most
    ``max_width`` inches wide (the width of the book's text column), so the small multiples
    stay legible on the page however many there are.
    """
    if not static:
        raise ValueError("static needs at least one control with a list of values")
    names = list(static)
    combos = list(itertools.product(*(static[k] for k in names)))[:max_panels]
    cols = min(len(combos), max_cols)
    rows = -(-len(combos) // cols)
    scale = min(1.0, max_width / (figsize_per[0] * cols))
    fig, axes = plt.subplots(rows, cols, squeeze=False,
                             figsize=(figsize_per[0] * cols * scale, figsize_per[1] * rows * scale))
    flat = axes.ravel()
    for ax, combo in zip(flat, combos):
        render(ax, **dict(zip(names, combo)))
    for ax in flat[len(combos):]:
        ax.set_axis_off()
    fig.tight_layout()
    return fig


def explorer(render, controls: dict, static: dict, figsize=(5.0, 4.0)):
    """Sliders in a live kernel, small multiples otherwise. Returns the widget or the figure."""
    for name in static:
        if name not in controls:
            raise ValueError(f"static value {name!r} has no matching control; controls are {sorted(controls)}")
    if not interactive_available():
        return static_figure(render, static)
    import ipywidgets as w
    from IPython.display import display

    first = {k: (static.get(k) or [None])[0] for k in controls}
    sliders = {k: _control(k, spec, first[k]) for k, spec in controls.items()}
    out = w.Output()

    def redraw(**values):
        with out:
            out.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=figsize)
            render(ax, **values)
            plt.show()

    ui = w.VBox([w.HBox(list(sliders.values())), out])
    w.interactive_output(redraw, sliders)
    display(ui)
    return ui
