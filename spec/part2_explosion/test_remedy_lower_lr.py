"""remedy.lower-lr

Source: 「調整学习率:使用较小的学习率可以减少每次权重更新的幅度,从而降低发生梯度爆炸的风险。」

What is true (qualified):
- A smaller learning rate shrinks every SGD step in proportion, since the step is exactly -lr * grad, but it does
  not shrink the gradient, which at given parameters does not depend on lr.
- What it removes is divergence caused by the step size: on a quadratic, gradient descent multiplies the error along
  a direction of curvature lambda by (1 - lr * lambda) per step, so it converges if and only if 0 < lr < 2 /
  lambda_max and diverges geometrically above that.
- At given parameters the gradient does not depend on lr, so a gradient already large at initialisation
  (explosion.cause.init, explosion.cause.depth) is not reduced by a lower learning rate.

Why: torch.optim.SGD without momentum updates p <- p - lr * g (PyTorch docs), and the gradient is computed by
backward before the optimizer reads lr. On f(theta) = 1/2 sum_i lambda_i theta_i^2 gradient descent gives theta_i
<- (1 - lr lambda_i) theta_i, so |1 - lr lambda_max| < 1 iff 0 < lr < 2 / lambda_max (Goodfellow et al., Deep
Learning, sec. 4.3.1 and 8.2.1). The tests check the step -lr * g for lr from 1e-4 to 1; the trajectory (1 - lr
lambda_i)^t theta_0 on a diagonal quadratic for lr from 0.05 to 2 times 2 / lambda_max; and a linear regression
(exactly quadratic, Hessian 2 X^T X / N) that converges at 0.95 x 2 / lambda_max and whose loss grows more than
100-fold in 60 steps at 1.05 x 2 / lambda_max (derived: the top-curvature error grows by 1.1 per step, the loss by
1.21, ~9e4 over 60 steps once it dominates). Large gradients caused by weights or depth are explosion.cause.init
and explosion.cause.depth; a test trains a deep tanh net whose initial weights are three times Glorot's std (its
first gradient ~19x that of the same net at Glorot's std) for 50 SGD steps at lr 1e-2, 1e-3 and 1e-4: the smaller the
lr, the larger the gradient left after those steps, and at 1e-4 it is still several times the Glorot net's.
"""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from support.data import regression
from support.gradients import flat_grad, flat_params
from support.least_squares import least_squares_curvature
from support.models import linear_model, mlp
from support.tensors import maker
from support.tolerances import assert_close
from support.training import train

pytestmark = pytest.mark.claim("remedy.lower-lr")


@given(lr=st.floats(1e-4, 1.0))
def test_the_sgd_step_is_exactly_minus_lr_times_the_gradient(device, lr):
    # the gradient is computed before the optimizer reads lr, so lr can only act through the step
    x, y = regression(16, 3, 1, seed=61, device=device)
    model = mlp(3, 6, 1, depth=2, activation="tanh", seed=61, device=device)
    before = flat_params(model)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    torch.nn.functional.mse_loss(model(x), y).backward()
    g = flat_grad(model).clone()
    opt.step()
    assert_close(flat_params(model) - before, -lr * g)  # exactly -lr * g (up to rounding of p - lr g - p)


def test_a_lower_lr_leaves_a_large_initial_gradient_large(device):
    # a deep tanh net at three times Glorot's std (explosion.cause.init): a large gradient at initialisation. Training
    # moves it towards flatter ground at a pace set by lr, so a lower lr keeps the large gradient longer
    x, y = regression(16, 8, 1, seed=64, device=device)

    def net(std):
        return mlp(8, 8, 1, depth=6, activation="tanh", weight_std=std, seed=64, device=device)

    reference = net(1.0 / 8**0.5)  # the same net at Glorot's std
    torch.nn.functional.mse_loss(reference(x), y).backward()
    glorot_grad = flat_grad(reference).norm().item()
    last = {}
    for lr in (1e-2, 1e-3, 1e-4):
        model = net(3.0 / 8**0.5)
        history = train(
            model, torch.nn.functional.mse_loss, x, y, optimizer=torch.optim.SGD(model.parameters(), lr=lr), steps=50
        )
        assert history.grad_norms[0] > 10 * glorot_grad  # large at initialisation (measured ~19x)
        last[lr] = history.grad_norms[-1]
    assert last[1e-4] > last[1e-3] > last[1e-2], last  # the lower the lr, the larger the gradient left
    # 50 steps at lr 1e-4 leave it several times the Glorot net's gradient (measured ~13x): a lower lr does not
    # shrink it, it only slows the training that would
    assert last[1e-4] > 5 * glorot_grad, (last, glorot_grad)


@given(factor=st.one_of(st.floats(0.05, 0.95), st.floats(1.05, 2.0)), steps=st.integers(5, 40))
def test_gradient_descent_on_a_quadratic_follows_one_minus_lr_lambda(device, factor, steps):
    # f(theta) = 1/2 sum_i lambda_i theta_i^2, gradient lambda_i theta_i: theta_i <- (1 - lr lambda_i) theta_i
    make = maker(device)
    lambdas = make.tensor([0.5, 2.0, 10.0])
    lr = factor * 2 / lambdas.max().item()
    theta0 = make.tensor([1.0, -1.0, 1.0])
    theta = theta0.clone().requires_grad_(True)
    opt = torch.optim.SGD([theta], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * (lambdas * theta**2).sum()).backward()
        opt.step()
    expected = (1 - lr * lambdas) ** steps * theta0
    assert_close(theta.detach(), expected)
    top = theta.detach()[2].abs().item()  # the lambda_max direction
    if factor < 1:
        assert top < 1.0  # |1 - lr lambda_max| = |1 - 2 factor| < 1: shrinks
    else:
        assert top > 1.0  # |1 - 2 factor| > 1: grows geometrically


def test_linear_regression_converges_just_below_two_over_lambda_max_and_diverges_just_above(device, figures):
    # MSE of a linear model is exactly quadratic; its Hessian is 2 X^T X / N for the design X = [x, 1]
    x, y = regression(64, 4, 1, seed=62, device=device)
    lam_max = least_squares_curvature(x).lambda_max
    losses = {}
    plot = figures.plot(
        "linear regression: loss per step, lr either side of 2/lambda_max",
        x_label="SGD step",
        y_label="training MSE (squared target units)",
        zh=("线性回归:lr 位于 2/lambda_max 两侧时的每步损失", "SGD步数", "训练MSE(目标单位的平方)"),
        log_y=True,
    )
    for factor in (0.95, 1.05):
        model = linear_model(4, 1, seed=62, device=device)
        trace = train(
            model,
            torch.nn.functional.mse_loss,
            x,
            y,
            optimizer=torch.optim.SGD(model.parameters(), lr=factor * 2 / lam_max),
            steps=60,
            stop_when_non_finite=False,
        ).losses
        losses[factor] = trace
        plot.line(f"lr = {factor} x 2/lambda_max", range(60), trace, zh=f"学习率 lr = {factor} x 2/lambda_max")
    assert losses[0.95][-1] < losses[0.95][0]
    # above the limit the top-curvature error grows by |1 - 1.05 * 2| = 1.1 per step, the loss by 1.21:
    # over 60 steps by 1.21^60 = 9e4 once it dominates; it must at least have grown 100-fold
    assert losses[1.05][-1] > 100 * losses[1.05][0]
    n, features = x.shape
    figures.record(
        "lambda_max of the regression Hessian",
        lam_max,
        "1/lr",
        zh="回归问题Hessian的lambda_max",
        measured_on=f"{n} regression samples of {features} standard normal features, MSE of a linear model",
        measured_on_zh=f"{n} 个回归样本,{features} 个标准正态特征,线性模型的 MSE",
    )
    figures.record(
        "loss growth over 60 steps at 1.05 x 2/lambda_max",
        losses[1.05][-1] / losses[1.05][0],
        "1",
        zh="lr = 1.05 x 2/lambda_max 时60步内损失的增长倍数",
        measured_on=f"nn.Linear({features}, {y.shape[1]}), MSELoss, {n} regression samples, full-batch SGD",
        measured_on_zh=f"nn.Linear({features}, {y.shape[1]}),MSELoss,{n} 个回归样本,全 batch SGD",
    )
