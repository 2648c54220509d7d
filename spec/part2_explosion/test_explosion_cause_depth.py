"""explosion.cause.depth

Source: 「深层网络结构:在深层网络中,由于链式法则的作用,梯度在传播过程中可能会累积并迅速增大。」

What is true (confirmed):
- By the chain rule the gradient at the input is the product of the layers' Jacobians W_l^T diag(phi'(a_l)), so its
  log-norm is a sum of per-layer log gains and is linear in depth.
- Depth is the exponent, not the cause: it amplifies the gradient geometrically when the per-layer gain exceeds 1
  and attenuates it when the gain is below 1.
- At gain 1 (for linear layers the Glorot std, for ReLU layers the He std) depth alone does not make gradients grow.

Why: dL/dx = W_1^T D_1 W_2^T D_2 ... W_L^T dL/df with D_l = diag(phi'(a_l)) (Goodfellow et al., Deep Learning, sec.
6.5 and 8.2.5), so log||dL/dx|| is a sum of per-layer log gains. For Gaussian linear layers of width n and std s
each factor is an independent s^2 chi^2_n, so E log||grad|| = depth * 1/2 [log s^2 + digamma(n/2) + log 2] exactly
(Glorot & Bengio 2010 for the variance argument). The tests check that autograd's input gradient equals that
product computed by hand for tanh, ReLU and sigmoid MLPs of depth 6 with biases, and that the mean log-norm of
linear MLPs of width 32 at depths 2 to 32 (std 0.5, 1 and 2 x Glorot) lies within 4.5 standard deviations of depth
times the per-layer term at every depth (exact chi^2 variance; 4.5 keeps a false alarm over the 15 comparisons
below 1e-4). The source's "may accumulate" is the right wording.
"""

import math

import pytest
import torch

from support.activations import derivative
from support.explosion import SWEEP_DEPTHS, SWEEP_SEEDS, SWEEP_WIDTH, block_base, depth_sweep, sweep_measured_on
from support.models import ACTIVATIONS, glorot_std, mlp
from support.tensors import generator
from support.theory import (
    gaussian_chain_log_norm_mean,
    gaussian_chain_log_norm_variance,
)
from support.tolerances import assert_close

pytestmark = pytest.mark.claim("explosion.cause.depth")

N = SWEEP_WIDTH
SWEEP_ON, SWEEP_ON_ZH = sweep_measured_on()  # what the sweep figures were measured on
SE_MULTIPLE = (
    4.5  # within 4.5 standard deviations at every depth (Chernoff: 5.7e-4 over the 5; tests/test_spec_statistics.py)
)


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
def test_input_gradient_is_the_product_of_the_layer_jacobians(device, activation):
    depth = 6
    net = mlp(5, 7, 3, depth=depth, activation=activation, seed=12, device=device)  # with biases, default init
    g = generator(12)
    x = torch.randn(1, 5, dtype=torch.float64, generator=g).to(device).requires_grad_(True)
    u = torch.randn(1, 3, dtype=torch.float64, generator=g).to(device)
    (autograd,) = torch.autograd.grad((net(x) * u).sum(), x)

    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    phi = ACTIVATIONS[activation]()
    pre, h = [], x.detach()
    with torch.no_grad():  # forward by hand, keeping the pre-activations a_l
        for i, lin in enumerate(linears):
            a = h @ lin.weight.T + lin.bias
            pre.append(a)
            h = phi(a) if i < depth - 1 else a
    v = u
    for i in reversed(range(depth)):  # v <- W_l^T (phi'(a_l) * v), the last layer has no activation
        if i < depth - 1:
            v = v * derivative(activation, pre[i])  # phi'(a), written from the definitions
        v = v @ linears[i].weight
    assert_close(autograd, v)


@pytest.mark.parametrize("factor", [0.5, 1.0, 2.0])
def test_log_norm_at_every_depth_is_depth_times_the_per_layer_log_gain(factor, figures, seed_block):
    std = factor * glorot_std(N, N)
    sweep = depth_sweep("linear", std, width=N, depths=SWEEP_DEPTHS, seeds=SWEEP_SEEDS, seed=block_base(seed_block))
    # exact expectation, a sum of identical per-layer terms: depth * per_layer
    expected = [gaussian_chain_log_norm_mean(std, [N] * d) for d in SWEEP_DEPTHS]
    per_layer = gaussian_chain_log_norm_mean(std, [N])
    for d, mean, e in zip(SWEEP_DEPTHS, sweep.mean_log_norms, expected):
        # the mean of SWEEP_SEEDS independent networks has standard deviation sqrt(Var_d / seeds) (exact); it is a
        # sum of independent 1/2 log chi^2_n terms, so the exact moment generating function of log chi^2 bounds
        # (Chernoff) a miss by 4.5 of them at 1.7e-4 at depth 2 down to 0.9e-4 at depth 32: a fresh seed block
        # fails one of the 5 depths with probability below 5.7e-4 (normal approximation: 3.4e-5)
        sd = math.sqrt(gaussian_chain_log_norm_variance([N] * d) / SWEEP_SEEDS)
        assert abs(mean - e) <= SE_MULTIPLE * sd, (
            f"depth {d}: mean {mean:.3f}, expected {e:.3f} +- {SE_MULTIPLE * sd:.3f}"
        )
    deepest = sweep.mean_log_norms[-1]
    figures.record(
        f"linear, std = {factor} x Glorot: mean log ||grad|| at depth 32",
        deepest,
        "1",
        zh=f"线性网络,标准差 = {factor} x Glorot:深度32处 log ||grad|| 的均值",
        measured_on=SWEEP_ON,
        measured_on_zh=SWEEP_ON_ZH,
    )
    figures.record(
        f"linear, std = {factor} x Glorot: expected per-layer log gain",
        per_layer,
        "1/layer",
        zh=f"线性网络,标准差 = {factor} x Glorot:每层对数增益的期望值",
    )
    # the norm itself: exp of the mean log-norm (the geometric mean over the networks); on a log axis a straight
    # line of slope log(per-layer gain)
    plot = figures.plot(
        "input-gradient norm vs depth, linear MLP",
        x_label="depth (layers)",
        y_label=f"input-gradient norm (L2, geo. mean of {SWEEP_SEEDS} nets)",
        zh=("输入梯度范数随深度的变化,线性MLP", "深度(层)", f"输入梯度范数(L2,{SWEEP_SEEDS}个网络的几何平均)"),
        log_y=True,
    )
    plot.line(
        f"linear, std = {factor} x Glorot (expected gain {math.exp(per_layer):.2f}/layer)",
        SWEEP_DEPTHS,
        [math.exp(v) for v in sweep.mean_log_norms],
        zh=f"线性网络,标准差 = {factor} x Glorot(期望增益 {math.exp(per_layer):.2f}/层)",
    )
