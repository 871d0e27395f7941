import pytest
import torch
from torch.nn import functional as F

import genmodels_course as gm
from genmodels_course import exercises


def test_reference_passes_and_matches_torch():
    assert exercises.evaluate("tour.cross_entropy", gm.tour.cross_entropy).passed
    logits, y = torch.randn(8, 5), torch.randint(0, 5, (8,))
    assert torch.allclose(gm.tour.cross_entropy(logits, y), F.cross_entropy(logits, y), atol=1e-6)


@pytest.mark.parametrize("wrong, words", [
    (lambda l, y: (l.exp().sum(1).log() - l.gather(1, y[:, None]).squeeze(1)).mean(), "infinite"),  # overflows
    (lambda l, y: (torch.logsumexp(l, 1) - l.gather(1, y[:, None]).squeeze(1)).sum(), "wrong values"),  # sum
    (lambda l, y: torch.logsumexp(l, 1) - l.gather(1, y[:, None]).squeeze(1), "shape"),  # no mean
    (lambda l, y: (torch.logsumexp(l, 1) - l[:, 0]).mean(), "wrong values"),  # wrong class
])
def test_wrong_versions_fail_with_a_plain_reason(wrong, words):
    verdict = exercises.evaluate("tour.cross_entropy", wrong)
    assert not verdict.passed
    assert words in verdict.message


def test_learner_errors_are_reported_not_raised(capsys):
    def not_done(logits, y):
        raise NotImplementedError

    def crashes(logits, y):
        return logits.nonexistent()

    def nan(logits, y):
        return torch.tensor(float("nan"))

    assert "not implemented yet" in exercises.evaluate("tour.cross_entropy", not_done).message
    msg = exercises.evaluate("tour.cross_entropy", crashes).message
    assert "AttributeError" in msg and "raised" in msg
    assert "NaN" in exercises.evaluate("tour.cross_entropy", nan).message
    assert "should be a torch tensor" in exercises.evaluate("tour.cross_entropy", lambda l, y: 1.0).message
    assert "dtype" in exercises.evaluate("tour.cross_entropy",
                                         lambda l, y: torch.tensor(1)).message
    assert not exercises.evaluate("tour.cross_entropy", "not a function").passed


def test_check_returns_reference_on_failure_and_learner_on_success(capsys):
    def wrong(logits, y):
        return logits.sum()

    def right(logits, y):
        return F.cross_entropy(logits, y)

    assert exercises.check("tour.cross_entropy", wrong) is gm.tour.cross_entropy
    out = capsys.readouterr().out
    assert "not yet" in out and "Hint:" in out
    assert exercises.check("tour.cross_entropy", right) is right
    assert "correct" in capsys.readouterr().out


def test_learner_cannot_corrupt_the_cases():
    def mutating(logits, y):
        out = F.cross_entropy(logits, y)
        logits.zero_()
        return out

    assert exercises.evaluate("tour.cross_entropy", mutating).passed


def test_solution_prints_reference_source(capsys):
    exercises.solution("tour.cross_entropy")
    assert "def cross_entropy" in capsys.readouterr().out


def test_unknown_exercise_names_the_known_ones():
    with pytest.raises(KeyError, match="tour.cross_entropy"):
        exercises.check("tour.nope", lambda: None)
    with pytest.raises(ValueError):
        exercises.register("nodot", reference=len, cases=list, hint="")


def test_compare_outputs_handles_nested_structures():
    a = (torch.ones(2), {"k": 1.0})
    assert exercises.compare_outputs(a, (torch.ones(2), {"k": 1.0})) is None
    assert "wrong values" in exercises.compare_outputs((torch.zeros(2), {"k": 1.0}), a)
    assert "should be 1" in exercises.compare_outputs((torch.ones(2), {"k": 2.0}), a)
    assert "2 items" in exercises.compare_outputs((torch.ones(2),), a)


def test_every_registered_exercise_passes_its_own_reference():
    for name in exercises.names():
        ex = exercises._lookup(name)
        verdict = exercises.evaluate(name, ex.reference)
        assert verdict.passed, f"{name}: {verdict.message}"
        assert len(ex.cases()) >= 2, f"{name} needs at least two cases"
