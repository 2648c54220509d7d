"""gradient.chain-rule

Source: 「在反向传播阶段,损失函数对模型参数(如权重和偏置)的梯度是通过链式法则计算得到的。」 「具体来说,梯度表示的是损失函数相对于每个参数的变化率,即当参数变化时,损失函数会如何变化。」

What is true (confirmed):
- Autograd computes the gradient of the loss with respect to every weight and bias by the chain rule: for a
  two-layer tanh network it equals, layer by layer, the hand-derived backpropagation formulas for mean cross-entropy
  and mean MSE.
- The result is the loss's rate of change: the derivative of the loss along any direction v equals <grad, v>.
- torch.autograd.gradcheck confirms in float64 that autograd matches finite differences.

Why: for h = tanh(x W1^T + b1), z = h W2^T + b2 (Goodfellow et al., Deep Learning, sec. 6.5):
  dL/dz  = (softmax(z) - onehot(y)) / N   for mean cross-entropy,   2 (z - t) / (N K)   for mean MSE,
  dL/dW2 = dL/dz^T h,   dL/db2 = sum_i dL/dz_i,
  dL/dh  = dL/dz W2,    dL/da = dL/dh * (1 - h^2)      (tanh' = 1 - tanh^2),
  dL/dW1 = dL/da^T x,   dL/db1 = sum_i dL/da_i.
Hypothesis draws the batch size, widths, number of classes and the loss and compares autograd with these formulas.
torch.autograd.gradcheck (PyTorch docs) compares autograd's Jacobian with central differences (eps = 1e-6, atol
1e-8, rtol 1e-6 in float64: the truncation error ~eps^2 and the rounding ~ulp(L) / eps ~ 2e-10 are far below), and
a central difference of the loss along a random direction (t = 1e-5) equals <grad, v> within 1e-7.
"""  # noqa: E501 (the source's quotes are kept on one line, verbatim)

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from support.data import classification
from support.gradients import batch_grads
from support.hypothesis_helpers import batch_sizes, seeds
from support.models import mlp
from support.tensors import generator
from support.tolerances import assert_close

pytestmark = pytest.mark.claim("gradient.chain-rule")
# gradcheck with eps = 1e-6 in float64 on losses L ~ 1: central differences err by the truncation ~eps^2 ~ 1e-12
# plus the rounding ulp(L) / eps ~ 2.2e-16 / 1e-6 ~ 2e-10, both far below these (gradcheck's defaults are 1e-5, 1e-3)
GRADCHECK_EPS, GRADCHECK_ATOL, GRADCHECK_RTOL = 1e-6, 1e-8, 1e-6


def _hand_backprop(w1, b1, w2, b2, x, y, loss):
    n, k = x.shape[0], w2.shape[0]
    h = torch.tanh(x @ w1.T + b1)
    z = h @ w2.T + b2
    if loss == "ce":
        dz = (torch.softmax(z, dim=1) - F.one_hot(y, k).to(z.dtype)) / n
    else:  # y is a regression target of z's shape
        dz = 2 * (z - y) / (n * k)
    dh = dz @ w2
    da = dh * (1 - h**2)
    return {"0.weight": da.T @ x, "0.bias": da.sum(0), "2.weight": dz.T @ h, "2.bias": dz.sum(0)}


@given(
    n=batch_sizes(1, 8),
    d=st.integers(1, 5),
    width=st.integers(1, 8),
    k=st.integers(2, 4),
    loss=st.sampled_from(["ce", "mse"]),
    seed=seeds(),
)
def test_autograd_equals_the_hand_derived_chain_rule(device, n, d, width, k, loss, seed):
    model = mlp(d, width, k, depth=2, activation="tanh", seed=seed % 1000, device=device)
    x, y = classification(n, d, k, seed=seed, device=device)
    if loss == "mse":
        y = torch.randn(n, k, generator=generator(seed), dtype=torch.float64).to(device)
    autograd = batch_grads(model, F.cross_entropy if loss == "ce" else F.mse_loss, x, y)
    p = dict(model.named_parameters())
    hand = _hand_backprop(p["0.weight"], p["0.bias"], p["2.weight"], p["2.bias"], x, y, loss)
    assert sorted(autograd) == sorted(hand)
    for name in autograd:
        assert_close(autograd[name], hand[name].detach(), msg=name)


@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_gradcheck_agrees_with_finite_differences_in_float64(device, loss):
    x, y = classification(6, 3, 3, seed=5, device=device)
    target = y if loss == "ce" else torch.randn(6, 3, generator=generator(5), dtype=torch.float64).to(device)
    params = [
        p.detach().clone().requires_grad_() for p in mlp(3, 5, 3, activation="tanh", seed=5, device=device).parameters()
    ]

    def loss_of_params(w1, b1, w2, b2):
        z = torch.tanh(x @ w1.T + b1) @ w2.T + b2
        return F.cross_entropy(z, target) if loss == "ce" else F.mse_loss(z, target)

    # central differences against the analytical Jacobian (PyTorch docs, torch.autograd.gradcheck)
    assert torch.autograd.gradcheck(loss_of_params, params, eps=GRADCHECK_EPS, atol=GRADCHECK_ATOL, rtol=GRADCHECK_RTOL)


def test_the_gradient_is_the_rate_of_change_of_the_loss(device, figures):
    # d/dt L(theta + t v) at t = 0 equals <grad L, v>; central difference error is O(t^2 L''') ~ 1e-10 at t = 1e-5
    n, d, width, k = 8, 3, 5, 3
    model = mlp(d, width, k, activation="tanh", seed=9, device=device)
    x, y = classification(n, d, k, seed=9, device=device)
    params = list(model.parameters())
    grads = torch.autograd.grad(F.cross_entropy(model(x), y), params)
    g = generator(9)
    directions = [torch.randn(p.shape, generator=g, dtype=torch.float64).to(device) for p in params]
    t = 1e-5

    def loss_at(step):
        with torch.no_grad():
            for p, v in zip(params, directions):
                p.add_(step * v)
            value = F.cross_entropy(model(x), y)
            for p, v in zip(params, directions):
                p.sub_(step * v)
        return value

    slope = (loss_at(t) - loss_at(-t)) / (2 * t)
    predicted = sum((gr * v).sum() for gr, v in zip(grads, directions))
    figures.record(
        "directional derivative, finite difference vs <grad, v>",
        (slope - predicted).abs(),
        "nats",
        zh="方向导数:有限差分与 <grad, v> 之差",
        measured_on=f"tanh MLP {d}-{width}-{k}, cross-entropy, batch {n}, a standard normal direction v, central "
        f"difference at t = {t:g}",
        measured_on_zh=f"tanh MLP {d}-{width}-{k},交叉熵,batch 大小 {n},标准正态方向 v,t = {t:g} 处的中心差分",
    )
    assert abs(slope.item() - predicted.item()) <= 1e-7 * max(1.0, abs(predicted.item()))
