"""support.metrics against independent implementations: torchmetrics (ECE, macro accuracy) and scipy (Spearman).

The suite's own tests of its metrics use cases built by the same hand that wrote the metrics; here random cases are
scored by both. torchmetrics computes in float32, so agreement is to float32 rounding. Where the two differ by
design, the deviation is recorded on the test with its reason (after PyTorch's ``common_modules`` "known
deviations"): torchmetrics bins confidences in [lower, upper), Guo et al. (eq. 3, I_m = ((m-1)/M, m/M]) and this
suite in (lower, upper]; torchmetrics' macro accuracy counts a class absent from the targets as recall 0, the suite's
balanced accuracy (like scikit-learn's) leaves it out.

torchmetrics and scipy are optional test dependencies (the ``dev`` extra installs them); without them these tests
skip and say so.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from support.metrics import balanced_accuracy, expected_calibration_error, spearman
from support.tensors import generator
from support.tolerances import override

torchmetrics = pytest.importorskip("torchmetrics", reason="torchmetrics (dev extra) is not installed")
scipy_stats = pytest.importorskip("scipy.stats", reason="scipy (dev extra) is not installed")
from torchmetrics.classification import MulticlassAccuracy, MulticlassCalibrationError  # noqa: E402

N_BINS = 15
# torchmetrics accumulates in float32: a sum of n weighted |acc - conf| terms, each with relative error ~eps32
FLOAT32_SUMS = override(rtol=1e-5, atol=1e-6, reason="torchmetrics sums float32 terms; eps32 = 1.2e-7 times n <= 64")


def _probs(seed: int, n: int, k: int, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    g = generator(seed)
    logits = torch.randn(n, k, generator=g, dtype=torch.float64) * temperature
    y = torch.randint(0, k, (n,), generator=g)
    return torch.softmax(logits, dim=1), y


def _tm_ece(probs: torch.Tensor, y: torch.Tensor) -> float:
    metric = MulticlassCalibrationError(num_classes=probs.shape[1], n_bins=N_BINS, norm="l1")
    return metric(probs.float(), y).item()


@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 64), k=st.integers(2, 6), temperature=st.floats(0.1, 8.0))
def test_ece_agrees_with_torchmetrics_on_random_cases(seed, n, k, temperature):
    probs, y = _probs(seed, n, k, temperature)
    ours, theirs = expected_calibration_error(probs, y, N_BINS), _tm_ece(probs, y)
    tol = FLOAT32_SUMS
    assert math.isclose(ours, theirs, rel_tol=tol.rtol, abs_tol=tol.atol), (ours, theirs)


EDGE_BINS = 16  # edges m/16 are exact binary fractions, so a confidence lies exactly on one in float32 and float64


def _tm_ece_bins(probs: torch.Tensor, y: torch.Tensor, n_bins: int) -> float:
    metric = MulticlassCalibrationError(num_classes=probs.shape[1], n_bins=n_bins, norm="l1")
    return metric(probs.float(), y).item()


@pytest.mark.parametrize("m", [6, 9, 12, 15])
def test_ece_on_a_bin_edge_follows_guo_and_torchmetrics_puts_the_edge_in_the_bin_above(m):
    # known deviation: two samples at confidence exactly m/16 (right) and two just above it (wrong). Guo's
    # (lower, upper] bins put the edge samples in bin m and the others in bin m+1: two bins of one accuracy each;
    # torchmetrics' [lower, upper) puts all four in bin m+1, where accuracy 1/2 meets the mean confidence.
    c, above = m / EDGE_BINS, m / EDGE_BINS + 1 / 64  # 1/64: inside bin m+1, also an exact binary fraction

    def row(conf):
        return [conf, (1 - conf) / 2, (1 - conf) / 2]

    probs = torch.tensor([row(c), row(c), row(above), row(above)], dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1])
    guo = 0.5 * (1 - c) + 0.5 * above  # two bins: |1 - c| and |0 - above|, half the samples each
    one_bin = abs(0.5 - (c + above) / 2)  # one bin: accuracy 1/2 against the mean confidence
    assert math.isclose(expected_calibration_error(probs, y, EDGE_BINS), guo, rel_tol=1e-12)
    tol = FLOAT32_SUMS
    assert math.isclose(_tm_ece_bins(probs, y, EDGE_BINS), one_bin, rel_tol=tol.rtol, abs_tol=tol.atol)
    # one float32 step below the edge, torchmetrics bins the edge samples as Guo does
    nudged = probs.float().clone()
    nudged[:2, 0] = torch.nextafter(nudged[:2, 0], torch.tensor(0.0))
    assert math.isclose(_tm_ece_bins(nudged, y, EDGE_BINS), guo, rel_tol=tol.rtol, abs_tol=tol.atol)


@given(seed=st.integers(0, 2**31 - 1), n=st.integers(8, 64), k=st.integers(2, 6))
def test_balanced_accuracy_agrees_with_torchmetrics_macro_accuracy_when_every_class_occurs(seed, n, k):
    g = generator(seed)
    y = torch.cat([torch.arange(k), torch.randint(0, k, (n - k,), generator=g)])  # every class in the targets
    scores = torch.randn(n, k, generator=g, dtype=torch.float64)
    theirs = MulticlassAccuracy(num_classes=k, average="macro")(scores.float(), y).item()
    assert math.isclose(balanced_accuracy(scores, y, k), theirs, rel_tol=FLOAT32_SUMS.rtol, abs_tol=FLOAT32_SUMS.atol)


def test_a_class_absent_from_the_targets_is_left_out_here_and_counted_as_zero_by_torchmetrics():
    # known deviation: class 2 never occurs in the targets but is predicted once
    scores = torch.tensor([[2.0, 1, 0], [2, 1, 0], [0, 2, 1], [0, 2, 1], [1, 0, 2]])
    y = torch.tensor([0, 1, 1, 1, 0])
    recalls = [1 / 2, 2 / 3]  # class 0: 1 of 2 right; class 1: 2 of 3 right
    assert math.isclose(balanced_accuracy(scores, y, 3), sum(recalls) / 2, rel_tol=1e-12)
    theirs = MulticlassAccuracy(num_classes=3, average="macro")(scores, y).item()
    assert math.isclose(theirs, (sum(recalls) + 0) / 3, rel_tol=FLOAT32_SUMS.rtol)


@given(values=st.lists(st.tuples(st.integers(-5, 5), st.floats(-1e3, 1e3, allow_nan=False)), min_size=3, max_size=40))
def test_spearman_agrees_with_scipy_including_ties(values):
    a = [float(u) for u, _ in values]  # small integers: many ties, which both rank by the average rank
    b = [v for _, v in values]
    assume(len(set(a)) > 1 and len(set(b)) > 1)  # a constant sequence has no rank correlation (scipy: nan)
    theirs = scipy_stats.spearmanr(a, b).statistic
    assert math.isclose(spearman(a, b), theirs, rel_tol=1e-9, abs_tol=1e-12)


@given(n=st.integers(1, 200), frac=st.floats(0, 1), confidence=st.floats(0.01, 0.999))
def test_clopper_pearson_lower_bound_is_the_beta_quantile(n, frac, confidence):
    # the one-sided Clopper-Pearson bound is the (1 - confidence) quantile of Beta(k, n - k + 1) (Clopper &
    # Pearson 1934), at any confidence, including below 1/2
    from support.metrics import clopper_pearson_lower

    k = round(frac * n)
    expected = 0.0 if k == 0 else scipy_stats.beta.ppf(1 - confidence, k, n - k + 1)
    assert math.isclose(clopper_pearson_lower(k, n, confidence), expected, rel_tol=1e-9, abs_tol=1e-12)
