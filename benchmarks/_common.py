"""What every benchmark script shares: the command line and the choice of profile."""
from __future__ import annotations

import argparse
import inspect
import os
from typing import Callable

PROFILES = ("quick", "cpu", "gpu")


def setup(description: str, chapter_settings: Callable, argv=None, steps_key: str | None = None,
          add_arguments: Callable[[argparse.ArgumentParser], None] | None = None):
    """Parse ``--profile quick|cpu|gpu`` and ``--seed`` (and ``--steps``); seed everything.

    ``chapter_settings`` is the chapter's function in ``genmodels_course.settings`` (for
    example ``settings.vae``): the one definition of the sizes, which the chapter's notebook
    reads too. With ``steps_key``, ``--steps N`` overrides that setting; ``add_arguments``
    adds a script's own options to the parser.

    Returns ``(args, profile, settings)`` with
    ``settings = chapter_settings(profile=profile, benchmark=True)``.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--profile", choices=PROFILES, default=None,
                        help="quick | cpu | gpu (default: the runtime's active profile)")
    if steps_key is not None:
        parser.add_argument("--steps", type=int, default=None,
                            help=f"override the profile's number of training steps ({steps_key})")
    parser.add_argument("--seed", type=int, default=0)
    # Only a chapter whose settings function has a `weights` argument ships weights.
    ships_weights = "weights" in inspect.signature(chapter_settings).parameters
    if ships_weights:
        parser.add_argument("--save-weights", action="store_true",
                            help="train the chapter's shipped model (its settings' weights=True "
                                 "sizes) and write it into genmodels_course/shipped/ with its manifest")
        parser.add_argument("--remeasure", action="store_true",
                            help="train nothing: load the shipped model, measure it as --save-weights "
                                 "does and replace the numbers in its manifest (after the package's "
                                 "measuring code changed)")
        parser.add_argument("--train-seconds", type=float, default=None,
                            help="with --save-weights: stop training after this wall time even if "
                                 "the steps are not done (the manifest records the steps that ran)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one setting of the run (VALUE in JSON: --set width=64, "
                             "--set img_channels=[32,64,64]); repeatable, recorded in a manifest's command")
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    if args.profile == "quick":
        os.environ["GENMODELS_QUICK"] = "1"  # before anything reads the profile

    import genmodels_course as gm

    profile = args.profile or gm.runtime.profile()
    if not ships_weights:
        args.save_weights = args.remeasure = False
    args.save_weights = args.save_weights or args.remeasure  # the same sizes and measurements
    if args.save_weights and profile == "quick":
        parser.error("--save-weights with the quick profile would ship an untrained model")
    extra = {"weights": True} if args.save_weights else {}
    settings = chapter_settings(profile=profile, benchmark=True, **extra)
    if steps_key is not None and args.steps is not None:
        settings[steps_key] = args.steps
    for item in args.set:
        settings.update(parse_override(item, settings, parser))
    args.train_seconds = getattr(args, "train_seconds", None)
    gm.runtime.seed_everything(args.seed)
    return args, profile, settings


def parse_override(item: str, settings: dict, parser: argparse.ArgumentParser) -> dict:
    """``"key=value"`` -> ``{key: value}`` with the value read as JSON (a bare word: a string);
    a key the settings do not have is an error that lists the ones they do."""
    import json

    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        parser.error(f"--set expects KEY=VALUE, got {item!r}")
    if key not in settings:
        parser.error(f"--set {key}: no such setting; this run's settings are {', '.join(sorted(settings))}")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    if isinstance(settings[key], tuple) and isinstance(value, list):
        value = tuple(value)
    return {key: value}


def command_line(argv=None) -> str:
    """The command that ran this benchmark, as a manifest records it."""
    import sys

    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    script = os.path.relpath(os.path.abspath(sys.argv[0]), root).replace(os.sep, "/")
    args = sys.argv[1:] if argv is None else list(argv)
    return " ".join(["python", script, *args])
