"""Tests of support.metrics: accuracy, per-class recall, balanced accuracy, reliability bins and the
expected calibration error and Spearman's rank correlation, on hand-made examples, plus their input checks;
the binomial tail and the Clopper-Pearson and Hoeffding lower confidence bounds, against exact rational sums."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from support import metrics
from support.errors import SpecInputError, SpecTypeError
from support.tolerances import assert_close, override

F64 = torch.float64
# a dozen float64 operations on numbers <= 2: rounding ~12 * 2.2e-16, far below 1e-12
FEW_OPS = override(rtol=1e-12, atol=0.0, reason="a dozen float64 operations on small numbers")


def _one_hot_probs(pred, n_classes):
    return torch.nn.functional.one_hot(pred, n_classes).to(F64)


def _rows(confidence, pred, n_classes):
    """Probability rows whose max is ``confidence`` at ``pred``, the rest spread equally."""
    n = len(pred)
    rest = (1 - confidence) / (n_classes - 1)
    probs = torch.full((n, n_classes), rest, dtype=F64)
    probs[torch.arange(n), pred] = confidence
    return probs


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: metrics.accuracy(torch.zeros(4, 3), torch.zeros(4)), SpecTypeError, "targets must be an integer"),
        (
            lambda: metrics.accuracy(torch.zeros(4, 3), torch.zeros(4, 1, dtype=torch.long)),
            SpecInputError,
            "targets must have 1 dim",
        ),
        (
            lambda: metrics.accuracy(torch.zeros(4, 3), torch.zeros(5, dtype=torch.long)),
            SpecInputError,
            "same batch size",
        ),
        (lambda: metrics.accuracy(torch.zeros(4, 1), torch.zeros(4, dtype=torch.long)), SpecInputError, r"K >= 2"),
        (lambda: metrics.accuracy(torch.zeros(4), torch.zeros(4, dtype=torch.long)), SpecInputError, r"shape \(N, K\)"),
        (
            lambda: metrics.accuracy(torch.zeros(4, 2, dtype=torch.long), torch.zeros(4, dtype=torch.long)),
            SpecInputError,
            r"integer predictions must have shape \(N,\)",
        ),
        (
            lambda: metrics.accuracy([0, 1], torch.zeros(2, dtype=torch.long)),
            SpecTypeError,
            "predictions must be a torch.Tensor",
        ),
        (lambda: metrics.accuracy(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long)), SpecInputError, "empty"),
        (
            lambda: metrics.per_class_recall(torch.zeros(3, dtype=torch.long), torch.tensor([0, 1, 2]), 2),
            SpecInputError,
            r"targets must lie in \[0, 2\)",
        ),
        (
            lambda: metrics.per_class_recall(torch.zeros(2, dtype=torch.long), torch.tensor([-1, 0]), 2),
            SpecInputError,
            "targets must lie",
        ),
        (
            lambda: metrics.per_class_recall(torch.zeros(2, dtype=torch.long), torch.tensor([0, 0]), 1),
            SpecInputError,
            "n_classes",
        ),
        (
            lambda: metrics.balanced_accuracy(torch.zeros(2, dtype=torch.long), torch.tensor([0, 1]), True),
            SpecInputError,
            "n_classes",
        ),
        (
            lambda: metrics.reliability_bins(torch.full((2, 2), 0.5, dtype=F64), torch.tensor([0, 1]), 0),
            SpecInputError,
            "n_bins",
        ),
        (
            lambda: metrics.reliability_bins(torch.full((2, 2), 0.5, dtype=F64), torch.tensor([0.0, 1.0])),
            SpecTypeError,
            "targets must be an integer",
        ),
        (
            lambda: metrics.reliability_bins(torch.ones(2, 2, dtype=torch.long), torch.tensor([0, 1])),
            SpecTypeError,
            "probs must be a floating",
        ),
        (
            lambda: metrics.reliability_bins(torch.full((2,), 0.5, dtype=F64), torch.tensor([0, 1])),
            SpecInputError,
            "probs must have 2 dim",
        ),
        (
            lambda: metrics.expected_calibration_error(torch.tensor([[2.0, -1.0]], dtype=F64), torch.tensor([0])),
            SpecInputError,
            "probs must be probabilities",
        ),
        (
            lambda: metrics.expected_calibration_error(torch.tensor([[0.6, 0.6]], dtype=F64), torch.tensor([0])),
            SpecInputError,
            "summing to 1",
        ),
        (lambda: metrics.spearman([1, 2, 3], [1, 2]), SpecInputError, "same length"),
        (lambda: metrics.spearman([1], [2]), SpecInputError, "at least 2 pairs"),
        (lambda: metrics.spearman([1, 1, 1], [1, 2, 3]), SpecInputError, "a is constant"),
        (lambda: metrics.spearman([1, 2, 3], [5, 5, 5]), SpecInputError, "b is constant"),
        (lambda: metrics.spearman([1, float("nan")], [1, 2]), SpecInputError, "finite"),
        (lambda: metrics.spearman([1, "x"], [1, 2]), SpecInputError, r"a\[1\] must be a finite number"),
        (lambda: metrics.spearman(5, [1, 2]), SpecInputError, "sequence of numbers"),
    ],
)
def test_bad_arguments_raise_naming_the_problem(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ---------------------------------------------------------------- accuracy
def test_accuracy_from_logits_three_of_four_right():
    logits = torch.tensor([[2.0, 0.1, 0.0], [0.0, 3.0, 1.0], [0.5, 0.2, 0.9], [1.0, 4.0, 0.0]], dtype=F64)
    # argmax: 0, 1, 2, 1; the last target is 0
    assert metrics.accuracy(logits, torch.tensor([0, 1, 2, 0])) == 0.75


def test_accuracy_from_int_predictions():
    assert metrics.accuracy(torch.tensor([0, 1, 1, 2, 2]), torch.tensor([0, 1, 2, 2, 0])) == pytest.approx(3 / 5)
    assert metrics.accuracy(torch.tensor([3, 3]), torch.tensor([3, 3])) == 1.0


# ---------------------------------------------------------------- recall and balanced accuracy
def test_per_class_recall_by_hand_with_absent_class_nan():
    pred = torch.tensor([0, 0, 1, 1, 1, 0])
    target = torch.tensor([0, 0, 0, 1, 1, 1])  # class 0: 2/3 right, class 1: 2/3 right, class 2 absent
    recall = metrics.per_class_recall(pred, target, 3)
    assert recall.dtype == F64 and recall.shape == (3,)
    assert recall[:2].tolist() == pytest.approx([2 / 3, 2 / 3])
    assert torch.isnan(recall[2])


def test_balanced_accuracy_of_majority_predictor_is_one_half():
    target = torch.cat([torch.zeros(90, dtype=torch.long), torch.ones(10, dtype=torch.long)])
    majority = torch.zeros(100, dtype=torch.long)
    assert metrics.accuracy(majority, target) == 0.9
    assert metrics.balanced_accuracy(majority, target, 2) == 0.5


def test_balanced_accuracy_ignores_absent_classes():
    pred = torch.tensor([0, 0, 1, 2])
    target = torch.tensor([0, 0, 1, 1])  # recalls: 1, 1/2, absent, absent -> mean 3/4
    assert metrics.balanced_accuracy(pred, target, 4) == pytest.approx(0.75)


# ---------------------------------------------------------------- calibration
def test_ece_of_confident_correct_predictions_is_zero():
    target = torch.tensor([0, 2, 1, 1, 0])
    assert metrics.expected_calibration_error(_one_hot_probs(target, 3), target) == 0.0


def test_ece_of_overconfident_constant_predictions():
    # every prediction class 0 at confidence 0.9, 6 of 10 right: one bin, |0.6 - 0.9| = 0.3
    probs = _rows(0.9, torch.zeros(10, dtype=torch.long), 2)
    target = torch.tensor([0] * 6 + [1] * 4)
    ece = metrics.expected_calibration_error(probs, target)
    assert_close(torch.tensor(ece, dtype=F64), torch.tensor(0.3, dtype=F64))


def test_ece_weights_bins_by_their_share_of_samples():
    # 4 samples at conf 0.95 (all right, gap 0.05) and 6 at conf 0.55 (3 right, gap 0.05)
    # -> ECE = 0.4 * 0.05 + 0.6 * 0.05 = 0.05
    probs = torch.cat(
        [_rows(0.95, torch.zeros(4, dtype=torch.long), 2), _rows(0.55, torch.zeros(6, dtype=torch.long), 2)]
    )
    target = torch.tensor([0] * 4 + [0, 0, 0, 1, 1, 1])
    assert_close(
        torch.tensor(metrics.expected_calibration_error(probs, target), dtype=F64), torch.tensor(0.05, dtype=F64)
    )
    # now 1 of the 6 low-confidence samples right: gap |1/6 - 0.55| -> ECE = 0.4 * 0.05 + 0.6 * (0.55 - 1/6)
    target = torch.tensor([0] * 4 + [0, 1, 1, 1, 1, 1])
    expected = 0.4 * 0.05 + 0.6 * (0.55 - 1 / 6)
    assert_close(
        torch.tensor(metrics.expected_calibration_error(probs, target), dtype=F64), torch.tensor(expected, dtype=F64)
    )


def test_reliability_bins_counts_accuracy_and_confidence():
    probs = torch.cat([_rows(0.95, torch.tensor([0, 1, 0]), 2), _rows(0.6, torch.tensor([1, 1]), 2)])
    target = torch.tensor([0, 1, 1, 1, 0])
    counts, acc, conf = metrics.reliability_bins(probs, target, n_bins=10)
    # 0.95 -> bin (0.9, 1.0] = index 9; 0.6 -> bin (0.5, 0.6] = index 5 (right-closed)
    expected_counts = torch.zeros(10, dtype=F64)
    expected_counts[9], expected_counts[5] = 3, 2
    assert torch.equal(counts, expected_counts)
    assert acc[9].item() == pytest.approx(2 / 3) and acc[5].item() == pytest.approx(1 / 2)
    assert conf[9].item() == pytest.approx(0.95) and conf[5].item() == pytest.approx(0.6)
    empty = expected_counts == 0
    assert torch.isnan(acc[empty]).all() and torch.isnan(conf[empty]).all()


@pytest.mark.parametrize("m", range(1, 16))
def test_confidence_on_a_bin_edge_lands_in_the_lower_bin(m):
    # bins are (lower, upper]: confidence m/15 is the upper edge of bin m-1
    # 16 classes so that even confidence 1/15 is the row's maximum (rest = (1 - c) / 15 < c)
    conf = m / 15
    probs = _rows(conf, torch.tensor([3]), 16)
    counts, _, mean_conf = metrics.reliability_bins(probs, torch.tensor([3]), n_bins=15)
    assert counts.argmax().item() == m - 1 and counts.sum().item() == 1
    assert mean_conf[m - 1].item() == pytest.approx(conf)


def test_ece_default_uses_fifteen_bins():
    # confidences 0.68 and 0.71 share a bin of width 1/15 ((0.667, 0.733]) but not of width 1/10
    probs = torch.cat([_rows(0.68, torch.tensor([0]), 2), _rows(0.71, torch.tensor([0]), 2)])
    target = torch.tensor([0, 1])
    # 15 bins: one bin, acc 1/2, conf 0.695 -> 0.195; 10 bins: 0.5 * |1 - 0.68| + 0.5 * |0 - 0.71| = 0.515
    assert metrics.expected_calibration_error(probs, target) == pytest.approx(0.195)
    assert metrics.expected_calibration_error(probs, target, n_bins=10) == pytest.approx(0.515)


# ---------------------------------------------------------------- Spearman rank correlation
def test_spearman_of_monotone_sequences_is_plus_or_minus_one():
    assert metrics.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert metrics.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    # ranks, not values: any increasing map of b leaves it unchanged
    assert metrics.spearman([0.1, 0.5, 0.2], [1.0, 1e6, 3.0]) == 1.0


def test_spearman_gives_ties_their_average_rank():
    # ranks of [1, 1, 2] are [0.5, 0.5, 2] (mean 1), of [0, 1, 2] are [0, 1, 2] (mean 1):
    # cov = (-0.5)(-1) + (-0.5)(0) + (1)(1) = 1.5, variances 1.5 and 2 -> 1.5 / sqrt(3) = 0.866
    rho = metrics.spearman([1, 1, 2], [0, 1, 2])
    assert_close(torch.tensor(rho, dtype=F64), torch.tensor(1.5 / 3**0.5, dtype=F64), tol=FEW_OPS)


# ---------------------------------------------------------------- binomial confidence bounds
def _exact_upper_tail(k, n, p):
    """P(X >= k), X ~ Binomial(n, p), in exact rational arithmetic (p as the exact value of the float)."""
    from fractions import Fraction
    from math import comb

    q = Fraction(p)
    return float(sum(comb(n, j) * q**j * (1 - q) ** (n - j) for j in range(k, n + 1)))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: metrics.binomial_upper_tail(3, 2, 0.5), r"successes must be an int in \[0, 2\]"),
        (lambda: metrics.binomial_upper_tail(-1, 2, 0.5), "successes"),
        (lambda: metrics.binomial_upper_tail(1.0, 2, 0.5), "successes"),
        (lambda: metrics.binomial_upper_tail(0, 0, 0.5), "trials"),
        (lambda: metrics.binomial_upper_tail(1, 2, 1.5), r"p must be a number in \[0, 1\]"),
        (lambda: metrics.binomial_upper_tail(1, 2, float("nan")), r"p must be a number in \[0, 1\]"),
        (lambda: metrics.clopper_pearson_lower(1, 2, 1.0), "confidence"),
        (lambda: metrics.clopper_pearson_lower(1, 2, 0), "confidence"),
        (lambda: metrics.clopper_pearson_lower(1, 2, True), "confidence"),
        (lambda: metrics.clopper_pearson_lower(True, 2), "successes"),
        (lambda: metrics.hoeffding_lower(1.2, 10), r"mean must be a number in \[0, 1\]"),
        (lambda: metrics.hoeffding_lower(0.5, 0), "n must be an int"),
        (lambda: metrics.hoeffding_lower(0.5, 10, 99), "confidence"),
        (lambda: metrics.successes_needed(10, 1.0), r"threshold must be a number in \[0, 1\)"),
        (lambda: metrics.successes_needed(0, 0.5), "trials"),
        (lambda: metrics.successes_needed(10, 0.5, -0.1), "confidence"),
    ],
)
def test_binomial_helpers_reject_bad_arguments(call, match):
    with pytest.raises(SpecInputError, match=match):
        call()


@given(n=st.integers(1, 60), data=st.data(), p=st.floats(0.0, 1.0))
def test_binomial_upper_tail_matches_the_exact_rational_sum(n, data, p):
    k = data.draw(st.integers(0, n))
    exact = _exact_upper_tail(k, n, p)
    # log-space terms: each exp(lgamma + ...) is off by a few ulps times the exponent's size (<= ~300 here)
    tail = metrics.binomial_upper_tail(k, n, p)
    assert tail == pytest.approx(exact, rel=1e-11, abs=1e-300)


@given(n=st.integers(1, 60), data=st.data(), p=st.floats(0.0, 1.0))
def test_binomial_lower_tail_is_one_minus_the_upper_tail(n, data, p):
    k = data.draw(st.integers(0, n))
    exact = 1 - _exact_upper_tail(k, n, p)
    assert metrics.binomial_lower_tail(k, n, p) == pytest.approx(exact, rel=1e-11, abs=1e-15)


def test_binomial_lower_tail_edges():
    assert metrics.binomial_lower_tail(0, 7, 0.3) == 0.0  # X < 0 never
    assert metrics.binomial_lower_tail(7, 7, 1.0) == 0.0 and metrics.binomial_lower_tail(1, 7, 0.0) == 1.0
    assert metrics.binomial_lower_tail(3, 3, 0.5) == pytest.approx(7 / 8)
    # a tail far below 1 - eps: 1 - upper tail would lose it, the complement's sum keeps it
    assert metrics.binomial_lower_tail(1, 40, 0.9) == pytest.approx(0.1**40, rel=1e-12)
    with pytest.raises(SpecInputError, match=r"p must be a number in \[0, 1\]"):
        metrics.binomial_lower_tail(1, 2, -0.1)


def test_binomial_upper_tail_edges():
    assert metrics.binomial_upper_tail(0, 7, 0.3) == 1.0  # X >= 0 always
    assert metrics.binomial_upper_tail(1, 7, 0.0) == 0.0 and metrics.binomial_upper_tail(7, 7, 1.0) == 1.0
    assert metrics.binomial_upper_tail(3, 3, 0.5) == pytest.approx(1 / 8)
    # 1000 trials: C(1000, 500) ~ 1e299 would overflow next to 0.5^1000 ~ 1e-301; the log-space terms do not
    assert metrics.binomial_upper_tail(500, 1000, 0.5) == pytest.approx(
        0.5 + 0.5 * math.exp(math.lgamma(1001) - 2 * math.lgamma(501) - 1000 * math.log(2)), rel=1e-12
    )
    assert 0.5 < metrics.binomial_upper_tail(500, 1000, 0.5) < 0.52  # the pmf at the mode is ~ 1/sqrt(pi n/2) = 0.025


@pytest.mark.parametrize("n", [1, 2, 7, 64, 500])
@pytest.mark.parametrize("confidence", [0.9, 0.99])
def test_clopper_pearson_closed_forms(n, confidence):
    alpha = 1 - confidence
    assert metrics.clopper_pearson_lower(0, n, confidence) == 0.0
    # k = n: P(X >= n) = p^n = alpha; k = 1: P(X >= 1) = 1 - (1 - p)^n = alpha
    assert metrics.clopper_pearson_lower(n, n, confidence) == pytest.approx(alpha ** (1 / n), rel=1e-14)
    if n > 1:
        assert metrics.clopper_pearson_lower(1, n, confidence) == pytest.approx(1 - (1 - alpha) ** (1 / n), rel=1e-9)


@given(n=st.integers(2, 120), data=st.data(), confidence=st.sampled_from([0.8, 0.95, 0.99, 0.999]))
def test_clopper_pearson_solves_its_defining_equation_from_below(n, data, confidence):
    k = data.draw(st.integers(1, n - 1))
    p_lower = metrics.clopper_pearson_lower(k, n, confidence)
    alpha = 1 - confidence
    assert 0 < p_lower < k / n
    # defining equation, checked with the independent exact sum; never overstated: the tail at p_L is <= alpha
    assert _exact_upper_tail(k, n, p_lower) == pytest.approx(alpha, rel=1e-9)
    assert metrics.binomial_upper_tail(k, n, p_lower) <= alpha
    # monotone: one more success raises the bound, a higher confidence lowers it
    assert metrics.clopper_pearson_lower(k + 1, n, confidence) > p_lower
    assert metrics.clopper_pearson_lower(k, n, 1 - alpha / 2) < p_lower


@pytest.mark.parametrize("n", [10, 40])
@pytest.mark.parametrize("p", [0.05, 0.3, 0.5, 0.77, 0.95])
def test_clopper_pearson_covers_the_true_p_with_at_least_the_stated_confidence(n, p):
    # exact coverage: sum the binomial pmf over the outcomes k whose bound does not exceed the true p
    from fractions import Fraction
    from math import comb

    confidence, q = 0.9, Fraction(p)
    pmf = [float(comb(n, k) * q**k * (1 - q) ** (n - k)) for k in range(n + 1)]
    coverage = sum(pmf[k] for k in range(n + 1) if metrics.clopper_pearson_lower(k, n, confidence) <= p)
    assert coverage >= confidence - 1e-12
    # and the naive bound k/n does not have that guarantee: it overshoots p about half the time
    assert sum(pmf[k] for k in range(n + 1) if k / n <= p) < confidence


@given(n=st.integers(1, 300), data=st.data(), confidence=st.sampled_from([0.9, 0.99]))
def test_hoeffding_is_looser_than_clopper_pearson_for_counts(n, data, confidence):
    # Hoeffding bounds the same binomial tail from above: P(X >= k | p) <= exp(-2 n (k/n - p)^2), so at its bound
    # p_H the tail is <= alpha, and the exact bound p_L (tail = alpha, tail increasing in p) is >= p_H
    k = data.draw(st.integers(0, n))
    p_h = metrics.hoeffding_lower(k / n, n, confidence)
    assert p_h <= metrics.clopper_pearson_lower(k, n, confidence) + 1e-12
    assert p_h == max(0.0, k / n - (math.log(1 / (1 - confidence)) / (2 * n)) ** 0.5)


@pytest.mark.parametrize("trials", [7, 20, 64, 101])
def test_successes_needed_is_the_first_count_whose_bound_clears_the_threshold(trials):
    for threshold in (0.0, 0.25, 0.5):
        k = metrics.successes_needed(trials, threshold, 0.99)
        assert metrics.clopper_pearson_lower(k, trials, 0.99) > threshold
        assert k == 0 or metrics.clopper_pearson_lower(k - 1, trials, 0.99) <= threshold
    assert metrics.successes_needed(trials, 0.0) == 1  # any success makes the bound positive


def test_successes_needed_is_none_when_even_all_successes_are_not_enough():
    # k = n gives alpha^(1/n): 0.01^(1/6) = 0.464 <= 1/2 but 0.01^(1/7) = 0.518 > 1/2
    assert metrics.successes_needed(6, 0.5, 0.99) is None
    assert metrics.successes_needed(7, 0.5, 0.99) == 7
