"""backward.once-per-batch

Source: 「如果你选择了`mean`作为损失函数的处理方式,那么反向传播时只需调用一次`loss.backward()`即可。」

What is true (confirmed):
- One backward of the batch's reduced loss gives the gradient for the whole batch.
- For a model that treats samples independently (no train-mode BatchNorm: coupling.batchnorm) and an unweighted loss
  without ignored targets (else the mean's denominator changes: mean.denominator.*), with reduction='mean' it equals
  the average of the per-sample gradients, with 'sum' their sum.
- This holds whether the per-sample gradients come from a loop of single-sample backward passes or from
  torch.func.vmap(grad(...)).

Why: the gradient is linear, grad(sum_i l_i) = sum_i grad(l_i), and 'mean' divides both sides by N (every sample of
an elementwise loss has the same number of terms, so the mean of the per-sample means is the batch mean). The tests
compare, for every loss case and both reductions, the batch gradient of a linear head with the mean (sum) of
per-sample gradients computed by a loop and by vmap, within the accumulation error of N terms. The head is linear and
the losses unweighted: a model that mixes samples (train-mode BatchNorm) breaks the per-sample picture
(coupling.batchnorm), and class weights or ignored targets change the mean's denominator (mean.denominator.*).
"""

import pytest
import torch

from support.gradients import batch_grads, per_sample_grads_loop, per_sample_grads_vmap
from support.losses import LOSS_CASES
from support.models import head_for
from support.tensors import generator
from support.tolerances import accumulation, assert_close

pytestmark = pytest.mark.claim("backward.once-per-batch")
N, IN_FEATURES, SHAPE = 6, 4, (3,)


def _setup(case, device):
    model = head_for(IN_FEATURES, SHAPE, seed=7, device=device)
    x = torch.randn(N, IN_FEATURES, dtype=torch.float64, generator=generator(7)).to(device)
    _, y = case.sample_batch(N, SHAPE, seed=7, device=device)

    def loss_fn(reduction):
        module = case.make(reduction)
        return lambda out, target: module(case.to_loss_input(out), target)

    return model, x, y, loss_fn


@pytest.mark.parametrize("case", LOSS_CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_one_backward_equals_reduced_per_sample_gradients(case, reduction, device):
    model, x, y, loss_fn = _setup(case, device)
    batch = batch_grads(model, loss_fn(reduction), x, y)
    # each sample's loss, reduced the same way over its own terms (mean of means = mean: equal term counts)
    per_sample = per_sample_grads_loop(model, loss_fn(reduction), x, y)
    for name, g in batch.items():
        combined = per_sample[name].mean(0) if reduction == "mean" else per_sample[name].sum(0)
        assert_close(g, combined, tol=accumulation(g.dtype, N))


@pytest.mark.parametrize("case", LOSS_CASES, ids=lambda c: c.name)
def test_vmap_per_sample_gradients_average_to_the_batch_gradient(case, device):
    model, x, y, loss_fn = _setup(case, device)
    batch = batch_grads(model, loss_fn("mean"), x, y)
    per_sample = per_sample_grads_vmap(model, loss_fn("mean"), x, y)
    for name, g in batch.items():
        assert per_sample[name].shape == (N, *g.shape)
        assert_close(g, per_sample[name].mean(0), tol=accumulation(g.dtype, N))
