"""genmodels_course: the companion package of the open textbook on deep generative models.

Every chapter's notebook starts with ``import genmodels_course as gm``. The core modules
(runtime, data, train, exercises, viz, widgets, metrics, nn) are imported here; chapter
modules (``gm.vae``, ``gm.gan``, ...) load on first use, so importing the package stays fast.
"""
import importlib

from . import runtime, exercises, nn, data, train, viz, widgets, metrics, weights  # noqa: F401

__version__ = "0.1.0"

_CHAPTER_MODULES = ("tour", "classic", "latent", "latent_settings", "mixtures", "autoencoders", "vae", "flows", "gan", "translation", "diffusion", "clip")


def __getattr__(name):
    if name in _CHAPTER_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'genmodels_course' has no attribute {name!r}")
