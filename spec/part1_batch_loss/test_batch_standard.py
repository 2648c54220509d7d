"""batch.standard

Source: 「总结来说,标准做法是对整个batch计算损失后直接进行一次反向传播,而不是对每个样本单独 处理。」

What is true (confirmed):
- The standard training step is optimizer.zero_grad(), one forward pass of the batch, one reduced loss, one backward
  pass, one optimizer.step().
- It reaches the same parameters as the per-sample route (N backward passes of loss_i / N accumulated, then one
  step), with one backward pass per step instead of N.
- The zero_grad matters: without it gradients pile up across steps and the trajectory changes.

Why: by linearity the accumulated gradients of loss_i / N are the mean-loss gradient, so both routes apply the same
SGD update at every step (PyTorch tutorial, Optimizing Model Parameters: the training loop). The test trains an MLP
for 4 SGD steps both ways, compares the parameters within the accumulation error of N x steps terms, and counts
backward passes with a hook on the first weight: one per step against N per step. A second test leaves out
zero_grad: the second step then uses g1 + g2 instead of g2 and the parameters differ.
"""

import pytest
import torch

from support.data import classification
from support.gradients import flat_params
from support.models import mlp
from support.tolerances import accumulation, assert_close

pytestmark = pytest.mark.claim("batch.standard")
N, LR, STEPS = 12, 0.2, 4


def _setup(device):
    x, y = classification(N, 4, 3, seed=51, device=device)
    model = mlp(4, 8, 3, depth=2, seed=51, device=device)
    backward_passes = [0]
    model[0].weight.register_post_accumulate_grad_hook(
        lambda _p: backward_passes.__setitem__(0, backward_passes[0] + 1)
    )
    return model, x, y, backward_passes


def test_standard_loop_equals_per_sample_route_with_one_backward_per_step(device, figures):
    standard, x, y, standard_passes = _setup(device)
    opt = torch.optim.SGD(standard.parameters(), lr=LR)
    for _ in range(STEPS):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(standard(x), y).backward()
        opt.step()

    per_sample, _, _, per_sample_passes = _setup(device)
    opt = torch.optim.SGD(per_sample.parameters(), lr=LR)
    for _ in range(STEPS):
        opt.zero_grad()
        losses = torch.nn.functional.cross_entropy(per_sample(x), y, reduction="none")
        for i in range(N):
            (losses[i] / N).backward(retain_graph=i < N - 1)
        opt.step()

    assert_close(flat_params(per_sample), flat_params(standard), tol=accumulation(torch.float64, N * STEPS))
    assert standard_passes[0] == STEPS
    assert per_sample_passes[0] == N * STEPS
    figures.record(
        "backward passes per step, standard", standard_passes[0] / STEPS, "passes", zh="每步反向传播次数,标准做法"
    )
    figures.record(
        "backward passes per step, per-sample",
        per_sample_passes[0] / STEPS,
        "passes",
        zh="每步反向传播次数,逐样本路线",
        measured_on=f"a batch of {N} samples, {STEPS} SGD steps",
        measured_on_zh=f"batch 大小 {N},{STEPS} 步 SGD",
    )


def test_without_zero_grad_gradients_pile_up_across_steps(device):
    zeroed, x, y, _ = _setup(device)
    piled, _, _, _ = _setup(device)
    opt_zeroed = torch.optim.SGD(zeroed.parameters(), lr=LR)
    opt_piled = torch.optim.SGD(piled.parameters(), lr=LR)
    for _step in range(2):
        opt_zeroed.zero_grad()
        torch.nn.functional.cross_entropy(zeroed(x), y).backward()
        opt_zeroed.step()
        torch.nn.functional.cross_entropy(piled(x), y).backward()  # no zero_grad
        opt_piled.step()
    # the first step is the same, the second used g1 + g2 instead of g2
    assert not torch.allclose(flat_params(zeroed), flat_params(piled))
