"""Tests of support.stability: the least-squares curvature constants (against autograd's Hessian), the solution, the
minibatch streams, parallel_sgd (each of its K models is a plain nn.Linear + torch.optim.SGD run), the divergence
verdict, the bisection logic, the GD detection margin and the exact second-moment recursion (against enumeration)."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from support import stability
from support.data import regression
from support.errors import SpecInputError, SpecTypeError
from support.models import linear_model
from support.tolerances import assert_close, override

F64 = torch.float64


def _problem(n=12, d=3, noise=0.0, seed=0):
    x, y = regression(n, d, 1, noise=noise, seed=seed)
    return x, y, linear_model(d, 1, seed=seed)


# ---------------------------------------------------------------- curvature and solution
def _mse_hessian(x, y, sample=None):
    """Hessian of F.mse_loss(nn.Linear(d, 1)(x), y) w.r.t. (weight, bias), by autograd (one sample if given)."""
    model = linear_model(x.shape[1], 1)
    if sample is not None:
        x, y = x[sample : sample + 1], y[sample : sample + 1]
    d = x.shape[1]

    def loss(v):
        return F.mse_loss(functional_call(model, {"weight": v[:d].reshape(1, d), "bias": v[d:]}, (x,)), y)

    return torch.autograd.functional.hessian(loss, torch.zeros(d + 1, dtype=F64))


def test_curvature_constants_are_those_of_mselosss_hessian():
    x, y, _ = _problem()
    c = stability.least_squares_curvature(x)
    eig = torch.linalg.eigvalsh(_mse_hessian(x, y))
    per_sample = [torch.linalg.eigvalsh(_mse_hessian(x, y, i))[-1].item() for i in range(x.shape[0])]
    assert math.isclose(c.lambda_max, eig[-1].item(), rel_tol=1e-10)
    assert math.isclose(c.lambda_min, eig[0].item(), rel_tol=1e-8)
    assert math.isclose(c.beta, max(per_sample), rel_tol=1e-10)  # 2 max ||x~_i||^2: MSELoss has no 1/2
    assert math.isclose(c.beta_min, min(per_sample), rel_tol=1e-10)
    assert c.n == x.shape[0]


def test_curvature_derived_limits():
    c = stability.LeastSquaresCurvature(n=8, lambda_max=2.0, lambda_min=0.5, beta=10.0, beta_min=4.0)
    assert c.eta_star(1) == 1 / 10 and c.guarantee_edge(1) == 2 / 10 == c.nonexpansive_limit
    assert math.isclose(c.eta_star(3), 3 / (10 + 2 * 2.0))
    assert c.critical_batch == 6.0 and c.gd_limit == 1.0 and c.expansive_above == 0.5 and c.condition == 4.0
    # eta*(m) grows with m towards 1 / lambda_max
    assert all(c.eta_star(m) < c.eta_star(m + 1) < 1 / c.lambda_max for m in range(1, 50))
    with pytest.raises(SpecInputError, match="m must be"):
        c.eta_star(0)
    assert stability.LeastSquaresCurvature(2, 1.0, 0.0, 1.0, 1.0).condition == math.inf


def test_curvature_without_bias_uses_the_raw_features():
    x, _, _ = _problem()
    c = stability.least_squares_curvature(x, bias=False)
    assert math.isclose(c.lambda_max, torch.linalg.eigvalsh(2 * x.T @ x / x.shape[0])[-1].item(), rel_tol=1e-12)
    assert math.isclose(c.beta, 2 * (x * x).sum(dim=1).max().item(), rel_tol=1e-12)


@pytest.mark.parametrize("bad", [torch.zeros(3), torch.zeros(0, 2, dtype=F64), torch.zeros(3, 2, dtype=torch.int64)])
def test_curvature_rejects_bad_x(bad):
    with pytest.raises(SpecInputError):
        stability.least_squares_curvature(bad)


def test_least_squares_solution_zeroes_the_gradient():
    x, y, _ = _problem(noise=0.3)
    w, b = stability.least_squares_solution(x, y)
    model = linear_model(3, 1)
    with torch.no_grad():
        model.weight.copy_(w)
        model.bias.copy_(b)
    F.mse_loss(model(x), y).backward()
    assert model.weight.grad.abs().max() < 1e-12 and model.bias.grad.abs().max() < 1e-12
    w0, b0 = stability.least_squares_solution(x, y, bias=False)
    assert b0.item() == 0.0
    assert_close(w0[0], torch.linalg.lstsq(x, y).solution[:, 0])
    with pytest.raises(SpecInputError, match="y must have shape"):
        stability.least_squares_solution(x, y[:, 0])


def test_least_squares_problem_interpolates_without_noise():
    x, y, init = stability.least_squares_problem()
    assert x.shape == (64, 16) and y.shape == (64, 1) and x.dtype == F64
    assert isinstance(init, nn.Linear) and init.in_features == 16
    w, b = stability.least_squares_solution(x, y)
    assert (x @ w.T + b - y).abs().max() < 1e-12  # every sample fitted exactly
    assert abs(b.item()) < 1e-12
    xn, yn, _ = stability.least_squares_problem(noise=0.5)
    w, b = stability.least_squares_solution(xn, yn)
    assert (xn @ w.T + b - yn).abs().max() > 0.1


# ---------------------------------------------------------------- minibatch streams
def test_minibatch_indices_follow_their_sampling_scheme():
    g = lambda: torch.Generator().manual_seed(0)
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


@pytest.mark.parametrize("kwargs, match", [
    (dict(batch_size=3, sampling="reshuffled"), "must divide"),
    (dict(batch_size=9, sampling="with-replacement"), "exceeds"),
    (dict(batch_size=2, sampling="shuffled"), "sampling must be"),
    (dict(batch_size=0, sampling="with-replacement"), "batch_size"),
])
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
    run = stability.parallel_sgd(x, y, [m for m, _, _ in cases], [lr for _, lr, _ in cases], steps=steps, init=init,
                                 sampling=sampling, seed=4, streams=[s for _, _, s in cases])
    assert run.losses.shape == (steps + 1, len(cases)) and run.sampling == sampling
    for k, (m, lr, s) in enumerate(cases):
        idx = [None] * steps if m is None else stability.minibatch_stream(12, m, steps, sampling, seed=4, stream=s)
        model, losses = _plain_run(x, y, init, m, lr, idx)
        assert_close(run.weight[k], model.weight.detach()[0], tol=TOL)
        assert_close(run.bias[k], model.bias.detach()[0], tol=TOL)
        assert_close(run.losses[:, k], torch.tensor(losses, dtype=F64), tol=TOL)
    w, b = stability.least_squares_solution(x, y)
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


@pytest.mark.parametrize("kwargs, match", [
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
])
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
    c = stability.least_squares_curvature(x)
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
    monkeypatch.setattr(stability, "classify_runs",
                        lambda run, factor: torch.tensor([diverges(m, lr) for m, lr in run]))
    return calls


def test_bisection_brackets_the_first_divergence(monkeypatch):
    calls = _fake_runs(monkeypatch, lambda m, lr: lr > (0.3 if m == 1 else 0.7))
    x, y, init = _problem()
    found = stability.stability_thresholds(x, y, [1, 4], [0.01, 0.01], [1.0, 1.0], steps=5, factor=10.0, init=init,
                                           points=8, rounds=3)
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


@pytest.mark.parametrize("kwargs, match", [
    (dict(lo=[0.1, 0.1]), "equal length"),
    (dict(lo=[1.0], hi=[0.5]), "lo < hi"),
    (dict(lo=[0.0]), "lo < hi"),
    (dict(lo=["0.01"]), r"lo\[0\] must be a finite number, got '0.01'"),  # before: float("0.01") accepted it
    (dict(hi=[math.nan]), r"hi\[0\] must be a finite number, got nan"),
    (dict(hi=[True]), r"hi\[0\] must be a finite number, got True"),  # before: float(True) = 1.0
    (dict(points=1), "points"),
    (dict(rounds=0), "rounds"),
])
def test_bisection_rejects_bad_arguments(kwargs, match):
    x, y, init = _problem()
    args = dict(lo=[0.01], hi=[1.0], steps=5, factor=10.0, init=init) | kwargs
    with pytest.raises(SpecInputError, match=match):
        stability.stability_thresholds(x, y, [1], args.pop("lo"), args.pop("hi"), **args)


def test_full_batch_bisection_finds_two_over_lambda_max_within_the_detection_margin():
    x, y, init = _problem()
    c = stability.least_squares_curvature(x)
    steps, factor = 120, 100.0
    (gd,) = stability.stability_thresholds(x, y, [None], [c.gd_limit / 2], [2 * c.gd_limit], steps=steps,
                                           factor=factor, init=init)
    delta = stability.gd_detection_margin(x, y, init.weight, init.bias, steps=steps, factor=factor)
    assert 0 < delta < 0.05
    assert gd.diverged >= c.gd_limit and gd.stable <= c.gd_limit * (1 + delta)


def test_gd_detection_margin_is_where_the_top_component_alone_crosses_the_factor():
    x, y, init = _problem()
    c = stability.least_squares_curvature(x)
    steps, factor = 30, 50.0
    delta = stability.gd_detection_margin(x, y, init.weight, init.bias, steps=steps, factor=factor)
    run = stability.parallel_sgd(x, y, [None, None], [c.gd_limit * (1 + delta) * (1 + 1e-6), c.gd_limit * 0.999],
                                 steps=steps, init=init)
    assert stability.classify_runs(run, factor).tolist() == [True, False]
    assert stability.gd_detection_margin(x, y, init.weight, init.bias, steps=4 * steps, factor=factor) < delta
    with pytest.raises(SpecInputError, match="steps"):
        stability.gd_detection_margin(x, y, init.weight, init.bias, steps=0, factor=factor)


@pytest.mark.parametrize("which, bad, match", [
    ("weight", lambda w: w.reshape(-1), r"weight must have shape \(1, 3\)"),  # (d,) would broadcast silently
    ("weight", lambda w: torch.cat([w, w]), r"weight must have shape \(1, 3\)"),  # two outputs
    ("bias", lambda b: b.reshape(()), r"bias must have shape \(1,\)"),
    ("weight", lambda w: w.tolist(), "weight must be a torch.Tensor"),
])
def test_gd_detection_margin_checks_the_parameters_are_a_one_output_linear_model(which, bad, match):
    x, y, init = _problem()
    args = {"weight": init.weight.detach(), "bias": init.bias.detach()}
    args[which] = bad(args[which])
    with pytest.raises(SpecInputError, match=match):
        stability.gd_detection_margin(x, y, args["weight"], args["bias"], steps=10, factor=10.0)


# ---------------------------------------------------------------- the exact spread at the optimum
def _enumerated_spread(x, y, lr, batch_size, steps, start=None):
    """E ||w_T - w*||^2 by enumerating every sequence of with-replacement batches (tiny problems only), from w* or
    from ``start`` (weight and bias in one vector)."""
    n = x.shape[0]
    xt = torch.cat([x, torch.ones(n, 1, dtype=F64)], dim=1)
    w, b = stability.least_squares_solution(x, y)
    star = torch.cat([w[0], b])
    batches = list(itertools.product(range(n), repeat=batch_size))
    total = 0.0
    for seq in itertools.product(batches, repeat=steps):
        v = (star if start is None else start).clone()
        for batch in seq:
            idx = list(batch)
            v = v - lr * 2 * xt[idx].T @ (xt[idx] @ v - y[idx, 0]) / batch_size
        total += ((v - star) ** 2).sum().item()
    return total / len(batches) ** steps


@pytest.mark.parametrize("batch_size, steps", [(1, 1), (1, 4), (2, 3)])
def test_spread_recursion_matches_enumeration(batch_size, steps):
    x, y = regression(3, 1, 1, noise=0.7, seed=8)
    lr = 0.15
    exact = stability.sgd_spread_at_optimum(x, y, lr=lr, batch_size=batch_size, steps=steps)
    assert exact > 0
    assert math.isclose(exact, _enumerated_spread(x, y, lr, batch_size, steps), rel_tol=1e-10)


def test_spread_first_order_term_is_exactly_one_over_b_and_the_limit_of_the_exact_one():
    x, y = regression(10, 2, 1, noise=0.5, seed=2)
    a = stability.sgd_spread_at_optimum(x, y, lr=0.05, batch_size=1, steps=20, first_order=True)
    for b in (2, 8):
        assert math.isclose(b * stability.sgd_spread_at_optimum(x, y, lr=0.05, batch_size=b, steps=20,
                                                                first_order=True), a, rel_tol=1e-12)
    big = 10**6
    assert math.isclose(big * stability.sgd_spread_at_optimum(x, y, lr=0.05, batch_size=big, steps=20), a,
                        rel_tol=1e-4)


def test_spread_of_an_interpolating_problem_is_zero():
    x, y = regression(10, 2, 1, noise=0.0, seed=2)
    assert stability.sgd_spread_at_optimum(x, y, lr=0.05, batch_size=1, steps=5) < 1e-25


@pytest.mark.parametrize("batch_size, steps", [(1, 1), (1, 4), (2, 3)])
def test_expected_distance_from_a_start_matches_enumeration(batch_size, steps):
    x, y = regression(3, 1, 1, noise=0.0, seed=8)  # noise-free: a linear model fits every sample
    init = linear_model(1, 1, seed=3)
    lr = 0.4
    start = torch.cat([init.weight.detach()[0], init.bias.detach()])
    exact = stability.sgd_expected_distance(x, y, init.weight, init.bias, lr=lr, batch_size=batch_size, steps=steps)
    assert exact > 0
    assert math.isclose(exact, _enumerated_spread(x, y, lr, batch_size, steps, start=start), rel_tol=1e-10)


def test_expected_distance_needs_data_a_linear_model_fits_and_a_one_output_model():
    x, y = regression(10, 2, 1, noise=0.5, seed=2)
    init = linear_model(2, 1, seed=2)
    with pytest.raises(SpecInputError, match="fitted exactly"):
        stability.sgd_expected_distance(x, y, init.weight, init.bias, lr=0.1, batch_size=1, steps=3)
    x, y = regression(10, 2, 1, noise=0.0, seed=2)
    with pytest.raises(SpecInputError, match=r"nn.Linear\(2, 1\)"):
        stability.sgd_expected_distance(x, y, linear_model(2, 2).weight, init.bias, lr=0.1, batch_size=1, steps=3)


@pytest.mark.parametrize("kwargs, match", [(dict(lr=0.0), "lr"), (dict(batch_size=0), "batch_size"),
                                           (dict(steps=0), "steps")])
def test_spread_rejects_bad_arguments(kwargs, match):
    x, y = regression(10, 2, 1, seed=2)
    with pytest.raises(SpecInputError, match=match):
        stability.sgd_spread_at_optimum(x, y, **(dict(lr=0.1, batch_size=1, steps=3) | kwargs))
