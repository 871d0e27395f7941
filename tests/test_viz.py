import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import genmodels_course as gm  # noqa: E402


def test_image_grid_tiles_images():
    x = torch.zeros(10, 1, 4, 4)
    x[3] = 1.0
    grid = gm.viz.image_grid(x, nrow=5, pad=1)
    assert grid.shape == (2 * 5 + 1, 5 * 5 + 1, 1)
    assert grid[1:5, 16:20].min() == 1.0 and grid[1:5, 1:5].max() == 0.0
    rgb = gm.viz.image_grid(torch.rand(3, 3, 4, 4) * 2 - 1, value_range=(-1, 1))
    assert rgb.shape[2] == 3 and 0 <= rgb.min() and rgb.max() <= 1
    with pytest.raises(ValueError, match="empty"):
        gm.viz.image_grid(torch.zeros(0, 1, 4, 4))
    with pytest.raises(ValueError, match="shape"):
        gm.viz.image_grid(torch.zeros(4))


def test_figures_are_drawn():
    fig = gm.viz.show_images(torch.rand(16, 1, 8, 8), title="t")
    assert fig.axes[0].images
    ax = gm.viz.scatter2d(torch.randn(50, 2))
    assert len(ax.collections[0].get_offsets()) == 50
    ax = gm.viz.density2d(gm.data.ring8().log_prob, lim=(-1.5, 1.5), n=50)
    assert ax.images[0].get_array().shape == (50, 50)
    h = gm.train.History()
    for i in range(10):
        h.log(i, {"loss": 1.0 / (i + 1)})
    ax = gm.viz.plot_history(h, smooth=3)
    assert len(ax.lines[0].get_xdata()) == 8
    with pytest.raises(KeyError, match="has no"):
        gm.viz.plot_history(h, keys=("kl",))
    plt.close("all")


def test_explorer_falls_back_to_static_panels(monkeypatch):
    monkeypatch.setenv("GENMODELS_STATIC", "1")
    seen = []

    def render(ax, t, name):
        seen.append((t, name))
        ax.plot([0, t])

    fig = gm.widgets.explorer(render, controls={"t": (0, 10, 1), "name": ["a", "b"]},
                              static={"t": [0, 5], "name": ["a"]})
    assert seen == [(0, "a"), (5, "a")]
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="no matching control"):
        gm.widgets.explorer(render, controls={"t": (0, 1, 1)}, static={"u": [1]})
    plt.close("all")


def test_static_panels_fit_the_text_column(monkeypatch):
    monkeypatch.setenv("GENMODELS_STATIC", "1")
    fig = gm.widgets.explorer(lambda ax, t: ax.plot([0, t]), controls={"t": (0, 10, 1)},
                              static={"t": list(range(7))})
    width, height = fig.get_size_inches()
    assert width <= 8.0 + 1e-9, "static panels wider than the book's text column"
    visible = [ax for ax in fig.axes if ax.axison]
    assert len(visible) == 7 and len(fig.axes) == 10  # two rows of five, three left blank
    assert height > width / 5  # two rows, not one squeezed strip
    plt.close("all")


def test_house_style_draws_on_white():
    import matplotlib

    gm.viz.use_house_style()
    for key in ("figure.facecolor", "savefig.facecolor", "axes.facecolor"):
        assert matplotlib.colors.to_rgba(plt.rcParams[key]) == (1.0, 1.0, 1.0, 1.0), key


def test_explorer_builds_sliders_in_a_kernel(monkeypatch):
    monkeypatch.delenv("GENMODELS_STATIC", raising=False)
    monkeypatch.setattr(gm.widgets, "interactive_available", lambda: True)
    import ipywidgets

    ui = gm.widgets.explorer(lambda ax, t, c: ax.plot([0, t]), controls={"t": (0, 10, 2), "c": ["x", "y"]},
                             static={"t": [4]})
    sliders = ui.children[0].children
    assert isinstance(sliders[0], ipywidgets.IntSlider) and sliders[0].value == 4 and sliders[0].max == 10
    assert isinstance(sliders[1], ipywidgets.Dropdown) and sliders[1].value == "x"
    with pytest.raises(ValueError, match="expected"):
        gm.widgets.explorer(lambda ax, t: None, controls={"t": "bad"}, static={})
    plt.close("all")
