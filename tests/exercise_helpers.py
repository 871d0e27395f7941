"""Shared by the exercise tests: a checker must pass a version, or fail it in plain words."""
from genmodels_course import exercises


def passes(name, fn):
    verdict = exercises.evaluate(name, fn)
    assert verdict.passed, verdict.message


def fails(name, fn, words=""):
    verdict = exercises.evaluate(name, fn)
    assert not verdict.passed, f"{name}: a wrong version passed"
    assert words in verdict.message, verdict.message
    return verdict.message
