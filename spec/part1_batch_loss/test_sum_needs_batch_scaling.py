"""sum.needs-batch-scaling

Source: 「如果选择了`sum`,则同样只需调用一次,但要确保在更新参数时考虑到batch大小。」

What is true (qualified):
- The 'sum' gradient is N times the 'mean' gradient, so plain SGD on a summed loss takes N-times larger steps.
- SGD with lr / N on the sum follows the trajectory of SGD with lr on the mean up to rounding, as long as nothing
  else acts on the step.
- Weight decay and gradient clipping do not scale with the loss: with lr / N the sum run also needs weight_decay x N
  and max_norm x N; with the unchanged values the two runs drift apart from the first step.
- Adam's step is unchanged by the factor N except through eps, but its L2 weight_decay is added before the
  normalisation and needs the factor N too; AdamW's decoupled decay does not.

Why: for N samples sum = N * mean, so by linearity grad(sum) = N grad(mean), and an SGD step -lr g scales by N.
Adam's first step is -lr m / (sqrt(v) + eps) = -lr g / (|g| + eps) elementwise (Kingma & Ba 2015, sec. 2.1); with g
-> N g it becomes -lr g / (|g| + eps / N), so the two steps differ by at most lr eps / |g| per element.
The tests check the factor N on the gradient and on one SGD step; that SGD with lr / N on the sum reproduces SGD on
the mean over 5 steps; the per-element bound on Adam's first step; and that over 5 steps Adam's sum and mean runs
drift apart by less than 1e-4 of the distance travelled (the relative change per step is ~eps / |g| ~ 1e-6 here)
while SGD's sum run travels more than N / 2 times as far as its mean run.
What does not scale with the loss (PyTorch docs, torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW,
torch.nn.utils.clip_grad_norm_): SGD's weight_decay adds lambda theta to .grad, so on the sum at lr / N the first
step is -lr g - (lr / N) lambda theta against the mean run's -lr g - lr lambda theta, a difference of exactly
lr lambda (1 - 1/N) theta_0; with lambda N every step is the mean run's. clip_grad_norm_ caps the norm at max_norm:
when both clip, the sum run's step is the mean run's times (|g| + 1e-6) / (N |g| + 1e-6), about 1/N; with
max_norm N the two clip alike up to the 1e-6 (at most 1e-6 / |g| relative per step). Adam's L2 weight_decay
is added to the gradient before the normalisation: N g + lambda theta against g + lambda theta, so the decay
weighs N times less on the sum; with lambda N the sum run's gradient is N (g + lambda theta), normalised away up to
eps as above. AdamW multiplies theta by 1 - lr lambda outside the normalised step, so the same lambda serves both.
The tests check each derived first step or equivalence, and that the unscaled Adam run leaves the 1e-4 within which
the rescaled one stays; how far the unscaled runs drift after 5 steps is recorded.
"""

import pytest
import torch

from support.data import classification
from support.gradients import flat_grad, flat_params
from support.models import mlp
from support.tolerances import assert_close, assert_le, override, slack
from support.training import train

pytestmark = pytest.mark.claim("sum.needs-batch-scaling")
# what the recorded numbers were measured on (the report shows it next to each)
MEASURED_ON = "MLP 4-8-3 (tanh), CrossEntropyLoss, batch 16, lr 0.05, 5 full-batch steps"
MEASURED_ON_ZH = "MLP 4-8-3(tanh),CrossEntropyLoss,batch 大小 16,lr 0.05,5 步全 batch 训练"
ONE_STEP_ON = "MLP 4-8-3 (tanh), CrossEntropyLoss, batch 16, lr 0.05, the first step"
ONE_STEP_ON_ZH = "MLP 4-8-3(tanh),CrossEntropyLoss,batch 大小 16,lr 0.05,第一步"
N, LR, STEPS = 16, 0.05, 5
EPS = 1e-8  # Adam's eps: PyTorch's default, which _train's Adam runs with


def _setup(device):
    x, y = classification(N, 4, 3, seed=11, device=device)
    return x, y, (lambda: mlp(4, 8, 3, depth=2, activation="tanh", seed=11, device=device))


def _train(make_model, x, y, reduction, optimizer, lr, steps=STEPS, clip_norm=None, with_history=False, **kwargs):
    """Parameters after ``steps`` full-batch steps of ``optimizer(lr, **kwargs)`` on CrossEntropyLoss(reduction),
    with clip_grad_norm_(clip_norm) before each step when given; with ``with_history``, also the run's History."""
    model = make_model()
    history = train(
        model,
        torch.nn.CrossEntropyLoss(reduction=reduction),
        x,
        y,
        optimizer=optimizer(model.parameters(), lr=lr, **kwargs),
        steps=steps,
        clip_norm=clip_norm,
    )
    return (flat_params(model), history) if with_history else flat_params(model)


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
    figures.record(
        "||sgd step(sum)|| / ||sgd step(mean)||",
        step_sum.norm() / step_mean.norm(),
        "1",
        zh="||sgd 更新步(sum)|| / ||sgd 更新步(mean)||",
        measured_on=ONE_STEP_ON,
        measured_on_zh=ONE_STEP_ON_ZH,
    )


def test_adam_first_step_is_invariant_to_the_factor_n_up_to_eps(device, figures):
    # Adam's first step is -lr * m/(sqrt(v)+eps) = -lr * g/(|g| + eps) elementwise. With g -> N g it becomes
    # -lr * g/(|g| + eps/N): the two differ by at most lr * eps / |g| per element.
    x, y, make_model = _setup(device)
    start = flat_params(make_model())
    g = _grad(make_model, x, y, "mean").abs()
    step_mean = _train(make_model, x, y, "mean", torch.optim.Adam, LR, steps=1) - start
    step_sum = _train(make_model, x, y, "sum", torch.optim.Adam, LR, steps=1) - start
    assert_le(
        (step_sum - step_mean).abs(),
        LR * EPS / g.clamp_min(1e-300),
        slack=slack(abs=1e-15, reason="float64 rounding of the two parameter updates, read off as p - p_start"),
    )
    figures.record(
        "max |adam step(sum) - adam step(mean)|",
        (step_sum - step_mean).abs().max(),
        "parameter units",
        zh="max |adam 更新步(sum) - adam 更新步(mean)|",
        measured_on=ONE_STEP_ON,
        measured_on_zh=ONE_STEP_ON_ZH,
    )


def test_adam_trajectories_on_sum_and_mean_stay_together_while_sgd_ones_do_not(device, figures):
    x, y, make_model = _setup(device)
    start = flat_params(make_model())
    adam_mean = _train(make_model, x, y, "mean", torch.optim.Adam, LR)
    adam_sum = _train(make_model, x, y, "sum", torch.optim.Adam, LR)
    # per step the relative change of each step is ~eps/|g| (|g| ~ 1e-2 here, so ~1e-6); over 5 steps of a
    # smooth problem the trajectories may drift apart by ~5e-6 of the distance travelled: allow 1e-4
    drift = (adam_sum - adam_mean).norm() / (adam_mean - start).norm()
    figures.record(
        "Adam drift between sum and mean runs / distance travelled",
        drift,
        "1",
        zh="Adam 在 sum 与 mean 两次运行之间的偏离 / 参数移动的距离",
        measured_on=MEASURED_ON,
        measured_on_zh=MEASURED_ON_ZH,
    )
    assert drift < 1e-4
    sgd_mean = _train(make_model, x, y, "mean", torch.optim.SGD, LR)
    sgd_sum = _train(make_model, x, y, "sum", torch.optim.SGD, LR)
    ratio = (sgd_sum - start).norm() / (sgd_mean - start).norm()
    figures.record(
        "SGD distance travelled, sum / mean",
        ratio,
        "1",
        zh="SGD 参数移动的距离,sum / mean",
        measured_on=MEASURED_ON,
        measured_on_zh=MEASURED_ON_ZH,
    )
    assert ratio > N / 2


# ---------------------------------------------------------------- what does not scale with the loss
DECAY = 0.3  # weight decay, away from 0 and 1
# Adam's runs on sum and mean agree up to eps effects, ~eps/|g| ~ 1e-6 relative per step (see above): 1e-4 of the
# distance travelled bounds the rescaled runs' drift, and the unscaled runs must leave it
ADAM_DRIFT = 1e-4


def _drift(a, b, start):
    """How far two runs ended apart, relative to the distance the second travelled."""
    return ((a - b).norm() / (b - start).norm()).item()


def test_weight_decay_does_not_scale_with_the_loss(device, figures):
    # SGD adds weight_decay * theta to .grad: on the sum with lr / N the first step is -lr g - (lr / N) lambda theta,
    # on the mean -lr g - lr lambda theta, so they differ by exactly lr lambda (1 - 1/N) theta_0 (derived)
    x, y, make_model = _setup(device)
    start = flat_params(make_model())
    step_mean = _train(make_model, x, y, "mean", torch.optim.SGD, LR, steps=1, weight_decay=DECAY) - start
    step_sum = _train(make_model, x, y, "sum", torch.optim.SGD, LR / N, steps=1, weight_decay=DECAY) - start
    assert_close(step_sum - step_mean, LR * DECAY * (1 - 1 / N) * start)
    # the sum run needs weight_decay * N as well: then every step is lr (g + lambda theta), the mean run's
    on_mean = _train(make_model, x, y, "mean", torch.optim.SGD, LR, weight_decay=DECAY)
    assert_close(_train(make_model, x, y, "sum", torch.optim.SGD, LR / N, weight_decay=DECAY * N), on_mean)
    unscaled = _train(make_model, x, y, "sum", torch.optim.SGD, LR / N, weight_decay=DECAY)
    figures.record(
        "SGD with weight decay, lr / N on the sum: drift from the mean run / distance travelled",
        _drift(unscaled, on_mean, start),
        "1",
        zh="带权重衰减的 SGD,sum 上用 lr / N:与 mean 训练的偏离 / 参数移动的距离",
        measured_on=MEASURED_ON,
        measured_on_zh=MEASURED_ON_ZH,
    )


def test_clipping_does_not_scale_with_the_loss(device, figures):
    # clip_grad_norm_ caps the gradient's norm at max_norm whatever the loss's scale. With max_norm below the mean
    # gradient's norm both runs clip: the sum run's gradient N g becomes max_norm N g / (N |g| + 1e-6), and its step
    # lr / N times that is the mean run's clipped step times (|g| + 1e-6) / (N |g| + 1e-6), about 1/N (derived)
    x, y, make_model = _setup(device)
    start = flat_params(make_model())
    g = _grad(make_model, x, y, "mean").norm().item()
    max_norm = g / 2
    step_mean = _train(make_model, x, y, "mean", torch.optim.SGD, LR, steps=1, clip_norm=max_norm) - start
    step_sum = _train(make_model, x, y, "sum", torch.optim.SGD, LR / N, steps=1, clip_norm=max_norm) - start
    assert_close(step_sum, step_mean * (g + 1e-6) / (N * g + 1e-6))
    # with max_norm * N the sum run clips like the mean run, up to clip_grad_norm_'s 1e-6: the coefficients
    # N m / (N |g_t| + 1e-6) and m / (|g_t| + 1e-6) differ by at most 1e-6 / |g_t| relative at step t, so over the
    # run by at most STEPS * 1e-6 / min_t |g_t|, the smallest gradient norm the mean run met
    on_mean, history = _train(make_model, x, y, "mean", torch.optim.SGD, LR, clip_norm=max_norm, with_history=True)
    smallest = min(history.grad_norms)
    scaled = _train(make_model, x, y, "sum", torch.optim.SGD, LR / N, clip_norm=max_norm * N)
    assert_close(
        scaled,
        on_mean,
        tol=override(
            rtol=STEPS * 1e-6 / smallest,
            atol=1e-12,
            reason="clip_grad_norm_'s 1e-6 in the denominator does not scale with N: <= 1e-6 / |g_t| relative per step",
        ),
    )
    unscaled = _train(make_model, x, y, "sum", torch.optim.SGD, LR / N, clip_norm=max_norm)
    figures.record(
        "SGD with clipping, lr / N on the sum: drift from the mean run / distance travelled",
        _drift(unscaled, on_mean, start),
        "1",
        zh="带梯度裁剪的 SGD,sum 上用 lr / N:与 mean 训练的偏离 / 参数移动的距离",
        measured_on=MEASURED_ON,
        measured_on_zh=MEASURED_ON_ZH,
    )


def test_adams_l2_weight_decay_does_not_scale_with_the_loss_and_adamws_decoupled_decay_needs_not(device, figures):
    # Adam's weight_decay adds lambda theta to the gradient before the normalisation: the sum run sees N g +
    # lambda theta, the mean run g + lambda theta, so the decay weighs N times less against the gradient; with
    # lambda N the sum run's gradient is N (g + lambda theta), which Adam normalises away up to eps. AdamW decays
    # theta outside the normalised step, by a factor 1 - lr lambda that has no gradient in it.
    x, y, make_model = _setup(device)
    start = flat_params(make_model())
    on_mean = _train(make_model, x, y, "mean", torch.optim.Adam, LR, weight_decay=DECAY)
    scaled = _train(make_model, x, y, "sum", torch.optim.Adam, LR, weight_decay=DECAY * N)
    unscaled = _train(make_model, x, y, "sum", torch.optim.Adam, LR, weight_decay=DECAY)
    assert _drift(scaled, on_mean, start) < ADAM_DRIFT
    drift = _drift(unscaled, on_mean, start)
    assert drift > ADAM_DRIFT
    figures.record(
        "Adam with L2 weight decay on the sum: drift from the mean run / distance travelled",
        drift,
        "1",
        zh="带 L2 权重衰减的 Adam 用于 sum:与 mean 训练的偏离 / 参数移动的距离",
        measured_on=MEASURED_ON,
        measured_on_zh=MEASURED_ON_ZH,
    )
    adamw_mean = _train(make_model, x, y, "mean", torch.optim.AdamW, LR, weight_decay=DECAY)
    adamw_sum = _train(make_model, x, y, "sum", torch.optim.AdamW, LR, weight_decay=DECAY)
    assert _drift(adamw_sum, adamw_mean, start) < ADAM_DRIFT
