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


# ---------------------------------------------------------------- outputs that training could not use
def _detached(fn):
    def wrapped(*a, **k):
        out = fn(*a, **k)  # a tensor, or a tuple of them (a coupling layer's (y, log_det))
        return tuple(o.detach() for o in out) if isinstance(out, tuple) else out.detach()
    return wrapped


def _under_no_grad(fn):
    def wrapped(*a, **k):
        with torch.no_grad():
            return fn(*a, **k)
    return wrapped


def _via_item(fn):
    return lambda *a, **k: torch.tensor(fn(*a, **k).item())


# every exercise whose function feeds a loss: the checker compares gradients too
GRAD_EXERCISES = ["tour.cross_entropy", "vae.gaussian_kl", "vae.reparameterise", "vae.negative_elbo",
                  "vae.iwae_bound", "gan.discriminator_loss", "gan.generator_loss_nonsaturating",
                  "translation.skip_concat", "translation.pix2pix_generator_loss",
                  "translation.cycle_consistency_loss", "translation.identity_loss",
                  "clip.clip_loss", "clip.zero_shot_logits", "guidance.cfg_combine",
                  "guidance.drop_condition",
                  "flows.coupling_forward", "flows.coupling_inverse", "flows.langevin_step",
                  "cross_attention.attention_weights"]


@pytest.mark.parametrize("name", GRAD_EXERCISES)
def test_detached_and_no_grad_outputs_fail_with_a_plain_reason(name):
    ex = exercises._lookup(name)
    assert ex.grad, f"{name} should compare gradients"
    assert exercises.evaluate(name, ex.reference).passed
    for wrong in (_detached(ex.reference), _under_no_grad(ex.reference)):
        verdict = exercises.evaluate(name, wrong)
        assert not verdict.passed, f"{name} accepted an output that no gradient can flow through"
        assert "detached" in verdict.message and "torch.no_grad()" in verdict.message, verdict.message


def test_outputs_through_item_or_numpy_fail_as_detached():
    verdict = exercises.evaluate("tour.cross_entropy", _via_item(F.cross_entropy))
    assert not verdict.passed and "detached" in verdict.message

    def through_numpy(logits, y):
        import numpy as np
        lse = np.log(np.exp(logits.numpy()).sum(1))          # fine on plain tensors, not in training
        return torch.as_tensor(lse - logits.numpy()[np.arange(len(y)), y.numpy()]).float().mean()

    verdict = exercises.evaluate("tour.cross_entropy", through_numpy)
    assert not verdict.passed and "detached" in verdict.message, verdict.message


def test_partly_detached_output_fails_on_its_gradient():
    def half_detached(logits, y):  # right values, but the log-sum-exp term passes no gradient
        return (torch.logsumexp(logits, 1).detach() - logits.gather(1, y[:, None]).squeeze(1)).mean()

    verdict = exercises.evaluate("tour.cross_entropy", half_detached)
    assert not verdict.passed
    assert "values are right" in verdict.message and "gradient with respect to `logits`" in verdict.message


def test_gradients_only_asked_of_the_named_arguments():
    def eps_detached(mu, logvar, eps):  # eps is noise: nothing needs its gradient
        return mu + torch.exp(0.5 * logvar) * eps.detach()

    def logvar_detached(mu, logvar, eps):
        return mu + torch.exp(0.5 * logvar).detach() * eps

    assert exercises.evaluate("vae.reparameterise", eps_detached).passed
    verdict = exercises.evaluate("vae.reparameterise", logvar_detached)
    assert not verdict.passed and "`logvar`" in verdict.message


def test_register_validates_the_gradient_option():
    with pytest.raises(ValueError, match="not arguments"):
        exercises.register("tour.bad_grad", reference=gm.tour.cross_entropy, cases=list, hint="", grad=("nope",))
    with pytest.raises(ValueError, match="grad"):
        exercises.register("tour.bad_grad", reference=gm.tour.cross_entropy, cases=list, hint="", grad="logits")
    assert "tour.bad_grad" not in exercises.names()


def test_case_can_skip_the_gradient_comparison():
    def ref(x):
        return torch.relu(x).sum()

    def cases():
        return [exercises.Case((torch.tensor([-1.0, 2.0]),)),
                exercises.Case((torch.zeros(3),), note="the kink", grad=False)]

    exercises.register("tour.test_relu_sum", reference=ref, cases=cases, hint="", grad=True)
    try:
        assert exercises.evaluate("tour.test_relu_sum", ref).passed
        kinked = lambda x: (0.5 * (x + x.abs())).sum() if x.eq(0).all() else ref(x)  # noqa: E731
        assert exercises.evaluate("tour.test_relu_sum", kinked).passed            # the kink is not compared
        assert not exercises.evaluate("tour.test_relu_sum", _detached(ref)).passed
    finally:
        del exercises._REGISTRY["tour.test_relu_sum"]


# ---------------------------------------------------------------- SystemExit and KeyboardInterrupt
def test_system_exit_is_reported_and_keyboard_interrupt_passes(capsys):
    def exits(logits, y):
        raise SystemExit(3)

    def exits_on_grad(logits, y):
        if logits.requires_grad:
            import sys
            sys.exit("bye")
        return F.cross_entropy(logits, y)

    verdict = exercises.evaluate("tour.cross_entropy", exits)
    assert not verdict.passed and "SystemExit" in verdict.message and "raised" in verdict.message
    assert "SystemExit" in exercises.evaluate("tour.cross_entropy", exits_on_grad).message
    assert exercises.check("tour.cross_entropy", exits) is gm.tour.cross_entropy   # no crash
    assert "not yet" in capsys.readouterr().out

    def interrupted(logits, y):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        exercises.evaluate("tour.cross_entropy", interrupted)


# ---------------------------------------------------------------- every exercise, generically
def _map_floats(out, f):
    if isinstance(out, tuple):
        return tuple(_map_floats(o, f) for o in out)
    if isinstance(out, list):
        return [_map_floats(o, f) for o in out]
    if isinstance(out, torch.Tensor) and out.dtype.is_floating_point:
        return f(out)
    return out


def _off_by_a_little(ref):
    return lambda *a, **k: _map_floats(ref(*a, **k), lambda t: t + 0.01 * (1 + t.detach().abs()))


def _extra_dim(ref):
    return lambda *a, **k: _map_floats(ref(*a, **k), lambda t: t.unsqueeze(0).expand(2, *t.shape))


def test_every_registered_exercise_fails_generic_wrong_versions():
    for name in exercises.names():
        ex = exercises._lookup(name)
        for wrong in (_off_by_a_little(ex.reference), _extra_dim(ex.reference)):
            verdict = exercises.evaluate(name, wrong)
            assert not verdict.passed, f"{name} accepted a wrong version"
            assert verdict.message


def test_cases_leave_the_global_rng_alone():
    state = torch.get_rng_state()
    for name in exercises.names():
        ex = exercises._lookup(name)
        ex.cases()
        assert exercises.evaluate(name, ex.reference).passed
    assert torch.equal(torch.get_rng_state(), state)


def test_no_torch_manual_seed_in_library_code():
    import pathlib
    import re

    root = pathlib.Path(gm.__file__).parent
    offenders = [f"{p.relative_to(root)}:{i}" for p in sorted(root.rglob("*.py")) if p.name != "runtime.py"
                 for i, line in enumerate(p.read_text().splitlines(), 1) if re.search(r"\btorch\.manual_seed\(", line)]
    assert not offenders, f"seed through a torch.Generator instead: {offenders}"


def test_cases_modules_load_lazily_by_name():
    import importlib
    import sys

    import pathlib

    files = sorted(p.stem for p in pathlib.Path(exercises.__file__).parent.glob("*.py") if p.stem != "__init__")
    assert {"classic", "diffusion", "gan", "latent", "tour", "translation", "clip", "guidance", "cross_attention", "vae"} <= set(files)
    # names() imports every cases module, and every one registers at least one exercise
    assert sorted({n.split(".")[0] for n in exercises.names()}) == files
    for mod in files:
        assert f"genmodels_course.exercises.{mod}" in sys.modules
    assert importlib.import_module("genmodels_course.exercises.gan").gan is gm.gan


def test_pyproject_installs_every_subpackage():
    import pathlib
    import tomllib

    from setuptools import find_packages

    root = pathlib.Path(gm.__file__).parent
    config = tomllib.loads((root.parent / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(find_packages(str(root.parent), include=config["packages"]["find"]["include"]))
    found = {".".join(p.parent.relative_to(root.parent).parts) for p in root.rglob("__init__.py")}
    assert found <= listed, f"{sorted(found - listed)} would be left out of a pip install"
    assert "genmodels_course.exercises" in listed
    data = config["package-data"]["genmodels_course"]
    assert "shipped/*.safetensors" in data and "shipped/*.json" in data  # the shipped weights