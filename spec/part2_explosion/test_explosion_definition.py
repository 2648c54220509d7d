"""explosion.definition

Source: 「梯度爆炸是指在反向传播过程中,梯度的值变得异常大,导致权重更新过于剧烈」
「具体来说,当网络的某些权重值过大时,计算出的梯度也会相应增大,从而导致后续的权重更新变得不稳定。」
「最终,这可能导致模型无法收敛,甚至出现数值溢出(NaN值)。」

What is true (confirmed):
- Exploding gradients are gradients so large that a step overshoots: on a quadratic, or far enough above the
  stability limit of the step (for SGD, lr > 2 / largest Hessian eigenvalue), each update lands where the gradient is
  larger.
- At about three times the limit the gradient norm grows step over step and within a few steps loss and parameters
  overflow to inf/NaN; the same net with a learning rate below the limit stays finite and its loss decreases.
- In a network the curvature changes as it trains, so the limit measured at initialisation is no sharp edge: the
  same net trained at 1.1 times that limit converges, its largest Hessian eigenvalue falling below 2 / lr.
- In float16 the overflow comes sooner: any value of 65520 or more (past the largest finite 65504, after rounding)
  becomes inf, so a run held in float16 overflows at the first step where its float64 twin's loss or gradient norm
  passes 65504, earlier than in float32 or bfloat16 (largest value about 3.4e38).
- Larger weights do give larger gradients: scaling every weight of a bias-free depth-L linear or ReLU net by c > 0
  scales each weight gradient of the linear read-out u.f(x) by c^(L-1), up to rounding.

Why: on a quadratic, gradient descent multiplies the error along an eigenvector of the Hessian by 1 - lr lambda
per step, which exceeds 1 in absolute value once lr > 2 / lambda (Goodfellow et al., Deep Learning, sec. 4.3.1;
the cliffs of sec. 8.2.4 are the non-quadratic version). The tests measure lambda_max of the MSE Hessian of a
depth-3 linear net at init (support.explosion.unstable_regression) and put lr = 0.05 and lr = 1 (about 3 x 2 /
lambda_max) on either side of 2 / lambda_max: at lr = 1 the gradient norm grows every step and overflows within
OVERFLOW_WITHIN_STEPS (derived in support.explosion), at 0.05 the loss decreases every step (the descent lemma; its
premise, curvature below 2/lr = 40 along the path, is checked as lambda_max of the Hessian at init and after every
step, and its margin is a figure). A network is not a quadratic: its Hessian moves with the weights, and a run
slightly above the limit measured at initialisation can move to weights of lower curvature and converge there (the
catapult phase, Lewkowycz et al. 2020, arXiv:2003.02218; the edge of stability, Cohen et al. 2021,
arXiv:2103.00065). A test runs the same net at 1.1 and 3 times its initial limit: at 1.1 x, after 40 steps,
lambda_max has fallen below 2 / lr and the loss's excess over the least-squares optimum (this linear net with
biases represents every affine map, so its lowest loss is that of [x, 1], from the normal equations) has fallen at
least 100-fold; at 3 x the gradient norm grows every step until it overflows. Overflow is a property of the
number format: IEEE float16 has 5 exponent bits, largest finite (2 - 2^-10) 2^15 = 65504 (round-to-nearest sends
65520 and above to inf, checked on 65519 and 65520); bfloat16 keeps float32's 8 exponent bits, largest ~3.4e38;
float64's is ~1.8e308. The
same lr = 1 run with the model, data and gradients in float16, bfloat16 and float32 (model.to(dtype), as
model.half() does, so every quantity of the run is in that dtype; under autocast the loss and master weights
would stay float32) overflows at the step predicted from the float64 run: the first whose loss or gradient norm
passes the dtype's largest value. Until then the low-precision run tracks the float64 one, because its rounding
(2^-8 to 2^-24 relative) is negligible against growth by orders of magnitude per step. Homogeneity: f(x; cW) =
c^L f(x; W) for a bias-free net of L linear layers with a positively homogeneous activation, and d f / d W_l is a
product of the other L - 1 weight matrices, so it scales by c^(L-1) (checked in float64 for c in 0.5, 3, 10).
"""

import functools
import math

import pytest
import torch

from support.explosion import OVERFLOW_WITHIN_STEPS, UNSTABLE_LR, unstable_regression
from support.gradients import loss_hessian_max_eigenvalue
from support.least_squares import least_squares_solution
from support.models import mlp
from support.tensors import maker
from support.tolerances import assert_close
from support.training import train

pytestmark = pytest.mark.claim("explosion.definition")

STEPS = 20
LR_SANE, LR_LARGE = 0.05, UNSTABLE_LR
K_STEPS = OVERFLOW_WITHIN_STEPS  # derived in support.explosion


# the two runs share two figures: gradient norm per step and loss per step (inf/nan are left out of the plot)
def _grad_plot(figures):
    return figures.plot(
        "gradient norm per step at two learning rates",
        x_label="SGD step",
        y_label="total gradient norm (L2)",
        zh=("两种学习率下每步的梯度范数", "SGD步数", "总梯度范数(L2)"),
        log_y=True,
    )


def _loss_plot(figures):
    return figures.plot(
        "training loss per step at two learning rates",
        x_label="SGD step",
        y_label="training MSE (squared target units)",
        zh=("两种学习率下每步的训练损失", "SGD步数", "训练MSE(目标单位的平方)"),
        log_y=True,
    )


def _setup(device):
    return unstable_regression(device)


# what the recorded numbers were measured on (the report shows it next to each)
MEASURED_ON = "linear MLP 4-8-8-1 (seed 3), MSELoss, 32 regression samples, full-batch SGD"
MEASURED_ON_ZH = "线性 MLP 4-8-8-1(种子 3),MSELoss,32 个回归样本,全 batch SGD"


def _record(figures, name: str, value, unit: str, *, zh: str, **kwargs) -> float:
    """A figure measured on support.explosion.unstable_regression (MEASURED_ON)."""
    return figures.record(name, value, unit, zh=zh, measured_on=MEASURED_ON, measured_on_zh=MEASURED_ON_ZH, **kwargs)


def _largest_hessian_eigenvalue(model, x, y) -> float:
    """lambda_max of the MSE loss Hessian w.r.t. all parameters at the model's current weights."""
    return loss_hessian_max_eigenvalue(model, torch.nn.functional.mse_loss, x, y)


def _run(make_model, x, y, lr, dtype=torch.float64, evaluate=None, steps=STEPS):
    model = make_model().to(dtype)
    x, y = x.to(dtype), y.to(dtype)
    history = train(
        model,
        torch.nn.functional.mse_loss,
        x,
        y,
        optimizer=torch.optim.SGD(model.parameters(), lr=lr),
        steps=steps,
        stop_when_non_finite=False,
        evaluate=evaluate,
    )
    return model, history


def test_learning_rates_straddle_the_stability_limit(device, figures):
    x, y, make_model = _setup(device)
    lam = _largest_hessian_eigenvalue(make_model(), x, y)
    limit = 2.0 / lam
    _record(figures, "lambda_max of the loss Hessian at init", lam, "1/lr", zh="初始化时损失Hessian的lambda_max")
    _record(figures, "stability limit 2/lambda_max", limit, "lr", zh="稳定极限 2/lambda_max")
    assert LR_SANE < limit < LR_LARGE  # the two runs below sit on either side of the limit


def test_too_large_lr_grows_the_gradient_every_step_until_overflow(device, figures):
    x, y, make_model = _setup(device)
    model, history = _run(make_model, x, y, LR_LARGE)
    k = history.first_non_finite_step
    assert k is not None and k <= K_STEPS, f"no overflow within {K_STEPS} steps: {history.grad_norms}"
    finite = history.grad_norms[:k]
    assert len(finite) >= 3
    assert all(b > a for a, b in zip(finite, finite[1:])), f"gradient norm did not grow step over step: {finite}"
    assert not math.isfinite(history.losses[-1])
    assert not all(torch.isfinite(p).all() for p in model.parameters())  # the overflow reached the weights
    _record(figures, "first non-finite step at lr=1.0", k, "step", zh="lr=1.0时首个出现非有限值的步")
    _record(
        figures,
        "largest finite gradient norm before overflow",
        finite[-1],
        "gradient norm",
        zh="溢出前最大的有限梯度范数",
    )
    name = f"lr = {LR_LARGE} (above 2/lambda_max), non-finite from step {k}"
    name_zh = f"lr = {LR_LARGE}(高于 2/lambda_max),从第{k}步起非有限"
    _grad_plot(figures).line(name, range(len(history.grad_norms)), history.grad_norms, zh=name_zh)
    _loss_plot(figures).line(name, range(len(history.losses)), history.losses, zh=name_zh)


def test_sane_lr_stays_finite_and_decreases_the_loss_every_step(device, figures):
    x, y, make_model = _setup(device)
    _, history = _run(make_model, x, y, LR_SANE, evaluate=lambda m: _largest_hessian_eigenvalue(m, x, y))
    assert history.finite and len(history.losses) == STEPS
    # below 2/lambda_max a gradient step on a smooth loss is a descent step (descent lemma), as long as the
    # curvature along the path stays below 2/lr: measured at init and after every step, it does
    curvatures = [_largest_hessian_eigenvalue(make_model(), x, y)] + history.evaluations
    assert max(curvatures) < 2 / LR_SANE, curvatures
    assert all(b < a for a, b in zip(history.losses, history.losses[1:])), history.losses
    _record(
        figures,
        "loss after 20 steps / initial loss at lr=0.05",
        history.losses[-1] / history.losses[0],
        "1",
        zh="lr=0.05时20步后的损失 / 初始损失",
    )
    _record(
        figures,
        "lr=0.05: largest lambda_max along the run / (2/lr)",
        max(curvatures) * LR_SANE / 2,
        "1",
        zh="lr=0.05:训练过程中最大的 lambda_max / (2/lr)",
    )
    name = f"lr = {LR_SANE} (below 2/lambda_max)"
    name_zh = f"lr = {LR_SANE}(低于 2/lambda_max)"
    _grad_plot(figures).line(name, range(STEPS), history.grad_norms, zh=name_zh)
    _loss_plot(figures).line(name, range(STEPS), history.losses, zh=name_zh)


@functools.lru_cache(maxsize=4)  # deterministic; the three dtypes compare with the same float64 run
def _float64_run(device):
    x, y, make_model = _setup(device)
    return _run(make_model, x, y, LR_LARGE)[1]


def _first_step_past(history, limit):
    """The first step whose loss or gradient norm (the largest values of the step) is past ``limit``."""
    return next(
        k for k, (loss, norm) in enumerate(zip(history.losses, history.grad_norms)) if not max(loss, norm) <= limit
    )  # inf and NaN count as past


# MSELoss's CPU backward kernel (aten/src/ATen/native/cpu/PointwiseOpsKernel.cpp, mse_backward_cpu_kernel) dispatches
# float16 and bfloat16 from torch 2.6 on (the MSELoss CPU half-precision stack of pytorch#139959, Nov 2024); torch
# 2.5's dispatches neither. The skip follows that version, so a missing kernel on a later torch fails.
CPU_HALF_MSE_SINCE = (2, 6)


def _mse_kernels_undocumented(device, dtype) -> str | None:
    """Why this torch version has no MSELoss forward and backward in ``dtype`` on ``device``, or None."""
    if (
        torch.device(device).type == "cpu"
        and dtype in (torch.float16, torch.bfloat16)
        and torch.__version__ < CPU_HALF_MSE_SINCE
    ):
        return f"torch {torch.__version__} < 2.6 has no CPU {dtype} MSELoss backward kernel"
    return None


@pytest.mark.parametrize(
    "dtype", [torch.float16, torch.bfloat16, torch.float32], ids=["float16", "bfloat16", "float32"]
)
def test_in_low_precision_the_run_overflows_once_the_float64_run_passes_the_largest_finite_value(
    device, dtype, figures
):
    missing = _mse_kernels_undocumented(device, dtype)
    if missing:  # decided by the torch version, not by trying the kernel
        pytest.skip(missing)
    # The whole run in dtype (model.to(dtype), as model.half() does: weights, activations, loss and gradients;
    # under autocast the MSE and the master weights would stay float32): a value overflows to inf once it passes
    # finfo(dtype).max, 65504 for float16, ~3.4e38 for bfloat16 (float32's 8 exponent bits) and float32. Until
    # then the low-precision run follows the float64 one (its rounding, 2^-8 to 2^-24 relative, is nothing
    # against growth by orders of magnitude per step), so it overflows at the first step where the float64
    # run's loss or gradient norm passes that limit.
    x, y, make_model = _setup(device)
    reference = _float64_run(device)
    expected = _first_step_past(reference, torch.finfo(dtype).max)
    _, history = _run(make_model, x, y, LR_LARGE, dtype)
    assert history.first_non_finite_step == expected, (history.losses, reference.losses[: expected + 1])
    if dtype == torch.float16:  # 65504 is passed steps before the float32 (and float64) limits are
        # round-to-nearest-even: float16's spacing at the top is 2^(15 - 10) = 32, so anything below 65504 + 16
        # rounds down to 65504, and 65520 ties to the even neighbour 65536 = 2^16, outside the range: inf
        top, half_ulp = torch.finfo(torch.float16).max, 2.0 ** (15 - 10) / 2
        edge = torch.tensor([top + half_ulp - 1, top + half_ulp], dtype=torch.float32, device=device)
        assert edge.half().tolist() == [top, math.inf]
        assert expected < _first_step_past(reference, torch.finfo(torch.float32).max)
        assert expected < reference.first_non_finite_step
    name = str(dtype).removeprefix("torch.")
    _record(
        figures,
        f"lr=1.0 in {name}: first non-finite step",
        expected,
        "step",
        zh=f"lr=1.0,{name}:首个出现非有限值的步",
        note=f"float64: step {reference.first_non_finite_step}",
        note_zh=f"float64:第{reference.first_non_finite_step}步",
    )


@pytest.mark.parametrize("activation", ["linear", "relu"])
@pytest.mark.parametrize("c", [0.5, 3.0, 10.0])
def test_scaling_the_weights_by_c_scales_the_weight_gradients_by_c_to_the_depth_minus_one(device, activation, c):
    # f(x; cW) = c^L f(x; W) for a bias-free net of L linear layers with a positively homogeneous activation,
    # and d f / d W_l is a product of the other L - 1 weight matrices: it scales by c^(L-1).
    depth = 4
    x = maker(device).randn(5, 6, seed=1)
    grads = {}
    for scale in (1.0, c):
        net = mlp(6, 6, 2, depth=depth, activation=activation, weight_std=0.4, bias=False, seed=7, device=device)
        with torch.no_grad():
            for p in net.parameters():
                p.mul_(scale)  # in float64, so the scaled net is c times the other up to float64 rounding
        net(x).sum().backward()
        grads[scale] = [p.grad for p in net.parameters()]
    for g1, gc in zip(grads[1.0], grads[c]):
        assert_close(gc, c ** (depth - 1) * g1)


SLIGHTLY, FAR = 1.1, 3.0  # multiples of the stability limit 2/lambda_max measured at initialisation
CURVATURE_STEPS = 40


def test_slightly_above_the_initial_limit_the_curvature_falls_and_training_converges_far_above_it_diverges(
    device, figures
):
    # On a quadratic the Hessian is constant, so any lr > 2/lambda_max diverges. A network's Hessian moves with its
    # weights: trained slightly above the limit measured at initialisation, SGD can reach weights whose curvature
    # lies below 2/lr and converge there (the catapult phase, Lewkowycz et al. 2020, arXiv:2003.02218; the edge of
    # stability, Cohen et al. 2021, arXiv:2103.00065). Far above it every step overshoots and the run overflows.
    x, y, make_model = _setup(device)
    lam0 = _largest_hessian_eigenvalue(make_model(), x, y)
    limit = 2.0 / lam0
    # the linear net 4-8-8-1 with biases represents every affine map of x, so its lowest loss is the least-squares
    # optimum of [x, 1], computed here independently of any training
    w_star, b_star = least_squares_solution(x, y)
    optimum = torch.nn.functional.mse_loss(x @ w_star.T + b_star, y).item()

    model, near = _run(make_model, x, y, SLIGHTLY * limit, steps=CURVATURE_STEPS)
    assert near.finite
    lam_end = _largest_hessian_eigenvalue(model, x, y)
    # the curvature fell below the step's limit 2/lr, which lies below the initial curvature by construction
    assert lam_end < 2.0 / (SLIGHTLY * limit) < lam0, (lam0, lam_end)
    # converged: the excess loss over the optimum fell at least 100-fold (a run that merely stayed finite, or
    # oscillated at its starting loss, would not)
    final = torch.nn.functional.mse_loss(model(x), y).item()
    assert final - optimum <= (near.losses[0] - optimum) / 100, (near.losses[0], final, optimum)

    _, far = _run(make_model, x, y, FAR * limit)
    k = far.first_non_finite_step
    assert k is not None and k <= K_STEPS, f"no overflow within {K_STEPS} steps: {far.grad_norms}"
    finite = far.grad_norms[:k]
    assert len(finite) >= 3
    assert all(b > a for a, b in zip(finite, finite[1:])), f"gradient norm did not grow step over step: {finite}"

    _record(
        figures,
        f"lr = {SLIGHTLY} x 2/lambda_max(init): lambda_max after {CURVATURE_STEPS} steps x lr / 2",
        lam_end * SLIGHTLY * limit / 2,
        "1",
        zh=f"lr = {SLIGHTLY} x 2/lambda_max(初始化时):{CURVATURE_STEPS} 步后的 lambda_max x lr / 2",
    )
    _record(
        figures,
        f"lr = {SLIGHTLY} x 2/lambda_max(init): final loss / least-squares optimum",
        final / optimum,
        "1",
        zh=f"lr = {SLIGHTLY} x 2/lambda_max(初始化时):最终损失 / 最小二乘最优值",
    )
    _record(
        figures,
        f"lr = {FAR} x 2/lambda_max(init): first non-finite step",
        k,
        "step",
        zh=f"lr = {FAR} x 2/lambda_max(初始化时):首个出现非有限值的步",
    )
    plot = figures.plot(
        "training loss per step slightly above and far above the initial limit",
        x_label="SGD step",
        y_label="training MSE (squared target units)",
        log_y=True,
        zh=("略高于与远高于初始稳定极限时每步的训练损失", "SGD步数", "训练MSE(目标单位的平方)"),
    )
    plot.line(
        f"lr = {SLIGHTLY} x 2/lambda_max(init): converges",
        range(len(near.losses)),
        near.losses,
        zh=f"lr = {SLIGHTLY} x 2/lambda_max(初始化时):收敛",
    )
    plot.line(
        f"lr = {FAR} x 2/lambda_max(init): non-finite from step {k}",
        range(len(far.losses)),
        far.losses,
        zh=f"lr = {FAR} x 2/lambda_max(初始化时):从第{k}步起非有限",
    )
    plot.bound("least-squares optimum", [0, CURVATURE_STEPS], [optimum, optimum], zh="最小二乘最优值")
