"""gradient.grows-with-loss

Source: 「在深度学习中,样本损失值的大小确实会影响反向传播过程中更新梯度的大小。」 「因此,样本损失值越大,相应的梯度通常也会越大,这意味着在更新参数时,调整的幅度也会更大」

What is true (qualified):
- True at the output and only there, and not the same way for every loss.
- MSE: the gradient with respect to the prediction has norm exactly 2 sqrt(loss) (sum reduction), growing without
  bound.
- L1, SmoothL1 and Huber: the gradient with respect to each output element is bounded however large the loss,
  |dL/dy_hat_i| <= 1 for L1 and SmoothL1 (any beta) and <= delta for Huber with reduction='sum' (with 'mean' divided
  by the number of elements); it reaches the bound once the residual exceeds beta or delta (L1: at any nonzero
  residual) and grows no more.
- Softmax cross-entropy: dL/dz = p - e_y has norm between (1 - p_y) sqrt(K/(K-1)) and sqrt(2) (1 - p_y), with 1 -
  p_y = 1 - e^-loss: it grows with the loss through those bounds but never exceeds sqrt(2), and for K >= 3 a sample
  with a larger loss can have a smaller logit gradient.
- For the parameters the input scale enters too: two samples with the same loss can have parameter gradients that
  differ by any factor (dL/dW = (p - e_y) x^T).

Why:
* MSE, one output: l = (y_hat - y)^2, dl/dy_hat = 2 (y_hat - y), so |dl/dy_hat| = 2 sqrt(l) exactly: monotone
  and unbounded. For D outputs with reduction='sum' the gradient norm is again 2 sqrt(l); with 'mean' it is
  2 sqrt(l / D).
* L1, SmoothL1, Huber (PyTorch docs of L1Loss, SmoothL1Loss, HuberLoss; the terms are ``support.losses``'
  references): with r = y_hat - y, L1's term |r| has derivative sign(r) (0 at r = 0); SmoothL1's term is
  r^2 / (2 beta) for |r| < beta and |r| - beta/2 beyond, derivative r / beta, then sign(r); Huber's is r^2 / 2 for
  |r| <= delta and delta (|r| - delta/2) beyond, derivative r, then delta sign(r). So |dl/dy_hat_i| <= 1, 1 and
  delta, with equality past the knee, while the loss grows linearly in |r| without bound. 'sum' adds one term
  per element, so dL/dy_hat_i is that element's derivative; 'mean' divides the sum by the number of elements
  (N times the features), and so does the gradient. Below the knee the gradient does grow with the loss:
  |dl/dy_hat| = sqrt(2 l / beta) (SmoothL1) and sqrt(2 l) (Huber).
* Softmax cross-entropy: dl/dz = p - e_y, and ||p - e_y||^2 = (1 - p_y)^2 + sum_{j != y} p_j^2. The off-target
  probabilities sum to s = 1 - p_y, so sum_{j != y} p_j^2 lies in [s^2 / (K - 1), s^2] (Cauchy-Schwarz; the
  minimum when they are equal, the supremum when one class holds all of s). Hence
      (1 - p_y) sqrt(K / (K - 1))  <=  ||dl/dz||  <=  sqrt(2) (1 - p_y),   with 1 - p_y = 1 - e^-l.
  The norm grows with the loss through these bounds (for K = 2 both are equal: ||dl/dz|| = sqrt(2)(1 - e^-l)),
  but it never exceeds sqrt(2) however large the loss, and for K >= 3 a sample with a larger loss can have a
  smaller logit gradient.
* Parameters: for a linear layer dl/dW = (p - e_y) x^T, so ||dl/dW|| = ||p - e_y|| ||x||: two samples with the
  same loss can have parameter gradients that differ by any factor. The loss does not "directly" set the step.
* The source's second half, the size of the update: this module measures gradients; the steps themselves are
  trained in ``update.scales-with-loss`` (spec/part3_loss_and_gradient/test_update_scales_with_loss.py), where
  SGD's step grows with the loss's scale and Adam's does not.
"""  # noqa: E501 (the source's quotes are kept on one line, verbatim)

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given
from hypothesis import strategies as st

from support.hypothesis_helpers import batch_sizes, dtypes, seeds
from support.losses import loss_case, reduce_reference
from support.models import linear_model
from support.tensors import generator, maker
from support.tolerances import ROUNDING, accumulation, assert_close, assert_ge, assert_le, slack, tolerance_for

pytestmark = pytest.mark.claim("gradient.grows-with-loss")
# relative room for float64 rounding in a norm of <= 12 terms, and absolute room because 1 - p_y and the loss are
# differences of numbers near 1 and log-sum-exps of logits up to |z| ~ 100, so their absolute rounding is a few
# ulps of 100 (1.4e-14 each), whatever their size
CE_BOUNDS = slack(
    rel=1e-12,
    abs=1e-13,
    reason=(
        "float64 rounding of a norm of <= 12 terms, and of 1 - p_y and log-sum-exps of logits up to |z| ~ 100 "
        "(a few ulps of 100 absolute)"
    ),
)


def _logit_gradient(z, y):
    z = z.detach().requires_grad_()
    loss = F.cross_entropy(z[None], torch.tensor([y], device=z.device))
    (g,) = torch.autograd.grad(loss, z)
    return loss.detach(), g


def _mse_output_gradient(loss_value, device):
    """An MSE output whose loss is ``loss_value``: y_hat = y + sqrt(l) for one output; its loss and dl/dy_hat."""
    y = maker(device).zeros(1)
    y_hat = (y + math.sqrt(loss_value)).requires_grad_()
    loss = F.mse_loss(y_hat, y, reduction="sum")
    (g,) = torch.autograd.grad(loss, y_hat)
    return loss.detach(), g


@given(d=st.integers(1, 6), scale=st.floats(1e-3, 1e3), seed=seeds())
def test_mse_output_gradient_norm_is_two_sqrt_loss(device, d, scale, seed):
    gen = generator(seed)
    y_hat = (scale * torch.randn(d, generator=gen, dtype=torch.float64)).to(device).requires_grad_()
    y = (scale * torch.randn(d, generator=gen, dtype=torch.float64)).to(device)
    for reduction, factor in (("sum", 1.0), ("mean", 1.0 / d)):
        loss = F.mse_loss(y_hat, y, reduction=reduction)
        (g,) = torch.autograd.grad(loss, y_hat)
        assert_close(g.norm(), 2 * torch.sqrt(loss * factor))  # 'mean': 2 sqrt(l / D), since g = 2 (y_hat - y) / D


@given(k=st.integers(2, 12), y=st.integers(0, 11), scale=st.floats(0.01, 30.0), seed=seeds())
def test_cross_entropy_logit_gradient_lies_between_the_bounds(device, k, y, scale, seed):
    assume(y < k)
    z = (scale * torch.randn(k, generator=generator(seed), dtype=torch.float64)).to(device)
    loss, g = _logit_gradient(z, y)
    p = torch.softmax(z, dim=0)
    assert_close(g, p - F.one_hot(torch.tensor(y), k).to(device, torch.float64))  # dl/dz = p - e_y
    miss = -torch.expm1(-loss)  # 1 - p_y = 1 - e^-l
    assert_close(miss, 1 - p[y])
    lower, upper = miss * math.sqrt(k / (k - 1)), math.sqrt(2) * miss
    norm = g.norm()
    assert_ge(norm, lower, slack=CE_BOUNDS)
    assert_le(norm, upper, slack=CE_BOUNDS)
    assert norm <= math.sqrt(2)
    if k == 2:
        assert_close(norm, upper)


def test_the_bounds_are_attained(device, figures):
    k, m = 5, 3.0
    make = maker(device)
    # equal off-target logits: equal off-target probabilities, the Cauchy-Schwarz minimum
    _, g_low = _logit_gradient(make.tensor([m, 0, 0, 0, 0]), 0)
    p_y = math.exp(m) / (math.exp(m) + k - 1)
    assert_close(g_low.norm(), make.tensor((1 - p_y) * math.sqrt(k / (k - 1))))
    # one rival holds all off-target mass (the others at -60: e^-60 ~ 1e-26 of it), the supremum sqrt(2)(1 - p_y)
    loss, g_high = _logit_gradient(make.tensor([0, m, -60, -60, -60]), 0)
    upper = math.sqrt(2) * -math.expm1(-loss.item())
    assert_le(g_high.norm().item(), upper, slack=ROUNDING, strict=True)  # attained: equal to the bound up to rounding
    assert_ge(g_high.norm().item(), upper, slack=ROUNDING, strict=True)
    figures.record(
        "CE logit-gradient norm / lower bound (uniform rivals)",
        g_low.norm() / ((1 - p_y) * math.sqrt(k / (k - 1))),
        "1",
        zh="CE 的 logit 梯度范数 / 下界(竞争类别概率均等)",
    )
    figures.record(
        "CE logit-gradient norm / upper bound (one rival)",
        g_high.norm() / upper,
        "1",
        zh="CE 的 logit 梯度范数 / 上界(只有一个竞争类别)",
    )


def test_with_three_classes_a_larger_loss_can_have_a_smaller_logit_gradient(device, figures):
    # a: p = (1/2, 1/2, ~0): loss ln 2 = 0.693, ||g|| = sqrt(2)/2 = 0.707 (the upper bound)
    # b: p_y = 0.45, rivals 0.275 each: loss -ln 0.45 = 0.799, ||g|| = 0.55 sqrt(3/2) = 0.674 (the lower bound)
    c = math.log((1 / 0.45 - 1) / 2)
    make = maker(device)
    loss_a, g_a = _logit_gradient(make.tensor([0.0, 0.0, -60.0]), 0)
    loss_b, g_b = _logit_gradient(make.tensor([0.0, c, c]), 0)
    assert_close(loss_b, make.tensor(-math.log(0.45)))
    assert_close(g_b.norm(), make.tensor(0.55 * math.sqrt(1.5)))
    assert loss_b > loss_a and g_b.norm() < g_a.norm()
    figures.record("loss a / loss b", loss_a / loss_b, "1", zh="损失 a / 损失 b")
    figures.record("logit-gradient norm a / b", g_a.norm() / g_b.norm(), "1", zh="logit 梯度范数 a / b")


def test_cross_entropy_gradient_saturates_at_sqrt2_while_mse_grows_without_bound(device, figures):
    make = maker(device)
    losses, ce_norms = [], []
    for margin in (-30.0, -10.0, -5.0, -2.0, 0.0, 2.0, 5.0):  # target logit below (or above) one rival's
        loss, g = _logit_gradient(make.tensor([margin, 0.0]), 0)
        losses.append(loss.item())
        ce_norms.append(g.norm().item())
    mse_losses, mse_grads = zip(*(_mse_output_gradient(v, device) for v in losses))  # same loss values, by autograd
    mse_norms = [g.norm().item() for g in mse_grads]
    assert_close(torch.stack(mse_losses), make.tensor(losses))
    assert_close(make.tensor(mse_norms), 2 * make.tensor(losses).sqrt())  # |dl/dy_hat| = 2 sqrt(l)
    assert max(ce_norms) <= math.sqrt(2)
    # at margin -30, 1 - p_y = 1 - 9.4e-14: the norm is within 1e-12 (relative) of the ceiling sqrt(2)
    assert losses[0] > 29  # at loss 30 CE is at its ceiling...
    assert_ge(
        ce_norms[0],
        math.sqrt(2),
        slack=slack(
            rel=1e-12,
            reason=(
                "at margin -30 the norm sits below its ceiling sqrt(2) by 1 - p_y ~ 9.4e-14 (relative), plus rounding"
            ),
        ),
        strict=True,
    )
    assert mse_norms[0] > 10  # ...while MSE at that loss has a gradient of 2 sqrt(30) ~ 11
    order = sorted(range(len(losses)), key=losses.__getitem__)
    assert all(ce_norms[a] < ce_norms[b] for a, b in zip(order, order[1:]))  # K = 2: strictly monotone in the loss
    figures.record(
        "CE logit-gradient norm at loss 30", ce_norms[0], "gradient norm", zh="损失为 30 时 CE 的 logit 梯度范数"
    )
    figures.record(
        "MSE output-gradient norm at loss 30", mse_norms[0], "gradient norm", zh="损失为 30 时 MSE 的输出梯度范数"
    )
    xs = [losses[i] for i in order]
    plot = figures.plot(
        "output-gradient norm vs sample loss: MSE and CE",
        x_label="sample loss l (nats for CE, squared units for MSE)",
        y_label="output-gradient norm (L2)",
        zh=("输出梯度范数与样本损失的关系:MSE 与 CE", "样本损失 l(CE 以 nats 计,MSE 以平方单位计)", "输出梯度范数(L2)"),
        log_x=True,
        log_y=True,
    )
    plot.line(
        "MSE: ||dl/dy_hat|| (autograd; = 2 sqrt(l))",
        xs,
        [mse_norms[i] for i in order],
        zh="MSE:||dl/dy_hat||(由 autograd 计算;= 2 sqrt(l))",
    )
    plot.line(
        "cross-entropy, K = 2: ||dl/dz|| = ||p - e_y||",
        xs,
        [ce_norms[i] for i in order],
        zh="交叉熵,K = 2:||dl/dz|| = ||p - e_y||",
    )
    plot.bound("CE bound sqrt(2)", [xs[0], xs[-1]], [math.sqrt(2)] * 2, zh="CE 的上界 sqrt(2)")


@given(t=st.floats(1.0, 100.0), seed=st.integers(0, 1000))
def test_equal_losses_can_have_parameter_gradients_differing_by_any_factor(device, t, seed):
    model = linear_model(4, 3, seed=seed, device=device)
    null = torch.linalg.svd(model.weight.detach(), full_matrices=True).Vh[-1]  # W (3 x 4) has u with W u = 0
    x_a = torch.randn(4, generator=generator(seed), dtype=torch.float64).to(device)
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
    assert_ge(ratio, t, slack=ROUNDING)


# ---------------------------------------------------------------- L1, SmoothL1, Huber: a bounded output gradient
# (name in support.losses.LOSS_CASES, keyword of its threshold, the bound of |dl/dy_hat_i| with reduction='sum')
ROBUST = {"L1Loss": (None, lambda t: 1.0), "SmoothL1Loss": ("beta", lambda t: 1.0), "HuberLoss": ("delta", lambda t: t)}


def _robust_loss(name, threshold, reduction):
    keyword, _ = ROBUST[name]
    case = loss_case(name)
    kwargs = {} if keyword is None else {keyword: threshold}
    module = case.module(reduction=reduction, **kwargs)
    return module, (lambda x, y: case.reference_terms(x, y, **kwargs))


@given(
    name=st.sampled_from(sorted(ROBUST)),
    n=batch_sizes(1, 8),
    d=st.integers(1, 4),
    log_scale=st.floats(0, 12),
    threshold=st.floats(0.05, 20.0),
    reduction=st.sampled_from(["sum", "mean"]),
    dtype=dtypes(),
    seed=seeds(),
)
def test_l1_smooth_l1_and_huber_output_gradients_are_bounded_however_large_the_loss(
    device, name, n, d, log_scale, threshold, reduction, dtype, seed
):
    gen = generator(seed)
    y = torch.randn(n, d, generator=gen, dtype=torch.float64)
    # residuals of size 10^log_scale (up to 1e12), of either sign: the loss grows linearly with them
    r = 10**log_scale * torch.randn(n, d, generator=gen, dtype=torch.float64)
    y, y_hat = y.to(device, dtype), (y + r).to(device, dtype).requires_grad_()
    module, terms = _robust_loss(name, threshold, reduction)
    loss = module(y_hat, y)
    (g,) = torch.autograd.grad(loss, y_hat)
    # the loss is the documented one (so it really is as large as the residuals make it)
    expected_loss = reduce_reference(terms(y_hat.detach(), y), reduction)
    assert_close(loss.detach(), expected_loss, tol=accumulation(dtype, n * d))
    bound = ROBUST[name][1](threshold) / (1 if reduction == "sum" else n * d)  # 'mean': over elements, not samples
    assert_le(
        g.abs(),
        bound,
        slack=slack(
            rel=2 * torch.finfo(dtype).eps,
            reason=(f"two roundings in {dtype}: of bound / (number of elements) and of r / beta (2 ulps)"),
        ),
    )
    # past the knee (any nonzero residual for L1) the gradient sits at the bound: sign(r) * bound
    r_actual = y_hat.detach() - y
    past = r_actual.abs() > (0.0 if name == "L1Loss" else threshold)
    assert_close(g[past], torch.sign(r_actual[past]) * bound, tol=tolerance_for(dtype))


def test_robust_loss_gradients_stop_growing_at_the_knee_while_mse_grows_as_two_sqrt_loss(device, figures):
    beta, delta = 0.25, 4.0  # thresholds away from the default 1, on both sides of it
    residuals = [10 ** (k / 4) for k in range(-12, 25)]  # 1e-3 .. 1e6
    make = maker(device)
    curves = {}
    for label, name, threshold in (
        ("L1", "L1Loss", None),
        (f"SmoothL1, beta = {beta}", "SmoothL1Loss", beta),
        (f"Huber, delta = {delta}", "HuberLoss", delta),
        ("MSE", "MSELoss", None),
    ):
        module = (
            loss_case(name).module(reduction="sum") if threshold is None else _robust_loss(name, threshold, "sum")[0]
        )
        losses, grads = [], []
        for r in residuals:
            y_hat = make.tensor([r], requires_grad=True)
            loss = module(y_hat, make.zeros(1))
            (g,) = torch.autograd.grad(loss, y_hat)
            losses.append(loss.item())
            grads.append(g.abs().item())
        curves[label] = (make.tensor(losses), make.tensor(grads))
    loss, g = curves["MSE"]
    assert_close(g, 2 * loss.sqrt())  # unbounded: 2e6 at the largest residual
    loss, g = curves["L1"]
    assert_close(g, torch.ones_like(g))  # 1 from the smallest loss on
    # SmoothL1: l = r^2 / (2 beta) below the knee, so |g| = r / beta = sqrt(2 l / beta); 1 from l = beta / 2 on
    loss, g = curves[f"SmoothL1, beta = {beta}"]
    assert_close(g, torch.where(loss < beta / 2, (2 * loss / beta).sqrt(), torch.ones_like(loss)))
    # Huber: l = r^2 / 2 below the knee, |g| = r = sqrt(2 l); delta from l = delta^2 / 2 on
    loss, g = curves[f"Huber, delta = {delta}"]
    assert_close(g, torch.where(loss <= delta**2 / 2, (2 * loss).sqrt(), torch.full_like(loss, delta)))
    plot = figures.plot(
        "output-gradient magnitude vs sample loss: MSE, L1, SmoothL1, Huber",
        x_label="sample loss l (squared target units for MSE, target units otherwise)",
        y_label="|dl/dy_hat| (one output, sum reduction)",
        zh=(
            "输出梯度大小与样本损失的关系:MSE、L1、SmoothL1、Huber",
            "样本损失 l(MSE 以目标单位的平方计,其余以目标单位计)",
            "|dl/dy_hat|(单个输出,sum 归约)",
        ),
        log_x=True,
        log_y=True,
    )
    for label, (loss, g) in curves.items():
        assert (loss[1:] > loss[:-1]).all() and (g[1:] >= g[:-1]).all()  # the loss grows; the gradient never shrinks
        plot.line(f"{label}: |dl/dy_hat|", loss.tolist(), g.tolist(), zh=f"{label}:输出梯度 |dl/dy_hat|")
    figures.record(
        f"Huber (delta = {delta}) |dl/dy_hat| at residual 1e6",
        curves[f"Huber, delta = {delta}"][1][-1],
        "gradient",
        zh=f"残差为 1e6 时 Huber (delta = {delta}) 的 |dl/dy_hat|",
    )
    figures.record(
        "MSE |dl/dy_hat| at residual 1e6", curves["MSE"][1][-1], "gradient", zh="残差为 1e6 时 MSE 的 |dl/dy_hat|"
    )
