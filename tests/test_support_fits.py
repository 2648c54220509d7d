"""Tests of support.fits: line fits and the standard error of their slope, and bisection."""

import math
import random
import statistics

import pytest
import torch

from support import fits
from support.errors import SpecInputError

F64 = torch.float64


# ---------------------------------------------------------------- line fits
def test_fit_line_recovers_an_exact_line():
    fit = fits.fit_line([1, 2, 4, 8], [3 * x - 2 for x in (1, 2, 4, 8)])
    assert math.isclose(fit.slope, 3.0) and math.isclose(fit.intercept, -2.0, abs_tol=1e-12)
    assert all(abs(r) < 1e-12 for r in fit.residuals) and math.isclose(fit.predict(10), 28.0)


def test_fit_line_residuals_sum_to_zero_and_match_numpy():
    import numpy as np

    xs, ys = [0.0, 1.0, 3.0, 7.0], [1.0, 0.5, 4.0, 2.0]
    fit = fits.fit_line(xs, ys)
    slope, intercept = np.polyfit(xs, ys, 1)
    assert math.isclose(fit.slope, slope) and math.isclose(fit.intercept, intercept)
    assert abs(sum(fit.residuals)) < 1e-12


def test_fit_log_slope_is_the_log_of_the_growth_factor():
    fit = fits.fit_log_slope([1, 2, 3, 4], torch.tensor([3 * 2.0**k for k in (1, 2, 3, 4)]))
    assert math.isclose(fit.slope, math.log(2)) and math.isclose(fit.intercept, math.log(3), rel_tol=1e-12)


def test_slope_standard_error_equal_variances_is_sigma_over_sqrt_sxx():
    xs = [2, 4, 8, 16, 32]
    xm = sum(xs) / len(xs)
    sxx = sum((x - xm) ** 2 for x in xs)
    assert math.isclose(fits.slope_standard_error(xs, [0.25] * 5), 0.5 / math.sqrt(sxx))


def test_slope_standard_error_matches_a_simulation():
    rng = random.Random(3)
    xs, variances = [1.0, 2.0, 4.0, 8.0], [0.1, 0.2, 0.4, 0.8]
    slopes = [fits.fit_line(xs, [rng.gauss(0, math.sqrt(v)) for v in variances]).slope for _ in range(4000)]
    # the standard deviation of a 4000-sample estimate of a standard deviation is ~1/sqrt(8000) = 1.1% of it
    assert math.isclose(statistics.pstdev(slopes), fits.slope_standard_error(xs, variances), rel_tol=0.05)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: fits.fit_line([1], [1]), "at least 2"),
        (lambda: fits.fit_line([1, 2], [1]), "same length"),
        (lambda: fits.fit_line([1, 1], [1, 2]), "all equal"),
        (lambda: fits.fit_line([1, 2], [1, math.nan]), "finite"),
        (lambda: fits.fit_line("ab", [1, 2]), "sequence of numbers"),
        (lambda: fits.fit_log_slope([1, 2], [1, 0]), "> 0"),
        (lambda: fits.slope_standard_error([1, 2], [1, -1]), ">= 0"),
        (lambda: fits.slope_standard_error([1, 2], [1]), "same length"),
    ],
)
def test_fit_bad_arguments(call, match):
    with pytest.raises(SpecInputError, match=match):
        call()


@pytest.mark.parametrize("xs", ["12", b"12", bytearray(b"12")], ids=["str", "bytes", "bytearray"])
def test_a_string_is_not_a_sequence_of_points(xs):
    # "12" would read as the points 1, 2 and b"12" as 49, 50 (its bytes): either fits a line, so both must be refused
    with pytest.raises(SpecInputError, match=f"xs must be a sequence of numbers, got {type(xs).__name__}"):
        fits.fit_line(xs, [1.0, 2.0])


def test_a_matrix_is_not_a_sequence_of_points():
    # a (2, 2) tensor would flatten to 4 points and fit a line: refused; 1-d and 0-d tensors are values
    with pytest.raises(SpecInputError, match=r"ys must be a 1-dimensional tensor .*shape \(2, 2\)"):
        fits.fit_line([1.0, 2.0, 3.0, 4.0], torch.ones(2, 2, dtype=F64))
    assert fits.fit_line(torch.tensor([1.0, 2.0], dtype=F64), torch.tensor([3.0, 5.0], dtype=F64)).slope == 2.0


# ---------------------------------------------------------------- bisection
def test_bisect_finds_sqrt_two_within_xtol():
    root = fits.bisect(lambda x: x * x - 2, 0.0, 2.0, xtol=1e-10)
    assert abs(root - math.sqrt(2)) <= 1e-10


def test_bisect_decreasing_function_and_exact_endpoints():
    assert abs(fits.bisect(lambda x: 1 - x, -5.0, 7.0) - 1.0) <= 1e-12
    assert fits.bisect(lambda x: x, 0.0, 1.0) == 0.0
    assert fits.bisect(lambda x: x - 1, 0.0, 1.0) == 1.0


def test_bisect_stops_at_floating_point_resolution():
    # a sign change between two adjacent floats: the bracket cannot be halved below one ulp
    root = fits.bisect(lambda x: -1.0 if x < 1.0 else 1.0, 0.0, 3.0, xtol=1e-300)
    assert abs(root - 1.0) <= 4e-16


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: fits.bisect(lambda x: x * x + 1, -1.0, 1.0), "change sign"),
        (lambda: fits.bisect(lambda x: x, 1.0, 0.0), "lo < hi"),
        (lambda: fits.bisect(lambda x: math.inf, 0.0, 1.0), "finite"),
        (lambda: fits.bisect(lambda x: math.nan if 0 < x < 1 else x - 0.5, 0.0, 1.0), "not finite"),
        (lambda: fits.bisect(lambda x: x, 0.0, 1.0, xtol=0), "xtol"),
    ],
)
def test_bisect_bad_arguments(call, match):
    with pytest.raises(SpecInputError, match=match):
        call()
