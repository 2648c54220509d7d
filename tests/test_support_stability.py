"""Tests of support.stability: the minibatch streams, parallel_sgd (each of its K models is a plain nn.Linear +
torch.optim.SGD run), the divergence verdict, the bisection logic and the GD detection margin against real runs."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from support import least_squares, stability
from support.data import regression
from support.errors import SpecInputError, SpecTypeError
from support.models import linear_model
from support.tensors import generator
from support.tolerances import assert_close, override

F64 = torch.float64


def _problem(n=12, d=3, noise=0.0, seed=0):
    x, y = regression(n, d, 1, noise=noise, seed=seed)
    return x, y, linear_model(d, 1, seed=seed)


# ---------------------------------------------------------------- minibatch streams
def test_minibatch_indices_follow_their_sampling_scheme():
    g = lambda: generator(0)
    wr = stability.minibatch_indices(8, 3, 50, "with-replacement", g())
    assert wr.shape == (50, 3) and wr.min() >= 0 and wr.max() < 8
    assert any(len(set(row)) < 3 for row in wr.tolist())  # repeats within a batch happen with replacement
    rs = stability.minibatch_indices(8, 2, 12, "reshuffled", g())
    epochs = rs.reshape(3, 8)
    assert all(sorted(e) == list(range(8)) for e in epochs.tolist())  # each epoch a permutation
    assert not torch.equal(epochs[0], epochs[1])
    fo = stability.minibatch_indices(8, 4, 6, "fixed-order", g()).reshape(3, 8)
    assert torch.equal(fo[0], fo[1]) and torch.equal(fo[1], fo[2])
    assert sorted(fo[0].tolist()) == list(range(8))
    assert stability.minibatch_indices(8, 4, 3, "fixed-order", g()).shape == (3, 4)  # a partial last epoch


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(batch_size=3, sampling="reshuffled"), "must divide"),
        (dict(batch_size=9, sampling="with-replacement"), "exceeds"),
        (dict(batch_size=2, sampling="shuffled"), "sampling must be"),
        (dict(batch_size=0, sampling="with-replacement"), "batch_size"),
    ],
)
def test_minibatch_indices_reject_bad_arguments(kwargs, match):
    with pytest.raises(SpecInputError, match=match):
        stability.minibatch_indices(8, kwargs["batch_size"], 4, kwargs["sampling"], torch.Generator())


def test_minibatch_streams_are_reproducible_and_independent():
    a = stability.minibatch_stream(16, 2, 30, seed=1, stream=0)
    assert torch.equal(a, stability.minibatch_stream(16, 2, 30, seed=1, stream=0))
    assert not torch.equal(a, stability.minibatch_stream(16, 2, 30, seed=1, stream=1))
    assert not torch.equal(a, stability.minibatch_stream(16, 2, 30, seed=2, stream=0))
    with pytest.raises(SpecInputError, match="stream"):
        stability.minibatch_stream(16, 2, 3, stream=-1)


# ---------------------------------------------------------------- parallel_sgd
def _plain_run(x, y, init, batch_size, lr, indices):
    model = linear_model(x.shape[1], 1)
    model.load_state_dict(init.state_dict())
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses = [F.mse_loss(model(x), y).item()]
    for idx in indices:
        optimizer.zero_grad(set_to_none=True)
        xb, yb = (x, y) if batch_size is None else (x[idx], y[idx])
        F.mse_loss(model(xb), yb).backward()
        optimizer.step()
        losses.append(F.mse_loss(model(x), y).item())
    return model, losses


TOL = override(rtol=1e-10, atol=1e-12, reason="count-weighted sum over N samples vs the minibatch mean: rounding")


@pytest.mark.parametrize("sampling", stability.SAMPLING)
def test_each_parallel_run_is_a_plain_sgd_run(sampling):
    x, y, init = _problem(noise=0.2)
    cases = [(1, 0.02, 0), (2, 0.05, 0), (2, 0.08, 1), (4, 0.05, 3), (None, 0.1, 0)]
    steps = 15
    run = stability.parallel_sgd(
        x,
        y,
        [m for m, _, _ in cases],
        [lr for _, lr, _ in cases],
        steps=steps,
        init=init,
        sampling=sampling,
        seed=4,
        streams=[s for _, _, s in cases],
    )
    assert run.losses.shape == (steps + 1, len(cases)) and run.sampling == sampling
    for k, (m, lr, s) in enumerate(cases):
        idx = [None] * steps if m is None else stability.minibatch_stream(12, m, steps, sampling, seed=4, stream=s)
        model, losses = _plain_run(x, y, init, m, lr, idx)
        assert_close(run.weight[k], model.weight.detach()[0], tol=TOL)
        assert_close(run.bias[k], model.bias.detach()[0], tol=TOL)
        assert_close(run.losses[:, k], torch.tensor(losses, dtype=F64), tol=TOL)
    w, b = least_squares.least_squares_solution(x, y)
    start = ((init.weight - w) ** 2).sum() + ((init.bias - b) ** 2).sum()
    assert math.isclose(run.start_distance, start.item(), rel_tol=1e-12)
    assert_close(run.distances, ((run.weight - w) ** 2).sum(dim=1) + (run.bias - b) ** 2)
    assert_close(run.distance_ratios, run.distances / run.start_distance)


def test_parallel_runs_step_with_sgds_own_learning_rate(monkeypatch):
    # an SGD that applies its lr twice (lr^2 times the gradient): a run at one lr follows a plain run under the same
    # SGD, so the lr reaches the parameters through SGD alone, not through the loss
    x, y, init = _problem(noise=0.2)
    step = torch.optim.SGD.step

    def twice(self, *a, **k):
        saved = [g["lr"] for g in self.param_groups]
        for g in self.param_groups:
            g["lr"] = g["lr"] ** 2
        try:
            return step(self, *a, **k)
        finally:
            for g, lr in zip(self.param_groups, saved):
                g["lr"] = lr

    monkeypatch.setattr(torch.optim.SGD, "step", twice)
    steps = 10
    idx = stability.minibatch_stream(12, 2, steps, seed=4)
    alone = stability.parallel_sgd(x, y, [2], [0.05], steps=steps, init=init, seed=4)
    model, _ = _plain_run(x, y, init, 2, 0.05, idx)
    assert_close(alone.weight[0], model.weight.detach()[0], tol=TOL)
    monkeypatch.setattr(torch.optim.SGD, "step", step)
    honest = stability.parallel_sgd(x, y, [2], [0.05], steps=steps, init=init, seed=4)
    assert not torch.allclose(honest.weight[0], alone.weight[0], rtol=1e-3)


def test_an_overflowing_run_leaves_the_others_alone():
    x, y, init = _problem()
    alone = stability.parallel_sgd(x, y, [2], [0.05], steps=100, init=init)
    mixed = stability.parallel_sgd(x, y, [2, 2], [1e4, 0.05], steps=100, init=init)
    assert not torch.isfinite(mixed.weight[0]).all()  # lr 1e4 overflowed to inf/nan
    assert_close(mixed.weight[1], alone.weight[0], tol=TOL)  # only rounding (another matrix shape), no nan
    assert_close(mixed.losses[:, 1], alone.losses[:, 0], tol=TOL)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(batch_sizes=[1, 2], lrs=[0.1]), "equal length"),
        (dict(batch_sizes=[], lrs=[]), "non-empty"),
        (dict(batch_sizes=[1], lrs=[0.0]), "lrs"),
        (dict(batch_sizes=[13], lrs=[0.1]), "exceeds"),
        (dict(batch_sizes=[0], lrs=[0.1]), "batch_sizes"),
        (dict(batch_sizes=[1], lrs=[0.1], steps=0), "steps"),
        (dict(batch_sizes=[1], lrs=[0.1], sampling="random"), "sampling"),
        (dict(batch_sizes=[1], lrs=[0.1], streams=[-1]), "streams"),
        (dict(batch_sizes=[1], lrs=[0.1], streams=[0, 1]), "streams"),
        (dict(batch_sizes=[1], lrs=[0.1], seed=-2), "seed"),
        (dict(batch_sizes=[1], lrs=[0.1], init=nn.Linear(3, 2)), "init"),
        (dict(batch_sizes=[1], lrs=[0.1], init=nn.Linear(3, 1, bias=False)), "init"),
    ],
)
def test_parallel_sgd_rejects_bad_arguments(kwargs, match):
    x, y, init = _problem()
    args = dict(steps=2, init=init) | kwargs
    with pytest.raises(SpecInputError, match=match):
        stability.parallel_sgd(x, y, args.pop("batch_sizes"), args.pop("lrs"), **args)


def test_parallel_sgd_rejects_bad_data():
    x, y, init = _problem()
    with pytest.raises(SpecInputError, match="y must have shape"):
        stability.parallel_sgd(x, y[:, 0], [1], [0.1], steps=1, init=init)
    with pytest.raises(SpecTypeError):
        stability.parallel_sgd(x.long(), y, [1], [0.1], steps=1, init=init)


# ---------------------------------------------------------------- verdict and bisection
def test_classify_runs_by_distance_growth():
    x, y, init = _problem()
    c = least_squares.least_squares_curvature(x)
    run = stability.parallel_sgd(x, y, [None] * 3, [0.5 * c.gd_limit, 1.5 * c.gd_limit, 1e3], steps=40, init=init)
    assert stability.classify_runs(run, 1000.0).tolist() == [False, True, True]  # the last one overflowed
    # the verdict is the distance ratio against the factor
    ratio = run.distance_ratios[1].item()
    assert stability.classify_runs(run, ratio * 1.01).tolist()[1] is False
    with pytest.raises(SpecInputError, match="factor"):
        stability.classify_runs(run, 0.0)


def _fake_runs(monkeypatch, diverges):
    """Replace the SGD runs by a verdict function diverges(batch_size, lr), to test the bisection logic alone."""
    calls = []

    def fake_parallel(x, y, batch_sizes, lrs, **kwargs):
        calls.append(len(lrs))
        return list(zip(batch_sizes, lrs))

    monkeypatch.setattr(stability, "parallel_sgd", fake_parallel)
    monkeypatch.setattr(
        stability, "classify_runs", lambda run, factor: torch.tensor([diverges(m, lr) for m, lr in run])
    )
    return calls


def test_bisection_brackets_the_first_divergence(monkeypatch):
    calls = _fake_runs(monkeypatch, lambda m, lr: lr > (0.3 if m == 1 else 0.7))
    x, y, init = _problem()
    found = stability.stability_thresholds(
        x, y, [1, 4], [0.01, 0.01], [1.0, 1.0], steps=5, factor=10.0, init=init, points=8, rounds=3
    )
    assert calls == [16, 16, 16]  # all batch sizes in one run per round
    for t, true in zip(found, (0.3, 0.7)):
        assert t.stable <= true < t.diverged
        # 3 rounds of 8 points: the bracket is (hi/lo)^(1 / (7 * 9 * 9)) wide
        assert t.rel_width <= 100 ** (1 / (7 * 81)) - 1 + 1e-12
        assert len(t.tried) == 24 and not t.non_monotone
        assert math.isclose(t.estimate, math.sqrt(t.stable * t.diverged))


def test_bisection_reports_a_stable_island_above_the_first_divergence(monkeypatch):
    _fake_runs(monkeypatch, lambda m, lr: 0.2 < lr < 0.4 or lr > 0.8)
    x, y, init = _problem()
    (t,) = stability.stability_thresholds(x, y, [2], [0.01], [1.0], steps=5, factor=10.0, init=init, points=8)
    assert t.stable <= 0.2 < t.diverged and t.non_monotone


@pytest.mark.parametrize("verdict, match", [(lambda m, lr: True, "lo"), (lambda m, lr: False, "hi")])
def test_bisection_needs_a_stable_lo_and_a_diverged_hi(monkeypatch, verdict, match):
    _fake_runs(monkeypatch, verdict)
    x, y, init = _problem()
    with pytest.raises(SpecInputError, match=match):
        stability.stability_thresholds(x, y, [1], [0.01], [1.0], steps=5, factor=10.0, init=init)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(lo=[0.1, 0.1]), "equal length"),
        (dict(lo=[1.0], hi=[0.5]), "lo < hi"),
        (dict(lo=[0.0]), "lo < hi"),
        (dict(lo=["0.01"]), r"lo\[0\] must be a finite number, got '0.01'"),  # before: float("0.01") accepted it
        (dict(hi=[math.nan]), r"hi\[0\] must be a finite number, got nan"),
        (dict(hi=[True]), r"hi\[0\] must be a finite number, got True"),  # before: float(True) = 1.0
        (dict(points=1), "points"),
        (dict(rounds=0), "rounds"),
    ],
)
def test_bisection_rejects_bad_arguments(kwargs, match):
    x, y, init = _problem()
    args = dict(lo=[0.01], hi=[1.0], steps=5, factor=10.0, init=init) | kwargs
    with pytest.raises(SpecInputError, match=match):
        stability.stability_thresholds(x, y, [1], args.pop("lo"), args.pop("hi"), **args)


def test_full_batch_bisection_finds_two_over_lambda_max_within_the_detection_margin():
    x, y, init = _problem()
    c = least_squares.least_squares_curvature(x)
    steps, factor = 120, 100.0
    (gd,) = stability.stability_thresholds(
        x, y, [None], [c.gd_limit / 2], [2 * c.gd_limit], steps=steps, factor=factor, init=init
    )
    delta = least_squares.gd_detection_margin(x, y, init.weight, init.bias, steps=steps, factor=factor)
    assert 0 < delta < 0.05
    assert gd.diverged >= c.gd_limit and gd.stable <= c.gd_limit * (1 + delta)


def test_gd_detection_margin_is_where_the_top_component_alone_crosses_the_factor():
    x, y, init = _problem()
    c = least_squares.least_squares_curvature(x)
    steps, factor = 30, 50.0
    delta = least_squares.gd_detection_margin(x, y, init.weight, init.bias, steps=steps, factor=factor)
    run = stability.parallel_sgd(
        x, y, [None, None], [c.gd_limit * (1 + delta) * (1 + 1e-6), c.gd_limit * 0.999], steps=steps, init=init
    )
    assert stability.classify_runs(run, factor).tolist() == [True, False]
    assert least_squares.gd_detection_margin(x, y, init.weight, init.bias, steps=4 * steps, factor=factor) < delta
    with pytest.raises(SpecInputError, match="steps"):
        least_squares.gd_detection_margin(x, y, init.weight, init.bias, steps=0, factor=factor)
