"""amp.grad-scaler

What is true (confirmed):
- torch.amp.GradScaler.scale(loss) multiplies the loss by the current scale, so backward produces scale x the true
  gradients.
- unscale_(optimizer) divides them back, so unscale_ followed by clip_grad_norm_ gives the same clipped gradients
  and the same step as an unscaled run, while clipping the still-scaled gradients clips a norm scale times too
  large.
- Under torch.autocast with float16 the gradient reaching a float16 layer's output is rounded to float16 in the
  backward: each element below half the smallest float16 (2^-25, about 3e-8) becomes 0, and so does every parameter
  gradient computed from such elements, even where its true value is larger; with all of them below, .grad is
  exactly 0 and a first Adam step on it moves nothing (a zero gradient still lets weight decay or earlier optimizer
  state move a parameter: step.updates-parameters).
- Scaling the loss (default scale 2^16) lifts them into float16's range and unscale_ recovers them to float16
  precision.
- Scaled gradients of 65520 or more (past the largest finite float16, 65504, after rounding) overflow to inf:
  scaler.step then skips optimizer.step (parameters unchanged) and update() multiplies the scale by backoff_factor
  (default 0.5), step after step until the scaled gradients fit; after growth_interval clean steps it multiplies the
  scale by growth_factor.
- The scaler cannot cure an overflow in the forward pass: the loss is inf at every scale, every step is skipped and
  the scale keeps shrinking.
- bfloat16 has float32's exponent range, so at these magnitudes it neither underflows nor overflows and needs no
  scaler, at coarser precision (8 significant bits against float16's 11).

Why: loss scaling (Micikevicius et al. 2018, sec. 3.2): backward is linear in the seed gradient, so scaling the
loss by S scales every gradient by S, and S a power of two makes scaling and unscaling exact. float16 has 5
exponent bits and 11 significant bits: largest finite (2 - 2^-10) 2^15 = 65504, smallest normal 2^-14, smallest
subnormal 2^-24; round-to-nearest sends |v| < 2^-25 to 0 and |v| >= 65520 (65504 plus half an ulp) to inf.
bfloat16 has 8 exponent bits (smallest normal 2^-126 ~ 1.2e-38, largest ~3.4e38, as float32) and 8 significant
bits (unit roundoff 2^-8 against float16's 2^-11). Under torch.autocast a Linear layer runs in the low dtype while
mse_loss runs in float32 and the parameters and their .grad stay float32 (master weights): the gradient reaches
the layer's output in float32, is cast to float16 there, and the layer's weight and bias gradients are computed
in float16 from it. So the first float16 value in the backward, dL/d output, decides underflow and overflow.
CPU autocast to float16 is documented from torch 2.5 on, the suite's lower bound; a test skips only where the
torch version or the device lacks documented support (a CUDA device without bfloat16), never after trying autocast.

The experiments use one Linear layer whose inputs and weights lie on a grid of 1/4 (scaled for the forward
overflow), so every product and partial sum of the forward has at most 8 significant bits: the float16 and
bfloat16 forward are exact and equal the float64 forward, and the float64 model's gradient is the reference for
the float16 backward. Underflow: a per-pixel regression near its optimum, N x D = 8 x 1024 outputs with residuals
up to 2^-14; the MSE gradient per output, 2 r / (N D), is at most 2^-26 < 2^-25, so without scaling every float16
output gradient is 0, the parameters' .grad is exactly zero and Adam does not move, although hundreds of the true
parameter gradients (sums over the batch of output gradient times input) lie above 2^-25: what rounds is each
element of the output gradient, not the parameter gradient. With the default scale 2^16
the scaled output gradients are at most 2^-10, in float16's normal range; after unscale_ the gradient matches the
float64 reference within accumulation(float16, N) relative to its largest entry (the dtype default atol, 1e-5,
dwarfs 1e-8 gradients and would accept zeros), and Adam's first step is lr g / (|g| + eps). bfloat16 without
a scaler matches within bfloat16's tolerance and with a larger error than scaled float16. Overflow: an untrained
regression on unnormalised targets; the largest float16 value of the backward, G, is computed from the float64
reference, and the number of skipped steps is derived as the least k with S0 b^k G < 65504 (no scale lies
within 2% of the limit, so rounding cannot move a step across it); the tests run the defaults (2^16, 0.5) and
(2^18, 0.3), checking each skipped step (inf/NaN in .grad, parameters unchanged, scale times b) and the first
taken step (finite gradient equal to the float64 reference within float16 tolerance). Forward overflow: inputs
up to 2^15 make an exact output past 65520, so the float16 forward gives inf and an inf loss; over six steps every
step is skipped and the scale falls by b each time; the same model under bfloat16 has a finite loss and takes a
plain step. Scales are held in float32: powers of two times 0.5 are exact, times 0.3 each product rounds by at
most 2^-24 relative. The float64 tests of scale, unscale_, clipping and growth use S = 2^12.
"""

import functools
import math

import pytest
import torch
import torch.nn.functional as F

from support.data import regression
from support.gradients import flat_grad, flat_params, total_grad_norm
from support.models import linear_model, mlp
from support.tensors import generator
from support.tolerances import accumulation, assert_close, override, tolerance_for

pytestmark = pytest.mark.claim("amp.grad-scaler")
SCALE = 2.0**12  # a power of two: multiplying and dividing by it is exact in floating point
LR, MAX_NORM = 0.1, 0.05
FP16_MAX = torch.finfo(torch.float16).max  # 65504 = (2 - 2^-10) 2^15
FP16_TINY = 2.0**-24  # the smallest positive (subnormal) float16; below half of it round-to-nearest gives 0
DEFAULT_INIT_SCALE, DEFAULT_BACKOFF = 2.0**16, 0.5  # torch.amp.GradScaler's documented defaults
BATCH, IN, WIDTH, OUT = 8, 3, 8, 2  # the float64 tanh MLP and regression batch of the scaling-arithmetic tests


# ---------------------------------------------------------------- documented support (version and device, not probes)
# The skips below follow the documentation of the installed torch's version and device, never a trial run of
# autocast or the scaler, so a broken autocast or scaler on a torch that documents them fails instead of skipping.
# * torch.amp.GradScaler(device) is the device-generic scaler of every torch this suite supports (torch >= 2.5,
#   pyproject.toml; it replaced torch.cuda.amp.GradScaler in torch 2.3, torch/amp/grad_scaler.py).
# * torch.autocast on the CPU runs float16 and bfloat16 from torch 2.5 on: the 2.5 docs list both for CPU autocast
#   (pytorch#136082, "Update document for autocast on CPU due to the support of float16", on release/2.5), and
#   torch/amp/autocast_mode.py accepts device_supported_dtypes = [torch.bfloat16, torch.float16].
# * On CUDA, autocast runs float16 on every device and bfloat16 where torch.cuda.is_bf16_supported() (autocast's
#   __init__ raises "Current CUDA Device does not support bfloat16" otherwise).
CPU_FLOAT16_AUTOCAST_SINCE = (2, 5)


def _grad_scaler(device, **kwargs):
    return torch.amp.GradScaler(device, **kwargs)


def _require_autocast(device, dtype):
    kind = torch.device(device).type
    if kind == "cpu" and dtype == torch.float16 and torch.__version__ < CPU_FLOAT16_AUTOCAST_SINCE:
        pytest.skip(f"CPU autocast to float16 is documented from torch 2.5; this is torch {torch.__version__}")
    if kind == "cuda" and dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
        pytest.skip(
            f"this CUDA device has no bfloat16 (torch.cuda.is_bf16_supported() is False): "
            f"{torch.cuda.get_device_name(device)}"
        )


def _autocast(device, dtype):
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)


def _setup(device):
    x, y = regression(BATCH, IN, OUT, seed=31, device=device)
    model = mlp(IN, WIDTH, OUT, depth=2, activation="tanh", seed=31, device=device)
    return model, torch.optim.SGD(model.parameters(), lr=LR), x, y


def test_scale_multiplies_the_loss_and_the_gradients(device, figures):
    model, _, x, y = _setup(device)
    scaler = _grad_scaler(device, init_scale=SCALE)
    loss = F.mse_loss(model(x), y)
    loss.backward(retain_graph=True)
    plain = flat_grad(model).clone()
    model.zero_grad(set_to_none=True)
    scaled = scaler.scale(loss)
    assert_close(scaled, SCALE * loss)
    scaled.backward()
    assert_close(flat_grad(model), SCALE * plain)  # backward is linear in the seed gradient S
    figures.record(
        "scaled grad norm / unscaled grad norm",
        flat_grad(model).norm() / plain.norm(),
        "1",
        zh="缩放后的梯度范数 / 未缩放的梯度范数",
        measured_on=f"GradScaler init_scale {SCALE:g}",
        measured_on_zh=f"GradScaler 的 init_scale 为 {SCALE:g}",
    )


def test_unscale_before_clip_gives_the_unscaled_runs_clipped_gradients_and_step(device, figures):
    # the run without scaling
    model, opt, x, y = _setup(device)
    F.mse_loss(model(x), y).backward()
    norm = total_grad_norm(model)
    assert norm > MAX_NORM  # so the clip acts: it rescales the gradient to norm MAX_NORM
    torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_NORM)
    clipped = flat_grad(model).clone()
    opt.step()
    after_plain = flat_params(model)
    assert_close(clipped.norm(), torch.tensor(MAX_NORM, dtype=clipped.dtype, device=device))

    # the scaled run: scale, backward, unscale_, clip, scaler.step, update
    model, opt, x, y = _setup(device)
    scaler = _grad_scaler(device, init_scale=SCALE)
    scaler.scale(F.mse_loss(model(x), y)).backward()
    scaler.unscale_(opt)
    torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_NORM)
    assert_close(flat_grad(model), clipped)
    scaler.step(opt)
    scaler.update()
    assert_close(flat_params(model), after_plain)
    figures.record(
        "gradient norm before clipping",
        norm,
        "gradient norm",
        zh="裁剪前的梯度范数",
        measured_on=f"tanh MLP {IN}-{WIDTH}-{OUT}, MSELoss, {BATCH} regression samples",
        measured_on_zh=f"tanh MLP {IN}-{WIDTH}-{OUT},MSELoss,{BATCH} 个回归样本",
    )


def test_clipping_without_unscale_clips_a_norm_scale_times_too_large(device, figures):
    model, opt, x, y = _setup(device)
    scaler = _grad_scaler(device, init_scale=SCALE)
    scaler.scale(F.mse_loss(model(x), y)).backward()
    # the scaled norm is S * norm > MAX_NORM: the clip brings it to MAX_NORM, then step() divides by S
    torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_NORM)
    scaler.step(opt)
    final = flat_grad(model).norm()
    assert_close(final, torch.tensor(MAX_NORM / SCALE, dtype=final.dtype, device=device))
    figures.record(
        "effective gradient norm when clipping before unscale_",
        final,
        "gradient norm",
        zh="在 unscale_ 之前裁剪时的实际梯度范数",
        measured_on=f"max_norm {MAX_NORM}, GradScaler init_scale {SCALE:g}",
        measured_on_zh=f"max_norm 为 {MAX_NORM},GradScaler 的 init_scale 为 {SCALE:g}",
    )


def test_clean_steps_grow_the_scale_after_growth_interval(device):
    model, opt, x, y = _setup(device)
    # growth_factor 3, not the default 2, so the factor is the one passed; 3 * 2^12 and 9 * 2^12 are exact in float32
    scaler = _grad_scaler(device, init_scale=SCALE, growth_factor=3.0, growth_interval=2)
    scales = []
    for _ in range(4):
        before = flat_params(model)
        opt.zero_grad(set_to_none=True)
        scaler.scale(F.mse_loss(model(x), y)).backward()
        scaler.step(opt)
        scaler.update()
        assert not torch.equal(flat_params(model), before), "a clean step is taken"
        scales.append(scaler.get_scale())
    # after step 1 one clean step (no growth yet), after step 2 two: the scale grows by 3 and the count restarts at
    # 0, so step 3 makes it 1 (no growth) and step 4 makes it 2 again: a second factor of 3
    assert scales == [SCALE, 3 * SCALE, 3 * SCALE, 9 * SCALE]


# ---------------------------------------------------------------- real float16 / bfloat16 under autocast
def _grid(shape, step, limit, g):
    """Multiples of ``step`` in [-limit, limit]: few significant bits, exact in float16 and bfloat16."""
    k = round(limit / step)
    return torch.randint(-k, k + 1, shape, generator=g).to(torch.float64) * step


def _linear_on_a_grid(n, in_features, out_features, *, x_step, seed):
    """x (n, in) and the weights of a Linear(in, out) on grids of 1/4 (x scaled by ``x_step`` / (1/4)): every
    product and partial sum of the forward is a multiple of 1/16 * x_step / (1/4) with at most 8 significant
    bits, so the float16 and bfloat16 forward are exact and equal the float64 one. Returns (x, weight, bias)."""
    g = generator(seed)
    x = _grid((n, in_features), x_step, 4 * x_step, g)
    return x, _grid((out_features, in_features), 0.25, 1.0, g), _grid((out_features,), 0.25, 1.0, g)


def _model(weight, bias, dtype, device):
    model = linear_model(weight.shape[1], weight.shape[0], dtype=dtype, device=device)
    with torch.no_grad():
        model.weight.copy_(weight)
        model.bias.copy_(bias)
    return model


def _reference_grad(weight, bias, x, t, device):
    """The float64 MSE gradient of the same model, and the float64 gradient at the model's output."""
    model = _model(weight, bias, torch.float64, device)
    out = model(x.to(device))
    out.retain_grad()
    F.mse_loss(out, t.to(device=device, dtype=torch.float64)).backward()
    return flat_grad(model), out.grad


def _float16_backward_max(weight, bias, x, t, device) -> float:
    """The largest magnitude among the float16 tensors of an autocast Linear + MSE backward (scale 1): the
    output gradient dL/dout (cast to float16 on its way back from the float32 MSE), the weight gradient
    dout^T x and the bias gradient sum_n dout, all computed in float16 by the linear layer's backward."""
    grad, dout = _reference_grad(weight, bias, x, t, device)
    return max(dout.abs().max().item(), grad.abs().max().item())


# A per-pixel regression near its optimum: N x D = 8 x 1024 outputs, residuals r up to 2^-14 (6e-5). The
# MSE gradient at output (n, d) is 2 r / (N D) <= 2^-1 2^-14 2^-13 = 2^-26, below half the smallest float16,
# 2^-25: float16 rounds every one of them to 0. Times the default scale 2^16 they are <= 2^-10, above the
# smallest normal float16 2^-14 for |r| >= 2^-18, and carry float16's full 11 bits.
UNDERFLOW_N, UNDERFLOW_IN, UNDERFLOW_D, RESIDUAL = 8, 4, 1024, 2.0**-14
ADAM_LR, ADAM_EPS = 1e-2, 1e-8  # eps: torch.optim.Adam's default, passed explicitly
UNDERFLOW_ON = (
    f"Linear({UNDERFLOW_IN}, {UNDERFLOW_D}) with weights on a grid, MSELoss over a batch of {UNDERFLOW_N} x "
    f"{UNDERFLOW_D} outputs, residuals up to {RESIDUAL:.2g}"
)
UNDERFLOW_ON_ZH = (
    f"Linear({UNDERFLOW_IN}, {UNDERFLOW_D}),权重取网格值,在 {UNDERFLOW_N} x {UNDERFLOW_D} 个输出上的 MSELoss,"
    f"残差至多 {RESIDUAL:.2g}"
)


@functools.lru_cache(maxsize=8)
def _underflow_case(device):
    x, weight, bias = _linear_on_a_grid(UNDERFLOW_N, UNDERFLOW_IN, UNDERFLOW_D, x_step=0.25, seed=4)
    g = generator(4)
    y = x @ weight.T + bias
    r = (2 * torch.rand(UNDERFLOW_N, UNDERFLOW_D, generator=g, dtype=torch.float64) - 1) * RESIDUAL
    t = (y + r).to(torch.float32)  # the targets, as a float32 batch would hold them
    ref, dout = _reference_grad(weight, bias, x, t, device)
    return x, weight, bias, t, ref, dout


@functools.lru_cache(maxsize=8)
def _underflow_run(device, dtype, scaled):
    """One Adam step of the float32 model under autocast(dtype), with or without GradScaler (default scale).
    Returns (the unscaled .grad the optimizer saw, parameters before, parameters after, scale used)."""
    x, weight, bias, t, _, _ = _underflow_case(device)
    model = _model(weight, bias, torch.float32, device)
    opt = torch.optim.Adam(model.parameters(), lr=ADAM_LR, eps=ADAM_EPS)
    scaler = _grad_scaler(device, enabled=scaled)  # enabled=False: scale/unscale_ are no-ops, step is opt.step
    before = flat_params(model)
    with _autocast(device, dtype):
        loss = F.mse_loss(model(x.to(device=device, dtype=torch.float32)), t.to(device))
    scale = scaler.get_scale() if scaled else 1.0
    scaler.scale(loss).backward()
    scaler.unscale_(opt)
    grad = flat_grad(model).clone()
    scaler.step(opt)
    scaler.update()
    return grad, before, flat_params(model), scale


def _normwise(dtype, n_terms, reference, why):
    """The dtype's accumulation rtol, with an atol of rtol times the largest reference entry: the dtype's
    default atol (1e-5) dwarfs these 1e-8 gradients and would accept an all-zero gradient."""
    rtol = accumulation(dtype, n_terms).rtol
    return override(rtol=rtol, atol=rtol * reference.abs().max().item(), reason=why)


def test_float16_underflows_a_small_gradient_to_zero_and_grad_scaler_recovers_it(device, figures):
    _require_autocast(device, torch.float16)
    _, _, _, _, ref, dout = _underflow_case(device)
    assert dout.abs().max() < FP16_TINY / 2  # derived above: every output gradient rounds to 0 in float16
    # while true parameter gradients, sums over the batch of output gradient times input, lie above 2^-25: the
    # threshold applies to each element of the output gradient, not to the parameter gradient
    assert (ref.abs() > FP16_TINY / 2).any()

    # without scaling the float16 output gradient is 0, so is everything computed from it: Adam stays put
    grad, before, after, _ = _underflow_run(device, torch.float16, False)
    assert torch.equal(grad, torch.zeros_like(grad)), "every gradient underflowed to exactly 0"
    assert torch.equal(after, before), "Adam's step on an all-zero gradient moves nothing"

    # with the default scale 2^16 the scaled gradient lives in float16's normal range; unscale_ divides by
    # the power of two exactly, so only float16's rounding of the scaled values remains (relative 2^-11 for the
    # output gradient and for the N-term weight gradient)
    grad, before, after, scale = _underflow_run(device, torch.float16, True)
    assert scale == DEFAULT_INIT_SCALE
    tol = _normwise(torch.float16, UNDERFLOW_N, ref, "float16 rounding of the scaled output and weight gradients")
    assert_close(grad.double(), ref, tol=tol)
    # and the optimizer stepped on it: Adam's first step is lr * g / (|g| + eps) (m_hat = g, v_hat = g^2)
    g = grad.double()
    expected = before.double() - ADAM_LR * g / (g.abs() + ADAM_EPS)
    assert_close(after.double(), expected, tol=tolerance_for(torch.float32))
    assert torch.equal(after != before, g != 0)  # every parameter with a gradient moved, none without one
    figures.record(
        "largest true output gradient / smallest float16",
        dout.abs().max() / FP16_TINY,
        "1",
        zh="最大的真实输出梯度 / float16 最小正数",
        measured_on=UNDERFLOW_ON,
        measured_on_zh=UNDERFLOW_ON_ZH,
    )
    figures.record(
        "float16 + GradScaler: max |grad - float64 ref| / max |ref|",
        (grad.double() - ref).abs().max() / ref.abs().max(),
        "1",
        zh="float16 + GradScaler:相对 float64 参考梯度的误差 max |grad - ref| / max |ref|",
        measured_on=UNDERFLOW_ON,
        measured_on_zh=UNDERFLOW_ON_ZH,
    )


def test_bfloat16_keeps_the_small_gradient_without_a_scaler_at_coarser_precision(device, figures):
    _require_autocast(device, torch.bfloat16)
    _require_autocast(device, torch.float16)
    _, _, _, _, ref, dout = _underflow_case(device)
    # bfloat16 has float32's 8 exponent bits: its smallest normal is 2^-126 ~ 1.2e-38, so every nonzero output
    # gradient here (at most 2^-26) is a normal bfloat16 with its full 8 significant bits
    assert dout[dout != 0].abs().min() > torch.finfo(torch.bfloat16).tiny
    grad, before, after, _ = _underflow_run(device, torch.bfloat16, False)
    tol = _normwise(torch.bfloat16, UNDERFLOW_N, ref, "bfloat16 rounding of the output and weight gradients")
    assert_close(grad.double(), ref, tol=tol)
    assert not torch.equal(after, before)
    # but with 8 significant bits against float16's 11 (unit roundoff 2^-8 vs 2^-11) its error is larger than
    # that of the scaled float16 gradient
    fp16_grad = _underflow_run(device, torch.float16, True)[0]
    err_bf16 = ((grad.double() - ref).abs().max() / ref.abs().max()).item()
    err_fp16 = ((fp16_grad.double() - ref).abs().max() / ref.abs().max()).item()
    assert err_bf16 > err_fp16
    figures.record(
        "bfloat16 without scaler: max |grad - float64 ref| / max |ref|",
        err_bf16,
        "1",
        zh="bfloat16 不用 scaler:相对 float64 参考梯度的误差 max |grad - ref| / max |ref|",
        measured_on=UNDERFLOW_ON,
        measured_on_zh=UNDERFLOW_ON_ZH,
    )


def _skips_expected(g_max, init_scale, backoff):
    """Steps skipped before init_scale * backoff^k * g_max drops below FP16_MAX (each skip multiplies by backoff)."""
    k, s = 0, init_scale
    while s * g_max >= FP16_MAX:
        k, s = k + 1, s * backoff
    return k


SCALER_SETTINGS = [
    ({}, DEFAULT_INIT_SCALE, DEFAULT_BACKOFF),
    ({"init_scale": 2.0**18, "backoff_factor": 0.3}, 2.0**18, 0.3),
]
SCALER_IDS = ["defaults", "init-2^18-backoff-0.3"]
# the scale is a float32 tensor: each multiplication by backoff rounds by at most 2^-24 relative
SCALE_RTOL = 8 * 2.0**-24


def _scale_plot(figures):
    """One figure for both overflow tests: the scale per step, which a forward overflow halves without end."""
    return figures.plot(
        "GradScaler's scale per step: float16 overflow in the backward vs in the forward",
        x_label="step (optimizer.step via scaler.step)",
        y_label="loss scale S (1)",
        log_y=True,
        zh=(
            "GradScaler 每步的缩放因子:float16 在反向传播中上溢与在前向传播中上溢",
            "步数(通过 scaler.step 调用 optimizer.step)",
            "损失缩放因子 S(1)",
        ),
    )


@pytest.mark.parametrize("kwargs, init_scale, backoff", SCALER_SETTINGS, ids=SCALER_IDS)
def test_a_float16_gradient_past_65504_overflows_and_the_scaler_skips_and_backs_off_until_it_fits(
    kwargs, init_scale, backoff, device, figures
):
    _require_autocast(device, torch.float16)
    # an untrained regression on unnormalised targets (std 40): O(1) gradients, which the default scale 2^16
    # pushes past 65504 in float16
    x, weight, bias = _linear_on_a_grid(8, 4, 2, x_step=0.25, seed=6)
    t = (40 * torch.randn(8, 2, generator=generator(6), dtype=torch.float64)).to(torch.float32)
    g_max = _float16_backward_max(weight, bias, x, t, device)
    scales = [init_scale * backoff**j for j in range(8)]
    # no scale sits within 2% of the limit, so float16's rounding (2^-11) and the round-to-inf threshold
    # 65520 = 65504 + half an ulp cannot move a step across it
    assert all(abs(s * g_max / FP16_MAX - 1) > 0.02 for s in scales)
    # the threshold itself: float16's spacing at the top is 2^(15 - 10) = 32, so 65504 + 15 rounds down to 65504 and
    # 65520 = 65504 + 16 ties to the even neighbour 2^16, outside the range: inf
    edge = torch.tensor([FP16_MAX + 15, FP16_MAX + 16], dtype=torch.float32, device=device)
    assert edge.half().tolist() == [FP16_MAX, math.inf]
    k = _skips_expected(g_max, init_scale, backoff)
    assert k >= 2  # several skips, so "backs off each time" is tested, not one step

    model = _model(weight, bias, torch.float32, device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    scaler = _grad_scaler(device, **kwargs)
    seen = [scaler.get_scale()]
    for step in range(k + 1):
        opt.zero_grad(set_to_none=True)
        with _autocast(device, torch.float16):
            loss = F.mse_loss(model(x.to(device=device, dtype=torch.float32)), t.to(device))
        assert math.isfinite(loss.item()), "the forward is fine: the overflow is in the scaled backward"
        scaler.scale(loss).backward()
        overflowed = not torch.isfinite(flat_grad(model)).all()
        before = flat_params(model)
        scaler.step(opt)
        scaler.update()
        seen.append(scaler.get_scale())
        skipped = torch.equal(flat_params(model), before)
        if step < k:
            assert overflowed and skipped, f"step {step}: scale {scales[step]} * {g_max:.3g} > {FP16_MAX}"
            assert scaler.get_scale() == pytest.approx(scales[step + 1], rel=SCALE_RTOL)
        else:  # the first scale that fits: the step is taken with the unscaled gradient
            assert not overflowed and not skipped
            # no growth before growth_interval (2000) clean steps
            assert scaler.get_scale() == pytest.approx(scales[k], rel=SCALE_RTOL)
            ref, _ = _reference_grad(weight, bias, x, t, device)
            assert_close(flat_grad(model).double(), ref, tol=accumulation(torch.float16, 8))
    figures.record(
        f"float16 gradient overflow: steps skipped from scale {init_scale:g} at backoff {backoff}",
        k,
        "steps",
        note=f"largest float16 backward value at scale 1: {g_max:.3g}",
        zh=f"float16 梯度上溢:从 scale {init_scale:g} 开始、backoff 为 {backoff} 时跳过的步数",
        note_zh=f"scale 为 1 时 float16 反向传播中的最大值:{g_max:.3g}",
    )
    plot = _scale_plot(figures)
    plot.line(
        f"backward overflow: skips until S fits (S0 = {init_scale:g}, backoff {backoff})",
        range(len(seen)),
        seen,
        zh=f"反向传播上溢:跳过直到 S 合适(S0 = {init_scale:g},backoff {backoff})",
    )
    if not kwargs:  # the limit is the same for both settings (same model and batch): draw it once
        plot.bound(
            f"largest S that fits: 65504 / {g_max:.3g}",
            [0, 6],
            [FP16_MAX / g_max] * 2,
            zh=f"能容纳的最大 S:65504 / {g_max:.3g}",
        )


@pytest.mark.parametrize("kwargs, init_scale, backoff", SCALER_SETTINGS, ids=SCALER_IDS)
def test_a_forward_overflow_makes_the_scaler_skip_every_step_and_back_off_again_and_again(
    kwargs, init_scale, backoff, device, figures
):
    _require_autocast(device, torch.float16)
    # unnormalised inputs (multiples of 2^13 up to 2^15): the layer's outputs pass 65504 in the forward
    x, weight, bias = _linear_on_a_grid(8, 4, 2, x_step=2.0**13, seed=7)
    t = torch.randn(8, 2, generator=generator(7)).to(torch.float32)
    # the float16 forward is exact up to its final rounding, and round-to-nearest sends anything at or past
    # 65520 (65504 + half its ulp of 32) to inf
    assert (x @ weight.T + bias).abs().max() >= FP16_MAX + 16
    model = _model(weight, bias, torch.float32, device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    scaler = _grad_scaler(device, **kwargs)
    start = flat_params(model)
    steps = 6
    seen = [scaler.get_scale()]
    for step in range(steps):
        opt.zero_grad(set_to_none=True)
        with _autocast(device, torch.float16):
            loss = F.mse_loss(model(x.to(device=device, dtype=torch.float32)), t.to(device))
        assert math.isinf(loss.item()), "the loss is inf whatever the scale: scaling acts after the forward"
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        assert torch.equal(flat_params(model), start), f"step {step} was skipped"
        assert scaler.get_scale() == pytest.approx(init_scale * backoff ** (step + 1), rel=SCALE_RTOL)
        seen.append(scaler.get_scale())
    _scale_plot(figures).line(
        f"forward overflow: every step skipped (S0 = {init_scale:g}, backoff {backoff})",
        range(len(seen)),
        seen,
        zh=f"前向传播上溢:每一步都被跳过(S0 = {init_scale:g},backoff {backoff})",
    )

    # the same model under bfloat16 (float32's exponent range, max ~3.4e38) has a finite forward, needs no
    # scaler, and its plain step is taken
    _require_autocast(device, torch.bfloat16)
    opt.zero_grad(set_to_none=True)
    with _autocast(device, torch.bfloat16):
        loss = F.mse_loss(model(x.to(device=device, dtype=torch.float32)), t.to(device))
    assert math.isfinite(loss.item())
    loss.backward()
    assert torch.isfinite(flat_grad(model)).all()
    opt.step()
    assert not torch.equal(flat_params(model), start)
