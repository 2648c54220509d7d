r"""update.sgd-rule

Source: 「$$\theta := \theta - \alpha \nabla J(\theta)$$」 「其中, θ 是模型参数, α 是学习率, $\nabla J(\theta)$ 是损失函数的梯度。」

What is true (confirmed):
- torch.optim.SGD without momentum or weight decay performs exactly theta <- theta - lr * grad, a descent step: to
  first order the loss falls by lr * ||grad||^2.
- With momentum, dampening, nesterov, weight_decay and maximize it follows the algorithm documented for
  torch.optim.SGD step for step.
- PyTorch's momentum keeps lr outside the velocity (b <- mu * b + (1 - dampening) * g, theta <- theta - lr * b),
  unlike formulations that fold lr into the velocity.

Why: Taylor: J(theta - lr g) = J(theta) - lr ||g||^2 + lr^2/2 g^T H g + O(lr^3); the test computes g^T H g by a
Hessian-vector product at lr = 1e-3 and checks that the loss drop is positive and matches the first two terms
within 1% of the second-order one (the remainder is O(lr) relative to it). The documented algorithm of
torch.optim.SGD (weight decay g <- g + lambda theta; momentum b <- mu b + (1 - dampening) g; nesterov g <- g + mu
b; maximize) is implemented independently in float64 (support.reference_optim.ReferenceSGD); Hypothesis draws
momentum, dampening, nesterov, weight decay, maximize, lr and foreach, and 4 steps of both must agree. With a
constant gradient and dampening 0 the momentum buffer is the running sum g (1 - mu^t) / (1 - mu). Sutskever,
Martens, Dahl & Hinton 2013 write v <- mu v - lr g, theta <- theta + v, which differs from PyTorch's form when lr
changes during training.
"""  # noqa: E501 (the source's quotes are kept on one line, verbatim)

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given
from hypothesis import strategies as st
from torch.func import functional_call

from support.data import classification
from support.gradients import flat_grad, flat_params
from support.models import mlp
from support.reference_optim import ReferenceSGD
from support.tensors import maker
from support.tolerances import assert_close, assert_le, slack

pytestmark = pytest.mark.claim("update.sgd-rule")
N, IN, WIDTH, CLASSES = 16, 4, 8, 3


def _setup(device, seed=3):
    x, y = classification(N, IN, CLASSES, seed=seed, device=device)
    return mlp(IN, WIDTH, CLASSES, activation="tanh", seed=seed, device=device), x, y


def test_plain_sgd_step_is_theta_minus_lr_grad(device):
    model, x, y = _setup(device)
    lr = 0.1
    before = flat_params(model.parameters())
    F.cross_entropy(model(x), y).backward()
    g = flat_grad(model).clone()
    torch.optim.SGD(model.parameters(), lr=lr).step()
    assert_close(flat_params(model.parameters()), before - lr * g)


def test_the_step_goes_downhill_by_lr_times_grad_norm_squared(device, figures):
    model, x, y = _setup(device)
    lr = 1e-3
    loss = F.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, list(model.parameters()), create_graph=True)
    g = torch.cat([gr.reshape(-1) for gr in grads])
    # curvature along g: g^T H g, by differentiating <grad, g> once more (Pearlmutter's trick)
    hvp = torch.autograd.grad((g * g.detach()).sum(), list(model.parameters()))
    gHg = sum((h.reshape(-1) * gr.detach().reshape(-1)).sum() for h, gr in zip(hvp, grads))
    for p, gr in zip(model.parameters(), grads):
        p.grad = gr.detach().clone()
    torch.optim.SGD(model.parameters(), lr=lr).step()
    with torch.no_grad():
        drop = loss.detach() - F.cross_entropy(model(x), y)
    first_order = lr * g.detach().norm() ** 2
    second_order = lr**2 / 2 * gHg
    assert drop > 0  # downhill: an SGD that stepped uphill (theta + lr g) would raise the loss
    # drop = lr ||g||^2 - lr^2/2 g^T H g + O(lr^3): with the second-order term included, what is left is
    # third order, i.e. < 1% of the second-order term at lr = 1e-3 (its relative size is O(lr))
    assert_le(
        abs(drop - (first_order - second_order)),
        1e-2 * abs(second_order),
        slack=slack(
            abs=1e-15,
            reason=("float64 rounding of the loss drop, a difference of two losses of order 1 (a few ulps of 1)"),
        ),
    )
    on = f"tanh MLP {IN}-{WIDTH}-{CLASSES}, cross-entropy, batch {N}, one SGD step at lr {lr:g}"
    on_zh = f"tanh MLP {IN}-{WIDTH}-{CLASSES},交叉熵,batch 大小 {N},lr {lr:g} 的一步 SGD"
    figures.record(
        "loss drop / (lr ||g||^2)",
        drop / first_order,
        "1",
        zh="损失下降量 / (lr ||g||^2)",
        measured_on=on,
        measured_on_zh=on_zh,
    )
    figures.record(
        "second-order term / first-order term",
        second_order / first_order,
        "1",
        zh="二阶项 / 一阶项",
        measured_on=on,
        measured_on_zh=on_zh,
    )


def _grads_at(model, params, x, y):
    names = [n for n, _ in model.named_parameters()]
    leaves = [p.detach().requires_grad_() for p in params]
    loss = F.cross_entropy(functional_call(model, dict(zip(names, leaves)), (x,)), y)
    return list(torch.autograd.grad(loss, leaves))


@given(
    momentum=st.sampled_from([0.0, 0.5, 0.9]),
    dampening=st.sampled_from([0.0, 0.3]),
    nesterov=st.booleans(),
    weight_decay=st.sampled_from([0.0, 0.01, 0.1]),
    maximize=st.booleans(),
    lr=st.floats(1e-3, 0.3),
    foreach=st.booleans(),
)
def test_sgd_with_momentum_dampening_nesterov_weight_decay_follows_the_documented_algorithm(
    device, momentum, dampening, nesterov, weight_decay, maximize, lr, foreach
):
    assume(not nesterov or (momentum > 0 and dampening == 0))  # torch.optim.SGD rejects the other combinations
    model, x, y = _setup(device)
    kwargs = dict(
        lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov, weight_decay=weight_decay, maximize=maximize
    )
    reference = ReferenceSGD(**kwargs)
    ref_params = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), foreach=foreach, **kwargs)
    for _ in range(4):  # two independent trajectories, each with gradients taken at its own parameters
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        ref_params = reference.step(ref_params, _grads_at(model, ref_params, x, y))
    assert_close(flat_params(model.parameters()), flat_params(ref_params))


def test_momentum_buffer_is_the_documented_running_sum(device):
    # with dampening 0 and a constant gradient g, b_t = g (1 + mu + ... + mu^(t-1)) and after T steps
    # theta_T = theta_0 - lr g sum_t (1 - mu^t) / (1 - mu)
    make = maker(device)
    p = torch.nn.Parameter(make.zeros(3))
    g = make.tensor([1.0, -2.0, 0.5])
    lr, mu, steps = 0.1, 0.9, 5
    opt = torch.optim.SGD([p], lr=lr, momentum=mu)
    for _ in range(steps):
        p.grad = g.clone()
        opt.step()
    total = sum((1 - mu**t) / (1 - mu) for t in range(1, steps + 1))
    assert_close(p.detach(), -lr * g * total)
    assert_close(opt.state[p]["momentum_buffer"], g * (1 - mu**steps) / (1 - mu))
