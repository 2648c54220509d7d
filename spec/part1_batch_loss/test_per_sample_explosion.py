"""per-sample.explosion

Source: 「并可能引发梯度爆炸等问题。」 (per-sample backward "may cause gradient explosion and other problems")

What is true (refuted as stated): the call pattern cannot make gradients explode. Per-sample backwards
accumulate exactly the numbers the batch's sum backward produces, so the gradient is the same whichever
way it is computed. Two real hazards stand behind the worry:
(a) forgetting to divide the accumulated gradient by N makes the SGD step N times the mean step;
(b) stepping after every sample makes noisier steps: a real SGD step on sample i is -lr g_i, so its size is
    lr ||g_i||, bounded by the largest per-sample gradient, and the batch-mean step is no longer than the
    mean per-sample step: ||mean_i g_i|| <= mean_i ||g_i|| <= max_i ||g_i|| (triangle inequality). Noise,
    not amplification (see explosion.single-sample).
"""

import copy

import pytest
import torch

from support.data import classification
from support.gradients import flat_grad, flat_params, per_sample_grads_loop
from support.models import mlp
from support.tolerances import accumulation, assert_close, tolerance_for
from support.training import train

pytestmark = pytest.mark.claim("per-sample.explosion")
N, LR = 32, 0.1


def _setup(device):
    x, y = classification(N, 5, 3, seed=41, device=device)
    return mlp(5, 16, 3, depth=3, seed=41, device=device), x, y


def _sum_loss(out, y):
    return torch.nn.functional.cross_entropy(out, y, reduction="sum")


def test_accumulated_per_sample_gradient_is_the_batch_gradient(device, figures):
    model, x, y = _setup(device)
    _sum_loss(model(x), y).backward()
    batch = flat_grad(model).clone()
    model.zero_grad(set_to_none=True)
    losses = torch.nn.functional.cross_entropy(model(x), y, reduction="none")
    for i in range(N):
        losses[i].backward(retain_graph=i < N - 1)
    accumulated = flat_grad(model)
    assert_close(accumulated, batch, tol=accumulation(batch.dtype, N))
    figures.record("||accumulated per-sample grad|| / ||batch sum grad||", accumulated.norm() / batch.norm(), "1")


def test_forgetting_to_divide_by_n_is_what_multiplies_the_step(device, figures):
    model, x, y = _setup(device)
    losses = torch.nn.functional.cross_entropy(model(x), y, reduction="none")
    for i in range(N):
        losses[i].backward(retain_graph=i < N - 1)
    undivided_step = LR * flat_grad(model)
    model.zero_grad(set_to_none=True)
    torch.nn.functional.cross_entropy(model(x), y).backward()
    mean_step = LR * flat_grad(model)
    assert_close(undivided_step, N * mean_step, tol=accumulation(mean_step.dtype, N))
    figures.record("undivided step / mean step", undivided_step.norm() / mean_step.norm(), "1")


def _sgd_step(model, loss_fn, x, y):
    """The parameter change of one real torch.optim.SGD step (lr=LR) on a copy of the model."""
    copy_ = copy.deepcopy(model)
    train(copy_, loss_fn, x, y, optimizer=torch.optim.SGD(copy_.parameters(), lr=LR), steps=1)
    return flat_params(copy_) - flat_params(model)


def test_per_sample_steps_are_bounded_by_the_largest_per_sample_gradient(device, figures):
    model, x, y = _setup(device)
    per_sample = per_sample_grads_loop(model, _sum_loss, x, y)
    g = torch.cat([t.reshape(N, -1) for t in per_sample.values()], dim=1)  # (N, P): one row per sample
    norms = g.norm(dim=1)
    # one SGD step per sample, each from the same start: SGD moves by -lr g_i, so its length is lr ||g_i||
    steps = torch.stack([_sgd_step(model, _sum_loss, x[i : i + 1], y[i : i + 1]) for i in range(N)])
    assert_close(steps, -LR * g)
    step_norms = steps.norm(dim=1)
    tol = tolerance_for(step_norms.dtype)
    assert_close(step_norms, LR * norms, tol=tol)
    assert step_norms.max() <= LR * norms.max() * (1 + tol.rtol) + tol.atol  # no step beyond lr max_i ||g_i||
    # the batch-mean SGD step is the mean of the per-sample steps, so (triangle inequality) no longer than
    # their mean length; strictly shorter here because the per-sample gradients do not all point the same way
    mean_step = _sgd_step(model, torch.nn.functional.cross_entropy, x, y)
    assert_close(mean_step, steps.mean(dim=0), tol=accumulation(mean_step.dtype, N))
    assert mean_step.norm() < step_norms.mean()
    figures.record("||batch-mean SGD step||", mean_step.norm(), "parameter units")
    figures.record("mean of ||per-sample SGD step||", step_norms.mean(), "parameter units")
    figures.record("max of ||per-sample SGD step||", step_norms.max(), "parameter units")
