"""step.updates-parameters

Source: 「在反向传播后, 通常会调用优化器的`step()`方法来更新模型参数。」

What is true: optimizer.step() changes each parameter by the optimiser's rule applied to its .grad (for
plain SGD: p <- p - lr * p.grad) and nothing else; a parameter whose .grad is None is skipped and keeps
its exact value; step() computes no gradient itself, so stepping before any backward changes nothing.
"""

import pytest
import torch

from support.data import regression
from support.models import mlp
from support.tolerances import assert_close

pytestmark = pytest.mark.claim("step.updates-parameters")
LR = 0.1


def _model_and_loss(device):
    model = mlp(3, 5, 1, depth=2, seed=3, device=device)
    x, y = regression(10, 3, 1, seed=3, device=device)
    return model, torch.nn.functional.mse_loss(model(x), y)


def test_sgd_step_moves_each_parameter_by_minus_lr_times_grad(device):
    model, loss = _model_and_loss(device)
    loss.backward()
    before = [p.detach().clone() for p in model.parameters()]
    torch.optim.SGD(model.parameters(), lr=LR).step()
    for p, p0 in zip(model.parameters(), before):
        assert_close(p.detach(), p0 - LR * p.grad)
        assert not torch.equal(p.detach(), p0)


def test_parameter_without_grad_is_left_untouched(device):
    model, loss = _model_and_loss(device)
    loss.backward()
    skipped = model[0].bias
    skipped.grad = None
    kept, weight_before = skipped.detach().clone(), model[0].weight.detach().clone()
    torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9, weight_decay=0.1).step()
    # even with weight decay, which would otherwise move it without any gradient
    assert torch.equal(skipped.detach(), kept)
    assert not torch.equal(model[0].weight.detach(), weight_before)  # while its neighbour with a grad moved


@pytest.mark.parametrize("optimizer", [torch.optim.SGD, torch.optim.Adam], ids=["SGD", "Adam"])
def test_step_before_backward_changes_nothing(optimizer, device):
    model, _ = _model_and_loss(device)
    before = [p.detach().clone() for p in model.parameters()]
    optimizer(model.parameters(), lr=LR).step()
    assert all(torch.equal(p.detach(), p0) for p, p0 in zip(model.parameters(), before))
