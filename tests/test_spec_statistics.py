"""The spec's statistical tests are sized so that a fresh block of seeds fails each of them with probability below
1e-3. A module sized on a sweep records it (counts over thousands of seeds disjoint from its blocks); the model
(independent runs; the rate at its one-sided 99.9% lower bound from the sweep) is in its docstring. These self-tests
recompute the bounds from those counts (trend.inverse, remedy.lstm-gru, remedy.relu, per-sample.explosion,
explosion.single-sample), and the Chernoff bounds of explosion.cause.init and explosion.cause.depth from their sweep
settings (the bounds of the other statistical modules are derived in their docstrings), so a change of
run counts, widths or thresholds that breaks the sizing is caught here, before a red run on some other seed block
would show it."""

from __future__ import annotations

import math

import pytest

from spec.part2_explosion import test_remedy_lstm_gru as lstm_gru
from spec.part4_accuracy_and_loss import test_trend_inverse as trend
from support.metrics import binomial_lower_tail, binomial_upper_tail, clopper_pearson_lower, successes_needed

FRESH_BLOCK_FAILURE = 1e-3
SWEEP_CONFIDENCE = 0.999  # the rate a bound is computed at: its one-sided 99.9% lower confidence bound


def _p0(successes: int, trials: int) -> float:
    return clopper_pearson_lower(successes, trials, SWEEP_CONFIDENCE)


@pytest.mark.parametrize("block", sorted(lstm_gru.BLOCKS))
def test_remedy_lstm_gru_default_init_blocks(block):
    # the block fails when some cell has at most half its draws on its side of the line (median on the wrong side)
    width, draws = lstm_gru.BLOCKS[block]
    counts = lstm_gru.SWEEP[width]
    assert set(counts) == set(lstm_gru.CONFIGS)
    bound = sum(binomial_lower_tail(draws // 2 + 1, draws, _p0(k, lstm_gru.SWEEP_DRAWS)) for k in counts.values())
    assert bound < FRESH_BLOCK_FAILURE, f"block {block} (width {width}, {draws} draws): {bound:.2e}"


def test_trend_inverse_spearman_count():
    runs = trend.USUAL_RUNS
    needed = successes_needed(runs, trend.MORE_OFTEN_THAN_NOT, trend.CONFIDENCE)
    bound = binomial_lower_tail(needed, runs, _p0(trend.SWEEP["inverse"], trend.SWEEP_RUNS))
    assert bound < FRESH_BLOCK_FAILURE, bound


def test_trend_inverse_epoch_share():
    # Hoeffding twice: mu0 is the sweep mean's 99.9% lower bound; the test's bound mean - sqrt(ln(100) / (2n)) falls
    # to 1/2 or below only if the block's mean falls short of mu0 by t = mu0 - 1/2 - sqrt(ln(100) / (2n)), with
    # probability at most exp(-2 n t^2), largest at the smallest n. n counts the runs whose accuracy moved: more
    # than USUAL_RUNS - SPARE unless SPARE or more never moved (a run never moves with probability at most the
    # sweep's 99.9% upper bound).
    spare = 6
    sweep_n = trend.SWEEP["share_runs"]
    mu0 = trend.SWEEP["share_mean"] - math.sqrt(math.log(1 / (1 - SWEEP_CONFIDENCE)) / (2 * sweep_n))
    n = trend.USUAL_RUNS - spare + 1
    t = mu0 - trend.MORE_OFTEN_THAN_NOT - math.sqrt(math.log(1 / (1 - trend.CONFIDENCE)) / (2 * n))
    assert t > 0
    never_moved = 1 - _p0(sweep_n, trend.SWEEP_RUNS)
    bound = math.exp(-2 * n * t * t) + binomial_upper_tail(spare, trend.USUAL_RUNS, never_moved)
    assert bound < FRESH_BLOCK_FAILURE, bound


def test_trend_inverse_reversal_count_and_mechanism():
    runs = trend.OVERFIT_RUNS
    needed = successes_needed(runs, trend.COMMON, trend.CONFIDENCE)
    count = binomial_lower_tail(needed, runs, _p0(trend.SWEEP["reversal"], trend.SWEEP_RUNS))
    # the mechanism, a rate over the k reversal runs (k >= needed once the count passed): worst k
    p_mechanism = _p0(trend.SWEEP["mechanism"], trend.SWEEP["reversal"])
    mechanism = max(
        binomial_lower_tail(successes_needed(k, trend.MORE_OFTEN_THAN_NOT, trend.CONFIDENCE), k, p_mechanism)
        for k in range(needed, runs + 1)
    )
    assert count + mechanism < FRESH_BLOCK_FAILURE, (count, mechanism)


def _markov_sum(x, y, init, runs, steps, factor):
    """Sum over (batch size, lr) runs of P(diverged) <= E||w_T - w*||^2 / (factor ||w_0 - w*||^2) (Markov)."""
    from support.least_squares import least_squares_solution, sgd_expected_distance

    w, b = least_squares_solution(x, y)
    start = (((init.weight - w) ** 2).sum() + ((init.bias - b) ** 2).sum()).item()
    return sum(
        sgd_expected_distance(x, y, init.weight, init.bias, lr=lr, batch_size=m, steps=steps) for m, lr in runs
    ) / (factor * start)


def test_per_sample_explosion_stable_runs_are_called_diverged_rarely():
    from spec.part1_batch_loss import test_per_sample_explosion as pse
    from support.least_squares import least_squares_problem

    curv, found, _ = pse._thresholds("cpu")
    below = [(m, lr) for m in pse.BATCH_SIZES for lr, _ in found[m].tried if lr < curv.guarantee_edge(m)]
    x, y, init = least_squares_problem("cpu")
    assert _markov_sum(x, y, init, below, pse.STEPS, pse.FACTOR) < FRESH_BLOCK_FAILURE


def test_single_sample_guaranteed_batch_sizes_are_called_diverged_rarely():
    from spec.part2_explosion import test_explosion_single_sample as single
    from support.least_squares import least_squares_curvature, least_squares_problem

    x, y, init = least_squares_problem("cpu")
    curv = least_squares_curvature(x)
    lr = math.sqrt(curv.expansive_above * curv.guarantee_edge(max(single.BATCH_SIZES)))
    guaranteed = [(m, lr) for m in single.BATCH_SIZES if curv.guarantee_edge(m) > lr]
    assert guaranteed
    assert _markov_sum(x, y, init, guaranteed, 100, single.FACTOR) < 1e-15


# ---------------------------------------------------------------- explosion.cause.init and explosion.cause.depth
def _linear_chain_bounds():
    """The Chernoff bounds the two modules state, recomputed from their sweep settings and standard-error multiples
    (support.theory)."""
    from spec.part2_explosion import test_explosion_cause_depth as depth
    from spec.part2_explosion import test_explosion_cause_init as init
    from support.explosion import SWEEP_DEPTHS, SWEEP_SEEDS, SWEEP_WIDTH
    from support.fits import slope_standard_error
    from support.theory import gaussian_chain_log_norm_variance, log_chi2_sum_tail

    n, depths, seeds = SWEEP_WIDTH, SWEEP_DEPTHS, SWEEP_SEEDS
    mean = sum(depths) / len(depths)
    sxx = sum((d - mean) ** 2 for d in depths)
    # the fitted slope: sum over depths of (d - mean) / Sxx times the mean over `seeds` networks of d layer terms
    slope_terms = [((d - mean) / sxx / seeds, seeds * d) for d in depths]
    slope_se = slope_standard_error(depths, [gaussian_chain_log_norm_variance([n] * d) / seeds for d in depths])
    slope = log_chi2_sum_tail(slope_terms, init.SE_MULTIPLE * slope_se, n)
    per_depth = [
        log_chi2_sum_tail(
            [(1 / seeds, seeds * d)],
            depth.SE_MULTIPLE * math.sqrt(gaussian_chain_log_norm_variance([n] * d) / seeds),
            n,
        )
        for d in depths
    ]
    return slope, per_depth


def test_explosion_cause_init_linear_slopes_fail_a_fresh_block_below_the_stated_bound():
    slope, _ = _linear_chain_bounds()
    assert slope <= 8.5e-5  # the docstring's 8.4e-5 per two-sided slope comparison
    assert 2 * slope <= 1.7e-4  # the gradient and the forward slope of one test


def test_explosion_cause_depth_fails_a_fresh_block_below_the_stated_bound():
    _, per_depth = _linear_chain_bounds()
    assert per_depth[0] <= 1.71e-4 and per_depth[-1] <= 0.86e-4  # "1.7e-4 at depth 2 down to 0.9e-4 at depth 32"
    assert sum(per_depth) <= 5.72e-4 < 1e-3  # a union over the 5 depths


def test_explosion_single_sample_spread_fails_a_fresh_block_rarely():
    from spec.part2_explosion import test_explosion_single_sample as single

    sweep = single.SPREAD_SWEEP
    # the sweep vouches for the test as it ran: the same streams, steps, batch sizes and standard-error multiple
    now = {"seeds": single.SEEDS, "steps": single.SPREAD_STEPS, "se_multiple": single.SE_MULTIPLE}
    assert {k: sweep[k] for k in now} == now and sweep["batch_sizes"] == tuple(single.BATCH_SIZES)
    # the pass rate's one-sided 99.9% lower bound from the sweep; a fresh block fails at most 1 minus that
    assert 1 - _p0(sweep["blocks"] - sweep["failed"], sweep["blocks"]) < FRESH_BLOCK_FAILURE


def test_remedy_relu_fails_a_fresh_block_rarely():
    from spec.part2_explosion import test_remedy_relu as relu

    sweep = relu.RELU_SWEEP
    # the sweep vouches for the tests as they ran: the same networks, scales and tolerance
    assert (sweep["width"], sweep["depths"], sweep["seeds"]) == (relu.N, tuple(relu.SWEEP_DEPTHS), relu.SWEEP_SEEDS)
    assert sweep["factors"] == pytest.approx(relu.FACTORS, rel=1e-15)
    assert sweep["slope_tolerance"] == pytest.approx(relu._slope_tolerance(), rel=1e-15)
    assert 1 - _p0(sweep["blocks"] - sweep["failed"], sweep["blocks"]) < FRESH_BLOCK_FAILURE
