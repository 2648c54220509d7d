"""explosion.cause.saturation

Source: 「激活函数的选择:某些激活函数(如sigmoid或tanh)在特定输入范围内可能会饱和,从而导致梯度在某些层变得极大。」

What is true (refuted):
- Saturation shrinks gradients, it cannot make them large: sigmoid'(x) = s(1 - s) <= 1/4 and tanh'(x) = 1 - tanh^2
  <= 1 everywhere, both -> 0 exponentially as |x| grows, so a saturated sigmoid/tanh stack has vanishing input
  gradients.
- Large or non-finite gradients near saturation come from numerics, not from the activation: log(sigmoid(x))
  underflows to -inf once sigmoid(x) rounds to 0, and its autograd gradient is NaN.
- BCELoss on a sigmoid output clamps dL/dp = (p - y) / max(p (1 - p), 1e-12), so the gradient reaching the logit is
  the exact sigmoid(x) - y times min(1, p (1 - p) / 1e-12): too small, not too large, and exactly 0 once sigmoid(x)
  rounds to 0 (float32: below about x = -88.7), where the loss sits at its cap of 100.
- In float16 the clamp is gone: dL/dp overflows to -inf once p < 1/65504, so the logit gradient is -inf for x
  between about -17.3 and -11.1 and NaN below, where sigmoid(x) rounds to 0.
- BCEWithLogitsLoss and logsigmoid stay finite in every dtype, with gradient sigmoid(x) - y, bounded by 1.

Why: the derivative bounds are elementary (Goodfellow et al., Deep Learning, sec. 6.3.2; Pascanu et al. 2013, sec.
2.1 with gamma = 1/4, 1), and so are their tails: sigmoid'(x) = e^-|x| / (1 + e^-|x|)^2 <= e^-|x| and tanh'(x) = 4
e^-2|x| / (1 + e^-2|x|)^2 <= 4 e^-2|x|; a deep stack multiplies them (the test bounds the input gradient by the
product of the spectral norms and the largest derivatives actually met). With a bias of 8 every hidden
pre-activation of layer l is at least m_l away from 0 (the smallest met), so each derivative factor is at most the
tail bound at m_l: the saturated net's bound is at most (samples) prod_l ||W_l||_2 prod_l tail(m_l), the tails put
the four factors more than a millionth below their peaks (1/4, 1), and the test reads "vanishing" as that bound
lying below 1e-6 of the unsaturated net's actual gradient.

BCELoss (aten/src/ATen/native/Loss.cpp, binary_cross_entropy_out_cpu and binary_cross_entropy_backward_out_cpu):
the loss is -[y max(log p, -100) + (1 - y) max(log(1 - p), -100)] and the backward kernel returns
grad * (p - y) / max((1 - p) p, scalar_t(EPSILON)), EPSILON = 1e-12 converted to the input's dtype. Through
sigmoid's backward (times p (1 - p)) the logit receives (p - y) p (1 - p) / max(p (1 - p), 1e-12) =
(sigmoid(x) - y) min(1, p (1 - p) / 1e-12): the exact gradient wherever p (1 - p) >= 1e-12, a fraction of it
beyond (for y = 1: p (1 - p) = 1e-12 at x = logit of (1 - sqrt(1 - 4e-12))/2, about ln 1e-12 = -27.6), and 0 when
p rounds to 0 (or, for y < 1, to 1). Where sigmoid rounds to 0 depends on its kernel: PyTorch's CPU sigmoid is
1 / (1 + exp(-x)) (aten/src/ATen/native/cpu/UnaryOpsKernel.cpp, sigmoid_kernel), which returns 0 as soon as
exp(-x) overflows, x < -ln(float max) = -88.72 in float32 and -709.78 in float64, although sigmoid(x) itself
would still be a representable subnormal there; float16 and bfloat16 go through float32, and float16 rounds p
to 0 below ln(2^-25) = -17.33 (half its smallest subnormal). In float16, EPSILON becomes 0 (below its smallest
subnormal, 6e-8; so even p = 0 with y = 0 gives 0/0 = NaN), and -1/p exceeds the largest float16, 65504, once
p < 1/65504 (x < -ln 65504 = -11.09): the quotient rounds to -inf; sigmoid's backward then gives -inf * p (1 - p)
= -inf while p > 0 and -inf * 0 = NaN once p = 0. None of this is a large true gradient: the derivative of
-log sigmoid(x) is sigmoid(x) - 1, of magnitude below 1. BCEWithLogitsLoss (PyTorch docs: "more numerically
stable", the log-sum-exp form) differentiates to sigmoid(x) - y directly. The test runs it and logsigmoid on every
finite float16 and bfloat16 value and on 0 and +-10^k across the float32 and float64 ranges, targets 0 and 1: loss
and gradient finite, the gradient within 1 and equal to sigmoid(x) - y up to the dtype's rounding (every torch this
suite supports, >= 2.5, has these kernels in all four dtypes on the CPU and on CUDA, so none is skipped).
"""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from support.activations import derivative
from support.models import glorot_std, mlp
from support.tensors import maker
from support.tolerances import assert_close, assert_le, override, slack, tolerance_for

pytestmark = pytest.mark.claim("explosion.cause.saturation")


def _derivative(fn, x):
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(fn(x).sum(), x)
    return g


@given(values=st.lists(st.floats(-40, 40, allow_nan=False), min_size=1, max_size=16))
def test_sigmoid_derivative_is_s_times_one_minus_s_and_at_most_a_quarter(device, values):
    x = maker(device).tensor(values)
    d = _derivative(torch.sigmoid, x)
    s = torch.sigmoid(x)
    assert_close(d, s * (1 - s))
    assert (d <= 0.25).all()  # s (1 - s) <= 1/4 with equality at s = 1/2; 0.25 is exact in binary


@given(values=st.lists(st.floats(-20, 20, allow_nan=False), min_size=1, max_size=16))
def test_tanh_derivative_is_one_minus_tanh_squared_and_at_most_one(device, values):
    x = maker(device).tensor(values)
    d = _derivative(torch.tanh, x)
    assert_close(d, 1 - torch.tanh(x) ** 2)
    assert (d <= 1.0).all()


def test_the_maxima_are_reached_at_zero(device):
    zero = maker(device).zeros(1)
    assert _derivative(torch.sigmoid, zero).item() == 0.25
    assert _derivative(torch.tanh, zero).item() == 1.0


# Rounding: for x > 0 autograd forms s (1 - s) and 1 - tanh^2 from outputs next to 1, so 1 - s carries an
# absolute error up to one ulp of 1 (2.2e-16); allow 2 ulps on top of a relative 1e-12.
SATURATED_ROUNDING = slack(
    rel=1e-12,
    abs=2 * torch.finfo(torch.float64).eps,
    reason="1 - s and 1 - tanh^2 formed from outputs next to 1: up to an ulp of 1 "
    "absolute (2 allowed), plus float64 rounding",
)


@given(magnitude=st.floats(5, 300), sign=st.sampled_from([-1.0, 1.0]))
def test_derivatives_vanish_exponentially_in_saturation(device, magnitude, sign):
    x = maker(device).tensor([sign * magnitude])
    # sigmoid'(x) = e^-|x| / (1 + e^-|x|)^2 <= e^-|x|;  tanh'(x) = 4 e^-2|x| / (1 + e^-2|x|)^2 <= 4 e^-2|x|.
    assert_le(_derivative(torch.sigmoid, x).item(), math.exp(-magnitude), slack=SATURATED_ROUNDING)
    assert_le(_derivative(torch.tanh, x).item(), 4 * math.exp(-2 * magnitude), slack=SATURATED_ROUNDING)


# (tail, peak): phi'(a) <= tail(|a|), the statement's bounds (checked above), and phi'(0), the largest derivative
TAILS = {
    "sigmoid": (lambda m: math.exp(-m), 0.25),
    "tanh": (lambda m: 4 * math.exp(-2 * m), 1.0),
}


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_a_saturated_deep_stack_has_vanishing_input_gradients(device, activation, figures):
    depth, width = 5, 16
    make = maker(device)
    x = make.randn(8, width, seed=21)
    norms, bounds, smallest = {}, {}, {}
    for bias in (0.0, 8.0):  # bias 8 pushes every hidden pre-activation into saturation
        net = mlp(
            width,
            width,
            1,
            depth=depth,
            activation=activation,
            weight_std=glorot_std(width, width),
            seed=21,
            device=device,
        )
        linears = [m for m in net if isinstance(m, torch.nn.Linear)]
        with torch.no_grad():
            for lin in linears[:-1]:
                lin.bias.fill_(bias)
        xr = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(net(xr).sum(), xr)
        norms[bias] = grad.norm().item()
        # ||dL/dx|| <= sum over samples of prod_l ||W_l||_2 * max_i phi'(a_l,i), with the pre-activations actually met
        bound, h, smallest[bias] = 0.0, x, []
        with torch.no_grad():
            per_sample = make.ones(x.shape[0])
            for lin in linears[:-1]:
                a = h @ lin.weight.T + lin.bias
                smallest[bias].append(a.abs().min().item())  # the pre-activation nearest 0 in this layer
                largest_derivative = derivative(activation, a).amax(dim=1)  # phi' from its definition
                per_sample = per_sample * torch.linalg.matrix_norm(lin.weight, ord=2) * largest_derivative
                h = torch.sigmoid(a) if activation == "sigmoid" else torch.tanh(a)
            per_sample = per_sample * torch.linalg.matrix_norm(linears[-1].weight, ord=2)
            bound = per_sample.sum().item()
        bounds[bias] = bound
        assert_le(
            norms[bias],
            bound,
            slack=slack(
                rel=1e-9, reason="autograd and the bound round differently: products over a few layers, ~1e-15 relative"
            ),
        )
    # Where the smallness comes from, derived: in the saturated net every hidden pre-activation of layer l has
    # |a| >= m_l (the smallest met), so each layer's largest derivative is at most tail(m_l) (phi' falls with |a|),
    # and the bound is at most (samples) * prod_l ||W_l||_2 * prod_l tail(m_l): the weights are the same in both
    # nets, saturation only swaps the derivative factors, peak^4 at most unsaturated, prod_l tail(m_l) saturated
    tail, peak = TAILS[activation]
    spectral = math.prod(torch.linalg.matrix_norm(lin.weight, ord=2).item() for lin in linears)
    assert_le(
        bounds[8.0],
        x.shape[0] * spectral * math.prod(tail(m) for m in smallest[8.0]),
        slack=slack(rel=1e-9, reason="the same products over a few layers in another order, ~1e-15 relative"),
    )
    shrink = math.prod(tail(m) / peak for m in smallest[8.0])
    # "vanishing", read as a millionth: saturation alone (same weights, same inputs) takes the four derivative
    # factors more than six orders of magnitude below their peak, and the saturated net's guaranteed bound is below
    # 1e-6 of the unsaturated net's actual gradient
    assert shrink < 1e-6
    assert bounds[8.0] < 1e-6 * norms[0.0]
    std = glorot_std(width, width)
    on = (
        f"{activation} MLP of width {width}, one output, every weight N(0, {std:g}^2) (Glorot's std for the {width} x "
        f"{width} layers), {x.shape[0]} standard normal inputs"
    )
    on_zh = (
        f"宽度 {width} 的 {activation} MLP,一个输出,所有权重 N(0, {std:g}^2)({width} x {width} 层的 Glorot 标准差),"
        f"{x.shape[0]} 个标准正态输入"
    )
    figures.record(
        f"{activation} depth 5, bias 8: prod_l tail(m_l) / phi'(0)^4",
        shrink,
        "1",
        zh=f"{activation},深度5,偏置8:prod_l tail(m_l) / phi'(0)^4",
        measured_on=on,
        measured_on_zh=on_zh,
    )
    figures.record(
        f"{activation} depth 5: ||input grad||, unsaturated",
        norms[0.0],
        "1",
        zh=f"{activation},深度5:输入梯度范数,未饱和",
        measured_on=on,
        measured_on_zh=on_zh,
    )
    figures.record(
        f"{activation} depth 5: ||input grad||, saturated (bias 8)",
        norms[8.0],
        "1",
        zh=f"{activation},深度5:输入梯度范数,饱和(偏置8)",
        measured_on=on,
        measured_on_zh=on_zh,
    )


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


# ---------------------------------------------------------------- BCELoss on a sigmoid output, dtype by dtype
BCE_EPSILON = 1e-12  # aten/src/ATen/native/Loss.cpp: the floor of p (1 - p) in binary_cross_entropy_backward


def _bce_gradients(x, target):
    """(loss, dL/dp, dL/dx) of F.binary_cross_entropy(sigmoid(x), target, reduction='sum')."""
    x = x.detach().clone().requires_grad_(True)
    p = torch.sigmoid(x)
    loss = F.binary_cross_entropy(p, target, reduction="none")
    g_p, g_x = torch.autograd.grad(loss.sum(), (p, x))
    return loss.detach(), p.detach(), g_p, g_x


def _relative(dtype):
    # the kernels round a handful of times (p - y, 1 - p, the product, the quotient, sigmoid's backward): compare
    # relatively, with the dtype's default rtol, since the gradients span from 1e-40 to 1e12; the absolute part is
    # the smallest normal number, below which (subnormals) the relative precision is lost
    return override(
        rtol=tolerance_for(dtype).rtol,
        atol=torch.finfo(dtype).tiny,
        reason="gradients span many decades: relative, down to the smallest normal number",
    )


@given(
    values=st.lists(st.floats(-200, 200, allow_nan=False), min_size=1, max_size=16),
    target=st.floats(0, 1),
    dtype=st.sampled_from([torch.float32, torch.float64]),
)
def test_bce_on_sigmoid_gives_the_exact_logit_gradient_shrunk_by_the_clamp_never_enlarged(
    device, values, target, dtype
):
    x = torch.tensor(values, dtype=dtype, device=device)
    y = torch.full_like(x, target)
    _, p, g_p, g_x = _bce_gradients(x, y)
    p64, y64 = p.double(), y.double()
    variance = p64 * (1 - p64)
    denominator = variance.clamp(min=BCE_EPSILON)
    assert_close(g_p.double(), (p64 - y64) / denominator, tol=_relative(dtype))  # the clamped dL/dp
    shrink = variance / denominator  # = min(1, p (1 - p) / 1e-12)
    assert_close(g_x.double(), (p64 - y64) * shrink, tol=_relative(dtype))  # exact sigmoid(x) - y, times <= 1
    assert_le(
        g_x.double().abs(),
        (p64 - y64).abs(),  # never larger
        slack=slack(rel=4 * torch.finfo(dtype).eps, reason="a few roundings of the kernels in dtype: 4 ulps"),
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("x_value", [-30.0, -40.0, -60.0])
def test_bce_clamps_minus_one_over_p_and_hands_the_logit_too_small_a_gradient(device, dtype, x_value):
    x = torch.tensor([x_value], dtype=dtype, device=device)
    y = torch.ones_like(x)
    _, p, g_p, g_x = _bce_gradients(x, y)
    p = p.double()
    assert p.item() > 0 and p.item() * (1 - p.item()) < BCE_EPSILON  # saturated, but not rounded to 0
    # the true dL/dp = -1/p (beyond -1e13 here); BCELoss returns (p - 1) / 1e-12, about -1e12: smaller
    assert_close(g_p.double(), (p - 1) / BCE_EPSILON, tol=_relative(dtype))
    assert g_p.abs().item() < 1 / p.item()
    # the true dL/dx = p - 1, about -1; the logit gets p (1 - p) / 1e-12 of it (a tenth at -30, far less below)
    assert_close(g_x.double(), (p - 1) * p * (1 - p) / BCE_EPSILON, tol=_relative(dtype))
    assert g_x.abs().item() < 1 - p.item()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bce_logit_gradient_vanishes_exactly_where_sigmoid_rounds_to_zero(device, dtype):
    # sigmoid = 1 / (1 + exp(-x)) is 0 once exp(-x) overflows: x < -ln(max) (88.72 in float32, 709.78 in float64)
    edge = -math.log(torch.finfo(dtype).max)
    x = torch.linspace(edge - 20, edge + 20, 161, dtype=dtype, device=device)
    loss, p, _, g_x = _bce_gradients(x, torch.ones_like(x))
    assert ((p == 0) == (g_x == 0)).all()  # the gradient is 0 exactly where p is
    below, above = x < edge - 0.1, x > edge + 0.1  # 0.1: far wider than the rounding of exp near the edge
    assert (p[below] == 0).all() and (p[above] > 0).all()
    assert (loss[below] == 100).all()  # log(0) = -inf, clamped at -100
    # above the edge the loss is -log p < 100 in float32 (the edge, 88.7, is below the cap): the loss jumps to its
    # cap where the gradient drops to 0; in float64 it reaches the cap at x = -100, long before the gradient dies
    if dtype == torch.float32:
        assert (loss[above] < 100).all()
    else:
        capped = above & (x < -100.5)
        assert capped.any() and (loss[capped] == 100).all() and (g_x[capped] != 0).all()
        pc = p[capped]  # (p - 1) p (1 - p) / 1e-12: below 1e-280 here, where the loss reads 100
        assert_close(g_x[capped], -pc * (1 - pc) ** 2 / BCE_EPSILON, tol=_relative(dtype))


def test_bce_in_float16_turns_saturation_into_minus_inf_then_nan_where_bce_with_logits_stays_exact(device):
    f16 = torch.finfo(torch.float16)
    assert torch.tensor(BCE_EPSILON, dtype=torch.float16).item() == 0.0  # below the smallest subnormal, 2^-24
    overflow = -math.log(f16.max)  # -11.09: p < 1/65504 makes 1/p overflow
    underflow = math.log(f16.smallest_normal * 2.0**-11)  # -17.33: p below half the smallest subnormal rounds to 0
    x = torch.arange(-40.0, -4.0, 0.25, dtype=torch.float16, device=device)
    _, p, _, g_x = _bce_gradients(x, torch.ones_like(x))
    xf = x.float()
    finite, infinite, nan = xf > overflow + 0.1, (xf < overflow - 0.1) & (xf > underflow + 0.1), xf < underflow - 0.1
    assert finite.any() and infinite.any() and nan.any()
    # above the overflow edge: the exact gradient p - 1 (a few float16 roundings: 4 ulps of 1)
    assert_close(
        g_x[finite],
        p[finite] - 1,
        tol=override(rtol=4 * f16.eps, atol=0.0, reason="four float16 roundings of a number near 1"),
    )
    assert (g_x[infinite] == -math.inf).all()  # dL/dp = -1/p rounds to -inf; -inf * p (1 - p) = -inf
    assert (p[nan] == 0).all() and torch.isnan(g_x[nan]).all()  # -inf * 0
    # even a correct prediction: p = 0 with y = 0 gives (0 - 0) / max(0, 0) = NaN
    _, _, g_p, _ = _bce_gradients(
        torch.tensor([-30.0], dtype=torch.float16, device=device), torch.zeros(1, dtype=torch.float16, device=device)
    )
    assert torch.isnan(g_p).all()
    # BCEWithLogitsLoss on the same logits: sigmoid(x) - 1, finite and within 1
    xl = x.detach().clone().requires_grad_(True)
    (g_logits,) = torch.autograd.grad(F.binary_cross_entropy_with_logits(xl, torch.ones_like(xl), reduction="sum"), xl)
    assert torch.isfinite(g_logits).all() and (g_logits.abs() <= 1).all()
    assert_close(g_logits, torch.sigmoid(x.float()).to(torch.float16) - 1, tol=tolerance_for(torch.float16))


# ---------------------------------------------------------------- logsigmoid and BCEWithLogitsLoss, dtype by dtype
def _every_finite_logit(dtype, device) -> torch.Tensor:
    """16-bit dtypes: every finite value (all 65536 bit patterns, inf and NaN dropped). Wider ones: 0 and
    +-10^k from the smallest normal to the largest finite value, 8 per decade, and +-max itself."""
    info = torch.finfo(dtype)
    if info.bits == 16:
        x = torch.arange(-(2**15), 2**15, dtype=torch.int32).to(torch.int16).view(dtype)
        x = x[torch.isfinite(x)]
    else:
        k = torch.arange(math.floor(8 * math.log10(info.tiny)), math.floor(8 * math.log10(info.max)) + 1) / 8
        magnitudes = torch.cat([torch.pow(10.0, k.double()), torch.tensor([info.max], dtype=torch.float64)])
        x = torch.cat([-magnitudes, torch.zeros(1, dtype=torch.float64), magnitudes]).to(dtype)
    return x.to(device)


@pytest.mark.parametrize(
    "dtype",
    [torch.float16, torch.bfloat16, torch.float32, torch.float64],
    ids=["float16", "bfloat16", "float32", "float64"],
)
def test_logsigmoid_and_bce_with_logits_stay_finite_with_gradient_sigmoid_minus_target_in_every_dtype(device, dtype):
    x = _every_finite_logit(dtype, device)
    x64 = x.double()
    # compared in float64: the dtype's relative tolerance, and an absolute ulp of 1 (eps), since the kernels form
    # sigmoid(x) in the dtype before subtracting the target (or take 1 - sigmoid(x)), so a sigmoid that rounds to 1
    # leaves 0 where the exact value is below eps
    info = torch.finfo(dtype)
    tol = override(
        rtol=tolerance_for(dtype).rtol,
        atol=info.eps,
        reason="sigmoid(x) rounded in the dtype next to 1 before the subtraction: an ulp of 1 absolute",
    )
    xs = x.detach().clone().requires_grad_(True)
    out = F.logsigmoid(xs)
    (g,) = torch.autograd.grad(out.sum(), xs)
    assert torch.isfinite(out).all() and torch.isfinite(g).all()
    assert ((g >= 0) & (g <= 1)).all()  # d/dx log sigmoid(x) = 1 - sigmoid(x) = sigmoid(-x), in [0, 1]
    assert_close(g.double(), torch.sigmoid(-x64), tol=tol)
    for target in (0.0, 1.0):
        y = torch.full_like(x, target)
        xs = x.detach().clone().requires_grad_(True)
        loss = F.binary_cross_entropy_with_logits(xs, y, reduction="none")
        (g,) = torch.autograd.grad(loss.sum(), xs)
        assert torch.isfinite(loss).all() and (loss >= 0).all(), f"target {target}"
        assert torch.isfinite(g).all() and (g.abs() <= 1).all(), f"target {target}"
        assert_close(g.double(), torch.sigmoid(x64) - target, tol=tol, msg=f"target {target}")
