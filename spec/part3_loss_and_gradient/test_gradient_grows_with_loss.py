"""gradient.grows-with-loss

Source: 「在深度学习中,样本损失值的大小确实会影响反向传播过程中更新梯度的大小。」 「因此,样本损失值越大,相应的梯度通常也会越大,这意味着在更新参数时,调整的幅度也会更大」

What is true (qualified): at the output, and differently per loss.
* MSE, one output: l = (y_hat - y)^2, dl/dy_hat = 2 (y_hat - y), so |dl/dy_hat| = 2 sqrt(l) exactly: monotone
  and unbounded. For D outputs with reduction='sum' the gradient norm is again 2 sqrt(l); with 'mean' it is
  2 sqrt(l / D).
* Softmax cross-entropy: dl/dz = p - e_y, and ||p - e_y||^2 = (1 - p_y)^2 + sum_{j != y} p_j^2. The off-target
  probabilities sum to s = 1 - p_y, so sum_{j != y} p_j^2 lies in [s^2 / (K - 1), s^2] (Cauchy-Schwarz; the
  minimum when they are equal, the supremum when one class holds all of s). Hence
      (1 - p_y) sqrt(K / (K - 1))  <=  ||dl/dz||  <=  sqrt(2) (1 - p_y),   with 1 - p_y = 1 - e^-l.
  The norm grows with the loss through these bounds (for K = 2 both are equal: ||dl/dz|| = sqrt(2)(1 - e^-l)),
  but it never exceeds sqrt(2) however large the loss, and for K >= 3 a sample with a larger loss can have a
  smaller logit gradient.
* Parameters: for a linear layer dl/dW = (p - e_y) x^T, so ||dl/dW|| = ||p - e_y|| ||x||: two samples with the
  same loss can have parameter gradients that differ by any factor. The loss does not "directly" set the step.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given
from hypothesis import strategies as st

from support.hypothesis_helpers import seeds
from support.models import linear_model
from support.tolerances import assert_close

pytestmark = pytest.mark.claim("gradient.grows-with-loss")
REL = 1e-12  # relative slack for float64 rounding in a norm of <= 12 terms, far below any effect tested
# absolute slack: 1 - p_y and the loss are differences of numbers near 1 and log-sum-exps of logits up to
# |z| ~ 100, so their absolute rounding is a few ulps of 100 (1.4e-14 each), whatever their size
ABS = 1e-13


def _logit_gradient(z, y):
    z = z.detach().requires_grad_()
    loss = F.cross_entropy(z[None], torch.tensor([y], device=z.device))
    (g,) = torch.autograd.grad(loss, z)
    return loss.detach(), g


def _mse_output_gradient(loss_value, device):
    """An MSE output whose loss is ``loss_value``: y_hat = y + sqrt(l) for one output; its loss and dl/dy_hat."""
    y = torch.zeros(1, dtype=torch.float64, device=device)
    y_hat = (y + math.sqrt(loss_value)).requires_grad_()
    loss = F.mse_loss(y_hat, y, reduction="sum")
    (g,) = torch.autograd.grad(loss, y_hat)
    return loss.detach(), g


@given(d=st.integers(1, 6), scale=st.floats(1e-3, 1e3), seed=seeds())
def test_mse_output_gradient_norm_is_two_sqrt_loss(device, d, scale, seed):
    gen = torch.Generator().manual_seed(seed)
    y_hat = (scale * torch.randn(d, generator=gen, dtype=torch.float64)).to(device).requires_grad_()
    y = (scale * torch.randn(d, generator=gen, dtype=torch.float64)).to(device)
    for reduction, factor in (("sum", 1.0), ("mean", 1.0 / d)):
        loss = F.mse_loss(y_hat, y, reduction=reduction)
        (g,) = torch.autograd.grad(loss, y_hat)
        assert_close(g.norm(), 2 * torch.sqrt(loss * factor))  # 'mean': 2 sqrt(l / D), since g = 2 (y_hat - y) / D


@given(k=st.integers(2, 12), y=st.integers(0, 11), scale=st.floats(0.01, 30.0), seed=seeds())
def test_cross_entropy_logit_gradient_lies_between_the_bounds(device, k, y, scale, seed):
    assume(y < k)
    z = (scale * torch.randn(k, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)).to(device)
    loss, g = _logit_gradient(z, y)
    p = torch.softmax(z, dim=0)
    assert_close(g, p - F.one_hot(torch.tensor(y), k).to(device, torch.float64))  # dl/dz = p - e_y
    miss = -torch.expm1(-loss)  # 1 - p_y = 1 - e^-l
    assert_close(miss, 1 - p[y])
    lower, upper = miss * math.sqrt(k / (k - 1)), math.sqrt(2) * miss
    norm = g.norm()
    assert lower * (1 - REL) - ABS <= norm <= upper * (1 + REL) + ABS
    assert norm <= math.sqrt(2)
    if k == 2:
        assert_close(norm, upper)


def test_the_bounds_are_attained(device, figures):
    k, m = 5, 3.0
    # equal off-target logits: equal off-target probabilities, the Cauchy-Schwarz minimum
    _, g_low = _logit_gradient(torch.tensor([m, 0, 0, 0, 0], dtype=torch.float64, device=device), 0)
    p_y = math.exp(m) / (math.exp(m) + k - 1)
    assert_close(g_low.norm(), torch.tensor((1 - p_y) * math.sqrt(k / (k - 1)), dtype=torch.float64, device=device))
    # one rival holds all off-target mass (the others at -60: e^-60 ~ 1e-26 of it), the supremum sqrt(2)(1 - p_y)
    loss, g_high = _logit_gradient(torch.tensor([0, m, -60, -60, -60], dtype=torch.float64, device=device), 0)
    upper = math.sqrt(2) * -math.expm1(-loss.item())
    assert abs(g_high.norm().item() / upper - 1) < REL
    figures.record("CE logit-gradient norm / lower bound (uniform rivals)", g_low.norm() / ((1 - p_y) * math.sqrt(k / (k - 1))), "1")
    figures.record("CE logit-gradient norm / upper bound (one rival)", g_high.norm() / upper, "1")


def test_with_three_classes_a_larger_loss_can_have_a_smaller_logit_gradient(device, figures):
    # a: p = (1/2, 1/2, ~0): loss ln 2 = 0.693, ||g|| = sqrt(2)/2 = 0.707 (the upper bound)
    # b: p_y = 0.45, rivals 0.275 each: loss -ln 0.45 = 0.799, ||g|| = 0.55 sqrt(3/2) = 0.674 (the lower bound)
    c = math.log((1 / 0.45 - 1) / 2)
    loss_a, g_a = _logit_gradient(torch.tensor([0.0, 0.0, -60.0], dtype=torch.float64, device=device), 0)
    loss_b, g_b = _logit_gradient(torch.tensor([0.0, c, c], dtype=torch.float64, device=device), 0)
    assert_close(loss_b, torch.tensor(-math.log(0.45), dtype=torch.float64, device=device))
    assert_close(g_b.norm(), torch.tensor(0.55 * math.sqrt(1.5), dtype=torch.float64, device=device))
    assert loss_b > loss_a and g_b.norm() < g_a.norm()
    figures.record("loss a / loss b", loss_a / loss_b, "1")
    figures.record("logit-gradient norm a / b", g_a.norm() / g_b.norm(), "1")


def test_cross_entropy_gradient_saturates_at_sqrt2_while_mse_grows_without_bound(device, figures):
    losses, ce_norms = [], []
    for margin in (-30.0, -10.0, -5.0, -2.0, 0.0, 2.0, 5.0):  # target logit below (or above) one rival's
        loss, g = _logit_gradient(torch.tensor([margin, 0.0], dtype=torch.float64, device=device), 0)
        losses.append(loss.item())
        ce_norms.append(g.norm().item())
    mse_losses, mse_grads = zip(*(_mse_output_gradient(v, device) for v in losses))  # same loss values, by autograd
    mse_norms = [g.norm().item() for g in mse_grads]
    f64 = dict(dtype=torch.float64, device=device)
    assert_close(torch.stack(mse_losses), torch.tensor(losses, **f64))
    assert_close(torch.tensor(mse_norms, **f64), 2 * torch.tensor(losses, **f64).sqrt())  # |dl/dy_hat| = 2 sqrt(l)
    assert max(ce_norms) <= math.sqrt(2)
    # at margin -30, 1 - p_y = 1 - 9.4e-14: the norm is within REL of the ceiling sqrt(2)
    assert losses[0] > 29 and ce_norms[0] > math.sqrt(2) * (1 - REL)  # at loss 30 CE is at its ceiling...
    assert mse_norms[0] > 10  # ...while MSE at that loss has a gradient of 2 sqrt(30) ~ 11
    order = sorted(range(len(losses)), key=losses.__getitem__)
    assert all(ce_norms[a] < ce_norms[b] for a, b in zip(order, order[1:]))  # K = 2: strictly monotone in the loss
    figures.record("CE logit-gradient norm at loss 30", ce_norms[0], "gradient norm")
    figures.record("MSE output-gradient norm at loss 30", mse_norms[0], "gradient norm")
    xs = [losses[i] for i in order]
    tag = "" if device == "cpu" else f" ({device})"  # a run on cpu and cuda draws both
    labels = dict(plot="output-gradient norm vs sample loss: MSE and CE",
                  x_label="sample loss l (nats for CE, squared units for MSE)", y_label="output-gradient norm (L2)",
                  log_x=True, log_y=True)
    figures.series(f"MSE: ||dl/dy_hat|| (autograd; = 2 sqrt(l)){tag}", xs, [mse_norms[i] for i in order], **labels)
    figures.series(f"cross-entropy, K = 2: ||dl/dz|| = ||p - e_y||{tag}", xs, [ce_norms[i] for i in order], **labels)
    figures.series(f"CE bound sqrt(2){tag}", [xs[0], xs[-1]], [math.sqrt(2)] * 2, style="dashed", **labels)


@given(t=st.floats(1.0, 100.0), seed=st.integers(0, 1000))
def test_equal_losses_can_have_parameter_gradients_differing_by_any_factor(device, t, seed):
    model = linear_model(4, 3, seed=seed, device=device)
    null = torch.linalg.svd(model.weight.detach(), full_matrices=True).Vh[-1]  # W (3 x 4) has u with W u = 0
    x_a = torch.randn(4, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(device)
    if (null @ x_a) < 0:
        null = -null  # <x_a, u> >= 0, so ||x_b||^2 = ||x_a||^2 (1 + t^2) + 2 t ||x_a|| <x_a, u> >= t^2 ||x_a||^2
    x_b = x_a + t * x_a.norm() * null  # the same logits, hence the same loss, but a longer input
    y = torch.tensor([0], device=device)
    losses, w_grads, b_grads = [], [], []
    for x in (x_a, x_b):
        model.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x[None]), y)
        loss.backward()
        losses.append(loss.detach())
        w_grads.append(model.weight.grad.clone())
        b_grads.append(model.bias.grad.clone())
    assert_close(losses[1], losses[0])
    assert_close(b_grads[1], b_grads[0])  # dl/db = p - e_y: the same for both samples
    # dl/dW = (p - e_y) x^T, so ||dl/dW|| = ||p - e_y|| ||x||: the ratio is ||x_b|| / ||x_a|| >= t
    ratio = w_grads[1].norm() / w_grads[0].norm()
    assert_close(ratio, x_b.norm() / x_a.norm())
    assert ratio >= t * (1 - REL)
