"""genmodels_course: the companion package of the open textbook on deep generative models.

Every chapter's notebook starts with ``import genmodels_course as gm``. The core modules
(runtime, settings, data, train, exercises, viz, widgets, metrics, nn) are imported here; chapter
modules (``gm.vae``, ``gm.gan``, ...) load on first use, so importing the package stays fast.
"""
import importlib
import importlib.util

from . import runtime, settings, exercises, nn, data, train, viz, widgets, metrics, weights  # noqa: F401

__version__ = "0.1.0"


def __getattr__(name):
    # Any module of the package (gm.vae, gm.dcgan, gm.latent, ...) loads on first use: a new
    # chapter's module needs no entry here.
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'genmodels_course' has no attribute {name!r}")
