"""backward.non-scalar

What is true (confirmed):
- Tensor.backward() without a gradient argument accepts only a loss with exactly one element: on a loss with more, such
  as the per-sample losses of reduction='none', it raises RuntimeError "grad can be implicitly created only for scalar
  outputs" and fills no .grad.
- The rule counts elements, not dimensions: a one-element loss of shape (1,) or (1, 1) is accepted.
- Reducing the losses first works: .mean().backward() gives the mean of the per-sample gradients, which is the gradient
  of reduction='mean', and .sum().backward() their sum.
- backward(gradient=w), with w a tensor of the loss's shape, gives the gradient of the weighted sum sum_i w_i l_i, the
  same as (w * losses).sum().backward(); w = 1 gives the sum's gradient and w = 1/N the mean's.
- A gradient of another shape raises RuntimeError "Mismatch in shape".

Why: torch.autograd.backward fills in a missing grad_tensors entry with ones only when the output has one element
(PyTorch source, torch/autograd/__init__.py, _make_grads: "grad can be implicitly created only for scalar outputs"
unless out.numel() == 1, whatever out.dim(), and before the backward pass starts, so no .grad is touched; a given
gradient whose shape differs from the output's raises "Mismatch in shape: grad_output[0] has a shape of ... and
output[0] has a shape of ..."). PyTorch docs, torch.Tensor.backward: "If the tensor is non-scalar (i.e. its data has
more than one element) and requires gradient, the function additionally requires specifying a gradient. It should be a
tensor of matching type and shape, that represents the gradient of the differentiated function w.r.t. self." Backward
with gradient w propagates w as dL/dl, which is the chain rule for L = sum_i w_i l_i: the result is the vector-Jacobian
product w^T J, J the Jacobian of the losses with respect to the parameters. The identity is checked in float64 with
weights away from 1 and from uniform, against the backward of the explicitly weighted sum (another graph) and against
sum_i w_i g_i built from per-sample gradients (another route: N separate backward passes); the two reductions are the
special cases w = 1 and w = 1/N.
"""

import pytest
import torch
import torch.nn.functional as F

from support.data import classification
from support.gradients import flat_grad, per_sample_grads_loop
from support.models import mlp
from support.tensors import generator
from support.tolerances import accumulation, assert_close

pytestmark = pytest.mark.claim("backward.non-scalar")
N, IN, WIDTH, CLASSES = 7, 4, 6, 3


def _setup(device):
    x, y = classification(N, IN, CLASSES, seed=31, device=device)
    return mlp(IN, WIDTH, CLASSES, seed=31, device=device), x, y


def _grad_of(model, backward):
    """zero_grad, run ``backward()``, return the flat gradient."""
    model.zero_grad(set_to_none=True)
    backward()
    return flat_grad(model).clone()


def test_backward_on_per_sample_losses_without_gradient_raises(device):
    model, x, y = _setup(device)
    losses = F.cross_entropy(model(x), y, reduction="none")
    assert losses.shape == (N,)
    with pytest.raises(RuntimeError, match="^grad can be implicitly created only for scalar outputs$"):
        losses.backward()
    assert all(p.grad is None for p in model.parameters())  # it raised before touching any .grad
    # the rule is the number of elements, not the number of dimensions: (1,) and (1, 1) losses are accepted, and
    # each gives sample 0's gradient, as the scalar loss does
    first = _grad_of(model, lambda: F.cross_entropy(model(x[:1]), y[:1]).backward())
    for shape in [(1,), (1, 1)]:
        got = _grad_of(
            model, lambda s=shape: F.cross_entropy(model(x[:1]), y[:1], reduction="none").reshape(s).backward()
        )
        assert_close(got, first, tol=accumulation(torch.float64, 1))


def test_reducing_first_gives_the_mean_and_the_sum_gradients(device):
    model, x, y = _setup(device)
    tol = accumulation(torch.float64, N)
    per_sample = per_sample_grads_loop(model, F.cross_entropy, x, y)
    g = torch.cat([t.reshape(N, -1) for t in per_sample.values()], dim=1)  # (N, P): sample i's gradient in row i
    mean = _grad_of(model, lambda: F.cross_entropy(model(x), y, reduction="none").mean().backward())
    total = _grad_of(model, lambda: F.cross_entropy(model(x), y, reduction="none").sum().backward())
    assert_close(mean, g.mean(dim=0), tol=tol)
    assert_close(total, g.sum(dim=0), tol=tol)
    assert_close(mean, _grad_of(model, lambda: F.cross_entropy(model(x), y).backward()), tol=tol)  # 'mean' itself


def test_gradient_w_backpropagates_the_weighted_sum(device, figures):
    model, x, y = _setup(device)
    tol = accumulation(torch.float64, N)
    # weights away from 1 and far from uniform (one negative), drawn on the CPU and moved
    w = (torch.rand(N, generator=generator(32), dtype=torch.float64) * 3.0 - 0.5).to(device)
    assert (w - w.mean()).abs().max() > 0.5 and (w - 1).abs().min() > 1e-3
    weighted = _grad_of(model, lambda: F.cross_entropy(model(x), y, reduction="none").backward(gradient=w))
    # route 1: the explicitly weighted sum, a scalar, through its own graph
    explicit = _grad_of(model, lambda: (w * F.cross_entropy(model(x), y, reduction="none")).sum().backward())
    assert_close(weighted, explicit, tol=tol)
    # route 2: sum_i w_i g_i from N separate per-sample backward passes
    per_sample = per_sample_grads_loop(model, F.cross_entropy, x, y)
    g = torch.cat([t.reshape(N, -1) for t in per_sample.values()], dim=1)
    assert_close(weighted, w @ g, tol=tol)
    # the two reductions are the special cases w = 1 (sum) and w = 1/N (mean) ...
    ones = torch.ones(N, dtype=torch.float64, device=device)
    assert_close(
        _grad_of(model, lambda: F.cross_entropy(model(x), y, reduction="none").backward(gradient=ones)),
        g.sum(dim=0),
        tol=tol,
    )
    assert_close(
        _grad_of(model, lambda: F.cross_entropy(model(x), y, reduction="none").backward(gradient=ones / N)),
        g.mean(dim=0),
        tol=tol,
    )
    # ... and this w is neither: its gradient is far from the mean's scaled to the same total weight
    gap = (weighted - w.sum() * g.mean(dim=0)).norm() / weighted.norm()
    assert gap > 1e-3  # w's spread (> 0.5 around its mean) reweights gradients that differ at O(1)
    figures.record(
        "||weighted grad - sum(w) * mean grad|| / ||weighted grad||",
        gap,
        "1",
        zh="||加权梯度 - sum(w) * 平均梯度|| / ||加权梯度||",
        measured_on=f"ReLU MLP {IN}-{WIDTH}-{CLASSES}, batch {N}, cross-entropy, weights w uniform on [-0.5, 2.5]",
        measured_on_zh=f"ReLU MLP {IN}-{WIDTH}-{CLASSES},batch 大小 {N},交叉熵,权重 w 在 [-0.5, 2.5] 上均匀抽取",
    )


def test_a_gradient_of_another_shape_raises(device):
    model, x, y = _setup(device)
    losses = F.cross_entropy(model(x), y, reduction="none")
    for wrong in [
        torch.ones(N - 1, dtype=torch.float64, device=device),
        torch.ones(N, 1, dtype=torch.float64, device=device),
    ]:
        with pytest.raises(RuntimeError, match=r"Mismatch in shape: grad_output\[0\] has a shape of"):
            losses.backward(gradient=wrong, retain_graph=True)
