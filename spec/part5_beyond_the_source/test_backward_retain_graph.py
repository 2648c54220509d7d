"""backward.retain-graph

What is true (qualified):
- A backward pass frees the tensors that its graph saved for it unless retain_graph=True, and torch.autograd.grad frees
  them the same way (and leaves .grad alone).
- A second backward through that graph, of the same loss again or of another loss that shares part of it (a second
  head's loss on a shared trunk), then raises RuntimeError "Trying to backward through the graph a second time (or
  directly access saved tensors after they have already been freed)"; the failed pass adds nothing to .grad.
- With retain_graph=True on every call but the last, each pass runs and adds into .grad: the same loss backpropagated
  twice leaves twice its gradient, and loss_a then loss_b leave the gradient of loss_a + loss_b, which one backward of
  the sum gives without retaining the graph.
- The error comes from the freed tensors, not from the number of calls: a graph that saved none (only sums, means,
  additions and views) runs a second time without error and accumulates again, while one product of two tensors that
  need grad makes the second pass raise.

Why: PyTorch docs, torch.Tensor.backward / torch.autograd.backward: "retain_graph (bool, optional): If False, the graph
used to compute the grads will be freed"; "This function accumulates gradients in the leaves - you might need to zero
.grad attributes or set them to None before calling it". Autograd notes, "Saved tensors": a node keeps the tensors its
backward formula needs (in the tests' model a Linear its input and weight, a tanh its output) and the engine releases
them after use; a node whose formula needs none (AddBackward, SumBackward, MeanBackward, ViewBackward keep only sizes)
has nothing to free, so it can run again, while a product p * q of two tensors that need grad saves both (each is the
other's gradient factor). Accumulation is addition into .grad, so two passes of the same loss give g + g = 2g and passes
of two losses give the gradient of their sum (linearity). per-sample.backward-accumulates shows the shared-graph case
for the per-sample losses of one batch; this claim adds the same loss backpropagated twice, autograd.grad, a multi-task
pair of losses of different kinds and the graphs that save nothing.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from support.data import classification
from support.gradients import flat_grad
from support.tensors import seeded_init
from support.tolerances import accumulation, assert_close

pytestmark = pytest.mark.claim("backward.retain-graph")
N, IN, HIDDEN, CLASSES, TARGETS = 6, 4, 5, 3, 2
SECOND_TIME = (
    "Trying to backward through the graph a second time (or directly access saved tensors after they have already "
    "been freed). Saved intermediate values of the graph are freed when you call .backward() or autograd.grad(). "
    "Specify retain_graph=True if you need to backward through the graph a second time or if you need to access saved "
    "tensors after calling backward."
)


class TwoHeads(nn.Module):
    """A shared trunk with a classification head and a regression head (a multi-task model)."""

    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(IN, HIDDEN), nn.Tanh())
        self.classify = nn.Linear(HIDDEN, CLASSES)
        self.regress = nn.Linear(HIDDEN, TARGETS)

    def forward(self, x):
        h = self.trunk(x)
        return self.classify(h), self.regress(h)


def _setup(device):
    with seeded_init(41):
        model = TwoHeads()
    x, y = classification(N, IN, CLASSES, seed=41, device=device)
    target = torch.linspace(-1.0, 2.0, N * TARGETS, dtype=torch.float64, device=device).reshape(N, TARGETS)
    return model.to(device=device, dtype=torch.float64), x, y, target


def _losses(model, x, y, target):
    logits, values = model(x)
    return F.cross_entropy(logits, y), F.mse_loss(values, target)


def test_a_second_backward_of_the_same_loss_raises_without_retain_graph(device):
    model, x, y, target = _setup(device)
    loss, _ = _losses(model, x, y, target)
    loss.backward()
    first = flat_grad(model, none_as_zero=True).clone()
    with pytest.raises(RuntimeError) as raised:
        loss.backward()
    assert str(raised.value) == SECOND_TIME
    assert torch.equal(flat_grad(model, none_as_zero=True), first)  # the failed pass added nothing
    # autograd.grad frees the saved tensors too (and leaves .grad alone)
    model.zero_grad(set_to_none=True)
    loss, _ = _losses(model, x, y, target)
    torch.autograd.grad(loss, list(model.trunk.parameters()))
    assert all(p.grad is None for p in model.parameters())
    with pytest.raises(RuntimeError, match=r"^Trying to backward through the graph a second time"):
        loss.backward()


def test_retain_graph_lets_the_same_loss_run_again_and_grad_doubles(device):
    model, x, y, target = _setup(device)
    loss, _ = _losses(model, x, y, target)
    loss.backward(retain_graph=True)
    once = flat_grad(model, none_as_zero=True).clone()
    loss.backward()  # the last pass may free the graph
    assert_close(flat_grad(model, none_as_zero=True), 2 * once)  # g + g: each pass adds the whole gradient
    assert once.abs().max() > 1e-3  # a real gradient, so "twice" is not 0 = 2 * 0
    with pytest.raises(RuntimeError, match=r"^Trying to backward through the graph a second time"):
        loss.backward()  # freed by the pass without retain_graph


def test_two_losses_of_one_forward_add_up_to_the_gradient_of_their_sum(device, figures):
    model, x, y, target = _setup(device)
    tol = accumulation(torch.float64, 2)
    ce, mse = _losses(model, x, y, target)
    ce.backward()
    with pytest.raises(RuntimeError, match=r"^Trying to backward through the graph a second time"):
        mse.backward()  # it shares the trunk's saved tensors with ce
    model.zero_grad(set_to_none=True)
    ce, mse = _losses(model, x, y, target)
    ce.backward(retain_graph=True)
    trunk_after_ce = flat_grad(model.trunk).clone()
    mse.backward()
    sequential = flat_grad(model).clone()
    model.zero_grad(set_to_none=True)
    ce, mse = _losses(model, x, y, target)
    (ce + mse).backward()  # one pass, no retained graph
    assert_close(sequential, flat_grad(model), tol=tol)
    # the shared trunk holds the sum of both losses' gradients; the classification head only its own
    model.zero_grad(set_to_none=True)
    _losses(model, x, y, target)[1].backward()
    trunk_mse = flat_grad(model.trunk).clone()
    assert model.classify.weight.grad is None  # the regression loss does not reach the classification head
    assert_close(sequential[: trunk_mse.numel()], trunk_after_ce + trunk_mse, tol=tol)  # trunk parameters first
    share = trunk_mse.norm() / (trunk_mse + trunk_after_ce).norm()
    figures.record(
        "||trunk grad of the MSE loss|| / ||trunk grad of CE + MSE||",
        share,
        "1",
        zh="||MSE 损失的主干梯度|| / ||CE + MSE 的主干梯度||",
        measured_on=f"tanh trunk {IN}-{HIDDEN}, a {CLASSES}-class head (cross-entropy) and a {TARGETS}-target head "
        f"(MSE), batch {N}",
        measured_on_zh=f"tanh 主干 {IN}-{HIDDEN},{CLASSES} 类分类头(交叉熵)和 {TARGETS} 维回归头(MSE),batch 大小 {N}",
    )


def test_a_graph_that_saved_no_tensors_runs_twice_and_accumulates(device):
    p = torch.linspace(-1.0, 1.5, 5, dtype=torch.float64, device=device).requires_grad_()
    q = torch.linspace(0.5, 2.0, 5, dtype=torch.float64, device=device).requires_grad_()
    # sums, means, additions and views: their backward formulas need only sizes
    loss = (p + q).view(5, 1).sum() + 0.25 * q.detach().mean() + p.mean()
    loss.backward()
    loss.backward()  # no error: nothing was freed
    expected_p = 2 * (1.0 + 1.0 / 5) * torch.ones_like(p)  # d/dp of sum(p) + mean(p), twice
    assert_close(p.grad, expected_p)
    assert_close(q.grad, 2 * torch.ones_like(q))
    # one multiplication by a tensor that needs grad saves its operands, and the second pass raises again
    p.grad = None
    loss = (p * q).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match=r"^Trying to backward through the graph a second time"):
        loss.backward()
