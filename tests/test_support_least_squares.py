"""Tests of support.least_squares: the curvature constants (against autograd's Hessian), the solution, the GD
detection margin's argument checks and the exact second-moment recursion (against enumeration)."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from support import least_squares
from support.data import regression
from support.errors import SpecInputError
from support.models import linear_model
from support.tolerances import assert_close

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
    c = least_squares.least_squares_curvature(x)
    eig = torch.linalg.eigvalsh(_mse_hessian(x, y))
    per_sample = [torch.linalg.eigvalsh(_mse_hessian(x, y, i))[-1].item() for i in range(x.shape[0])]
    assert math.isclose(c.lambda_max, eig[-1].item(), rel_tol=1e-10)
    assert math.isclose(c.lambda_min, eig[0].item(), rel_tol=1e-8)
    assert math.isclose(c.beta, max(per_sample), rel_tol=1e-10)  # 2 max ||x~_i||^2: MSELoss has no 1/2
    assert math.isclose(c.beta_min, min(per_sample), rel_tol=1e-10)
    assert c.n == x.shape[0]


def test_curvature_derived_limits():
    c = least_squares.LeastSquaresCurvature(n=8, lambda_max=2.0, lambda_min=0.5, beta=10.0, beta_min=4.0)
    assert c.eta_star(1) == 1 / 10 and c.guarantee_edge(1) == 2 / 10 == c.nonexpansive_limit
    assert math.isclose(c.eta_star(3), 3 / (10 + 2 * 2.0))
    assert c.critical_batch == 6.0 and c.gd_limit == 1.0 and c.expansive_above == 0.5 and c.condition == 4.0
    # eta*(m) grows with m towards 1 / lambda_max
    assert all(c.eta_star(m) < c.eta_star(m + 1) < 1 / c.lambda_max for m in range(1, 50))
    with pytest.raises(SpecInputError, match="m must be"):
        c.eta_star(0)
    assert least_squares.LeastSquaresCurvature(2, 1.0, 0.0, 1.0, 1.0).condition == math.inf


def test_curvature_without_bias_uses_the_raw_features():
    x, _, _ = _problem()
    c = least_squares.least_squares_curvature(x, bias=False)
    assert math.isclose(c.lambda_max, torch.linalg.eigvalsh(2 * x.T @ x / x.shape[0])[-1].item(), rel_tol=1e-12)
    assert math.isclose(c.beta, 2 * (x * x).sum(dim=1).max().item(), rel_tol=1e-12)


@pytest.mark.parametrize("bad", [torch.zeros(3), torch.zeros(0, 2, dtype=F64), torch.zeros(3, 2, dtype=torch.int64)])
def test_curvature_rejects_bad_x(bad):
    with pytest.raises(SpecInputError):
        least_squares.least_squares_curvature(bad)


def test_least_squares_solution_zeroes_the_gradient():
    x, y, _ = _problem(noise=0.3)
    w, b = least_squares.least_squares_solution(x, y)
    model = linear_model(3, 1)
    with torch.no_grad():
        model.weight.copy_(w)
        model.bias.copy_(b)
    F.mse_loss(model(x), y).backward()
    assert model.weight.grad.abs().max() < 1e-12 and model.bias.grad.abs().max() < 1e-12
    w0, b0 = least_squares.least_squares_solution(x, y, bias=False)
    assert b0.item() == 0.0
    assert_close(w0[0], torch.linalg.lstsq(x, y).solution[:, 0])
    with pytest.raises(SpecInputError, match="y must have shape"):
        least_squares.least_squares_solution(x, y[:, 0])


def test_least_squares_problem_interpolates_without_noise():
    x, y, init = least_squares.least_squares_problem()
    assert x.shape == (64, 16) and y.shape == (64, 1) and x.dtype == F64
    assert isinstance(init, nn.Linear) and init.in_features == 16
    w, b = least_squares.least_squares_solution(x, y)
    assert (x @ w.T + b - y).abs().max() < 1e-12  # every sample fitted exactly
    assert abs(b.item()) < 1e-12
    xn, yn, _ = least_squares.least_squares_problem(noise=0.5)
    w, b = least_squares.least_squares_solution(xn, yn)
    assert (xn @ w.T + b - yn).abs().max() > 0.1


@pytest.mark.parametrize(
    "which, bad, match",
    [
        ("weight", lambda w: w.reshape(-1), r"weight must have shape \(1, 3\)"),  # (d,) would broadcast silently
        ("weight", lambda w: torch.cat([w, w]), r"weight must have shape \(1, 3\)"),  # two outputs
        ("bias", lambda b: b.reshape(()), r"bias must have shape \(1,\)"),
        ("weight", lambda w: w.tolist(), "weight must be a torch.Tensor"),
    ],
)
def test_gd_detection_margin_checks_the_parameters_are_a_one_output_linear_model(which, bad, match):
    x, y, init = _problem()
    args = {"weight": init.weight.detach(), "bias": init.bias.detach()}
    args[which] = bad(args[which])
    with pytest.raises(SpecInputError, match=match):
        least_squares.gd_detection_margin(x, y, args["weight"], args["bias"], steps=10, factor=10.0)


# ---------------------------------------------------------------- the exact spread at the optimum
def _enumerated_spread(x, y, lr, batch_size, steps, start=None):
    """E ||w_T - w*||^2 by enumerating every sequence of with-replacement batches (tiny problems only), from w* or
    from ``start`` (weight and bias in one vector)."""
    n = x.shape[0]
    xt = torch.cat([x, torch.ones(n, 1, dtype=F64)], dim=1)
    w, b = least_squares.least_squares_solution(x, y)
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
    exact = least_squares.sgd_spread_at_optimum(x, y, lr=lr, batch_size=batch_size, steps=steps)
    assert exact > 0
    assert math.isclose(exact, _enumerated_spread(x, y, lr, batch_size, steps), rel_tol=1e-10)


def test_spread_first_order_term_is_exactly_one_over_b_and_the_limit_of_the_exact_one():
    x, y = regression(10, 2, 1, noise=0.5, seed=2)
    a = least_squares.sgd_spread_at_optimum(x, y, lr=0.05, batch_size=1, steps=20, first_order=True)
    for b in (2, 8):
        assert math.isclose(
            b * least_squares.sgd_spread_at_optimum(x, y, lr=0.05, batch_size=b, steps=20, first_order=True),
            a,
            rel_tol=1e-12,
        )
    big = 10**6
    assert math.isclose(
        big * least_squares.sgd_spread_at_optimum(x, y, lr=0.05, batch_size=big, steps=20), a, rel_tol=1e-4
    )


def test_spread_of_an_interpolating_problem_is_zero():
    x, y = regression(10, 2, 1, noise=0.0, seed=2)
    assert least_squares.sgd_spread_at_optimum(x, y, lr=0.05, batch_size=1, steps=5) < 1e-25


@pytest.mark.parametrize("batch_size, steps", [(1, 1), (1, 4), (2, 3)])
def test_expected_distance_from_a_start_matches_enumeration(batch_size, steps):
    x, y = regression(3, 1, 1, noise=0.0, seed=8)  # noise-free: a linear model fits every sample
    init = linear_model(1, 1, seed=3)
    lr = 0.4
    start = torch.cat([init.weight.detach()[0], init.bias.detach()])
    exact = least_squares.sgd_expected_distance(x, y, init.weight, init.bias, lr=lr, batch_size=batch_size, steps=steps)
    assert exact > 0
    assert math.isclose(exact, _enumerated_spread(x, y, lr, batch_size, steps, start=start), rel_tol=1e-10)


def test_expected_distance_needs_data_a_linear_model_fits_and_a_one_output_model():
    x, y = regression(10, 2, 1, noise=0.5, seed=2)
    init = linear_model(2, 1, seed=2)
    with pytest.raises(SpecInputError, match="fitted exactly"):
        least_squares.sgd_expected_distance(x, y, init.weight, init.bias, lr=0.1, batch_size=1, steps=3)
    x, y = regression(10, 2, 1, noise=0.0, seed=2)
    with pytest.raises(SpecInputError, match=r"nn.Linear\(2, 1\)"):
        least_squares.sgd_expected_distance(x, y, linear_model(2, 2).weight, init.bias, lr=0.1, batch_size=1, steps=3)


@pytest.mark.parametrize(
    "kwargs, match", [(dict(lr=0.0), "lr"), (dict(batch_size=0), "batch_size"), (dict(steps=0), "steps")]
)
def test_spread_rejects_bad_arguments(kwargs, match):
    x, y = regression(10, 2, 1, seed=2)
    with pytest.raises(SpecInputError, match=match):
        least_squares.sgd_spread_at_optimum(x, y, **(dict(lr=0.1, batch_size=1, steps=3) | kwargs))
