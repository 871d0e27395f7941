"""What every benchmark script shares: the command line and the choice of profile."""
from __future__ import annotations

import argparse
import os


def setup(description: str, profiles: dict, argv=None):
    """Parse ``--profile quick|cpu|gpu``, ``--steps`` and ``--seed``; seed everything.

    Returns ``(args, profile, settings)`` where ``settings`` is a copy of the profile's dict
    with ``steps`` overridden when ``--steps`` was given.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--profile", choices=sorted(profiles), default=None,
                        help="quick | cpu | gpu (default: the runtime's active profile)")
    parser.add_argument("--steps", type=int, default=None, help="override the profile's number of training steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-weights", action="store_true",
                        help="write the trained model into genmodels_course/shipped/ with its "
                             "manifest (gm.weights); meant for the 'weights' profile")
    args = parser.parse_args(argv)
    if args.profile == "quick":
        os.environ["GENMODELS_QUICK"] = "1"  # before anything reads the profile

    import genmodels_course as gm

    profile = args.profile or gm.runtime.profile()
    if args.save_weights and profile == "quick":
        parser.error("--save-weights with the quick profile would ship an untrained model")
    settings = dict(profiles[profile])
    if args.steps is not None:
        settings["steps"] = args.steps
    gm.runtime.seed_everything(args.seed)
    return args, profile, settings


def command_line(argv=None) -> str:
    """The command that ran this benchmark, as a manifest records it."""
    import sys

    script = os.path.relpath(os.path.abspath(sys.argv[0]), os.path.join(os.path.dirname(__file__), ".."))
    args = sys.argv[1:] if argv is None else list(argv)
    return " ".join(["python", script.replace(os.sep, "/"), *args])
