"""remedy.clip-stabilises

Source: 「梯度裁剪(Gradient Clipping):这是最常用的方法之一。」
「通过以上方法,可以有效地减轻或避免梯度爆炸问题,从而提高模型训练的稳定性和效率。」

What is true (qualified):
- For plain SGD, norm clipping bounds every update to lr * max_norm (Pascanu et al. 2013, sec. 3.2, Algorithm 1) as
  long as the gradient's total norm is finite.
- An inf gradient gives an inf total norm, and clip_grad_norm_ turns it into NaN (inf x 0), which the step writes
  into the parameters; a finite gradient whose norm overflows (past 3.4e38 in float32) is zeroed instead, so the
  step does nothing.
- A deep linear net trained by SGD at about twice its stability limit overflows to inf/NaN within a dozen steps;
  with clip_grad_norm_ the same run stays finite, moves its parameters by at most lr * max_norm per step, and brings
  the loss within 2x the least-squares optimum.
- A too-large learning rate still does not converge: the clipped iterate ends in a period-2 oscillation of step lr *
  max_norm around the minimum.
- With momentum mu the clipped gradients add up in the buffer: a step can exceed lr * max_norm and is bounded only
  by lr * max_norm * (1 - mu^t) / (1 - mu) at step t, below lr * max_norm / (1 - mu).
- Adam normalises the clipped gradient, so each coordinate still moves by about lr (exactly lr g / (|g| + eps) at
  the first step): clipping does not cap Adam's step size.

Why: clip_grad_norm_ rescales the gradient to norm max_norm * total / (total + 1e-6) < max_norm when its total
norm exceeds max_norm (PyTorch docs, torch.nn.utils.clip_grad_norm_), so a clipped gradient always has norm <=
max_norm. Plain SGD moves by lr times it. SGD with momentum (PyTorch docs, torch.optim.SGD) moves by lr b_t with
b_t = mu b_{t-1} + g_t, b_1 = g_1, so ||b_t|| <= sum_{k<t} mu^k max_norm = max_norm (1 - mu^t) / (1 - mu); the
bound is reached when the clipped gradients keep their direction, which they do early in this run, where the
raw gradient is huge and changes slowly. Adam (PyTorch docs, torch.optim.Adam; Kingma & Ba 2015, sec. 2.1) at
step 1 moves each coordinate by lr g / (|g| + eps) for any gradient g, clipped or not; at step t, Cauchy-Schwarz
on m_t = (1 - b1) sum_s b1^(t-s) g_s against v_t = (1 - b2) sum_s b2^(t-s) g_s^2 bounds each coordinate's move by
lr B_t, B_t = (1 - b1) / (1 - b1^t) * sqrt((1 - b2^t) / (1 - b2) * sum_{k<t} (b1^2 / b2)^k) (B_1 = 1; about
1.2 at t = 20 for the default betas), a bound with no max_norm in it. Clipping multiplies step t's gradient by
c_t = max_norm / ||g_t||: Adam is invariant to a factor common to all steps while c |g| >> eps
(update.scales-with-loss), and factors that differ between steps only reweight the gradients inside m and v; the
move per coordinate stays about lr. The momentum and Adam tests train the same net with the same max_norm and
lr as the plain-SGD tests, so the three step-size curves share one figure with their bounds. The learning rate is
0.7, not 1, so that lr * max_norm and lr g / (|g| + eps) differ from max_norm and g / (|g| + eps).

The run (support.explosion.unstable_regression, the net explosion.definition shows overflowing): a depth-3 linear MLP
4-8-8-1 on 32 float64 regression samples, SGD at lr = 0.7, about twice the stability limit 2/lambda_max at init,
clipped at max_norm = 0.05; momentum mu = 0.9 makes the bound lr max_norm / (1 - mu) ten times lr max_norm, and
Adam's step has norm about lr sqrt(P) for P parameters with a non-zero gradient, about 220 times lr max_norm here.

A non-finite total norm defeats the bound: clip_grad_norm_ multiplies every gradient by min(1, max_norm / (total +
1e-6)), which is 0 when total = inf, and IEEE arithmetic gives inf x 0 = NaN and finite x 0 = 0. So an inf element
becomes NaN and SGD writes it into its parameter; and a gradient whose elements are all finite but whose norm
overflows (float32: squares past 3.4e38, i.e. elements past about 1.8e19, sum to inf) is zeroed, so the step does
nothing. The test builds both from the run's own model and data.

Within 2x the optimum, derived: in the quadratic model at the final iterates, two clipped steps of length
s = lr * max_norm that undo each other lie along an eigenvector u of the Hessian, with the two iterates on either
side of the minimum along u at distances adding up to s; so the excess loss of the nearer one is at most
1/2 lambda_max (s/2)^2 and of the farther one at most 1/2 lambda_max s^2 (lambda_max measured at those iterates),
and the latter is below the least-squares optimum itself.
"""

import functools
import math

import pytest
import torch

from support.explosion import OVERFLOW_WITHIN_STEPS, unstable_regression
from support.gradients import flat_grad, flat_params, loss_hessian_max_eigenvalue, total_grad_norm
from support.least_squares import least_squares_solution
from support.tolerances import ROUNDING, assert_close, assert_le, override, slack
from support.training import train

pytestmark = pytest.mark.claim("remedy.clip-stabilises")
# what the recorded numbers were measured on (the report shows it next to each)
MEASURED_ON = "linear MLP 4-8-8-1, MSELoss, 32 samples, full batch, lr 0.7, clip_grad_norm_ at max_norm 0.05"
MEASURED_ON_ZH = "线性 MLP 4-8-8-1,MSELoss,32 个样本,全 batch,lr 0.7,clip_grad_norm_ 的 max_norm 为 0.05"
UNCLIPPED_ON = "linear MLP 4-8-8-1, MSELoss, 32 samples, full-batch SGD at lr 0.7, no clipping"
UNCLIPPED_ON_ZH = "线性 MLP 4-8-8-1,MSELoss,32 个样本,全 batch SGD,lr 0.7,不裁剪"

# lr 0.7, not 1: at lr = 1 a step lr * max_norm equals max_norm and lr * g / (|g| + eps) equals g / (|g| + eps), so
# the checks below could not tell whether the optimizer applied lr at all. 0.7 is still about twice the stability
# limit 2/lambda_max (~0.33 at init; checked below).
LR, MAX_NORM, STEPS = 0.7, 0.05, 40
MU = 0.9  # SGD momentum: the bound on a step grows to lr * max_norm / (1 - MU) = 10 lr * max_norm
ADAM_STEPS = 20
BETAS, EPS = (0.9, 0.999), 1e-8  # Adam's defaults
# Steps are read off as differences of float64 parameters (|theta| <~ 10 here): rounding of ~1e-15 relative;
# a bound that the step may reach exactly is checked with this much slack
STEP_ROUNDING = slack(
    rel=1e-9,
    reason="steps read off as differences of float64 parameters |theta| <~ 10 "
    "(~1e-15 relative), against a bound they may reach exactly",
)


# both runs (and the optimum) in one figure; the unclipped losses end in inf/nan, which the plot leaves out
def _loss_plot(figures):
    return figures.plot(
        f"training loss per step at lr = {LR:g}, with and without clipping",
        x_label="SGD step",
        y_label="training MSE (squared target units)",
        zh=(f"lr = {LR:g}时有无裁剪的每步训练损失", "SGD步数", "训练MSE(目标单位的平方)"),
        log_y=True,
    )


def _record(figures, name: str, value, unit: str, *, zh: str) -> float:
    """A figure measured on the module's clipped run (MEASURED_ON)."""
    return figures.record(name, value, unit, zh=zh, measured_on=MEASURED_ON, measured_on_zh=MEASURED_ON_ZH)


def _largest_hessian_eigenvalue(make_model, x, y, flat) -> float:
    """lambda_max of the MSE loss Hessian w.r.t. all parameters at the flat parameter vector ``flat``."""
    return loss_hessian_max_eigenvalue(make_model(), torch.nn.functional.mse_loss, x, y, at=flat)


def _optimizer(kind, params):
    if kind == "sgd":
        return torch.optim.SGD(params, lr=LR)
    if kind == "momentum":
        return torch.optim.SGD(params, lr=LR, momentum=MU)
    return torch.optim.Adam(params, lr=LR, betas=BETAS, eps=EPS)


@functools.lru_cache(maxsize=8)  # deterministic; several tests read the clipped runs
def _run(device, clip_norm, kind="sgd"):
    x, y, make_model = unstable_regression(device)  # the run explosion.definition shows overflowing
    model = make_model()
    start = flat_params(model)
    history = train(
        model,
        torch.nn.functional.mse_loss,
        x,
        y,
        optimizer=_optimizer(kind, model.parameters()),
        steps=ADAM_STEPS if kind == "adam" else STEPS,
        clip_norm=clip_norm,
        stop_when_non_finite=True,
        evaluate=lambda m: flat_params(m),
    )
    return x, y, start, history


def _step_norms(start, history):
    positions = [start] + history.evaluations
    return [(b - a).norm().item() for a, b in zip(positions, positions[1:])]


# all step sizes in one figure, with the bounds as dashed lines
def _step_plot(figures):
    return figures.plot(
        f"parameter step per step with clip_grad_norm_(max_norm = {MAX_NORM}), lr = {LR:g}",
        x_label="optimizer step",
        y_label="step size ||theta_t - theta_(t-1)|| (parameter norm)",
        zh=(
            f"使用 clip_grad_norm_(max_norm = {MAX_NORM}) 时每步的参数步长,lr = {LR:g}",
            "优化器步数",
            "步长 ||theta_t - theta_(t-1)||(参数范数)",
        ),
        log_y=True,
    )


def _least_squares_optimum(x, y) -> float:
    # the net is affine in x (3 linear layers with biases, width 8 >= 1 output), so its best loss is the
    # ordinary least-squares fit with an intercept
    w, b = least_squares_solution(x, y)
    return torch.nn.functional.mse_loss(x.double() @ w.T + b, y.double()).item()


def test_without_clipping_the_run_overflows(device, figures):
    x, y, start, history = _run(device, clip_norm=None)
    # lr above the stability limit 2/lambda_max at init: the first steps overshoot along the top eigenvector
    # (|1 - lr lambda_max| > 1), and once the overshoot compounds (support.explosion: the gradient grows like the
    # 5th power of the weights of this depth-3 net) float64 overflows a few steps later; the slower first
    # overshoots at lr 0.7 (2x the limit rather than 3x) still fit in OVERFLOW_WITHIN_STEPS
    limit = 2 / _largest_hessian_eigenvalue(unstable_regression(device)[2], x, y, start)
    assert limit < LR
    assert history.first_non_finite_step is not None and history.first_non_finite_step <= OVERFLOW_WITHIN_STEPS
    figures.record(
        "lr / stability limit 2/lambda_max at init",
        LR / limit,
        "1",
        zh="lr / 初始化时的稳定极限 2/lambda_max",
        measured_on=UNCLIPPED_ON,
        measured_on_zh=UNCLIPPED_ON_ZH,
    )
    figures.record(
        "no clipping: first non-finite step",
        history.first_non_finite_step,
        "step",
        zh="不裁剪:首个出现非有限值的步",
        measured_on=UNCLIPPED_ON,
        measured_on_zh=UNCLIPPED_ON_ZH,
    )
    _loss_plot(figures).line(
        "no clipping (stops at the first non-finite loss)",
        range(len(history.losses)),
        history.losses,
        zh="不裁剪(在首个非有限损失处停止)",
    )


def test_with_clipping_the_run_stays_finite_and_every_step_is_at_most_lr_times_max_norm(device, figures):
    x, y, start, history = _run(device, clip_norm=MAX_NORM)
    assert history.finite and len(history.losses) == STEPS
    assert max(history.grad_norms) > MAX_NORM  # clipping was active (pre-clip norms exceed the threshold)
    positions = [start] + history.evaluations
    steps = [(b - a).norm().item() for a, b in zip(positions, positions[1:])]
    # clipped gradient norm = max_norm * total / (total + 1e-6) < max_norm, so ||step|| = lr * that < lr * max_norm
    assert_le(max(steps), LR * MAX_NORM, slack=ROUNDING)
    _record(figures, "clipped run: largest parameter step", max(steps), "parameter norm", zh="裁剪训练:最大参数步长")
    _record(
        figures,
        "clipped run: largest pre-clip gradient norm",
        max(history.grad_norms),
        "gradient norm",
        zh="裁剪训练:裁剪前的最大梯度范数",
    )
    _loss_plot(figures).line(
        f"clip_grad_norm_, max_norm = {MAX_NORM}",
        range(STEPS),
        history.losses,
        zh=f"clip_grad_norm_ 裁剪,max_norm = {MAX_NORM}",
    )


def test_a_non_finite_total_norm_defeats_clipping(device):
    # an inf gradient element: the total norm is inf, the clip coefficient max_norm / (inf + 1e-6) = 0, and
    # inf * 0 = NaN while every finite element becomes 0; the SGD step then writes the NaN into that parameter
    x, y, make_model = unstable_regression(device)
    model = make_model()
    torch.nn.functional.mse_loss(model(x), y).backward()
    params = list(model.parameters())
    params[0].grad[0, 0] = math.inf
    assert torch.nn.utils.clip_grad_norm_(params, MAX_NORM).item() == math.inf
    g = flat_grad(model)
    assert math.isnan(g[0].item()) and torch.equal(g[1:], torch.zeros_like(g[1:]))
    before = flat_params(model)
    torch.optim.SGD(params, lr=LR).step()
    after = flat_params(model)
    assert math.isnan(after[0].item()) and torch.equal(after[1:], before[1:])
    # a finite float32 gradient whose norm overflows: the loss scaled by 1e30 gives elements far past 1.8e19, whose
    # squares overflow float32; every element is finite, the total norm is inf, and clipping zeroes them all
    model32 = make_model().float()
    (1e30 * torch.nn.functional.mse_loss(model32(x.float()), y.float())).backward()
    params32 = list(model32.parameters())
    g32 = flat_grad(model32)
    assert torch.isfinite(g32).all() and g32.abs().max() > 1.9e19
    assert total_grad_norm(params32).item() == math.inf
    assert torch.nn.utils.clip_grad_norm_(params32, MAX_NORM).item() == math.inf
    assert torch.equal(flat_grad(model32), torch.zeros_like(g32))
    before32 = flat_params(model32)
    torch.optim.SGD(params32, lr=LR).step()
    assert torch.equal(flat_params(model32), before32)  # clipped to nothing: the run no longer moves


def test_with_clipping_the_loss_comes_within_twice_the_optimum(device, figures):
    x, y, start, history = _run(device, clip_norm=MAX_NORM)
    optimum = _least_squares_optimum(x, y)
    # Derived: the run ends in a period-2 oscillation of clipped steps s = lr * max_norm (next test). In the
    # quadratic model at the final iterates, L - L* = 1/2 d^T H d, a clipped step moves by s along -g/|g|, and two
    # steps that undo each other (g at p_k along u, at p_k - s u along -u) make u an eigenvector of H and put d_k
    # and d_(k+1) = d_k - s u on u, on either side of the minimum: |d_k| + |d_(k+1)| = s. So the phase nearer the
    # minimum has excess <= 1/2 lambda_max (s/2)^2 and the farther one <= 1/2 lambda_max s^2, lambda_max the
    # largest Hessian eigenvalue measured at the two final iterates.
    positions = [start] + history.evaluations  # losses[k] is the loss at positions[k]
    lam = max(
        _largest_hessian_eigenvalue(unstable_regression(device)[2], x, y, positions[k]) for k in (STEPS - 2, STEPS - 1)
    )
    excess = sorted(v - optimum for v in history.losses[-2:])
    step = LR * MAX_NORM
    rounding = slack(rel=1e-9, reason="float64 losses and a Hessian eigenvalue, ~1e-15 relative")
    assert_le(excess[0], 0.5 * lam * (step / 2) ** 2, slack=rounding, msg="the phase nearer the minimum")
    assert_le(excess[1], 0.5 * lam * step**2, slack=rounding, msg="the phase farther from the minimum")
    # and the bound of the farther phase is below the optimum itself (lambda_max s^2 / 2 < L*), which is why the
    # final loss comes within 2x the optimum; both phases of the final oscillation are checked
    final = max(history.losses[-2:])
    assert 0.5 * lam * step**2 < optimum
    assert final <= 2 * optimum
    # "brings the loss down": the start sits far above twice the optimum, so the check above is not met by a run
    # that barely moved; the loss fell by more than an order of magnitude
    assert final < history.losses[0] / 10
    _record(
        figures, "clipped run: lambda_max at the final iterates", lam, "1/lr", zh="裁剪训练:最终迭代点处的 lambda_max"
    )
    _record(
        figures,
        "clipped run: final loss / least-squares optimum",
        final / optimum,
        "1",
        zh="裁剪训练:最终损失 / 最小二乘最优值",
    )
    _record(figures, "least-squares optimum (MSE)", optimum, "1", zh="最小二乘最优值(MSE)")
    _loss_plot(figures).bound("least-squares optimum", [0, STEPS - 1], [optimum, optimum], zh="最小二乘最优值")


def test_with_clipping_the_run_ends_in_a_period_two_oscillation_of_step_lr_times_max_norm(device, figures):
    _, _, start, history = _run(device, clip_norm=MAX_NORM)
    positions = [start] + history.evaluations
    steps = [b - a for a, b in zip(positions, positions[1:])]
    last = range(STEPS - 10, STEPS - 1)
    # still clipped at the end: the raw gradient never falls to max_norm, so each step is
    # lr * max_norm * total / (total + 1e-6), i.e. lr * max_norm up to a relative 1e-6 / max_norm = 2e-5
    assert all(history.grad_norms[k] > MAX_NORM for k in last)
    for k in last:
        assert abs(steps[k].norm().item() / (LR * MAX_NORM) - 1) <= 1e-6 / MAX_NORM
    # and each step undoes the one before: period 2 means step_{k+1} = -step_k, so a cosine near -1
    # (below -0.9: more than 154 degrees apart; a converging run's steps would shrink instead)
    cosines = [torch.nn.functional.cosine_similarity(steps[k], steps[k + 1], dim=0).item() for k in last]
    assert max(cosines) < -0.9, cosines
    _record(
        figures,
        "clipped run: largest cosine of consecutive steps over the last 10",
        max(cosines),
        "1",
        zh="裁剪训练:最后10步中相邻两步余弦的最大值",
    )


def test_with_momentum_a_clipped_step_exceeds_lr_times_max_norm_but_stays_below_it_over_one_minus_mu(device, figures):
    _, _, start, history = _run(device, MAX_NORM, "momentum")
    assert history.finite and len(history.losses) == STEPS
    assert max(history.grad_norms) > MAX_NORM  # clipping was active
    steps = _step_norms(start, history)
    # ||b_t|| <= max_norm (1 - mu^t) / (1 - mu): every clipped gradient has norm <= max_norm (see Why)
    bounds = [LR * MAX_NORM * (1 - MU**t) / (1 - MU) for t in range(1, STEPS + 1)]
    for t, (step, bound) in enumerate(zip(steps, bounds), start=1):
        assert_le(step, bound, slack=STEP_ROUNDING, msg=f"momentum step {t}")
    # and "bounded by lr * max_norm" is false with momentum: early on the raw gradient is huge and turns slowly,
    # so consecutive clipped gradients are nearly parallel and ||b_2|| = ||mu g_1 + g_2|| ~ (1 + mu) max_norm;
    # 1.5 lr max_norm leaves room for an angle of ~70 degrees between them
    assert max(steps) > 1.5 * LR * MAX_NORM
    assert max(steps) < LR * MAX_NORM / (1 - MU)
    _record(
        figures,
        f"momentum {MU}: largest step / (lr max_norm)",
        max(steps) / (LR * MAX_NORM),
        "1",
        zh=f"动量 {MU}:最大步长 / (lr max_norm)",
    )
    plot = _step_plot(figures)
    plot.line(f"SGD momentum {MU}", range(1, STEPS + 1), steps, zh=f"SGD,动量 {MU}")
    plot.bound(
        f"SGD momentum {MU}: bound lr max_norm (1 - mu^t) / (1 - mu)",
        range(1, STEPS + 1),
        bounds,
        zh=f"SGD,动量 {MU}:上界 lr max_norm (1 - mu^t) / (1 - mu)",
    )
    _, _, sgd_start, sgd = _run(device, MAX_NORM)
    plot.line("plain SGD", range(1, STEPS + 1), _step_norms(sgd_start, sgd), zh="普通SGD")
    plot.bound("plain SGD: bound lr max_norm", [1, STEPS], [LR * MAX_NORM] * 2, zh="普通SGD:上界 lr max_norm")


def _adam_coordinate_bound(t, beta1=BETAS[0], beta2=BETAS[1]):
    """B_t: the largest |m^_t| / sqrt(v^_t) any gradient sequence can give (Cauchy-Schwarz, see Why)."""
    geometric = sum((beta1**2 / beta2) ** k for k in range(t))
    return (1 - beta1) / (1 - beta1**t) * math.sqrt((1 - beta2**t) / (1 - beta2) * geometric)


def test_adam_normalises_the_clipped_gradient_so_its_step_is_about_lr_sqrt_p_not_lr_max_norm(device, figures):
    x, y, start, history = _run(device, MAX_NORM, "adam")
    assert history.finite and len(history.losses) == ADAM_STEPS
    assert min(history.grad_norms) > MAX_NORM  # clipped at every step
    steps = _step_norms(start, history)
    # step 1, derived: the clipped gradient is g max_norm / (||g|| + 1e-6) (clip_grad_norm_'s formula), and Adam's
    # first move is lr g_c / (|g_c| + eps) per coordinate: its scale, hence max_norm, cancels
    _, _, make_model = unstable_regression(device)
    model = make_model()
    torch.nn.functional.mse_loss(model(x), y).backward()
    g = flat_grad(model)
    clipped = g * MAX_NORM / (g.norm() + 1e-6)
    first = history.evaluations[0] - start
    assert_close(
        first,
        -LR * clipped / (clipped.abs() + EPS),
        tol=override(
            rtol=1e-9, atol=1e-14, reason="a step of ~lr = 0.7 read off as the difference of parameters |theta| < 10"
        ),
    )
    # coordinates with |g_c| >= 100 eps each move by >= lr 100/101: the step's norm is about lr sqrt(P)
    moving = int((clipped.abs() >= 100 * EPS).sum())
    assert moving >= 0.9 * g.numel()
    assert steps[0] >= LR * math.sqrt(moving) * 100 / 101
    # every step obeys Adam's own bound lr sqrt(P) B_t, which has no max_norm in it ...
    p = g.numel()
    for t, step in enumerate(steps, start=1):
        assert_le(step, LR * math.sqrt(p) * _adam_coordinate_bound(t), slack=STEP_ROUNDING, msg=f"Adam step {t}")
    # ... and none is capped by lr * max_norm: the first alone is sqrt(P) / max_norm ~ 220 times it
    assert steps[0] > 100 * LR * MAX_NORM
    _record(
        figures,
        "Adam with clipping: first step / (lr max_norm)",
        steps[0] / (LR * MAX_NORM),
        "1",
        zh="Adam加裁剪:第一步步长 / (lr max_norm)",
    )
    _record(
        figures,
        "Adam with clipping: first step / (lr sqrt(P))",
        steps[0] / (LR * math.sqrt(p)),
        "1",
        zh="Adam加裁剪:第一步步长 / (lr sqrt(P))",
    )
    plot = _step_plot(figures)
    plot.line("Adam (default betas)", range(1, ADAM_STEPS + 1), steps, zh="Adam(默认betas)")
    plot.bound(
        f"Adam: lr sqrt(P), P = {p} parameters",
        [1, ADAM_STEPS],
        [LR * math.sqrt(p)] * 2,
        zh=f"Adam:lr sqrt(P),P = {p} 个参数",
    )
