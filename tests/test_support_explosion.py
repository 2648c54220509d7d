"""Tests of support.explosion: the GradientMonitor (norms, non-finite values, spikes, input checks), the
one-unit recurrent model of Pascanu et al., line fits and their standard error, bisection, the depth sweep
and its two predictions (exact Gaussian chain, mean field)."""

import math
import random
import statistics

import pytest
import torch
from torch import nn

from support import explosion
from support.errors import SpecInputError, SpecTypeError
from support.gradients import total_grad_norm
from support.models import mlp
from support.tolerances import assert_close, override

F64 = torch.float64


# ---------------------------------------------------------------- GradientMonitor
def _params(*grads):
    out = []
    for g in grads:
        p = torch.zeros(len(g), dtype=F64, requires_grad=True)
        p.grad = torch.tensor(g, dtype=F64)
        out.append(p)
    return out


def _feed(monitor, params, norms):
    """Observe one step per norm, with the first parameter's gradient set to that norm."""
    found = []
    for v in norms:
        params[0].grad = torch.tensor([v], dtype=F64)
        found.append(monitor.observe())
    return found


def test_monitor_records_the_total_norm_and_the_loss():
    net = mlp(3, 4, 2, depth=2)
    monitor = explosion.GradientMonitor(net)
    loss = net(torch.randn(5, 3, dtype=F64)).pow(2).mean()
    loss.backward()
    assert monitor.observe(loss) == ()
    assert monitor.step == 1 and monitor.healthy
    assert math.isclose(monitor.norms[0], total_grad_norm(net).item(), rel_tol=1e-12)
    assert monitor.losses == [loss.item()]


def test_monitor_skips_parameters_without_grad():
    a, b = _params([3.0, 4.0], [1.0])
    b.grad = None
    monitor = explosion.GradientMonitor([a, b])
    monitor.observe(1.0)
    assert monitor.norms == [5.0]


def test_monitor_flags_a_spike_against_the_median_of_the_window():
    (p,) = _params([1.0])
    monitor = explosion.GradientMonitor([p], spike_factor=10, window=3, warmup=3)
    found = _feed(monitor, [p], [1.0, 2.0, 100.0, 3.0, 1.0, 29.0, 31.0])
    # steps 0-1: warm-up (fewer than 3 norms before); step 2: 100 > 10 * median(1, 2) -- but only 2 seen: no check
    assert found[:3] == [(), (), ()]
    assert found[3] == ()  # 3 <= 10 * median(1, 2, 100) = 20
    assert found[4] == ()
    assert found[5] == ()  # 29 <= 10 * median(100, 3, 1) = 30
    (spike,) = found[6]  # 31 > 10 * median(3, 1, 29) = 30
    assert spike == explosion.Anomaly(6, "spike", 31.0, reference=3.0)
    assert monitor.first("spike") is spike and monitor.first() is spike and not monitor.healthy


def test_monitor_spike_factor_is_strict():
    (p,) = _params([1.0])
    monitor = explosion.GradientMonitor([p], spike_factor=10, window=5, warmup=1)
    assert _feed(monitor, [p], [1.0, 10.0]) == [(), ()]  # 10 is not > 10 * 1
    assert _feed(monitor, [p], [100.1])[0][0].kind == "spike"  # > 10 * median(1, 10) = 55


def test_monitor_flags_non_finite_gradients_and_names_the_parameters():
    net = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1)).double()
    monitor = explosion.GradientMonitor(net)
    for p in net.parameters():
        p.grad = torch.ones_like(p)
    net[1].weight.grad[0, 0] = math.nan
    (anomaly,) = monitor.observe(0.5)
    assert anomaly.kind == "non-finite-grad" and anomaly.parameters == ("1.weight",)
    assert math.isnan(anomaly.value) and math.isnan(monitor.norms[-1])


def test_monitor_names_parameters_whose_norm_overflows():
    a, b = _params([1e200, 1e200], [1.0])
    monitor = explosion.GradientMonitor([a, b])
    (anomaly,) = monitor.observe()
    assert anomaly.kind == "non-finite-grad" and anomaly.value == math.inf and anomaly.parameters == ("0",)


def test_monitor_flags_a_non_finite_loss_and_ignores_non_finite_norms_in_the_spike_reference():
    (p,) = _params([1.0])
    monitor = explosion.GradientMonitor([p], warmup=1)
    assert [a.kind for a in monitor.observe(torch.tensor(math.inf))] == ["non-finite-loss"]
    p.grad = torch.tensor([math.inf], dtype=F64)
    assert [a.kind for a in monitor.observe()] == ["non-finite-grad"]
    p.grad = torch.tensor([5.0], dtype=F64)
    assert monitor.observe() == ()  # reference = median of the finite norms (1.0): 5 < 10
    assert [a.kind for a in monitor.anomalies] == ["non-finite-loss", "non-finite-grad"]
    assert monitor.first("non-finite-grad").step == 1


def test_monitor_before_backward_raises():
    monitor = explosion.GradientMonitor(mlp(2, 2, 1))
    with pytest.raises(SpecInputError, match="after backward"):
        monitor.observe()


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(model=[]), SpecInputError, "no parameters"),
        (dict(model=[1.0]), SpecTypeError, "parameter 0"),
        (dict(model=3), SpecTypeError, "nn.Module or an iterable"),
        (dict(spike_factor=1.0), SpecInputError, "spike_factor"),
        (dict(spike_factor=math.inf), SpecInputError, "spike_factor"),
        (dict(spike_factor=True), SpecInputError, "spike_factor"),
        (dict(window=0), SpecInputError, "window"),
        (dict(warmup=0), SpecInputError, "warmup"),
        (dict(window=2, warmup=3), SpecInputError, "warmup"),
    ],
)
def test_monitor_bad_arguments(kwargs, error, match):
    kwargs = {"model": _params([1.0]), **kwargs}
    with pytest.raises(error, match=match):
        explosion.GradientMonitor(kwargs.pop("model"), **kwargs)


def test_monitor_bad_loss_and_kind():
    monitor = explosion.GradientMonitor(_params([1.0]))
    with pytest.raises(SpecInputError, match="loss must be a scalar"):
        monitor.observe(torch.ones(2))
    with pytest.raises(SpecTypeError, match="loss must be"):
        monitor.observe("1.0")
    with pytest.raises(SpecInputError, match="unknown anomaly kind"):
        monitor.first("explosion")


def test_monitor_accepts_a_single_tensor():
    (p,) = _params([3.0, 4.0])
    monitor = explosion.GradientMonitor(p)
    monitor.observe()
    assert monitor.norms == [5.0]


# ---------------------------------------------------------------- the one-unit recurrent model
def test_one_unit_model_one_step_is_w_sigmoid_x0_plus_b():
    x1 = explosion.one_unit_rnn_final_state(5.0, -1.0, 1, x0=0.3)
    assert_close(x1, torch.tensor(5.0 / (1 + math.exp(-0.3)) - 1.0, dtype=F64))


def test_one_unit_model_vectorised_bias_equals_scalar_runs():
    bs = torch.tensor([-3.0, -2.6, 0.5], dtype=F64)
    vec = explosion.one_unit_rnn_bias_grad(5.0, bs, 12)
    for i, b in enumerate(bs.tolist()):
        assert_close(vec[i], explosion.one_unit_rnn_bias_grad(5.0, b, 12))
    assert_close(explosion.one_unit_rnn_error(5.0, bs, 12)[1], explosion.one_unit_rnn_error(5.0, -2.6, 12))


def test_one_unit_model_bias_grad_matches_finite_differences():
    b = torch.tensor([-2.0, 0.3], dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: explosion.one_unit_rnn_error(3.0, v, 15), (b,))
    h = 1e-6
    fd = (explosion.one_unit_rnn_error(3.0, -2.0 + h, 15) - explosion.one_unit_rnn_error(3.0, -2.0 - h, 15)) / (2 * h)
    assert math.isclose(explosion.one_unit_rnn_bias_grad(3.0, -2.0, 15).item(), fd.item(), rel_tol=1e-6)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: explosion.one_unit_rnn_final_state(math.nan, 0.0, 3), SpecInputError, "w must be"),
        (lambda: explosion.one_unit_rnn_final_state(3.0, 0.0, 0), SpecInputError, "steps"),
        (lambda: explosion.one_unit_rnn_final_state(3.0, "b", 3), SpecInputError, "b must be"),
        (lambda: explosion.one_unit_rnn_final_state(3.0, torch.zeros(2), 3), SpecTypeError, "float64"),
        (lambda: explosion.one_unit_rnn_error(3.0, 0.0, 3, target=math.inf), SpecInputError, "target"),
    ],
)
def test_one_unit_model_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ---------------------------------------------------------------- line fits
def test_fit_line_recovers_an_exact_line():
    fit = explosion.fit_line([1, 2, 4, 8], [3 * x - 2 for x in (1, 2, 4, 8)])
    assert math.isclose(fit.slope, 3.0) and math.isclose(fit.intercept, -2.0, abs_tol=1e-12)
    assert all(abs(r) < 1e-12 for r in fit.residuals) and math.isclose(fit.predict(10), 28.0)


def test_fit_line_residuals_sum_to_zero_and_match_numpy():
    import numpy as np

    xs, ys = [0.0, 1.0, 3.0, 7.0], [1.0, 0.5, 4.0, 2.0]
    fit = explosion.fit_line(xs, ys)
    slope, intercept = np.polyfit(xs, ys, 1)
    assert math.isclose(fit.slope, slope) and math.isclose(fit.intercept, intercept)
    assert abs(sum(fit.residuals)) < 1e-12


def test_fit_log_slope_is_the_log_of_the_growth_factor():
    fit = explosion.fit_log_slope([1, 2, 3, 4], torch.tensor([3 * 2.0**k for k in (1, 2, 3, 4)]))
    assert math.isclose(fit.slope, math.log(2)) and math.isclose(fit.intercept, math.log(3), rel_tol=1e-12)


def test_slope_standard_error_equal_variances_is_sigma_over_sqrt_sxx():
    xs = [2, 4, 8, 16, 32]
    xm = sum(xs) / len(xs)
    sxx = sum((x - xm) ** 2 for x in xs)
    assert math.isclose(explosion.slope_standard_error(xs, [0.25] * 5), 0.5 / math.sqrt(sxx))


def test_slope_standard_error_matches_a_simulation():
    rng = random.Random(3)
    xs, variances = [1.0, 2.0, 4.0, 8.0], [0.1, 0.2, 0.4, 0.8]
    slopes = [explosion.fit_line(xs, [rng.gauss(0, math.sqrt(v)) for v in variances]).slope for _ in range(4000)]
    # the standard deviation of a 4000-sample estimate of a standard deviation is ~1/sqrt(8000) = 1.1% of it
    assert math.isclose(statistics.pstdev(slopes), explosion.slope_standard_error(xs, variances), rel_tol=0.05)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: explosion.fit_line([1], [1]), "at least 2"),
        (lambda: explosion.fit_line([1, 2], [1]), "same length"),
        (lambda: explosion.fit_line([1, 1], [1, 2]), "all equal"),
        (lambda: explosion.fit_line([1, 2], [1, math.nan]), "finite"),
        (lambda: explosion.fit_line("ab", [1, 2]), "sequence of numbers"),
        (lambda: explosion.fit_log_slope([1, 2], [1, 0]), "> 0"),
        (lambda: explosion.slope_standard_error([1, 2], [1, -1]), ">= 0"),
        (lambda: explosion.slope_standard_error([1, 2], [1]), "same length"),
    ],
)
def test_fit_bad_arguments(call, match):
    with pytest.raises(SpecInputError, match=match):
        call()


# ---------------------------------------------------------------- bisection
def test_bisect_finds_sqrt_two_within_xtol():
    root = explosion.bisect(lambda x: x * x - 2, 0.0, 2.0, xtol=1e-10)
    assert abs(root - math.sqrt(2)) <= 1e-10


def test_bisect_decreasing_function_and_exact_endpoints():
    assert abs(explosion.bisect(lambda x: 1 - x, -5.0, 7.0) - 1.0) <= 1e-12
    assert explosion.bisect(lambda x: x, 0.0, 1.0) == 0.0
    assert explosion.bisect(lambda x: x - 1, 0.0, 1.0) == 1.0


def test_bisect_stops_at_floating_point_resolution():
    # a sign change between two adjacent floats: the bracket cannot be halved below one ulp
    root = explosion.bisect(lambda x: -1.0 if x < 1.0 else 1.0, 0.0, 3.0, xtol=1e-300)
    assert abs(root - 1.0) <= 4e-16


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: explosion.bisect(lambda x: x * x + 1, -1.0, 1.0), "change sign"),
        (lambda: explosion.bisect(lambda x: x, 1.0, 0.0), "lo < hi"),
        (lambda: explosion.bisect(lambda x: math.inf, 0.0, 1.0), "finite"),
        (lambda: explosion.bisect(lambda x: math.nan if 0 < x < 1 else x - 0.5, 0.0, 1.0), "not finite"),
        (lambda: explosion.bisect(lambda x: x, 0.0, 1.0, xtol=0), "xtol"),
    ],
)
def test_bisect_bad_arguments(call, match):
    with pytest.raises(SpecInputError, match=match):
        call()


# ---------------------------------------------------------------- depth sweep and predictions
def test_depth_sweep_one_linear_layer_is_the_norm_of_w_transpose_u():
    sweep = explosion.depth_sweep("linear", 0.3, width=4, depths=[1], seeds=2, seed=5)
    for k in range(2):
        s = explosion.sweep_seed(1, k, 5)
        net = mlp(4, 4, 4, depth=1, activation="linear", weight_std=0.3, bias=False, seed=s)
        g = torch.Generator().manual_seed(s)
        x = torch.randn(1, 4, generator=g, dtype=F64)
        u = torch.randn(1, 4, generator=g, dtype=F64)
        u = u / u.norm()
        w = net[0].weight.detach()
        assert math.isclose(sweep.log_norms[0][k], math.log((u @ w).norm().item()), rel_tol=1e-12)
        assert math.isclose(sweep.forward_log_gains[0][k], math.log((x @ w.T).norm().item() / x.norm().item()),
                            rel_tol=1e-12, abs_tol=1e-12)


def test_depth_sweep_is_cached_and_its_fit_uses_the_seed_means():
    a = explosion.depth_sweep("relu", 0.25, width=8, depths=[2, 3], seeds=2)
    assert explosion.depth_sweep("relu", 0.25, width=8, depths=(2, 3), seeds=2) is a
    assert a.mean_log_norms == tuple(sum(r) / 2 for r in a.log_norms)
    assert math.isclose(a.fit().slope, a.mean_log_norms[1] - a.mean_log_norms[0])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(activation="gelu"), "unknown activation"),
        (dict(weight_std=0.0), "weight_std"),
        (dict(width=0), "width"),
        (dict(seeds=0), "seeds"),
        (dict(depths=[]), "depths is empty"),
        (dict(depths=[2, 0]), "depths"),
        (dict(depths=4), "depths must be a sequence"),
        (dict(seed=1.5), "seed"),
    ],
)
def test_depth_sweep_bad_arguments(kwargs, match):
    args = {"activation": "linear", "weight_std": 0.1, "width": 4, "depths": [1], "seeds": 1, **kwargs}
    with pytest.raises(SpecInputError, match=match):
        explosion.depth_sweep(args.pop("activation"), args.pop("weight_std"), **args)


def test_gaussian_chain_for_two_columns_uses_digamma_one():
    # n = 2: chi^2_2 is exponential with mean 2, E log = digamma(1) + log 2 = -Euler gamma + log 2
    euler = 0.5772156649015329
    assert math.isclose(explosion.gaussian_chain_log_norm_mean(1.0, [2]), 0.5 * (-euler + math.log(2)))
    assert math.isclose(explosion.gaussian_chain_log_norm_variance([2]), math.pi**2 / 6 / 4)  # trigamma(1) = pi^2/6


def test_gaussian_chain_is_additive_and_approaches_log_s_sqrt_n():
    one = explosion.gaussian_chain_log_norm_mean(0.1, 64)
    assert math.isclose(explosion.gaussian_chain_log_norm_mean(0.1, [64] * 5), 5 * one)
    assert abs(one - (math.log(0.1 * 8) - 1 / 128)) < 1 / 64**2  # log(s sqrt(n)) - 1/(2n) + O(1/n^2)


def test_gaussian_chain_matches_a_simulation():
    g = torch.Generator().manual_seed(4)
    n, s, trials = 6, 0.5, 20000
    w = s * torch.randn(trials, 3, n, generator=g, dtype=F64)  # a single 3 x n matrix per trial: W^T maps R^3 -> R^n
    u = torch.tensor([1.0, 0.0, 0.0], dtype=F64)
    logs = torch.log(torch.linalg.vector_norm(torch.einsum("i,tin->tn", u, w), dim=1))
    expected = explosion.gaussian_chain_log_norm_mean(s, [n])
    sd = math.sqrt(explosion.gaussian_chain_log_norm_variance([n]))
    assert abs(logs.mean().item() - expected) < 5 * sd / math.sqrt(trials)
    assert math.isclose(logs.std().item(), sd, rel_tol=0.03)


def test_mean_field_closed_forms():
    assert math.isclose(explosion.mean_field_log_norm("linear", 3.0, 4), 2 * math.log(3.0))
    for depth in (1, 2, 7):  # He: sigma_w^2 = 2 cancels relu'^2 = 1/2 in every layer but the last
        assert math.isclose(explosion.mean_field_log_norm("relu", 2.0, depth), 0.5 * math.log(2))


def test_mean_field_smooth_activations_at_zero_variance():
    # q = 0 keeps tanh's pre-activations at 0 (tanh(0) = 0), where tanh'^2 = 1: the linear result
    assert math.isclose(explosion.mean_field_log_norm("tanh", 0.5, 5, q_input=0.0), 2.5 * math.log(0.5), rel_tol=1e-12)
    # sigmoid: the first activation sees q = 0 (sigmoid'(0)^2 = 1/16); depth 2 has only that one
    assert math.isclose(explosion.mean_field_log_norm("sigmoid", 2.0, 2, q_input=0.0),
                        0.5 * (2 * math.log(2.0) + math.log(1 / 16)), rel_tol=1e-12)


def test_mean_field_tanh_chaotic_phase_exceeds_one_but_stays_below_linear():
    per_layer = explosion.mean_field_log_norm("tanh", 4.0, 41) - explosion.mean_field_log_norm("tanh", 4.0, 40)
    assert 0 < per_layer < 0.5 * math.log(4.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(activation="gelu"), "unknown activation"),
        (dict(sigma_w2=0.0), "sigma_w2"),
        (dict(depth=0), "depth"),
        (dict(q_input=-1.0), "q_input"),
        (dict(nodes=1), "nodes"),
    ],
)
def test_mean_field_bad_arguments(kwargs, match):
    args = {"activation": "tanh", "sigma_w2": 1.0, "depth": 3, **kwargs}
    with pytest.raises(SpecInputError, match=match):
        explosion.mean_field_log_norm(args.pop("activation"), args.pop("sigma_w2"), args.pop("depth"), **args)


def test_nonlinear_slope_tolerance_shrinks_with_more_seeds_and_width():
    a = explosion.nonlinear_slope_tolerance(32, (2, 4, 8, 16, 32), 3)
    assert explosion.nonlinear_slope_tolerance(32, (2, 4, 8, 16, 32), 12) < a
    assert explosion.nonlinear_slope_tolerance(128, (2, 4, 8, 16, 32), 3) < a
    with pytest.raises(SpecInputError, match="width"):
        explosion.nonlinear_slope_tolerance(0, (2, 4), 3)



# ---------------------------------------------------------------- sweeps over the weight scale (remedy.relu)
@pytest.mark.parametrize("activation", ["linear", "relu", "tanh", "sigmoid"])
def test_depth_sweeps_over_stds_match_depth_sweep(activation):
    stds = (0.2, 0.45)
    batched = explosion.depth_sweeps_over_stds(activation, stds, width=8, depths=(1, 3), seeds=2, seed=3,
                                               input_scale=0.7)
    assert len(batched) == 2
    for std, b in zip(stds, batched):
        ref = explosion.depth_sweep(activation, std, width=8, depths=(1, 3), seeds=2, seed=3, input_scale=0.7)
        assert (b.activation, b.weight_std, b.width, b.depths) == (activation, std, 8, (1, 3))
        # the same networks: mlp draws std * z in float32, the batch scales float64 copies of the std-1 draws,
        # so the weights differ by float32 rounding (2^-24 = 6e-8 relative); over <= 3 layers the log-norms move
        # by a few times that, far below the 1e-3 that a different network gives (next test)
        tol = override(rtol=0, atol=1e-6, reason="weights equal up to float32 rounding of std * z")
        assert_close(torch.tensor(b.log_norms, dtype=F64), torch.tensor(ref.log_norms, dtype=F64), tol=tol)
        assert_close(torch.tensor(b.forward_log_gains, dtype=F64), torch.tensor(ref.forward_log_gains, dtype=F64),
                     tol=tol)


def test_depth_sweeps_over_stds_are_cached_and_a_wrong_std_is_detected():
    a = explosion.depth_sweeps_over_stds("tanh", [0.3, 0.6], width=5, depths=[2], seeds=1)
    assert explosion.depth_sweeps_over_stds("tanh", (0.3, 0.6), width=5, depths=(2,), seeds=1) is a
    # a different std gives a different network: the comparison above can fail
    other = explosion.depth_sweep("tanh", 0.31, width=5, depths=[2], seeds=1)
    assert abs(other.log_norms[0][0] - a[0].log_norms[0][0]) > 1e-3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(activation="gelu"), "unknown activation"),
        (dict(weight_stds=[]), "weight_stds is empty"),
        (dict(weight_stds=[0.1, -1.0]), "weight_stds"),
        (dict(weight_stds=0.1), "weight_stds must be a sequence"),
        (dict(width=0), "width"),
        (dict(seeds=0), "seeds"),
        (dict(depths=[]), "depths is empty"),
        (dict(depths=[2, 0]), "depths"),
        (dict(seed=1.5), "seed"),
        (dict(input_scale=0.0), "input_scale"),
    ],
)
def test_depth_sweeps_over_stds_bad_arguments(kwargs, match):
    args = {"activation": "linear", "weight_stds": [0.1], "width": 4, "depths": [1], "seeds": 1, **kwargs}
    with pytest.raises(SpecInputError, match=match):
        explosion.depth_sweeps_over_stds(args.pop("activation"), args.pop("weight_stds"), **args)


@pytest.mark.parametrize("activation", ["linear", "relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("sigma_w2", [0.3, 1.0, 2.0])
def test_mean_field_log_norms_and_slope_equal_the_one_depth_function(activation, sigma_w2):
    # at these variances (q <= 2) Gauss-Hermite with 101 nodes is accurate to ~1e-8: both rules must agree
    depths = (1, 2, 5, 9)
    values = explosion.mean_field_log_norms(activation, sigma_w2, depths, q_input=0.6)
    for d, v in zip(depths, values):
        assert math.isclose(v, explosion.mean_field_log_norm(activation, sigma_w2, d, q_input=0.6),
                            rel_tol=1e-7, abs_tol=1e-8)
    fit = explosion.fit_line(depths, values).slope
    assert math.isclose(explosion.mean_field_slope(activation, sigma_w2, depths, q_input=0.6), fit, rel_tol=1e-12)


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
    two, three = explosion.mean_field_log_norms("tanh", sigma_w2, (2, 3), q_input=1.5)
    assert math.isclose(two, 0.5 * (2 * math.log(sigma_w2) + math.log(m1)), rel_tol=1e-10)
    assert math.isclose(three, 0.5 * (3 * math.log(sigma_w2) + math.log(m1) + math.log(m2)), rel_tol=1e-10)


def test_mean_field_slope_closed_forms():
    assert math.isclose(explosion.mean_field_slope("relu", 4.0, (2, 4, 8)), 0.5 * math.log(2.0))  # 1/2 log(s^2/2)
    assert math.isclose(explosion.mean_field_slope("linear", 4.0, (2, 4, 8)), math.log(2.0))


def test_mean_field_log_norms_bad_arguments():
    with pytest.raises(SpecInputError, match="depths is empty"):
        explosion.mean_field_log_norms("tanh", 1.0, [])
    with pytest.raises(SpecInputError, match="depths"):
        explosion.mean_field_log_norms("tanh", 1.0, [2, 0])
    with pytest.raises(SpecInputError, match="unknown activation"):
        explosion.mean_field_log_norms("gelu", 1.0, [2])
    with pytest.raises(SpecInputError, match="sigma_w2"):
        explosion.mean_field_slope("tanh", -1.0, [2, 3])


def test_mean_field_derivative_dispersion():
    assert explosion.mean_field_derivative_dispersion("relu", 5.0, 4) == 1.0  # Bernoulli(1/2): 1/2 / (1/4) - 1
    assert explosion.mean_field_derivative_dispersion("linear", 5.0, 4) == 0.0
    assert explosion.mean_field_derivative_dispersion("tanh", 5.0, 1) == 0.0  # no activation in a depth-1 net
    # depth 2: one activation, at q_1 = sigma_w2 * q_input
    for activation, dphi in (("tanh", _tanh_prime), ("sigmoid", _sigmoid_prime)):
        for sigma_w2 in (0.5, 4.0, 16.0):
            q = sigma_w2 * 1.5
            m2 = _normal_moment_by_trapezoid(lambda a, dphi=dphi: dphi(a) ** 2, q)
            m4 = _normal_moment_by_trapezoid(lambda a, dphi=dphi: dphi(a) ** 4, q)
            got = explosion.mean_field_derivative_dispersion(activation, sigma_w2, 2, q_input=1.5)
            assert math.isclose(got, m4 / m2**2 - 1, rel_tol=1e-9)
    # deeper: the maximum over the layers, which for a tanh net in the chaotic phase grows with the weights
    r = [explosion.mean_field_derivative_dispersion("tanh", s2, 30) for s2 in (1.0, 4.0, 16.0)]
    assert r[0] < r[1] < r[2] and r[1] > 1  # past ReLU's mask: tanh units split into passing and saturated ones
    with pytest.raises(SpecInputError, match="depth"):
        explosion.mean_field_derivative_dispersion("tanh", 1.0, 0)


def test_mean_field_slope_tolerance_generalises_the_relu_one():
    depths = (2, 4, 8, 16, 32)
    # r = 1 for ReLU at any scale: the same value as nonlinear_slope_tolerance
    for s2 in (0.5, 2.0, 8.0):
        assert math.isclose(explosion.mean_field_slope_tolerance("relu", s2, 32, depths, 3),
                            explosion.nonlinear_slope_tolerance(32, depths, 3), rel_tol=1e-12)
    # wider for a more dispersed derivative, narrower with more seeds or width
    assert (explosion.mean_field_slope_tolerance("tanh", 16.0, 32, depths, 3)
            > explosion.mean_field_slope_tolerance("tanh", 1.0, 32, depths, 3))
    assert (explosion.mean_field_slope_tolerance("tanh", 4.0, 32, depths, 12)
            < explosion.mean_field_slope_tolerance("tanh", 4.0, 32, depths, 3))
    assert (explosion.mean_field_slope_tolerance("tanh", 4.0, 128, depths, 3)
            < explosion.mean_field_slope_tolerance("tanh", 4.0, 32, depths, 3))
    with pytest.raises(SpecInputError, match="width"):
        explosion.mean_field_slope_tolerance("tanh", 4.0, 0, depths, 3)
    with pytest.raises(SpecInputError, match="unknown activation"):
        explosion.mean_field_slope_tolerance("gelu", 4.0, 32, depths, 3)
