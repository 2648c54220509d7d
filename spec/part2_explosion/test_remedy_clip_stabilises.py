"""remedy.clip-stabilises

Source: 「梯度裁剪(Gradient Clipping):这是最常用的方法之一。」
「通过以上方法,可以有效地减轻或避免梯度爆炸问题,从而提高模型训练的稳定性和效率。」

What is true (confirmed): norm clipping bounds every update to lr * max_norm (Pascanu et al. 2013, sec. 3.2,
Algorithm 1), so a run cannot diverge however large the raw gradient gets. A deep linear net trained by SGD at
lr = 1 -- about 3x the stability limit 2/lambda_max (see explosion.definition) -- overflows to inf/NaN within a
dozen steps; the same run with clip_grad_norm_(max_norm = 0.05) stays finite, moves its parameters by at most
lr * max_norm per step, and brings the loss down to within 2x the least-squares optimum. Clipping keeps the
run alive; it does not make a too-large learning rate converge exactly: the iterate ends in a period-2
oscillation of step lr * max_norm around the minimum.
"""

import functools

import pytest
import torch

from support.explosion import OVERFLOW_WITHIN_STEPS, UNSTABLE_LR, unstable_regression
from support.gradients import flat_params
from support.training import train

pytestmark = pytest.mark.claim("remedy.clip-stabilises")

LR, MAX_NORM, STEPS = UNSTABLE_LR, 0.05, 40
# both runs (and the optimum) in one figure; the unclipped losses end in inf/nan, which the plot leaves out
PLOT = dict(plot="training loss per step at lr = 1, with and without clipping", x_label="SGD step",
            y_label="training MSE (squared target units)", log_y=True)


def _device_tag(device) -> str:
    """Series names carry the device when it is not the CPU (a run on cpu and cuda draws both)."""
    return "" if device == "cpu" else f" ({device})"


@functools.lru_cache(maxsize=8)  # deterministic; two tests read the clipped run
def _run(device, clip_norm):
    x, y, make_model = unstable_regression(device)  # the run explosion.definition shows overflowing
    model = make_model()
    start = flat_params(model)
    history = train(model, torch.nn.functional.mse_loss, x, y, optimizer=torch.optim.SGD(model.parameters(), lr=LR),
                    steps=STEPS, clip_norm=clip_norm, stop_when_non_finite=True,
                    evaluate=lambda m: flat_params(m))
    return x, y, start, history


def _least_squares_optimum(x, y) -> float:
    # the net is affine in x (3 linear layers with biases, width 8 >= 1 output), so its best loss is the
    # ordinary least-squares fit with an intercept
    design = torch.cat([x, torch.ones(x.shape[0], 1, dtype=x.dtype, device=x.device)], dim=1)
    solution = torch.linalg.lstsq(design.cpu(), y.cpu()).solution.to(x.device)
    return torch.nn.functional.mse_loss(design @ solution, y).item()


def test_without_clipping_the_run_overflows(device, figures):
    _, _, _, history = _run(device, clip_norm=None)
    assert history.first_non_finite_step is not None and history.first_non_finite_step <= OVERFLOW_WITHIN_STEPS
    figures.record("no clipping: first non-finite step", history.first_non_finite_step, "step")
    figures.series(f"no clipping (stops at the first non-finite loss){_device_tag(device)}",
                   range(len(history.losses)), history.losses, **PLOT)


def test_with_clipping_the_run_stays_finite_and_every_step_is_at_most_lr_times_max_norm(device, figures):
    x, y, start, history = _run(device, clip_norm=MAX_NORM)
    assert history.finite and len(history.losses) == STEPS
    assert max(history.grad_norms) > MAX_NORM  # clipping was active (pre-clip norms exceed the threshold)
    positions = [start] + history.evaluations
    steps = [(b - a).norm().item() for a, b in zip(positions, positions[1:])]
    # clipped gradient norm = max_norm * total / (total + 1e-6) < max_norm, so ||step|| = lr * that < lr * max_norm
    assert max(steps) <= LR * MAX_NORM * (1 + 1e-12)
    figures.record("clipped run: largest parameter step", max(steps), "parameter norm")
    figures.record("clipped run: largest pre-clip gradient norm", max(history.grad_norms), "gradient norm")
    figures.series(f"clip_grad_norm_, max_norm = {MAX_NORM}{_device_tag(device)}", range(STEPS), history.losses,
                   **PLOT)


def test_with_clipping_the_loss_comes_within_twice_the_optimum(device, figures):
    x, y, _, history = _run(device, clip_norm=MAX_NORM)
    optimum = _least_squares_optimum(x, y)
    # Judgement, derived: near the minimum the loss is quadratic, L - L* = 1/2 d^T H d; the run ends oscillating
    # with steps of at most lr * max_norm = 0.05, i.e. |d| <~ 0.025 along the top direction, an excess of order
    # 1/2 * lambda_max * 0.025^2 = 0.002 for lambda_max ~ 6 (the curvature at init): below the optimum 0.0058.
    # Both phases of the final oscillation are checked.
    final = max(history.losses[-2:])
    assert final <= 2 * optimum
    assert final < history.losses[0] / 10
    figures.record("clipped run: final loss / least-squares optimum", final / optimum, "1")
    figures.record("least-squares optimum (MSE)", optimum, "1")
    figures.series(f"least-squares optimum{_device_tag(device)}", [0, STEPS - 1], [optimum, optimum],
                   style="dashed", **PLOT)


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
    figures.record("clipped run: largest cosine of consecutive steps over the last 10", max(cosines), "1")
