"""Chapter 4's checkers pass the reference and fail known-wrong versions."""
import torch

from genmodels_course import autoregressive, ebm, exercises, flows


def test_names_are_registered():
    names = exercises.names()
    for n in ("causal_mask", "coupling_forward", "coupling_inverse", "langevin_step"):
        assert f"flows.{n}" in names


def test_causal_mask_checker():
    assert exercises.evaluate("flows.causal_mask", autoregressive.causal_mask).passed

    def a_for_b(k, t):  # the centre always hidden
        return autoregressive.causal_mask(k, "A")

    def whole_centre_row(k, t):  # the right half of the centre row too
        m = autoregressive.causal_mask(k, t)
        m[k // 2, k // 2 + 1:] = 1
        return m

    def transposed(k, t):  # column order instead of raster order
        return autoregressive.causal_mask(k, t).T.contiguous()

    for wrong in (a_for_b, whole_centre_row, transposed):
        assert not exercises.evaluate("flows.causal_mask", wrong).passed


def test_coupling_forward_checker_compares_gradients():
    name = "flows.coupling_forward"
    assert exercises.evaluate(name, flows.coupling_forward).passed

    def detached(x, mask, log_s, t):
        y, ld = flows.coupling_forward(x, mask, log_s, t)
        return y.detach(), ld.detach()

    def logdet_all(x, mask, log_s, t):  # sums the log-scales of the kept coordinates too
        y, _ = flows.coupling_forward(x, mask, log_s, t)
        return y, log_s.sum(-1)

    def scale_kept(x, mask, log_s, t):  # transforms the wrong half
        return flows.coupling_forward(x, 1 - mask, log_s, t)

    def no_log(x, mask, log_s, t):  # the log-det as a product of scales
        y, _ = flows.coupling_forward(x, mask, log_s, t)
        return y, ((1 - mask) * log_s.exp()).sum(-1)

    for wrong in (detached, logdet_all, scale_kept, no_log):
        verdict = exercises.evaluate(name, wrong)
        assert not verdict.passed, wrong.__name__
    assert "detached" in exercises.evaluate(name, detached).message


def test_coupling_inverse_checker():
    name = "flows.coupling_inverse"
    assert exercises.evaluate(name, flows.coupling_inverse).passed

    def divide_first(y, mask, log_s, t):
        keep = 1 - mask
        return mask * y + keep * (y * torch.exp(-log_s) - t)

    def wrong_sign(y, mask, log_s, t):
        keep = 1 - mask
        return mask * y + keep * (y - t) * torch.exp(log_s)

    for wrong in (divide_first, wrong_sign):
        assert not exercises.evaluate(name, wrong).passed


def test_langevin_step_checker():
    name = "flows.langevin_step"
    assert exercises.evaluate(name, ebm.langevin_step).passed

    def full_step(x, g, eta, noise):
        return x - eta * g + eta ** 0.5 * noise

    def ascent(x, g, eta, noise):
        return x + 0.5 * eta * g + eta ** 0.5 * noise

    def noise_eta(x, g, eta, noise):
        return x - 0.5 * eta * g + eta * noise

    for wrong in (full_step, ascent, noise_eta):
        assert not exercises.evaluate(name, wrong).passed
