"""explosion.cause.saturation

Source: 「激活函数的选择:某些激活函数(如sigmoid或tanh)在特定输入范围内可能会饱和,从而导致梯度在某些层变得极大。」

What is true (refuted): saturation shrinks gradients; it cannot make them large. sigmoid'(x) = s (1 - s) <= 1/4
and tanh'(x) = 1 - tanh(x)^2 <= 1 everywhere, and in saturation both go to 0 exponentially
(sigmoid'(x) <= e^-|x|, tanh'(x) <= 4 e^-2|x|). A saturated sigmoid/tanh stack therefore has *vanishing* input
gradients (Goodfellow et al., Deep Learning, sec. 6.3.2; Pascanu et al. 2013, sec. 2.1 with gamma = 1/4, 1).

Where the confusion likely comes from: numerics around a saturated sigmoid. log(sigmoid(x)) underflows to -inf
for x below about -104 (float32) or -745 (float64), and its autograd gradient is NaN (1/0 * 0), although the
true derivative 1 - sigmoid(x) is below 1. BCELoss clamps its log at -100 (PyTorch docs, BCELoss) and its backward
divides by max(p (1 - p), 1e-12) (aten/src/ATen/native/Loss.cpp), so its gradient through a saturated sigmoid
*vanishes*; BCEWithLogitsLoss and logsigmoid stay finite, with gradient sigmoid(x) - y, bounded by 1.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from support.models import glorot_std, mlp
from support.tolerances import assert_close

pytestmark = pytest.mark.claim("explosion.cause.saturation")


def _derivative(fn, x):
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(fn(x).sum(), x)
    return g


@given(values=st.lists(st.floats(-40, 40, allow_nan=False), min_size=1, max_size=16))
def test_sigmoid_derivative_is_s_times_one_minus_s_and_at_most_a_quarter(device, values):
    x = torch.tensor(values, dtype=torch.float64, device=device)
    d = _derivative(torch.sigmoid, x)
    s = torch.sigmoid(x)
    assert_close(d, s * (1 - s))
    assert (d <= 0.25).all()  # s (1 - s) <= 1/4 with equality at s = 1/2; 0.25 is exact in binary


@given(values=st.lists(st.floats(-20, 20, allow_nan=False), min_size=1, max_size=16))
def test_tanh_derivative_is_one_minus_tanh_squared_and_at_most_one(device, values):
    x = torch.tensor(values, dtype=torch.float64, device=device)
    d = _derivative(torch.tanh, x)
    assert_close(d, 1 - torch.tanh(x) ** 2)
    assert (d <= 1.0).all()


def test_the_maxima_are_reached_at_zero(device):
    zero = torch.zeros(1, dtype=torch.float64, device=device)
    assert _derivative(torch.sigmoid, zero).item() == 0.25
    assert _derivative(torch.tanh, zero).item() == 1.0


@given(magnitude=st.floats(5, 300), sign=st.sampled_from([-1.0, 1.0]))
def test_derivatives_vanish_exponentially_in_saturation(device, magnitude, sign):
    x = torch.tensor([sign * magnitude], dtype=torch.float64, device=device)
    # sigmoid'(x) = e^-|x| / (1 + e^-|x|)^2 <= e^-|x|;  tanh'(x) = 4 e^-2|x| / (1 + e^-2|x|)^2 <= 4 e^-2|x|.
    # Rounding: for x > 0 autograd forms s (1 - s) and 1 - tanh^2 from outputs next to 1, so 1 - s carries an
    # absolute error up to one ulp of 1 (2.2e-16); allow 2 ulps on top of a relative 1e-12.
    ulp = torch.finfo(torch.float64).eps
    assert _derivative(torch.sigmoid, x).item() <= math.exp(-magnitude) * (1 + 1e-12) + 2 * ulp
    assert _derivative(torch.tanh, x).item() <= 4 * math.exp(-2 * magnitude) * (1 + 1e-12) + 2 * ulp


DERIVATIVES = {  # written from the definitions, used for the bound only
    "sigmoid": lambda a: torch.sigmoid(a) * (1 - torch.sigmoid(a)),
    "tanh": lambda a: 1 - torch.tanh(a) ** 2,
}


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_a_saturated_deep_stack_has_vanishing_input_gradients(device, activation, figures):
    max_derivative_at = DERIVATIVES[activation]
    depth, width = 5, 16
    g = torch.Generator().manual_seed(21)
    x = torch.randn(8, width, dtype=torch.float64, generator=g).to(device)
    norms, bounds = {}, {}
    for bias in (0.0, 8.0):  # bias 8 pushes every hidden pre-activation into saturation
        net = mlp(width, width, 1, depth=depth, activation=activation, weight_std=glorot_std(width, width), seed=21,
                  device=device)
        linears = [m for m in net if isinstance(m, torch.nn.Linear)]
        with torch.no_grad():
            for lin in linears[:-1]:
                lin.bias.fill_(bias)
        xr = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(net(xr).sum(), xr)
        norms[bias] = grad.norm().item()
        # ||dL/dx|| <= sum over samples of prod_l ||W_l||_2 * max_i phi'(a_l,i), with the pre-activations actually met
        bound, h = 0.0, x
        with torch.no_grad():
            per_sample = torch.ones(x.shape[0], dtype=torch.float64, device=device)
            for lin in linears[:-1]:
                a = h @ lin.weight.T + lin.bias
                per_sample = per_sample * torch.linalg.matrix_norm(lin.weight, ord=2) * max_derivative_at(a).amax(dim=1)
                h = torch.sigmoid(a) if activation == "sigmoid" else torch.tanh(a)
            per_sample = per_sample * torch.linalg.matrix_norm(linears[-1].weight, ord=2)
            bound = per_sample.sum().item()
        bounds[bias] = bound
        assert norms[bias] <= bound * (1 + 1e-9)  # float64 slack: a few layers' products, ~1e-15 relative
    # saturation alone (same weights, same inputs) guarantees a gradient a million times smaller than the
    # unsaturated net's: the bound of the saturated net is below 1e-6 of the unsaturated gradient
    assert bounds[8.0] < 1e-6 * norms[0.0]
    figures.record(f"{activation} depth 5: ||input grad||, unsaturated", norms[0.0], "1")
    figures.record(f"{activation} depth 5: ||input grad||, saturated (bias 8)", norms[8.0], "1")


@pytest.mark.parametrize("dtype, x_value", [(torch.float32, -120.0), (torch.float64, -800.0)])
def test_log_of_a_saturated_sigmoid_gives_nan_gradient_where_logsigmoid_stays_exact(device, dtype, x_value):
    x = torch.tensor([x_value], dtype=dtype, device=device, requires_grad=True)
    naive = torch.log(torch.sigmoid(x))  # sigmoid underflows to 0, log(0) = -inf
    (g_naive,) = torch.autograd.grad(naive.sum(), x)  # (1/0) * sigmoid'(x) = inf * 0
    assert naive.item() == -math.inf
    assert math.isnan(g_naive.item())
    x2 = x.detach().clone().requires_grad_(True)
    stable = F.logsigmoid(x2)  # log sigmoid(x) = x - log(1 + e^x) = x for x this negative
    (g_stable,) = torch.autograd.grad(stable.sum(), x2)
    assert_close(stable.detach(), x.detach())
    assert_close(g_stable, torch.ones_like(g_stable))  # d/dx log sigmoid(x) = 1 - sigmoid(x) = 1 here


def test_bce_on_a_saturated_sigmoid_clamps_the_loss_and_its_gradient_vanishes(device):
    y = torch.ones(1, dtype=torch.float32, device=device)
    # fully saturated: sigmoid(-120) = 0 in float32; -log(0) is clamped to 100
    x = torch.tensor([-120.0], dtype=torch.float32, device=device, requires_grad=True)
    loss = F.binary_cross_entropy(torch.sigmoid(x), y)
    (g,) = torch.autograd.grad(loss, x)
    assert loss.item() == 100.0
    assert g.item() == 0.0  # vanished: the true gradient of -log sigmoid(x) is sigmoid(x) - 1 = -1
    # partly saturated: p = sigmoid(-30) = 9.4e-14 < 1e-12, so dBCE/dp = (p - 1) / max(p (1 - p), 1e-12) and
    # dBCE/dx = (p - 1) p (1 - p) / 1e-12 = -0.094 instead of p - 1 = -1: ten times too small, not large
    x = torch.tensor([-30.0], dtype=torch.float32, device=device, requires_grad=True)
    p = torch.sigmoid(x)
    (g,) = torch.autograd.grad(F.binary_cross_entropy(p, y), x)
    p = p.detach()
    assert_close(g, (p - 1) * p * (1 - p) / 1e-12)


@pytest.mark.parametrize("x_value", [-120.0, -30.0, 0.0, 30.0, 120.0])
def test_bce_with_logits_stays_finite_with_gradient_sigmoid_minus_target(device, x_value):
    x = torch.tensor([x_value], dtype=torch.float32, device=device, requires_grad=True)
    y = torch.ones(1, dtype=torch.float32, device=device)
    loss = F.binary_cross_entropy_with_logits(x, y)
    (g,) = torch.autograd.grad(loss, x)
    assert math.isfinite(loss.item())
    assert_close(loss.detach(), -F.logsigmoid(x.detach()).squeeze(0))
    assert_close(g, torch.sigmoid(x.detach()) - y)  # |sigmoid(x) - y| <= 1: it cannot explode
    assert g.abs().item() <= 1.0
