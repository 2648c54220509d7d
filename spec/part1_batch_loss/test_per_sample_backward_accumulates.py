"""per-sample.backward-accumulates

Source: 「可以设置损失函数为 `reduction='none'`,这样会返回每个样本的损失,然后你可以对每个损失单独调用 `.backward()`。」

What is true (confirmed):
- With reduction='none' each sample's loss can be backpropagated on its own; the calls add into .grad.
- After all N of them .grad equals the gradient of the 'sum' loss, and .grad / N that of the 'mean' loss.
- When the N losses come from one forward pass they share one graph, whose saved tensors the first backward frees:
  every call but the last needs retain_graph=True, or autograd raises a RuntimeError.
- A separate forward pass per sample needs no retain_graph.

Why: backward accumulates into the leaves' .grad (PyTorch docs, torch.Tensor.backward) and the gradient is linear,
so N per-sample backward passes add up to grad(sum_i l_i). The first backward through a graph frees its saved
intermediate tensors unless retain_graph=True (PyTorch docs, torch.autograd.backward).
The tests accumulate N per-sample backward passes for CrossEntropyLoss and MSELoss (each sample's row summed) and
compare the result with the 'sum' and 'mean' gradients; check that the increment of the second call is the second
sample's gradient; expect the RuntimeError "backward through the graph a second time" without retain_graph; and
show that one forward per sample accumulates to the same sum gradient without it.
"""

import pytest
import torch

from support.data import classification, regression
from support.gradients import flat_grad
from support.models import mlp
from support.tolerances import accumulation, assert_close

pytestmark = pytest.mark.claim("per-sample.backward-accumulates")
N = 8


def _cases(device):
    xc, yc = classification(N, 4, 3, seed=21, device=device)
    xr, yr = regression(N, 4, 2, seed=21, device=device)
    return {
        # per-sample loss from 'none': one term per sample for CE, a row of terms (summed) for MSE
        "CrossEntropyLoss": (
            mlp(4, 6, 3, seed=21, device=device),
            xc,
            yc,
            lambda out, y: torch.nn.functional.cross_entropy(out, y, reduction="none"),
        ),
        "MSELoss": (
            mlp(4, 6, 2, seed=21, device=device),
            xr,
            yr,
            lambda out, y: torch.nn.functional.mse_loss(out, y, reduction="none").sum(dim=1),
        ),
    }


def _reduced_grad(model, x, y, per_sample_loss, reduce):
    model.zero_grad(set_to_none=True)
    reduce(per_sample_loss(model(x), y)).backward()
    g = flat_grad(model).clone()
    model.zero_grad(set_to_none=True)
    return g


@pytest.mark.parametrize("loss_name", ["CrossEntropyLoss", "MSELoss"])
def test_per_sample_backwards_accumulate_to_the_sum_gradient(loss_name, device):
    model, x, y, per_sample_loss = _cases(device)[loss_name]
    sum_grad = _reduced_grad(model, x, y, per_sample_loss, torch.sum)
    mean_grad = _reduced_grad(model, x, y, per_sample_loss, torch.mean)

    losses = per_sample_loss(model(x), y)
    assert losses.shape == (N,)
    partial = []
    for i in range(N):
        losses[i].backward(retain_graph=i < N - 1)
        partial.append(flat_grad(model).clone())
    assert_close(partial[-1], sum_grad, tol=accumulation(sum_grad.dtype, N))
    assert_close(partial[-1] / N, mean_grad, tol=accumulation(sum_grad.dtype, N))
    # accumulation, not overwriting: after the second call .grad holds both samples' gradients
    model.zero_grad(set_to_none=True)
    per_sample_loss(model(x[1:2]), y[1:2]).sum().backward()
    assert_close(partial[1] - partial[0], flat_grad(model))


def test_second_backward_through_a_shared_graph_needs_retain_graph(device):
    model, x, y, per_sample_loss = _cases(device)["CrossEntropyLoss"]
    losses = per_sample_loss(model(x), y)
    losses[0].backward()  # frees the saved tensors of the shared forward graph
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        losses[1].backward()


def test_separate_forward_per_sample_needs_no_retain_graph(device):
    model, x, y, per_sample_loss = _cases(device)["CrossEntropyLoss"]
    sum_grad = _reduced_grad(model, x, y, per_sample_loss, torch.sum)
    for i in range(N):  # one small graph per sample: each backward frees only its own
        per_sample_loss(model(x[i : i + 1]), y[i : i + 1]).sum().backward()
    assert_close(flat_grad(model), sum_grad, tol=accumulation(sum_grad.dtype, N))
