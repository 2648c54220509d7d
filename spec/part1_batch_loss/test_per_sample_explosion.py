"""per-sample.explosion

Source: 「并可能引发梯度爆炸等问题。」 (per-sample backward "may cause gradient explosion and other problems")

What is true (qualified):
- Backpropagating sample by sample does not change the gradient: the accumulated per-sample gradients are the
  batch's sum gradient, and forgetting to divide them by N is what multiplies the step by N.
- What can diverge is an optimizer step after every sample: a learning rate at which full-batch gradient descent
  converges (below 2/lambda_max of the mean loss Hessian) can make one-step-per-sample SGD diverge.
- On least squares that a linear model fits exactly, SGD with batches of m drawn with replacement is guaranteed to
  converge below 2m/(beta + (m - 1) lambda_max), beta the largest per-sample curvature (Ma, Bassily & Belkin 2018);
  the largest stable learning rate lies above that edge, which is not a divergence point.
- At batch size 1, above lr = 1/min_i ||x~_i||^2 (x~_i the input with a 1 appended) no per-sample step brings the
  weights closer to the solution, far below 2/lambda_max.
- With noisy targets SGD at a fixed learning rate does not converge even below the edge: every sample's gradient is
  non-zero at the solution, so the iterates keep moving around it and the loss stays above the optimum.

Why: (a) the N-fold trap: summed per-sample backwards accumulate the batch's *sum* gradient, N times the mean
gradient, so an SGD step on it without dividing by N is N mean steps (two tests below).

(b) One step per sample on least squares. The problem (support.least_squares.least_squares_problem): y exactly linear
in 16 Gaussian features, N = 64, nn.Linear(16, 1) on F.mse_loss, so the model interpolates. Write x~ = [x, 1]
(the bias) and e = w - w* for the distance to the solution. MSELoss has no 1/2: sample i's Hessian is
H_i = 2 x~_i x~_i^T, the mean one H = (2/N) X~^T X~. A step on sample i gives e' = e - a (u.e) u with
u = x~_i/||x~_i||, a = 2 lr ||x~_i||^2, so ||e'||^2 = ||e||^2 + (a^2 - 2a)(u.e)^2: non-expansive when a <= 2,
strictly expansive along u when a > 2. Above lr = 1/min_i ||x~_i||^2 every sample has a > 2: ||e|| can only grow,
step after step, in any order (and it diverges almost surely, since e cannot stay orthogonal to every x~_i). Full-
batch GD multiplies each eigencomponent of e by 1 - lr lambda, so it converges exactly when lr < 2/lambda_max.
For this data 1/min ||x~_i||^2 < 2/lambda_max, and the test runs both at their geometric mean for the same 2N
steps: per-sample SGD (torch.optim.SGD, batch size 1, reshuffled each epoch), where the test finds each step's
sample i (the step is parallel to x~_i), checks the step is -2 lr (x~_i.e) x~_i and that ||e||^2 grew by at least
2 lr (a_min - 2)(x~_i.e)^2 > 0 (a_min = 2 lr min_i ||x~_i||^2), so it never comes closer; full-batch GD at the
same lr lowers the loss and ||e|| at every step. How far the per-sample run got (its growth, and the product of the
per-step lower bounds) is a figure, not an assertion: the growth per step depends on the angle between e and
x~_i, which nothing keeps away from 90 degrees. Both curves are in the report.

(c) The largest stable lr vs batch size. Ma et al. (arXiv:1712.06559, Thm 2 and sec. 3), in this convention: with
batches of m drawn with replacement, E[H_B^2] = H^2 + (E_i[H_i^2] - H^2)/m <= (beta + (m - 1) lambda_max)/m H,
using H_i^2 = 2||x~_i||^2 H_i <= beta H_i (beta = max_i 2||x~_i||^2) and H^2 <= lambda_max H; so E||e'||^2 <= e^T
(I - lr (2 - lr/eta*(m)) H) e with eta*(m) = m / (beta + (m - 1) lambda_max): E||e||^2 cannot grow for lr <= 2
eta*(m), the edge of their guarantee (not a divergence point). m* = beta/lambda_max + 1 is their critical batch
size: below it 2 eta*(m) grows about linearly in m, above it it saturates towards 2/lambda_max. 2/beta = 2 eta*(1)
makes every step of every batch non-expansive in any order; nothing forces divergence just above it. Operational
verdict (support.stability.classify_runs): a run of T = 200 SGD steps has *diverged* when ||w_T - w*||^2 > 1000
||w_0 - w*||^2 (or it overflowed), and is *stable* otherwise. Why that is robust: below the guarantee edge
E||e_T||^2 <= ||e_0||^2, so by Markov's inequality a stable run is called diverged with probability at most 1/1000
per run, and exactly at most E||e_T||^2 / (1000 ||e_0||^2), which support.least_squares.sgd_expected_distance computes
from the second-moment recursion: summed over the 36 runs below the edges that one test asserts together, 1.7e-6
(tests/test_spec_statistics.py recomputes it);
above the threshold ||e|| grows geometrically and below it shrinks geometrically, so only a band of learning rates
whose growth over the run lies between 1 and 1000 is in doubt, and that band narrows like log(1000)/T. For
full-batch GD it is exact: every lr < 2/lambda_max is stable, and every lr above (2/lambda_max)(1 + delta)
diverges, where (1 + 2 delta)^(2T) = 1000/c and c is the share of ||e_0||^2 along the top eigenvector
(support.least_squares.gd_detection_margin). The thresholds are found by bisection generalised to a grid: 16 learning
rates per batch size per round, 2 rounds (a bracket of (hi/lo)^(1/(15*17)): 0.5-2 %), all batch sizes and learning
rates in one vectorised run per round (support.stability.parallel_sgd: nn.Linear(16, K) holds K independent models
stepped by one torch.optim.SGD at the largest of their learning rates, the others' losses scaled by their ratio to
it; a test below checks two of them against plain nn.Linear(16, 1) +
torch.optim.SGD(lr) runs on the same minibatches). Sampling: with replacement (Ma et al.'s setting); reshuffled or
fixed-order batches have other thresholds. The tests assert what the theory guarantees: no lr below 2 eta*(m)
diverges, the full-batch threshold is 2/lambda_max within the bracket and delta, and no batch-size-1 run above
1/min ||x~_i||^2 ends closer to w* than it started (rerun on the bisection's own minibatches), so batch size 1
cannot converge above that lr, far below 2/lambda_max by the factor min_i 2||x~_i||^2 / lambda_max derived from the
data. That bound is about where runs end up, not how fast: the 1000-fold verdict within T steps is measured, and
the measured batch-size-1 threshold and the smallest growth above the bound are figures.
Observed, not asserted (the figure, and two records of it): the measured largest stable lr need not be monotone
in m nor stay below 2/lambda_max. With-replacement batches above m* can stay stable somewhat above 2/lambda_max,
and the curve need not rise from one m to the next; reshuffled batches can converge where full-batch GD diverges,
so the curve also depends on how batches are sampled.

(d) Noisy targets (noise 0.5, the problem of explosion.single-sample): no weight fits every sample, and at the
least-squares solution each residual r_i is non-zero, so each per-sample gradient 2 (x~_i . e - r_i) x~_i is too.
A step on sample i then has norm at least rho - lr beta ||e||, rho = 2 lr min_i |r_i| ||x~_i||, and at most
||e_t|| + ||e_(t+1)||: of any two consecutive iterates one lies at least rho / (2 + lr beta) from w*. The test runs
per-sample SGD at lr = 1/beta, half the batch-size-1 guarantee edge, and checks that floor at every step: the steps
never shrink to zero, so the run cannot converge; how far the iterates spread, and how that falls with the batch
size, is explosion.single-sample's test. Its distance over the last epoch and its final loss against the optimum
are figures.
"""

import functools
import math

import pytest
import torch
import torch.nn.functional as F

from support.data import classification
from support.gradients import flat_grad, flat_params
from support.least_squares import (
    gd_detection_margin,
    least_squares_curvature,
    least_squares_problem,
    least_squares_solution,
)
from support.models import mlp
from support.stability import minibatch_stream, parallel_sgd, stability_thresholds
from support.tolerances import ROUNDING, accumulation, assert_close, assert_ge, assert_le, override, slack
from support.training import train

pytestmark = pytest.mark.claim("per-sample.explosion")
# what the recorded numbers were measured on (the report shows it next to each)
TRAP_ON = "MLP 5-16-16-3 (ReLU), CrossEntropyLoss, batch 32"
TRAP_ON_ZH = "MLP 5-16-16-3(ReLU),CrossEntropyLoss,batch 大小 32"
MEASURED_ON = "nn.Linear(16, 1), MSELoss, 64 least-squares samples"
MEASURED_ON_ZH = "nn.Linear(16, 1),MSELoss,64 个最小二乘样本"
N, LR = 32, 0.1  # the N-fold trap (a)

STEPS = 200  # SGD steps per run in (c): about 3 epochs at batch size 1, 200 full-batch GD steps
FACTOR = 1000.0  # diverged: ||w_T - w*||^2 > FACTOR ||w_0 - w*||^2 (a false "diverged" below the edge: <= 1/FACTOR)
BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64)  # with replacement; None below is the full batch (GD)
POINTS, ROUNDS = 16, 2
EPOCHS_B = 2  # (b): two passes over the data of per-sample SGD; as many full-batch GD steps


def _record(figures, name: str, value, unit: str, *, zh: str) -> float:
    """A figure measured on the module's least-squares problem (MEASURED_ON)."""
    return figures.record(name, value, unit, zh=zh, measured_on=MEASURED_ON, measured_on_zh=MEASURED_ON_ZH)


# ---------------------------------------------------------------- (a) the N-fold trap
def _setup(device):
    x, y = classification(N, 5, 3, seed=41, device=device)
    return mlp(5, 16, 3, depth=3, seed=41, device=device), x, y


def _sum_loss(out, y):
    return F.cross_entropy(out, y, reduction="sum")


def test_accumulated_per_sample_gradient_is_the_batch_gradient(device, figures):
    model, x, y = _setup(device)
    _sum_loss(model(x), y).backward()
    batch = flat_grad(model).clone()
    model.zero_grad(set_to_none=True)
    losses = F.cross_entropy(model(x), y, reduction="none")
    for i in range(N):
        losses[i].backward(retain_graph=i < N - 1)
    accumulated = flat_grad(model)
    assert_close(accumulated, batch, tol=accumulation(batch.dtype, N))
    figures.record(
        "||accumulated per-sample grad|| / ||batch sum grad||",
        accumulated.norm() / batch.norm(),
        "1",
        zh="||累加的逐样本梯度|| / ||batch 的 sum 梯度||",
        measured_on=TRAP_ON,
        measured_on_zh=TRAP_ON_ZH,
    )


def test_forgetting_to_divide_by_n_is_what_multiplies_the_step(device, figures):
    # two copies of the same model, one torch.optim.SGD(lr) step each: one on the accumulated per-sample gradients
    # (not divided by N), one on the mean-reduced batch gradient; plain SGD moves p by -lr * p.grad, so the first
    # change is N times the second
    changes = {}
    for name in ("undivided", "mean"):
        model, x, y = _setup(device)
        before = flat_params(model)
        if name == "undivided":
            losses = F.cross_entropy(model(x), y, reduction="none")
            for i in range(N):
                losses[i].backward(retain_graph=i < N - 1)
        else:
            F.cross_entropy(model(x), y).backward()
        torch.optim.SGD(model.parameters(), lr=LR).step()
        changes[name] = flat_params(model) - before
    undivided, mean = changes["undivided"], changes["mean"]
    assert mean.abs().max() > 0  # the steps were taken
    # the sums differ by order (accumulation), and the changes are read off as differences of parameters (|p| < 1),
    # each rounded by ~1e-16, N times that once the mean change is scaled by N: far below the tolerance
    assert_close(undivided, N * mean, tol=accumulation(mean.dtype, N))
    figures.record(
        "undivided SGD step / mean SGD step (parameter change norms)",
        undivided.norm() / mean.norm(),
        "1",
        zh="未除以 N 的 SGD 更新步 / mean 的 SGD 更新步(参数变化的范数)",
        measured_on=TRAP_ON,
        measured_on_zh=TRAP_ON_ZH,
    )


# ---------------------------------------------------------------- (b) per-sample SGD vs full-batch GD
def _squared_distance(model, w_star, b_star) -> float:
    return (((model.weight - w_star) ** 2).sum() + ((model.bias - b_star) ** 2).sum()).item()


def test_per_sample_sgd_diverges_where_full_batch_gd_converges_at_the_same_lr(device, figures):
    x, y, _ = least_squares_problem(device)
    n = x.shape[0]
    curv = least_squares_curvature(x)
    assert curv.expansive_above < curv.gd_limit  # this data leaves a gap between the two limits (derived above)
    lr = math.sqrt(curv.expansive_above * curv.gd_limit)  # inside the gap, by the same log-margin on each side
    w_star, b_star = least_squares_solution(x, y)
    theta_star = torch.cat([w_star[0], b_star])
    xt = torch.cat([x, torch.ones(n, 1, dtype=x.dtype, device=x.device)], dim=1)  # x~_i = [x_i, 1]

    def state(model):
        return F.mse_loss(model(x), y).item(), _squared_distance(model, w_star, b_star), flat_params(model)

    runs = {}
    steps = EPOCHS_B * n  # the same number of optimizer steps for both: 2 epochs of per-sample SGD
    for name, batch_size in (("per-sample", 1), ("full-batch", None)):
        model = least_squares_problem(device)[2]
        with torch.no_grad():
            start = state(model)
        history = train(
            model,
            F.mse_loss,
            x,
            y,
            optimizer=torch.optim.SGD(model.parameters(), lr=lr),
            steps=steps,
            batch_size=batch_size,
            seed=5,
            evaluate=state,
            stop_when_non_finite=True,
        )
        runs[name] = [start] + history.evaluations  # (full-data loss, ||w - w*||^2, params) before/after every step

    per_sample, full = runs["per-sample"], runs["full-batch"]
    assert len(per_sample) == len(full) == steps + 1  # no run stopped on overflow
    # per-sample, step by step: the step is SGD on one sample i, Delta = -lr * 2 (x~_i . e) x~_i (the interpolating
    # model's residual on sample i is x~_i . e), so ||e + Delta||^2 - ||e||^2 = 2 lr (a_i - 2) (x~_i . e)^2 with
    # a_i = 2 lr ||x~_i||^2 > 2 for every sample: ||e||^2 grows at every step unless e is orthogonal to x~_i
    a_min = 2 * lr * (xt * xt).sum(dim=1).min().item()
    assert a_min > 2  # lr > 1/min ||x~_i||^2
    dist = [d for _, d, _ in per_sample]
    growth = []  # the derived lower bound 2 lr (a_min - 2) (x~_i . e)^2 / ||e||^2 of each step's relative growth
    for step, ((_, d0, p0), (_, d1, p1)) in enumerate(zip(per_sample, per_sample[1:])):
        e, delta = p0 - theta_star, p1 - p0
        i = int(((xt @ delta).abs() / xt.norm(dim=1)).argmax())  # the sample whose x~_i the step is parallel to
        residual = (xt[i] @ e).item()
        ulps = 4 * torch.finfo(p0.dtype).eps * max(p0.abs().max().item(), p1.abs().max().item())
        assert_close(
            delta,
            -2 * lr * residual * xt[i],
            tol=override(
                rtol=1e-12,
                atol=ulps,
                reason="a step read off as the difference of float64 parameters: a few ulps of the largest |p|",
            ),
            msg=f"step {step}: not a per-sample SGD step along x~_i",
        )
        assert residual != 0.0  # e is not orthogonal to x~_i: this step strictly lengthens e
        growth.append(2 * lr * (a_min - 2) * residual**2 / d0)
        assert_ge(d1, d0, slack=ROUNDING, msg=f"step {step}: a per-sample step moved w closer to w*")
        assert_ge(
            d1 / d0 - 1,
            growth[-1],
            slack=slack(
                rel=1e-12,
                abs=1e-12,
                reason=(
                    "d1/d0 - 1 and the bound from float64 distances: a few 1e-16, relative and absolute; "
                    "equality where a_i = a_min"
                ),
            ),
            msg=f"step {step}: grew less than 2 lr (a_min - 2) (x~_i . e)^2",
        )
    assert dist[-1] > dist[0]  # so it only moved away from w*: per-sample SGD cannot converge at this lr
    # full batch: lr < 2/lambda_max contracts every eigencomponent of e (|1 - lr lambda| < 1 for every eigenvalue
    # of H), so the loss and the distance fall at every one of the same 2n steps
    assert all(b[0] < a[0] and b[1] < a[1] for a, b in zip(full, full[1:])), [v[:2] for v in full]
    _record(
        figures,
        "lr of both runs (geometric mean of 1/min||x~_i||^2 and 2/lambda_max)",
        lr,
        "lr",
        zh="两次运行的学习率(1/min||x~_i||^2 与 2/lambda_max 的几何平均)",
    )
    _record(
        figures,
        "per-sample SGD: ||w - w*||^2 after 2 epochs / at start",
        dist[-1] / dist[0],
        "1",
        zh="逐样本 SGD:2 个 epoch 后的 ||w - w*||^2 / 初始值",
    )
    _record(
        figures,
        "per-sample SGD: derived lower bound on the growth of ||w - w*||^2 over 2 epochs",
        math.prod(1 + g for g in growth),
        "1",
        zh="逐样本 SGD:推导出的 2 个 epoch 内 ||w - w*||^2 增长倍数的下界",
    )
    _record(
        figures,
        "per-sample SGD: full-data MSE after 2 epochs",
        per_sample[-1][0],
        "squared target units",
        zh="逐样本 SGD:2 个 epoch 后全部数据上的 MSE",
    )
    _record(
        figures,
        f"full-batch GD: full-data MSE after {steps} steps / at start",
        full[-1][0] / full[0][0],
        "1",
        zh=f"全 batch GD:{steps} 步后全部数据上的 MSE / 初始值",
    )
    plot = figures.plot(
        "same learning rate: one SGD step per sample vs full-batch gradient descent",
        x_label="optimizer step",
        y_label="full-data MSE (squared target units)",
        zh=("相同学习率下:每个样本一步 SGD 与全 batch 梯度下降", "优化器步数", "全部数据上的 MSE(目标单位的平方)"),
        log_y=True,
    )
    plot.line(
        "one SGD step per sample (batch size 1, reshuffled)",
        range(len(per_sample)),
        [v for v, _, _ in per_sample],
        zh="每个样本一步 SGD(batch 大小为 1,每个 epoch 重新打乱)",
    )
    plot.line("full-batch gradient descent", range(len(full)), [v for v, _, _ in full], zh="全 batch 梯度下降")


# ---------------------------------------------------------------- (c) the largest stable lr vs batch size
def test_parallel_runs_are_plain_torch_optim_sgd_runs(device):
    # two of the K models that parallel_sgd trains side by side, against nn.Linear(16, 1) + torch.optim.SGD(lr)
    # fed the same minibatches: the same parameters after every step (sums in another order: rounding only)
    x, y, init = least_squares_problem(device)
    steps, cases = 12, ((4, 0.11), (1, 0.035))
    run = parallel_sgd(x, y, [m for m, _ in cases], [lr for _, lr in cases], steps=steps, init=init, seed=9)
    for k, (m, lr) in enumerate(cases):
        model = least_squares_problem(device)[2]
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        for idx in minibatch_stream(x.shape[0], m, steps, seed=9).to(device):
            optimizer.zero_grad(set_to_none=True)
            F.mse_loss(model(x[idx]), y[idx]).backward()
            optimizer.step()
        tol = override(
            rtol=1e-10,
            atol=1e-12,
            reason="a weighted sum over all N samples vs the minibatch mean, rounded differently at each of 12 steps",
        )
        assert_close(run.weight[k], model.weight.detach()[0], tol=tol)
        assert_close(run.bias[k], model.bias.detach()[0], tol=tol)


@functools.lru_cache(maxsize=4)  # deterministic; three tests read it
def _thresholds(device):
    x, y, init = least_squares_problem(device)
    curv = least_squares_curvature(x)
    sizes = BATCH_SIZES + (None,)
    # round 1 spans [half the guarantee edge, twice the GD limit]: several lrs below each edge are tried
    lo = [(curv.guarantee_edge(m) if m is not None else curv.gd_limit) / 2 for m in sizes]
    hi = [2 * curv.gd_limit] * len(sizes)
    found = stability_thresholds(
        x, y, sizes, lo, hi, steps=STEPS, factor=FACTOR, init=init, points=POINTS, rounds=ROUNDS, seed=11
    )
    delta = gd_detection_margin(x, y, init.weight, init.bias, steps=STEPS, factor=FACTOR)
    return curv, dict(zip(sizes, found)), delta


def test_full_batch_threshold_is_two_over_lambda_max(device, figures):
    curv, found, delta = _thresholds(device)
    gd = found[None]
    limit = curv.gd_limit
    # exact for GD on a quadratic: below 2/lambda_max every run is stable; above (2/lambda_max)(1 + delta) the
    # top eigencomponent alone has grown past the verdict's factor (delta derived in gd_detection_margin)
    assert all(not diverged for lr, diverged in gd.tried if lr < limit), gd.tried
    assert all(diverged for lr, diverged in gd.tried if lr > limit * (1 + delta)), gd.tried
    assert gd.stable <= limit * (1 + delta) and gd.diverged >= limit  # so the bracket meets [limit, limit(1+delta)]
    # the bracket of 2 rounds of 16 points over [limit/2, 2 limit]: 4^(1/(15*17)) - 1 = 0.5 %
    assert_le(
        gd.rel_width,
        4 ** (1 / ((POINTS - 1) * (POINTS + 1) ** (ROUNDS - 1))) - 1,
        slack=slack(abs=1e-12, reason="float64 rounding of the bracket's hi/lo - 1 (~0.005) on both sides"),
    )
    _record(figures, "2/lambda_max (full-batch GD limit)", limit, "lr", zh="2/lambda_max(全 batch GD 的极限)")
    _record(
        figures,
        "full-batch GD: measured threshold / (2/lambda_max)",
        gd.estimate / limit,
        "1",
        zh="全 batch GD:实测阈值 / (2/lambda_max)",
    )
    _record(
        figures,
        "full-batch GD: detection margin delta after 200 steps",
        delta,
        "1",
        zh="全 batch GD:200 步后的判定裕量 delta",
    )


def test_no_batch_size_diverges_below_its_guarantee_edge(device, figures):
    curv, found, _ = _thresholds(device)
    for m in BATCH_SIZES:
        edge = curv.guarantee_edge(m)
        t = found[m]
        below = [lr for lr, diverged in t.tried if lr < edge]
        assert below, f"m={m}: no lr below the guarantee edge was tried"
        assert all(not diverged for lr, diverged in t.tried if lr < edge), f"m={m}: diverged below 2 eta*(m) = {edge}"
        assert t.diverged > edge and t.estimate >= edge
        _record(
            figures, f"m={m}: measured threshold / 2 eta*(m)", t.estimate / edge, "1", zh=f"m={m}:实测阈值 / 2 eta*(m)"
        )
    _record(
        figures,
        "critical batch size m* = beta/lambda_max + 1",
        curv.critical_batch,
        "samples",
        zh="临界 batch 大小 m* = beta/lambda_max + 1",
    )
    # observations (module docstring), not assertions: the measured curve against 2/lambda_max and its monotonicity
    _record(
        figures,
        "largest measured threshold over m / (2/lambda_max)",
        max(found[m].estimate for m in BATCH_SIZES) / curv.gd_limit,
        "1",
        zh="各 m 中最大的实测阈值 / (2/lambda_max)",
    )
    _record(
        figures,
        "smallest ratio of the measured threshold at the next m to this m (below 1: not monotone)",
        min(found[b].estimate / found[a].estimate for a, b in zip(BATCH_SIZES, BATCH_SIZES[1:])),
        "1",
        zh="相邻 m 的实测阈值之比的最小值(小于 1:不单调)",
    )
    ms = list(range(1, max(BATCH_SIZES) + 1))
    plot = figures.plot(
        "largest stable learning rate vs batch size (minibatches drawn with replacement)",
        x_label="batch size m (samples)",
        y_label="learning rate",
        zh=("最大稳定学习率与 batch 大小的关系(有放回抽取的 minibatch)", "batch 大小 m(样本数)", "学习率"),
        log_x=True,
        log_y=True,
    )
    plot.points(
        f"measured by bisection ({STEPS} SGD steps per run)",
        BATCH_SIZES,
        [found[m].estimate for m in BATCH_SIZES],
        zh=f"二分法实测(每次运行 {STEPS} 步 SGD)",
    )
    plot.points("full-batch GD, measured", [curv.n], [found[None].estimate], zh="全 batch GD,实测")
    plot.bound(
        "2 eta*(m) = 2m/(beta + (m-1) lambda_max), guarantee edge",
        ms,
        [curv.guarantee_edge(m) for m in ms],
        zh="2 eta*(m) = 2m/(beta + (m-1) lambda_max),收敛保证的边界",
    )
    plot.bound(
        "2/lambda_max: full-batch GD limit", [1, curv.n], [curv.gd_limit] * 2, zh="2/lambda_max:全 batch GD 的极限"
    )
    plot.bound(
        "2/beta: every step non-expansive", [1, curv.n], [curv.nonexpansive_limit] * 2, zh="2/beta:每一步都不扩张"
    )
    plot.points(
        "1/min ||x~_i||^2: per-sample steps all expand above",
        [1],
        [curv.expansive_above],
        zh="1/min ||x~_i||^2:高于此值时每个逐样本更新步都扩张",
    )
    plot.bound(
        "critical batch size m*",
        [curv.critical_batch] * 2,
        [curv.nonexpansive_limit, curv.gd_limit],
        zh="临界 batch 大小 m*",
    )


def test_per_sample_threshold_lies_far_below_the_full_batch_limit(device, figures):
    curv, found, _ = _thresholds(device)
    one = found[1]
    # above 1/min ||x~_i||^2 every per-sample step lengthens w - w* (a > 2 for every sample, derived in the module
    # docstring and checked step by step in (b)), so no batch-size-1 run there can end closer to w*: the largest lr
    # at which batch-size-1 SGD converges is at most that, below 2/lambda_max by the factor
    # min_i 2||x~_i||^2 / lambda_max of this data
    margin = curv.gd_limit / curv.expansive_above
    assert margin > 1
    # batch-size-1 runs at every lr the bisection tried above that lr (the same minibatches: parallel_sgd draws them
    # from (seed, stream, batch size) only), for their distance ratios ||w_T - w*||^2 / ||w_0 - w*||^2
    x, y, init = least_squares_problem(device)
    above = [lr for lr, _ in one.tried if lr > curv.expansive_above]
    assert above, "no batch-size-1 lr above 1/min ||x~_i||^2 was tried"
    run = parallel_sgd(x, y, [1] * len(above), above, steps=STEPS, init=init, seed=11)
    ratios = run.distance_ratios.cpu()
    # never shrinks, step after step (inf/nan: overflowed, i.e. grew); strictly, since e is never orthogonal to
    # every x~_i it meets
    assert (~(ratios <= 1)).all(), ratios
    finite = ratios[torch.isfinite(ratios)]
    _record(figures, "batch size 1: measured threshold", one.estimate, "lr", zh="batch 大小为 1:实测阈值")
    _record(
        figures,
        "batch size 1: measured threshold / (1/min ||x~_i||^2)",
        one.estimate / curv.expansive_above,
        "1",
        zh="batch 大小为 1:实测阈值 / (1/min ||x~_i||^2)",
    )
    _record(
        figures,
        f"batch size 1 above 1/min ||x~_i||^2: smallest growth of ||w - w*||^2 in {STEPS} steps",
        finite.min().item() if finite.numel() else math.inf,
        "1",
        zh=f"batch 大小为 1、学习率高于 1/min ||x~_i||^2:{STEPS} 步内 ||w - w*||^2 的最小增长倍数",
    )
    _record(
        figures,
        "derived margin min_i 2||x~_i||^2 / lambda_max",
        margin,
        "1",
        zh="推导出的裕量 min_i 2||x~_i||^2 / lambda_max",
    )
    _record(
        figures,
        "(2/lambda_max) / batch-size-1 threshold",
        curv.gd_limit / one.estimate,
        "1",
        zh="(2/lambda_max) / batch 大小为 1 时的阈值",
    )
    _record(
        figures,
        "beta / lambda_max (= m* - 1): GD limit over the m=1 guarantee edge",
        curv.beta / curv.lambda_max,
        "1",
        zh="beta / lambda_max (= m* - 1):GD 极限与 m=1 收敛保证边界之比",
    )


# ---------------------------------------------------------------- (d) noisy targets: a plateau, not convergence
NOISE = 0.5  # target noise: no weight fits every sample (the problem of explosion.single-sample)
# long enough for the noise-free control at the same lr and order to converge below the floor (its distance falls
# 5-10x every two epochs here, to ~30x below the floor by the 12th): over fewer steps (128) a converging run stays
# above the floor too, and the check would prove nothing
PLATEAU_EPOCHS = 12


def test_with_noisy_targets_per_sample_sgd_plateaus_instead_of_converging(device, figures):
    x, y, model = least_squares_problem(device, noise=NOISE)
    n = x.shape[0]
    curv = least_squares_curvature(x)
    lr = 1.0 / curv.beta  # half the batch-size-1 guarantee edge 2/beta: noise-free, E||w - w*||^2 contracts here
    w_star, b_star = least_squares_solution(x, y)
    xt = torch.cat([x, torch.ones(n, 1, dtype=x.dtype, device=x.device)], dim=1)
    residuals = y[:, 0] - xt @ torch.cat([w_star[0], b_star])  # r_i at the solution: none is 0 with noisy targets
    # the floor, derived: a step on sample i is -2 lr (x~_i . e - r_i) x~_i (e = w - w*), of norm at least
    # rho - lr beta ||e|| with rho = 2 lr min_i |r_i| ||x~_i|| and beta = max_i 2 ||x~_i||^2; a step is also at most
    # ||e_t|| + ||e_(t+1)||, so (1 + lr beta) ||e_t|| + ||e_(t+1)|| >= rho: of any two consecutive iterates one lies
    # at least rho / (2 + lr beta) from w*. The steps never shrink to 0, so the run cannot converge to w*.
    rho = 2 * lr * (residuals.abs() * xt.norm(dim=1)).min().item()
    floor = rho / (2 + lr * curv.beta)
    assert floor > 0

    def distances_of_run(model, x, y, w_star, b_star) -> list[float]:
        history = train(
            model,
            F.mse_loss,
            x,
            y,
            optimizer=torch.optim.SGD(model.parameters(), lr=lr),
            steps=PLATEAU_EPOCHS * n,
            batch_size=1,
            seed=5,
            evaluate=lambda m: math.sqrt(_squared_distance(m, w_star, b_star)),
        )
        return history.evaluations

    distances = distances_of_run(model, x, y, w_star, b_star)
    for t, (a, b) in enumerate(zip(distances, distances[1:])):
        assert_ge(max(a, b), floor, slack=ROUNDING, msg=f"steps {t}, {t + 1}: both iterates closer than the floor")
    # the control: the same x, lr, start and sample order without the noise converges below the floor, so the floor
    # tells a plateau from convergence over these steps
    x0, y0, model0 = least_squares_problem(device, noise=0.0)
    w0, b0 = least_squares_solution(x0, y0)
    control = distances_of_run(model0, x0, y0, w0, b0)
    assert max(control[-n:]) < floor, (max(control[-n:]), floor)
    optimum = F.mse_loss(x @ w_star.T + b_star, y).item()
    with torch.no_grad():
        final = F.mse_loss(model(x), y).item()
    _record(
        figures,
        "noisy targets, per-sample SGD at lr = 1/beta: smallest distance to w* over the last epoch",
        min(distances[-n:]),
        "parameter norm",
        zh="含噪目标,lr = 1/beta 的逐样本 SGD:最后一个 epoch 中到 w* 的最小距离",
    )
    _record(
        figures,
        "noisy targets: derived floor rho / (2 + lr beta) on one of two consecutive distances",
        floor,
        "parameter norm",
        zh="含噪目标:推导出的相邻两步中至少一步到 w* 距离的下限 rho / (2 + lr beta)",
    )
    _record(
        figures,
        "noisy targets: final full-data MSE / least-squares optimum",
        final / optimum,
        "1",
        zh="含噪目标:最终全部数据上的 MSE / 最小二乘最优值",
    )
