"""sum.needs-batch-scaling

Source: 「如果选择了`sum`,则同样只需调用一次,但要确保在更新参数时考虑到batch大小。」

What is true (qualified): The 'sum' gradient is N times the 'mean' gradient, so plain SGD on a summed loss takes
N-times larger steps, and SGD with lr / N on the sum follows exactly the trajectory of SGD with lr on the mean.
Adam divides each gradient element by its running RMS, so its step is unchanged by the factor N except through eps:
the batch size must be taken into account for SGD-like update rules, hardly at all for Adam.

Why: for N samples sum = N * mean, so by linearity grad(sum) = N grad(mean), and an SGD step -lr g scales by N.
Adam's first step is -lr m / (sqrt(v) + eps) = -lr g / (|g| + eps) elementwise (Kingma & Ba 2015, sec. 2.1); with g
-> N g it becomes -lr g / (|g| + eps / N), so the two steps differ by at most lr eps / |g| per element.
The tests check the factor N on the gradient and on one SGD step; that SGD with lr / N on the sum reproduces SGD on
the mean over 5 steps; the per-element bound on Adam's first step; and that over 5 steps Adam's sum and mean runs
drift apart by less than 1e-4 of the distance travelled (the relative change per step is ~eps / |g| ~ 1e-6 here)
while SGD's sum run travels more than N / 2 times as far as its mean run.
"""

import pytest
import torch

from support.data import classification
from support.gradients import flat_grad, flat_params
from support.models import mlp
from support.tolerances import assert_close, assert_le, slack
from support.training import train

pytestmark = pytest.mark.claim("sum.needs-batch-scaling")
N, LR, STEPS = 16, 0.05, 5
EPS = 1e-8  # Adam's eps: PyTorch's default, which _train's Adam runs with


def _setup(device):
    x, y = classification(N, 4, 3, seed=11, device=device)
    return x, y, (lambda: mlp(4, 8, 3, depth=2, activation="tanh", seed=11, device=device))


def _train(make_model, x, y, reduction, optimizer, lr, steps=STEPS):
    """Parameters after ``steps`` full-batch steps of ``optimizer`` on CrossEntropyLoss(reduction)."""
    model = make_model()
    train(model, torch.nn.CrossEntropyLoss(reduction=reduction), x, y, optimizer=optimizer(model.parameters(), lr=lr),
          steps=steps)
    return flat_params(model)


def _grad(make_model, x, y, reduction):
    """The gradient of CrossEntropyLoss(reduction) at the start parameters."""
    model = make_model()
    torch.nn.CrossEntropyLoss(reduction=reduction)(model(x), y).backward()
    return flat_grad(model)


def test_sum_gradient_is_batch_size_times_mean_gradient(device):
    x, y, make_model = _setup(device)
    assert_close(_grad(make_model, x, y, "sum"), N * _grad(make_model, x, y, "mean"))


def test_sgd_on_sum_with_lr_over_n_equals_sgd_on_mean(device):
    x, y, make_model = _setup(device)
    on_mean = _train(make_model, x, y, "mean", torch.optim.SGD, LR)
    on_sum_scaled = _train(make_model, x, y, "sum", torch.optim.SGD, LR / N)
    assert_close(on_sum_scaled, on_mean)


def test_sgd_on_sum_with_the_same_lr_steps_n_times_further(device, figures):
    x, y, make_model = _setup(device)
    start = flat_params(make_model())
    step_mean = _train(make_model, x, y, "mean", torch.optim.SGD, LR, steps=1) - start
    step_sum = _train(make_model, x, y, "sum", torch.optim.SGD, LR, steps=1) - start
    assert_close(step_sum, N * step_mean)
    figures.record("||sgd step(sum)|| / ||sgd step(mean)||", step_sum.norm() / step_mean.norm(), "1",
                   zh="||sgd 更新步(sum)|| / ||sgd 更新步(mean)||")


def test_adam_first_step_is_invariant_to_the_factor_n_up_to_eps(device, figures):
    # Adam's first step is -lr * m/(sqrt(v)+eps) = -lr * g/(|g| + eps) elementwise. With g -> N g it becomes
    # -lr * g/(|g| + eps/N): the two differ by at most lr * eps / |g| per element.
    x, y, make_model = _setup(device)
    start = flat_params(make_model())
    g = _grad(make_model, x, y, "mean").abs()
    step_mean = _train(make_model, x, y, "mean", torch.optim.Adam, LR, steps=1) - start
    step_sum = _train(make_model, x, y, "sum", torch.optim.Adam, LR, steps=1) - start
    assert_le((step_sum - step_mean).abs(), LR * EPS / g.clamp_min(1e-300),
              slack=slack(abs=1e-15, reason="float64 rounding of the two parameter updates, read off as p - p_start"))
    figures.record("max |adam step(sum) - adam step(mean)|", (step_sum - step_mean).abs().max(), "parameter units",
                   zh="max |adam 更新步(sum) - adam 更新步(mean)|")


def test_adam_trajectories_on_sum_and_mean_stay_together_while_sgd_ones_do_not(device, figures):
    x, y, make_model = _setup(device)
    start = flat_params(make_model())
    adam_mean = _train(make_model, x, y, "mean", torch.optim.Adam, LR)
    adam_sum = _train(make_model, x, y, "sum", torch.optim.Adam, LR)
    # per step the relative change of each step is ~eps/|g| (|g| ~ 1e-2 here, so ~1e-6); over 5 steps of a
    # smooth problem the trajectories may drift apart by ~5e-6 of the distance travelled: allow 1e-4
    drift = (adam_sum - adam_mean).norm() / (adam_mean - start).norm()
    figures.record("Adam drift between sum and mean runs / distance travelled", drift, "1",
                   zh="Adam 在 sum 与 mean 两次运行之间的偏离 / 参数移动的距离")
    assert drift < 1e-4
    sgd_mean = _train(make_model, x, y, "mean", torch.optim.SGD, LR)
    sgd_sum = _train(make_model, x, y, "sum", torch.optim.SGD, LR)
    ratio = (sgd_sum - start).norm() / (sgd_mean - start).norm()
    figures.record("SGD distance travelled, sum / mean", ratio, "1", zh="SGD 参数移动的距离,sum / mean")
    assert ratio > N / 2
