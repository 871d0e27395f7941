import dataclasses

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import genmodels_course as gm
from genmodels_course.train import EMA, Checkpointing, NonFiniteLossError, fit, load_checkpoint, save_checkpoint


@dataclasses.dataclass
class TinyConfig:
    hidden: int = 8
    lr: float = 1e-2


def make_problem(seed=0):
    torch.manual_seed(seed)
    x = torch.randn(200, 2)
    y = (x[:, 0] * x[:, 1] > 0).long()
    model = gm.nn.MLP(2, [8], 2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    batches = gm.data.Batches(x, y, batch_size=32, seed=seed)
    # dropout-like randomness inside the step exercises the saved torch RNG state
    def step(batch):
        xb, yb = batch
        noise = 0.01 * torch.randn_like(xb)
        return F.cross_entropy(model(xb + noise), yb)
    return model, opt, batches, step


def test_fit_lowers_the_loss_and_logs_history():
    model, opt, batches, step = make_problem()
    h = fit(model, step, batches, optimizer=opt, epochs=20, progress=False)
    assert h["step"][-1] == 20 * len(batches)
    assert h.mean("loss", last=20) < h["loss"][0] * 0.8


def test_fit_validates_arguments():
    model, opt, batches, step = make_problem()
    with pytest.raises(ValueError, match="exactly one"):
        fit(model, step, batches, optimizer=opt, progress=False)
    with pytest.raises(ValueError, match="optimizer"):
        fit(model, step, batches, steps=3, progress=False)
    with pytest.raises(TypeError, match="scalar loss"):
        fit(model, lambda b: model(b[0]), batches, optimizer=opt, steps=1, progress=False)


def test_nan_guard_stops_and_restores_finite_weights():
    model, opt, batches, step = make_problem()
    calls = {"n": 0}

    def poisoned(batch):
        calls["n"] += 1
        if calls["n"] == 30:  # the weights turn to NaN, then the loss follows
            with torch.no_grad():
                for p in model.parameters():
                    p.fill_(float("nan"))
        return step(batch)

    with pytest.raises(NonFiniteLossError, match="became nan at step 29"):
        fit(model, poisoned, batches, optimizer=opt, steps=100, guard_every=10, progress=False)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_checkpoint_round_trip_is_atomic_and_weights_only(tmp_path):
    model, opt, batches, step = make_problem()
    path = save_checkpoint(tmp_path / "c.pt", model=model.state_dict(), config=TinyConfig(), step=3)
    state = load_checkpoint(path)
    assert state["config"] == {"__class__": "TinyConfig", "hidden": 8, "lr": 1e-2}
    for k, v in model.state_dict().items():
        assert torch.equal(state["model"][k], v)
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary files left behind

    class Boom:
        def __reduce__(self):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        save_checkpoint(path, model={"x": Boom()})
    assert load_checkpoint(path)["step"] == 3  # the old checkpoint survived the failed write
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_resume_equals_uninterrupted_run(tmp_path):
    model, opt, batches, step = make_problem(seed=1)
    ema = EMA(model, 0.9)
    full = fit(model, step, batches, optimizer=opt, steps=45, ema=ema, progress=False)
    reference = {k: v.clone() for k, v in model.state_dict().items()}
    reference_ema = {k: v.clone() for k, v in ema.state_dict().items()}

    # the same run, killed after 20 steps (between checkpoints), then started again from scratch objects
    model, opt, batches, step = make_problem(seed=1)
    ema = EMA(model, 0.9)
    ckpt = tmp_path / "run.pt"

    class Interrupt(Exception):
        pass

    calls = {"n": 0}

    def dies(batch):
        calls["n"] += 1
        if calls["n"] > 24:
            raise Interrupt
        return step(batch)

    with pytest.raises(Interrupt):
        fit(model, dies, batches, optimizer=opt, steps=45, ema=ema,
            checkpoint=Checkpointing(ckpt, every=10, config=TinyConfig()), progress=False)
    assert load_checkpoint(ckpt)["step"] == 20

    model, opt, batches, step = make_problem(seed=1)
    torch.manual_seed(999)  # a fresh process would not share the old RNG state
    ema = EMA(model, 0.9)
    resumed = fit(model, step, batches, optimizer=opt, steps=45, ema=ema,
                  checkpoint=Checkpointing(ckpt, every=10), progress=False)
    for k, v in model.state_dict().items():
        assert torch.equal(v, reference[k]), k
    for k, v in ema.state_dict().items():
        assert torch.equal(v, reference_ema[k]), k
    assert resumed["loss"] == full["loss"]
    assert resumed["step"] == full["step"]


def test_manual_mode_with_two_optimizers(tmp_path):
    a, b = nn.Linear(1, 1), nn.Linear(1, 1)
    both = nn.ModuleDict({"a": a, "b": b})
    opts = {"a": torch.optim.SGD(a.parameters(), lr=0.1), "b": torch.optim.SGD(b.parameters(), lr=0.1)}
    x = torch.ones(10, 1)

    def step(batch):
        for name, m in (("a", a), ("b", b)):
            opts[name].zero_grad()
            loss = (m(batch[0]) - 1).pow(2).mean()
            loss.backward()
            opts[name].step()
        return {"loss_a": loss}

    h = fit(both, step, gm.data.Batches(x, batch_size=5), optimizer=opts, manual=True, steps=30,
            checkpoint=tmp_path / "gan.pt", progress=False)
    assert h["loss_a"][-1] < 1e-3
    assert set(load_checkpoint(tmp_path / "gan.pt")["optimizers"]) == {"a", "b"}
    with pytest.raises(TypeError, match="dict"):
        fit(both, lambda batch: 1.0, gm.data.Batches(x, batch_size=5), manual=True, steps=1, progress=False)


def test_ema_averages_weights():
    m = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(m.weight)
    ema = EMA(m, decay=0.5)
    with torch.no_grad():
        m.weight.fill_(1.0)
    ema.update(m)
    ema.update(m)
    assert ema.module.weight.item() == pytest.approx(0.75)
    with pytest.raises(ValueError):
        EMA(m, decay=1.5)


def test_sparse_logging_still_catches_nan_and_restores_finite_weights():
    model, opt, batches, step = make_problem()
    calls = {"n": 0}

    def poisoned(batch):
        calls["n"] += 1
        loss = step(batch)
        return loss * float("nan") if calls["n"] == 33 else loss  # a NaN on an unlogged step

    with pytest.raises(NonFiniteLossError, match="at step 39"):
        fit(model, poisoned, batches, optimizer=opt, steps=100, log_every=20, guard_every=10, progress=False)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_log_every_thins_the_history():
    model, opt, batches, step = make_problem()
    h = fit(model, step, batches, optimizer=opt, steps=25, log_every=10, progress=False)
    assert h["step"] == [10, 20, 25]


def test_fit_passes_the_step_index_to_a_two_argument_step():
    model, opt, batches, step = make_problem()
    seen = []

    def indexed(batch, i):
        seen.append(i)
        return step(batch)

    fit(model, indexed, batches, optimizer=opt, steps=7, progress=False)
    assert seen == list(range(7))
    one_arg = []
    fit(model, lambda b: one_arg.append(len(b)) or step(b), batches, optimizer=opt, steps=3, progress=False)
    assert one_arg == [2, 2, 2]  # step(batch) still gets only the batch

    def with_default(batch, scale=1.0):  # an optional second argument is not the index
        assert scale == 1.0
        return step(batch)

    fit(model, with_default, batches, optimizer=opt, steps=2, progress=False)


def test_fit_passes_the_index_to_a_manual_step_and_resumes_it(tmp_path):
    a = nn.Linear(1, 1)
    opt = torch.optim.SGD(a.parameters(), lr=0.1)
    seen = []

    def step(batch, i):
        seen.append(i)
        opt.zero_grad()
        loss = (a(batch[0]) - 1).pow(2).mean()
        loss.backward()
        opt.step()
        return {"loss": loss.detach()}

    batches = gm.data.Batches(torch.ones(10, 1), batch_size=5)
    fit(a, step, batches, optimizer=opt, manual=True, steps=4, checkpoint=tmp_path / "m.pt", progress=False)
    fit(a, step, batches, optimizer=opt, manual=True, steps=6, checkpoint=tmp_path / "m.pt", progress=False)
    assert seen == [0, 1, 2, 3, 4, 5]  # the resumed run carries on from step 4


def _lr_run(steps, scheduler_factory, checkpoint=None, dies_after=None):
    model, opt, batches, step = make_problem(seed=2)
    sched = scheduler_factory(opt)
    lrs, calls = [], {"n": 0}

    class Interrupt(Exception):
        pass

    def recording(batch, i):
        calls["n"] += 1
        if dies_after is not None and calls["n"] > dies_after:
            raise Interrupt
        lrs.append(opt.param_groups[0]["lr"])
        return step(batch)

    try:
        h = fit(model, recording, batches, optimizer=opt, scheduler=sched, steps=steps,
                checkpoint=checkpoint, progress=False)
    except Interrupt:
        h = None
    return model, sched, lrs, h


def test_scheduler_is_stepped_once_per_step_and_resumes_exactly(tmp_path):
    def linear(opt):
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1.0 - t / 40)

    model, sched, lrs, full = _lr_run(30, linear)
    assert sched.last_epoch == 30  # one scheduler step per training step
    assert lrs == pytest.approx([1e-2 * (1.0 - t / 40) for t in range(30)])
    reference = {k: v.clone() for k, v in model.state_dict().items()}

    ckpt = Checkpointing(tmp_path / "sched.pt", every=10)
    _, _, first, _ = _lr_run(30, linear, checkpoint=ckpt, dies_after=14)  # killed between checkpoints
    assert load_checkpoint(ckpt.path)["step"] == 10
    torch.manual_seed(999)
    model2, sched2, rest, resumed = _lr_run(30, linear, checkpoint=ckpt)
    assert sched2.last_epoch == 30
    assert first[:10] + rest == pytest.approx(lrs)  # steps 10..29 see the same learning rates
    for k, v in model2.state_dict().items():
        assert torch.equal(v, reference[k]), k
    assert resumed["loss"] == full["loss"]


def test_fit_accepts_a_dict_of_schedulers_and_rejects_other_things():
    a, b = nn.Linear(1, 1), nn.Linear(1, 1)
    opts = {"a": torch.optim.SGD(a.parameters(), lr=0.1), "b": torch.optim.SGD(b.parameters(), lr=0.2)}
    scheds = {k: torch.optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5) for k, o in opts.items()}

    def step(batch):
        for name, m in (("a", a), ("b", b)):
            opts[name].zero_grad()
            (m(batch[0]) - 1).pow(2).mean().backward()
            opts[name].step()
        return {}

    batches = gm.data.Batches(torch.ones(10, 1), batch_size=5)
    fit(nn.ModuleDict({"a": a, "b": b}), step, batches, optimizer=opts, scheduler=scheds, manual=True, steps=4,
        progress=False)
    assert opts["a"].param_groups[0]["lr"] == pytest.approx(0.025)
    assert opts["b"].param_groups[0]["lr"] == pytest.approx(0.05)
    with pytest.raises(TypeError, match="scheduler"):
        fit(a, step, batches, optimizer=opts, scheduler=lambda t: 1.0, manual=True, steps=1, progress=False)
    with pytest.raises(TypeError, match="checkpoint"):
        fit(a, step, batches, optimizer=opts, checkpoint=3, manual=True, steps=1, progress=False)


def test_checkpointing_saves_config_and_generator_states(tmp_path):
    model, opt, batches, _ = make_problem()
    g = torch.Generator().manual_seed(5)

    def noisy(batch):
        xb, yb = batch
        return F.cross_entropy(model(xb + 0.01 * torch.randn(xb.shape, generator=g)), yb)

    fit(model, noisy, batches, optimizer=opt, steps=5, progress=False,
        checkpoint=Checkpointing(tmp_path / "g.pt", config=TinyConfig(), generators={"noise": g}))
    state = load_checkpoint(tmp_path / "g.pt")
    assert state["config"]["__class__"] == "TinyConfig"
    assert torch.equal(state["generators"]["noise"], g.get_state())
    fit(model, noisy, batches, optimizer=opt, steps=5, progress=False, checkpoint=str(tmp_path / "plain.pt"))
    assert load_checkpoint(tmp_path / "plain.pt")["step"] == 5


def test_max_seconds_stops_early_records_the_steps_and_checkpoints_them(tmp_path):
    import time

    model, opt, batches, step = make_problem()

    def slow(batch):
        time.sleep(0.02)
        return step(batch)

    path = tmp_path / "run.pt"
    h = fit(model, slow, batches, optimizer=opt, steps=10_000, max_seconds=0.3, progress=False,
            checkpoint=Checkpointing(path, every=5_000))
    assert 3 <= h.steps_done < 100          # stopped by the clock, far short of 10,000
    assert h["step"][-1] == h.steps_done     # the last step is logged ...
    assert load_checkpoint(path)["step"] == h.steps_done  # ... and checkpointed
    full = fit(model, step, batches, optimizer=opt, steps=7, progress=False)
    assert full.steps_done == 7              # without a budget every step runs
    with pytest.raises(ValueError, match="max_seconds"):
        fit(model, step, batches, optimizer=opt, steps=3, max_seconds=0, progress=False)
