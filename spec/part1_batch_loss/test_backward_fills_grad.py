"""backward.fills-grad

Source: 「一旦计算出损失,就可以调用`loss.backward()`进行反向传播。这一步会计算梯度并将其存储在模型参数的`.grad`属性中。」

What is true (confirmed):
- loss.backward() computes d loss / d parameter for every leaf tensor with requires_grad=True that the loss was
  computed from, and adds it to that tensor's .grad.
- Before the first backward .grad is None; afterwards it has the parameter's shape and device and holds the gradient
  of the loss.
- A second backward adds to .grad instead of overwriting it, which is why training loops zero the gradients every
  step.
- Parameters with requires_grad=False keep .grad None.

Why: autograd accumulates gradients into the leaves' .grad (PyTorch docs, torch.Tensor.backward). The tests check
.grad before and after one backward; compare it with the hand-derived gradient of a linear model's mean MSE (dL/dW
= 2/(N K) r^T x, dL/db = 2/(N K) sum_i r_i with r = x W^T + b - y); run torch.autograd.gradcheck against finite
differences on a small tanh MLP; show that a second backward doubles .grad; and show that a frozen weight keeps
.grad None while the other parameters get one.
"""  # noqa: E501 (the source's quotes are kept on one line, verbatim)

import pytest
import torch

from support.data import regression
from support.models import linear_model, mlp
from support.tolerances import assert_close

pytestmark = pytest.mark.claim("backward.fills-grad")


def _mse_setup(device):
    x, y = regression(8, 3, 2, seed=0, device=device)
    return linear_model(3, 2, seed=0, device=device), x, y


def test_grad_is_none_before_and_param_shaped_after(device):
    model, x, y = _mse_setup(device)
    assert all(p.grad is None for p in model.parameters())
    torch.nn.functional.mse_loss(model(x), y).backward()
    for p in model.parameters():
        assert p.grad is not None and p.grad.shape == p.shape and p.grad.device == p.device


def test_grad_equals_hand_derived_gradient(device):
    # loss = 1/(N*K) * sum (xW^T + b - y)^2  =>  dL/dW = 2/(N*K) r^T x,  dL/db = 2/(N*K) sum_i r_i,  r = xW^T + b - y
    model, x, y = _mse_setup(device)
    torch.nn.functional.mse_loss(model(x), y).backward()
    with torch.no_grad():
        r = x @ model.weight.T + model.bias - y
        scale = 2.0 / r.numel()
        assert_close(model.weight.grad, scale * r.T @ x)
        assert_close(model.bias.grad, scale * r.sum(dim=0))


def test_grad_passes_gradcheck_against_finite_differences():
    model = mlp(3, 4, 2, depth=2, activation="tanh", seed=1)
    x, y = regression(5, 3, 2, seed=1)
    names, params = zip(*model.named_parameters())

    def loss_of_params(*ps):
        out = torch.func.functional_call(model, dict(zip(names, ps)), (x,))
        return torch.nn.functional.mse_loss(out, y)

    leaves = tuple(p.detach().clone().requires_grad_() for p in params)
    assert torch.autograd.gradcheck(loss_of_params, leaves, eps=1e-6, atol=1e-5)


def test_second_backward_accumulates_instead_of_overwriting(device):
    model, x, y = _mse_setup(device)
    torch.nn.functional.mse_loss(model(x), y).backward()
    once = [p.grad.clone() for p in model.parameters()]
    torch.nn.functional.mse_loss(model(x), y).backward()
    for p, g in zip(model.parameters(), once):
        assert_close(p.grad, 2 * g)


def test_frozen_parameters_keep_grad_none(device):
    model = mlp(3, 4, 1, depth=2, seed=2, device=device)
    frozen = model[0].weight.requires_grad_(False)
    x, y = regression(6, 3, 1, seed=2, device=device)
    torch.nn.functional.mse_loss(model(x), y).backward()
    assert frozen.grad is None
    assert model[2].weight.grad is not None and model[0].bias.grad is not None
