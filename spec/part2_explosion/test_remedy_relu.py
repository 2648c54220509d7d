"""remedy.relu

Source: 「选择ReLU等非饱和激活函数可以帮助减轻梯度爆炸问题,因为这些函数在正输入区域不会饱和。」

What is true (qualified): relu'(x) = 1 for x > 0 and 0 for x < 0 (PyTorch uses 0 at x = 0): it does not
saturate on the positive side. What that fixes is *vanishing*: a sigmoid stack multiplies the squared gradient
by sigma_w^2 E[sigmoid'^2] <= sigma_w^2 / 16 per layer, so at the Glorot std it loses about 1.45 in log-norm per
layer, while a ReLU stack at the He std sqrt(2/n) keeps it flat (He et al. 2015, sec. 2.2). It does not prevent
explosion: the ReLU stack's gain per layer is s sqrt(n/2), so its input gradient grows geometrically as soon
as the weight std exceeds He's value -- by log 2 = 0.69 per layer at twice it.
"""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from support.explosion import (
    SWEEP_DEPTHS,
    SWEEP_SEEDS,
    SWEEP_WIDTH,
    depth_sweep,
    fit_line,
    mean_field_log_norm,
    nonlinear_slope_tolerance,
)
from support.models import glorot_std, he_std

pytestmark = pytest.mark.claim("remedy.relu")
N = SWEEP_WIDTH


def _slope_tolerance():
    # 4 standard errors + 2/n finite-width allowance, derived in support.explosion.nonlinear_slope_tolerance
    return nonlinear_slope_tolerance(N, SWEEP_DEPTHS, SWEEP_SEEDS)


@given(values=st.lists(st.floats(-1e6, 1e6, allow_nan=False).filter(lambda v: v != 0), min_size=1, max_size=16))
def test_relu_derivative_is_one_on_the_positive_side_and_zero_on_the_negative(device, values):
    x = torch.tensor(values, dtype=torch.float64, device=device, requires_grad=True)
    (g,) = torch.autograd.grad(torch.relu(x).sum(), x)
    assert torch.equal(g, (x.detach() > 0).to(torch.float64))  # 1 however large x gets: no saturation


def test_relu_derivative_at_zero_is_zero(device):
    x = torch.zeros(1, dtype=torch.float64, device=device, requires_grad=True)
    (g,) = torch.autograd.grad(torch.relu(x).sum(), x)
    assert g.item() == 0.0


def _sweep(activation, std):
    return depth_sweep(activation, std, width=N, depths=SWEEP_DEPTHS, seeds=SWEEP_SEEDS)


def _attach(figures, sweep, label):
    # one figure for the claim: sigmoid at Glorot vanishes, ReLU at He stays flat, ReLU above He explodes.
    # The norm itself: exp of the mean log-norm over the SWEEP_SEEDS networks (their geometric mean).
    figures.series(label, sweep.depths, [math.exp(v) for v in sweep.mean_log_norms],
                   plot="input-gradient norm vs depth: sigmoid vs ReLU", x_label="depth (layers)",
                   y_label=f"input-gradient norm (L2, geo. mean of {SWEEP_SEEDS} nets)", log_y=True)


def test_relu_at_he_keeps_the_gradient_where_sigmoid_at_glorot_loses_it(figures):
    tol = _slope_tolerance()
    sigmoid = _sweep("sigmoid", glorot_std(N, N))
    # mean field from the input (q = 1): each sigmoid multiplies E||g||^2 by E[sigmoid'(h)^2] <= 1/16
    expected_sigmoid = fit_line(SWEEP_DEPTHS, [mean_field_log_norm("sigmoid", 1.0, d) for d in SWEEP_DEPTHS]).slope
    slope_sigmoid = sigmoid.fit().slope
    assert abs(slope_sigmoid - expected_sigmoid) <= tol, f"{slope_sigmoid:.3f} vs {expected_sigmoid:.3f} +- {tol:.3f}"
    assert slope_sigmoid <= 0.5 * math.log(1 / 16) + tol  # the sigmoid' <= 1/4 bound, per layer
    relu = _sweep("relu", he_std(N))
    slope_relu = relu.fit().slope
    assert abs(slope_relu) <= tol  # He: 1/2 log(s^2 n / 2) = 0
    figures.record("sigmoid at Glorot std: log-norm slope per layer", slope_sigmoid, "1/layer")
    figures.record("sigmoid at Glorot std: mean-field slope", expected_sigmoid, "1/layer")
    figures.record("ReLU at He std: log-norm slope per layer", slope_relu, "1/layer")
    _attach(figures, sigmoid, "sigmoid, std = Glorot")
    _attach(figures, relu, "ReLU, std = He")


def test_relu_still_explodes_above_the_he_std(figures):
    std = 2 * he_std(N)
    sweep = _sweep("relu", std)
    expected = 0.5 * math.log(std**2 * N / 2)  # = log 2: the gradient doubles with every layer
    slope = sweep.fit().slope
    tol = _slope_tolerance()
    assert abs(slope - expected) <= tol, f"{slope:.3f} vs {expected:.3f} +- {tol:.3f}"
    assert slope > tol  # geometric growth, not a constant
    growth = sweep.mean_log_norms[-1] - sweep.mean_log_norms[0]
    figures.record("ReLU at 2 x He std: log-norm slope per layer", slope, "1/layer")
    figures.record("ReLU at 2 x He std: log(||grad|| at depth 32 / at depth 2)", growth, "1")
    _attach(figures, sweep, "ReLU, std = 2 x He")
