"""Tests of support.theory: the exact Gaussian-chain law, the mean-field log-norm (two quadratures) and the slope
tolerances."""

import math

import pytest
import torch

from support import theory
from support.errors import SpecInputError
from support.tensors import generator

F64 = torch.float64


def test_gaussian_chain_for_two_columns_uses_digamma_one():
    # n = 2: chi^2_2 is exponential with mean 2, E log = digamma(1) + log 2 = -Euler gamma + log 2
    euler = 0.5772156649015329
    assert math.isclose(theory.gaussian_chain_log_norm_mean(1.0, [2]), 0.5 * (-euler + math.log(2)))
    assert math.isclose(theory.gaussian_chain_log_norm_variance([2]), math.pi**2 / 6 / 4)  # trigamma(1) = pi^2/6


def test_gaussian_chain_is_additive_and_approaches_log_s_sqrt_n():
    one = theory.gaussian_chain_log_norm_mean(0.1, 64)
    assert math.isclose(theory.gaussian_chain_log_norm_mean(0.1, [64] * 5), 5 * one)
    assert abs(one - (math.log(0.1 * 8) - 1 / 128)) < 1 / 64**2  # log(s sqrt(n)) - 1/(2n) + O(1/n^2)


def test_gaussian_chain_matches_a_simulation():
    g = generator(4)
    n, s, trials = 6, 0.5, 20000
    w = s * torch.randn(trials, 3, n, generator=g, dtype=F64)  # a single 3 x n matrix per trial: W^T maps R^3 -> R^n
    u = torch.tensor([1.0, 0.0, 0.0], dtype=F64)
    logs = torch.log(torch.linalg.vector_norm(torch.einsum("i,tin->tn", u, w), dim=1))
    expected = theory.gaussian_chain_log_norm_mean(s, [n])
    sd = math.sqrt(theory.gaussian_chain_log_norm_variance([n]))
    assert abs(logs.mean().item() - expected) < 5 * sd / math.sqrt(trials)
    assert math.isclose(logs.std().item(), sd, rel_tol=0.03)


def test_mean_field_closed_forms():
    assert math.isclose(theory.mean_field_log_norm("linear", 3.0, 4), 2 * math.log(3.0))
    for depth in (1, 2, 7):  # He: sigma_w^2 = 2 cancels relu'^2 = 1/2 in every layer but the last
        assert math.isclose(theory.mean_field_log_norm("relu", 2.0, depth), 0.5 * math.log(2))


def test_mean_field_smooth_activations_at_zero_variance():
    # q = 0 keeps tanh's pre-activations at 0 (tanh(0) = 0), where tanh'^2 = 1: the linear result
    assert math.isclose(theory.mean_field_log_norm("tanh", 0.5, 5, q_input=0.0), 2.5 * math.log(0.5), rel_tol=1e-12)
    # sigmoid: the first activation sees q = 0 (sigmoid'(0)^2 = 1/16); depth 2 has only that one
    assert math.isclose(
        theory.mean_field_log_norm("sigmoid", 2.0, 2, q_input=0.0),
        0.5 * (2 * math.log(2.0) + math.log(1 / 16)),
        rel_tol=1e-12,
    )


def test_mean_field_tanh_chaotic_phase_exceeds_one_but_stays_below_linear():
    per_layer = theory.mean_field_log_norm("tanh", 4.0, 41) - theory.mean_field_log_norm("tanh", 4.0, 40)
    assert 0 < per_layer < 0.5 * math.log(4.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(activation="gelu"), "activation must be one of"),
        (dict(sigma_w2=0.0), "sigma_w2"),
        (dict(depth=0), "depth"),
        (dict(q_input=-1.0), "q_input"),
    ],
)
def test_mean_field_bad_arguments(kwargs, match):
    args = {"activation": "tanh", "sigma_w2": 1.0, "depth": 3, **kwargs}
    with pytest.raises(SpecInputError, match=match):
        theory.mean_field_log_norm(args.pop("activation"), args.pop("sigma_w2"), args.pop("depth"), **args)


def test_nonlinear_slope_tolerance_shrinks_with_more_seeds_and_width():
    a = theory.nonlinear_slope_tolerance(32, (2, 4, 8, 16, 32), 3)
    assert theory.nonlinear_slope_tolerance(32, (2, 4, 8, 16, 32), 12) < a
    assert theory.nonlinear_slope_tolerance(128, (2, 4, 8, 16, 32), 3) < a
    with pytest.raises(SpecInputError, match="width"):
        theory.nonlinear_slope_tolerance(0, (2, 4), 3)


def _normal_moment_by_trapezoid(fn, q):
    # an independent integration of E fn(sqrt(q) z), z ~ N(0, 1): torch's trapezoid on a grid 40x finer and wider
    z = torch.linspace(-14, 14, 200001, dtype=F64)
    density = torch.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)
    return torch.trapezoid(density * fn(math.sqrt(q) * z), z).item()


def _tanh_prime(a):
    return 1 - torch.tanh(a) ** 2


def _sigmoid_prime(a):
    return torch.sigmoid(a) * (1 - torch.sigmoid(a))


@pytest.mark.parametrize("sigma_w2", [4.0, 16.0, 64.0])
def test_mean_field_log_norms_stay_accurate_deep_in_saturation(sigma_w2):
    # depth 2: one activation at q_1 = sigma_w2 * q_input; depth 3: the next variance q_2 = sigma_w2 E tanh^2
    q1 = sigma_w2 * 1.5
    m1 = _normal_moment_by_trapezoid(lambda a: _tanh_prime(a) ** 2, q1)
    q2 = sigma_w2 * _normal_moment_by_trapezoid(lambda a: torch.tanh(a) ** 2, q1)
    m2 = _normal_moment_by_trapezoid(lambda a: _tanh_prime(a) ** 2, q2)
    two, three = theory.mean_field_log_norms("tanh", sigma_w2, (2, 3), q_input=1.5)
    assert math.isclose(two, 0.5 * (2 * math.log(sigma_w2) + math.log(m1)), rel_tol=1e-10)
    assert math.isclose(three, 0.5 * (3 * math.log(sigma_w2) + math.log(m1) + math.log(m2)), rel_tol=1e-10)


def test_mean_field_slope_closed_forms():
    assert math.isclose(theory.mean_field_slope("relu", 4.0, (2, 4, 8)), 0.5 * math.log(2.0))  # 1/2 log(s^2/2)
    assert math.isclose(theory.mean_field_slope("linear", 4.0, (2, 4, 8)), math.log(2.0))


def test_mean_field_log_norms_bad_arguments():
    with pytest.raises(SpecInputError, match="depths is empty"):
        theory.mean_field_log_norms("tanh", 1.0, [])
    with pytest.raises(SpecInputError, match="depths"):
        theory.mean_field_log_norms("tanh", 1.0, [2, 0])
    with pytest.raises(SpecInputError, match="activation must be one of"):
        theory.mean_field_log_norms("gelu", 1.0, [2])
    with pytest.raises(SpecInputError, match="sigma_w2"):
        theory.mean_field_slope("tanh", -1.0, [2, 3])


_DEPTH_TAKERS = {
    "mean_field_log_norms": lambda depths: theory.mean_field_log_norms("tanh", 1.0, depths),
    "mean_field_slope": lambda depths: theory.mean_field_slope("tanh", 1.0, depths),
    "nonlinear_slope_standard_error": lambda depths: theory.nonlinear_slope_standard_error(32, depths, 3),
    "nonlinear_slope_tolerance": lambda depths: theory.nonlinear_slope_tolerance(32, depths, 3),
    "mean_field_slope_tolerance": lambda depths: theory.mean_field_slope_tolerance("tanh", 1.0, 32, depths, 3),
}


@pytest.mark.parametrize("fn", _DEPTH_TAKERS.values(), ids=_DEPTH_TAKERS.keys())
@pytest.mark.parametrize(
    "depths, match",
    [
        ([], "depths is empty"),  # before: max() of nothing, or the least-squares slope's "length >= 2"
        ("24", "depths must be a sequence of positive ints, got '24'"),  # before: each character, an int check
        (3, "depths must be a sequence of positive ints, got 3"),  # before: TypeError, not iterable
        ([2, 0], r"depths\[i\] must be an int >= 1, got 0"),
        ([2, 3.0], r"depths\[i\] must be an int >= 1, got 3.0"),
    ],
)
def test_every_function_of_depths_checks_them_the_same_way(fn, depths, match):
    with pytest.raises(SpecInputError, match=match):
        fn(depths)


def test_mean_field_derivative_dispersion():
    assert theory.mean_field_derivative_dispersion("relu", 5.0, 4) == 1.0  # Bernoulli(1/2): 1/2 / (1/4) - 1
    assert theory.mean_field_derivative_dispersion("linear", 5.0, 4) == 0.0
    assert theory.mean_field_derivative_dispersion("tanh", 5.0, 1) == 0.0  # no activation in a depth-1 net
    # depth 2: one activation, at q_1 = sigma_w2 * q_input
    for activation, dphi in (("tanh", _tanh_prime), ("sigmoid", _sigmoid_prime)):
        for sigma_w2 in (0.5, 4.0, 16.0):
            q = sigma_w2 * 1.5
            m2 = _normal_moment_by_trapezoid(lambda a, dphi=dphi: dphi(a) ** 2, q)
            m4 = _normal_moment_by_trapezoid(lambda a, dphi=dphi: dphi(a) ** 4, q)
            got = theory.mean_field_derivative_dispersion(activation, sigma_w2, 2, q_input=1.5)
            assert math.isclose(got, m4 / m2**2 - 1, rel_tol=1e-9)
    # deeper: the maximum over the layers, which for a tanh net in the chaotic phase grows with the weights
    r = [theory.mean_field_derivative_dispersion("tanh", s2, 30) for s2 in (1.0, 4.0, 16.0)]
    assert r[0] < r[1] < r[2] and r[1] > 1  # past ReLU's mask: tanh units split into passing and saturated ones
    with pytest.raises(SpecInputError, match="depth"):
        theory.mean_field_derivative_dispersion("tanh", 1.0, 0)


def test_mean_field_slope_tolerance_generalises_the_relu_one():
    depths = (2, 4, 8, 16, 32)
    # r = 1 for ReLU at any scale: the same value as nonlinear_slope_tolerance
    for s2 in (0.5, 2.0, 8.0):
        assert math.isclose(
            theory.mean_field_slope_tolerance("relu", s2, 32, depths, 3),
            theory.nonlinear_slope_tolerance(32, depths, 3),
            rel_tol=1e-12,
        )
    # wider for a more dispersed derivative, narrower with more seeds or width
    assert theory.mean_field_slope_tolerance("tanh", 16.0, 32, depths, 3) > theory.mean_field_slope_tolerance(
        "tanh", 1.0, 32, depths, 3
    )
    assert theory.mean_field_slope_tolerance("tanh", 4.0, 32, depths, 12) < theory.mean_field_slope_tolerance(
        "tanh", 4.0, 32, depths, 3
    )
    assert theory.mean_field_slope_tolerance("tanh", 4.0, 128, depths, 3) < theory.mean_field_slope_tolerance(
        "tanh", 4.0, 32, depths, 3
    )
    with pytest.raises(SpecInputError, match="width"):
        theory.mean_field_slope_tolerance("tanh", 4.0, 0, depths, 3)
    with pytest.raises(SpecInputError, match="activation must be one of"):
        theory.mean_field_slope_tolerance("gelu", 4.0, 32, depths, 3)


def test_the_log_chi2_chernoff_bound_holds_and_is_tight_enough_for_one_layer():
    # one term, X = 1/2 log chi^2_n: the exact two-sided tail from the chi^2 CDF (scipy) lies below the bound, and the
    # bound is within a modest factor of it (Chernoff bounds lose a polynomial factor, not orders of magnitude)
    stats = pytest.importorskip("scipy.stats", reason="scipy (dev extra) is not installed")
    n, t = 32, 0.6
    mean = (float(torch.special.digamma(torch.tensor(n / 2.0, dtype=torch.float64))) + math.log(2)) / 2
    exact = stats.chi2.cdf(math.exp(2 * (mean - t)), n) + stats.chi2.sf(math.exp(2 * (mean + t)), n)
    bound = theory.log_chi2_sum_tail([(1.0, 1)], t, n)
    assert exact <= bound <= 20 * exact, (exact, bound)
    # averaging concentrates: the mean of 4 terms (sd halved) misses by the same threshold far less often
    assert theory.log_chi2_sum_tail([(0.25, 4)], t, n) < bound / 10


@pytest.mark.parametrize(
    "terms, threshold, n, match",
    [
        ([], 1.0, 8, "non-zero"),
        ([(0.0, 3)], 1.0, 8, "non-zero"),
        ([(1.0, 0)], 1.0, 8, "count"),
        ([(1.0, 1)], 0.0, 8, "threshold"),
        ([(1.0, 1)], 1.0, 0, "n"),
    ],
)
def test_the_log_chi2_chernoff_bound_refuses_bad_input(terms, threshold, n, match):
    with pytest.raises(SpecInputError, match=match):
        theory.log_chi2_sum_tail(terms, threshold, n)
