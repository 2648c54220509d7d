"""explosion.rnn

Source: 「这种情况通常发生在深层网络中,尤其是递归神经网络(RNN)中。」

What is true (confirmed):
- Backpropagation through time multiplies the gradient by one Jacobian diag(phi'(a_t)) W_hh per step, always with
  the same W_hh, so after T steps its norm is at most (gamma sigma_max(W_hh))^T, gamma = max |phi'| (1 for tanh, 1/4
  for sigmoid).
- If sigma_max(W_hh) < 1/gamma the gradient vanishes geometrically.
- sigma_max > 1/gamma is necessary for explosion but not sufficient: at the zero state of a tanh RNN with W_hh = s
  times an orthogonal matrix the gradient grows exactly as s^T, while inputs that saturate the units make it vanish
  even for s > 1.
- In the one-unit recurrence x_t = w sigmoid(x_{t-1}) + b the gradient with respect to b stays bounded for every
  sequence length when the map contracts (w = 3); for w = 5 it grows geometrically with the sequence length on a
  narrow wall of the error surface, which a fixed grid of b values misses.

Why: with h_t = phi(a_t), a_t = W_hh h_{t-1} + W_ih x_t + b, the Jacobian dh_t/dh_{t-1} is diag(phi'(a_t)) W_hh, so
||dh_T/dh_0|| <= prod_t gamma ||W_hh|| = (gamma sigma_max)^T; sigma_max < 1/gamma suffices for vanishing and
sigma_max > 1/gamma is necessary for exploding (Pascanu, Mikolov & Bengio 2013, sec. 2.1, eq. 5-7; Goodfellow et
al., Deep Learning, sec. 10.7). The tests on torch.nn.RNN (tanh, H = 8, W_hh = s times an orthogonal matrix,
float64):
* zero inputs and h_0 = 0 keep h_t = 0, where tanh' = 1, so ||dL/dh_0|| = s^T ||v|| exactly, for s = 0.8 and 1.25;
* with random inputs the gradient stays below ||v|| s^T prod_t max_i tanh'(a_t,i), the bound with the derivatives
  actually met;
* with inputs scaled by 4 the units saturate, and the gradient of the same W (s = 1.25) shrinks with T, below 1e-6
  at T = 40, where the zero-state linearisation grows 1.25^40 ~ 7500-fold.

Pascanu et al.'s one-unit model (sec. 2.3): x_t = w sigmoid(x_{t-1}) + b, x_0 = 0.5, E = (sigmoid(x_T) - 0.7)^2.
* w = 3: the map is a contraction (|w sigmoid'| <= 3/4), so dx_T/db <= sum_k (3/4)^k = 4 and |dE/db| <= 2 * 0.7 *
  1/4 * 4 = 1.4 for every T; at fixed b the gradient converges to the fixed-point value
  2 (s - 0.7) s (1 - s) / (1 - w s (1 - s)), s = sigmoid(x*).
* w = 5: the error surface has a wall at b* = x0 - w sigmoid(x0) = -2.612 (there x_t = x0 for all t, an unstable
  fixed point), found by bisection; there dx_T/db = sum_{k<T} lambda^k with lambda = w sigmoid'(x0) = 1.175, so
  |dE/db| = 2 |sigmoid(x0) - 0.7| sigmoid'(x0) (lambda^T - 1) / (lambda - 1) grows geometrically with T (the fitted
  slope of log|dE/db| is within 0.003 of log lambda). The wall is ~lambda^-T wide, so a grid of b with spacing
  0.004 sees less than 1/100 of its gradient, and across it E jumps between its values at the two stable fixed
  points.
"""

import math

import pytest
import torch

from support.activations import sigmoid
from support.explosion import (
    PASCANU_TARGET,
    PASCANU_X0,
    one_unit_rnn_bias_grad,
    one_unit_rnn_error,
    one_unit_rnn_final_state,
)
from support.fits import bisect, fit_log_slope
from support.models import recurrent
from support.tensors import generator, maker
from support.tolerances import assert_close, assert_le, override, slack

pytestmark = pytest.mark.claim("explosion.rnn")

LENGTHS = (10, 20, 40, 80)
GRID = torch.linspace(-6.0, 2.0, 2001, dtype=torch.float64)  # spacing 0.004
SIG0 = sigmoid(PASCANU_X0)
# what the measured numbers of the one-unit model were measured on (the report shows it next to each)
PASCANU_ON = (
    f"one-unit model x_t = w sigmoid(x_{{t-1}}) + b from x_0 = {PASCANU_X0}, error E = (sigmoid(x_T) - "
    f"{PASCANU_TARGET})^2"
)
PASCANU_ON_ZH = (
    f"单单元模型 x_t = w·sigmoid(x_{{t-1}}) + b,从 x_0 = {PASCANU_X0} 出发,误差 E = (sigmoid(x_T) - {PASCANU_TARGET})^2"
)
GRID_ON = f"{PASCANU_ON}; b on a grid of {len(GRID)} points over [{GRID[0]:g}, {GRID[-1]:g}]"
GRID_ON_ZH = f"{PASCANU_ON_ZH};b 取 [{GRID[0]:g}, {GRID[-1]:g}] 上 {len(GRID)} 个网格点"


# w = 3 and w = 5 in one figure: bounded against geometric growth
def _pascanu_plot(figures):
    return figures.plot(
        "Pascanu's one-unit model: largest |dE/db| vs sequence length",
        x_label="sequence length T (steps)",
        y_label="largest |dE/db| over b (dimensionless)",
        zh=("Pascanu单单元模型:最大 |dE/db| 随序列长度的变化", "序列长度 T(步)", "对b取的最大 |dE/db|(无量纲)"),
        log_y=True,
    )


# ------------------------------------------------------------------ Pascanu sec. 2.3, w = 3: bounded
def test_one_unit_model_w3_gradient_stays_below_the_contraction_bound_for_every_length(figures):
    w = 3.0
    # |sigmoid(x) - 0.7| < 0.7, sigmoid' <= 1/4, dx_T/db = sum_k prod (w sigmoid') <= 1 / (1 - w/4) = 4
    bound = 2 * 0.7 * 0.25 / (1 - w / 4)
    maxima = []
    for T in LENGTHS:
        g = one_unit_rnn_bias_grad(w, GRID, T).abs()
        maxima.append(g.max().item())
    assert max(maxima) <= bound
    figures.record(
        "w=3: max |dE/db| over b, T=80",
        maxima[-1],
        "1",
        zh="w=3:对b取的最大 |dE/db|,T=80",
        measured_on=GRID_ON,
        measured_on_zh=GRID_ON_ZH,
    )
    figures.record("w=3: contraction bound on |dE/db|", bound, "1", zh="w=3:|dE/db| 的压缩映射上界")
    plot = _pascanu_plot(figures)
    plot.line("w = 3: max over a grid of b", LENGTHS, maxima, zh="w = 3:b网格上的最大值")
    plot.bound(
        f"w = 3: contraction bound {bound:.1f}", LENGTHS, [bound] * len(LENGTHS), zh=f"w = 3:压缩映射上界 {bound:.1f}"
    )


@pytest.mark.parametrize("b", [-3.0, -1.5, 0.0])
def test_one_unit_model_w3_gradient_converges_to_the_fixed_point_formula(b):
    # A contraction forgets x0: x_T -> x* with x* = w sigmoid(x*) + b, and dx_T/db -> 1 / (1 - w sigmoid'(x*)).
    # x - w sigmoid(x) - b is increasing in x (slope >= 1 - 3/4), so bisection finds the unique x*.
    w, T = 3.0, 80
    x_star = bisect(lambda x: x - w * sigmoid(x) - b, -20.0, 20.0, xtol=1e-14)
    s = sigmoid(x_star)
    expected = 2 * (s - PASCANU_TARGET) * s * (1 - s) / (1 - w * s * (1 - s))
    actual = one_unit_rnn_bias_grad(w, b, T)
    # the transient decays as (3/4)^80 = 1e-10 at worst; the fixed point is known to ~1e-14
    assert_close(
        actual,
        torch.tensor(expected, dtype=torch.float64),
        tol=override(rtol=1e-8, atol=1e-9, reason="(3/4)^80 = 1e-10 transient of the contraction"),
    )


# ------------------------------------------------------------------ w = 5: the wall
def test_one_unit_model_w5_wall_is_found_by_bisection_and_its_gradient_grows_geometrically(figures):
    w = 5.0
    b_star = PASCANU_X0 - w * SIG0  # x_t = x0 for every t: the trajectory sits on the unstable fixed point
    lam = w * SIG0 * (1 - SIG0)  # the slope of the map there, 1.175 > 1
    walls, grads = [], []
    for T in LENGTHS:
        # x_T(b) is increasing in b (dx_t/db = w sigmoid' dx_{t-1}/db + 1 > 0): a single crossing of x0 on [-4, -1]
        b_wall = bisect(lambda b, T=T: one_unit_rnn_final_state(w, b, T).item() - PASCANU_X0, -4.0, -1.0, xtol=1e-13)
        assert abs(b_wall - b_star) <= 1e-12  # bisection stops within xtol = 1e-13; 10x for b_star's rounding
        walls.append(b_wall)
        g = one_unit_rnn_bias_grad(w, b_star, T)
        # dE/db = 2 (sigmoid(x_T) - 0.7) sigmoid'(x_T) dx_T/db with x_T = x0 and dx_T/db = (lam^T - 1)/(lam - 1)
        expected = 2 * (SIG0 - PASCANU_TARGET) * SIG0 * (1 - SIG0) * (lam**T - 1) / (lam - 1)
        # rounding of the unstable trajectory is amplified by lam^T (<= 4e5 at T = 80): ~1e-10 relative
        assert_close(
            g,
            torch.tensor(expected, dtype=torch.float64),
            tol=override(rtol=1e-9, atol=0.0, reason="float64 rounding amplified by lambda^T <= 4e5"),
        )
        grads.append(abs(g.item()))
    assert grads[1] > 2 * 0.7 * 0.25 / (1 - 3 / 4)  # already above w = 3's bound at T = 20
    assert all(b > a for a, b in zip(grads, grads[1:]))
    fit = fit_log_slope(LENGTHS, grads)
    # log|dE/db| = T log lam + log(1 - lam^-T) + const: the last term is below 0.2 from T = 10 on, so the fitted
    # slope is within 0.2 / 70 = 0.003 of log lam
    assert abs(fit.slope - math.log(lam)) < 0.003
    figures.record(
        "w=5: wall position b* (bisection, T=80)",
        walls[-1],
        "b",
        zh="w=5:墙的位置 b*(二分法,T=80)",
        measured_on=PASCANU_ON,
        measured_on_zh=PASCANU_ON_ZH,
    )
    figures.record(
        "w=5: |dE/db| at the wall, T=80",
        grads[-1],
        "1",
        zh="w=5:墙处的 |dE/db|,T=80",
        measured_on=PASCANU_ON,
        measured_on_zh=PASCANU_ON_ZH,
    )
    figures.record(
        "w=5: fitted growth rate of log|dE/db| per step",
        fit.slope,
        "1/step",
        zh="w=5:拟合的 log|dE/db| 每步增长率",
        measured_on=f"{PASCANU_ON}; fit over T in {LENGTHS}",
        measured_on_zh=f"{PASCANU_ON_ZH};在 T = {LENGTHS} 上拟合",
    )
    figures.record("w=5: log(w sigmoid'(x0))", math.log(lam), "1/step", zh="w=5:log(w sigmoid'(x0)) 的值")
    _pascanu_plot(figures).line("w = 5: at the wall b* (bisection)", LENGTHS, grads, zh="w = 5:在墙 b* 处(二分法)")


def test_one_unit_model_w5_wall_is_a_cliff_that_a_fixed_grid_misses(figures):
    w, T = 5.0, 80
    b_star = PASCANU_X0 - w * SIG0
    wall_grad = abs(one_unit_rnn_bias_grad(w, b_star, T).item())
    grid_max = one_unit_rnn_bias_grad(w, GRID, T).abs().max().item()
    # the wall's width in b is ~ (lam - 1) / lam^T = 4e-7 at T = 80, four orders below the grid spacing 0.004,
    # so the grid sees at most the flanks of the wall
    assert grid_max < wall_grad / 100
    # Either side of the wall the trajectory falls into a different stable fixed point of x = w sigmoid(x) + b*:
    # the lower one below x0 and the upper one above it (bisection on each side of the unstable point x0).
    lower = bisect(lambda x: x - w * sigmoid(x) - b_star, -10.0, PASCANU_X0 - 1.0)
    upper = bisect(lambda x: x - w * sigmoid(x) - b_star, PASCANU_X0 + 0.1, 10.0)
    delta = 0.01  # escape from x0 takes ~log(1/delta)/log(lam) = 29 steps, well within T = 80
    e_below = one_unit_rnn_error(w, b_star - delta, T).item()
    e_above = one_unit_rnn_error(w, b_star + delta, T).item()
    # moving b by delta moves a stable fixed point by delta / (1 - w sigmoid') <= 2 delta (w sigmoid' <= 1/2 at
    # both), changing E by at most 2 * 0.7 * 1/4 * 2 delta = 0.007
    assert abs(e_below - (sigmoid(lower) - PASCANU_TARGET) ** 2) < 0.007
    assert abs(e_above - (sigmoid(upper) - PASCANU_TARGET) ** 2) < 0.007
    figures.record(
        "w=5: max |dE/db| on a 0.004 grid, T=80",
        grid_max,
        "1",
        zh="w=5:间距0.004的网格上的最大 |dE/db|,T=80",
        measured_on=GRID_ON,
        measured_on_zh=GRID_ON_ZH,
    )
    figures.record(
        "w=5: jump of E across the wall (2 delta = 0.02 in b)",
        abs(e_below - e_above),
        "1",
        zh="w=5:跨过墙时E的跳变(b上 2 delta = 0.02)",
        measured_on=PASCANU_ON,
        measured_on_zh=PASCANU_ON_ZH,
    )


# ------------------------------------------------------------------ a vanilla tanh RNN (torch.nn.RNN)
H = 8


def _orthogonal_rnn(s: float, device, input_scale: float = 0.0):
    rnn = recurrent("rnn", 3, H, seed=5, device=device).rnn
    q, _ = torch.linalg.qr(torch.randn(H, H, dtype=torch.float64, generator=generator(5)))
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(s * q)  # every singular value equals s
        rnn.weight_ih_l0.mul_(input_scale)
        rnn.bias_ih_l0.zero_()
        rnn.bias_hh_l0.zero_()
    return rnn


def _grad_wrt_h0(rnn, x, v):
    h0 = torch.zeros(1, x.shape[0], H, dtype=torch.float64, device=x.device, requires_grad=True)
    out, _ = rnn(x, h0)
    (g,) = torch.autograd.grad((out[:, -1] * v).sum(), h0)
    return out.detach(), g


@pytest.mark.parametrize("s", [0.8, 1.25])
def test_tanh_rnn_gradient_is_exactly_s_to_the_T_at_the_zero_state(device, s, figures):
    # zero inputs and h0 = 0 keep h_t = 0, where tanh' = 1: dh_T/dh_0 = (W_hh^T)^T and ||(W^T)^T v|| = s^T ||v||
    rnn = _orthogonal_rnn(s, device)
    make = maker(device)
    v = make.randn(1, H, seed=6)
    norms = []
    for T in (5, 10, 20, 40):
        x = make.zeros(1, T, 3)
        _, g = _grad_wrt_h0(rnn, x, v)
        assert_close(g.norm(), s**T * v.norm())
        norms.append(g.norm().item())
    figures.record(
        f"zero-state RNN, s={s}: ||dL/dh0|| at T=40",
        norms[-1],
        "1",
        zh=f"零状态RNN,s={s}:T=40时的 ||dL/dh0||",
        measured_on=f"nn.RNN (tanh), {H} hidden units, W_hh = {s} times a random orthogonal matrix, zero inputs and "
        f"state, L = v . h_T with v ~ N(0, I_{H})",
        measured_on_zh=f"nn.RNN(tanh),{H} 个隐藏单元,W_hh = {s} 乘以随机正交矩阵,输入和状态为零,L = v . h_T,"
        f"v ~ N(0, I_{H})",
    )


@pytest.mark.parametrize("s", [0.8, 1.25])
def test_tanh_rnn_gradient_is_bounded_by_the_realised_derivatives(device, s):
    # Pascanu eq. 5-6 with the derivatives actually met: ||dL/dh0|| <= ||v|| prod_t (max_i tanh'(a_t,i)) s,
    # and tanh'(a) = 1 - h^2 is read off the outputs. With gamma = 1 the bound is s^T: s < 1 forces vanishing.
    rnn = _orthogonal_rnn(s, device, input_scale=1.0)
    T = 30
    make = maker(device)
    x = make.randn(4, T, 3, seed=8)
    v = make.randn(1, H, seed=6)
    out, g = _grad_wrt_h0(rnn, x, v)
    bound = v.norm() * s**T * (1 - out**2).amax(dim=2).prod(dim=1)  # one bound per sequence
    # one-sided bounds with float64 slack: each side is a product of T = 30 factors (~30 ulps ~ 7e-15 relative);
    # the autograd side and the bound round differently, so 1e-9 there, 1e-12 between two products of the same kind
    assert_le(
        g.norm(dim=2).squeeze(0),
        bound,
        slack=slack(
            rel=1e-9, reason=f"autograd and the bound round differently, each a product of T = {T} factors (~7e-15)"
        ),
    )
    # and bound <= ||v|| s^T, since 1 - h^2 <= 1: the gamma = 1 bound follows from the one checked above


def test_largest_singular_value_above_one_is_necessary_not_sufficient(device, figures):
    # s = 1.25 > 1 = 1/gamma: at the zero state this W grows the gradient as 1.25^T (7500x at T = 40). Inputs that
    # saturate the units make tanh' = 1 - h^2 small instead, and the same W then makes the gradient vanish.
    s, input_scale = 1.25, 4.0
    rnn = _orthogonal_rnn(s, device, input_scale=input_scale)
    make = maker(device)
    v = make.randn(1, H, seed=6)
    lengths, norms = (10, 20, 40), []
    for T in lengths:
        x = make.randn(2, T, 3, seed=9)
        _, g = _grad_wrt_h0(rnn, x, v)
        norms.append((g.norm(dim=2).max() / v.norm()).item())
    assert norms[0] > norms[1] > norms[2]
    # "vanishes": a millionfold shrinkage at T = 40, where the zero-state linearisation of the same W grows 7500x
    assert norms[2] < 1e-6
    fit = fit_log_slope(lengths, norms)
    assert fit.slope < 0 < math.log(s)
    on = (
        f"nn.RNN (tanh), {H} hidden units, W_hh = {s} times a random orthogonal matrix, input weights times "
        f"{input_scale:g}, the larger of {x.shape[0]} standard normal sequences of {x.shape[2]} features"
    )
    on_zh = (
        f"nn.RNN(tanh),{H} 个隐藏单元,W_hh = {s} 乘以随机正交矩阵,输入权重乘以 {input_scale:g},取 {x.shape[0]} 条 "
        f"{x.shape[2]} 维标准正态序列中的较大者"
    )
    figures.record(
        "saturated RNN (s=1.25): ||dL/dh0|| / ||v|| at T=40",
        norms[2],
        "1",
        zh="饱和RNN(s=1.25):T=40时的 ||dL/dh0|| / ||v||",
        measured_on=on,
        measured_on_zh=on_zh,
    )
    figures.record(
        "saturated RNN (s=1.25): fitted log-norm slope",
        fit.slope,
        "1/step",
        zh="饱和RNN(s=1.25):拟合的对数范数斜率",
        measured_on=f"{on}; fit over T in {lengths}",
        measured_on_zh=f"{on_zh};在 T = {lengths} 上拟合",
    )
    plot = figures.plot(
        "tanh RNN, W_hh = 1.25 x orthogonal: gradient gain vs T",
        x_label="sequence length T (steps)",
        y_label="gain ||dL/dh0|| / ||v|| (ratio)",
        zh=("tanh RNN,W_hh = 1.25 x 正交矩阵:梯度增益随T的变化", "序列长度 T(步)", "增益 ||dL/dh0|| / ||v||(比值)"),
        log_y=True,
    )
    plot.line(
        "saturating inputs (scale 4), largest of 2 sequences",
        lengths,
        norms,
        zh="使单元饱和的输入(放大4倍),2条序列中的最大值",
    )
    plot.bound("zero state: exactly s^T = 1.25^T", lengths, [s**T for T in lengths], zh="零状态:恰为 s^T = 1.25^T")
