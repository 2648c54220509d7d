"""Tests of support.monitor: the GradientMonitor (norms, non-finite values, spikes, input checks)."""

import math

import pytest
import torch
from torch import nn

from support.errors import SpecInputError, SpecTypeError
from support.gradients import total_grad_norm
from support.models import mlp
from support.monitor import Anomaly, GradientMonitor

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
    monitor = GradientMonitor(net)
    loss = net(torch.randn(5, 3, dtype=F64)).pow(2).mean()
    loss.backward()
    assert monitor.observe(loss) == ()
    assert monitor.step == 1 and monitor.healthy
    assert math.isclose(monitor.norms[0], total_grad_norm(net).item(), rel_tol=1e-12)
    assert monitor.losses == [loss.item()]


def test_monitor_skips_parameters_without_grad():
    a, b = _params([3.0, 4.0], [1.0])
    b.grad = None
    monitor = GradientMonitor([a, b])
    monitor.observe(1.0)
    assert monitor.norms == [5.0]


def test_monitor_flags_a_spike_against_the_median_of_the_window():
    (p,) = _params([1.0])
    monitor = GradientMonitor([p], spike_factor=10, window=3, warmup=3)
    found = _feed(monitor, [p], [1.0, 2.0, 100.0, 3.0, 1.0, 29.0, 31.0])
    # steps 0-1: warm-up (fewer than 3 norms before); step 2: 100 > 10 * median(1, 2) -- but only 2 seen: no check
    assert found[:3] == [(), (), ()]
    assert found[3] == ()  # 3 <= 10 * median(1, 2, 100) = 20
    assert found[4] == ()
    assert found[5] == ()  # 29 <= 10 * median(100, 3, 1) = 30
    (spike,) = found[6]  # 31 > 10 * median(3, 1, 29) = 30
    assert spike == Anomaly(6, "spike", 31.0, reference=3.0)
    assert monitor.first("spike") is spike and monitor.first() is spike and not monitor.healthy


def test_monitor_spike_factor_is_strict():
    (p,) = _params([1.0])
    monitor = GradientMonitor([p], spike_factor=10, window=5, warmup=1)
    assert _feed(monitor, [p], [1.0, 10.0]) == [(), ()]  # 10 is not > 10 * 1
    assert _feed(monitor, [p], [100.1])[0][0].kind == "spike"  # > 10 * median(1, 10) = 55


def test_monitor_flags_non_finite_gradients_and_names_the_parameters():
    net = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1)).double()
    monitor = GradientMonitor(net)
    for p in net.parameters():
        p.grad = torch.ones_like(p)
    net[1].weight.grad[0, 0] = math.nan
    (anomaly,) = monitor.observe(0.5)
    assert anomaly.kind == "non-finite-grad" and anomaly.parameters == ("1.weight",)
    assert math.isnan(anomaly.value) and math.isnan(monitor.norms[-1])


def test_monitor_names_parameters_whose_norm_overflows():
    a, b = _params([1e200, 1e200], [1.0])
    monitor = GradientMonitor([a, b])
    (anomaly,) = monitor.observe()
    assert anomaly.kind == "non-finite-grad" and anomaly.value == math.inf and anomaly.parameters == ("0",)


def test_a_float32_norm_overflows_at_float32_range_not_float64():
    # each parameter's norm is taken in its gradient's dtype: entries of 1e20 are finite in float32, but their squares
    # (1e40) pass float32's 3.4e38, so the norm is inf although float64 would give 1.4e20
    p = torch.zeros(2, requires_grad=True)
    p.grad = torch.full((2,), 1e20)
    q = torch.zeros(1, requires_grad=True)
    q.grad = torch.full((1,), 1e19)  # squares 1e38 < 3.4e38: its norm is finite
    (anomaly,) = GradientMonitor([p, q]).observe()
    assert anomaly.kind == "non-finite-grad" and anomaly.parameters == ("0",)


def test_monitor_flags_a_non_finite_loss_and_ignores_non_finite_norms_in_the_spike_reference():
    (p,) = _params([1.0])
    monitor = GradientMonitor([p], warmup=1)
    assert [a.kind for a in monitor.observe(torch.tensor(math.inf))] == ["non-finite-loss"]
    p.grad = torch.tensor([math.inf], dtype=F64)
    assert [a.kind for a in monitor.observe()] == ["non-finite-grad"]
    p.grad = torch.tensor([5.0], dtype=F64)
    assert monitor.observe() == ()  # reference = median of the finite norms (1.0): 5 < 10
    assert [a.kind for a in monitor.anomalies] == ["non-finite-loss", "non-finite-grad"]
    assert monitor.first("non-finite-grad").step == 1


def test_monitor_before_backward_raises():
    monitor = GradientMonitor(mlp(2, 2, 1))
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
        GradientMonitor(kwargs.pop("model"), **kwargs)


def test_monitor_bad_loss_and_kind():
    monitor = GradientMonitor(_params([1.0]))
    with pytest.raises(SpecInputError, match="loss must be a scalar"):
        monitor.observe(torch.ones(2))
    with pytest.raises(SpecTypeError, match="loss must be"):
        monitor.observe("1.0")
    with pytest.raises(SpecInputError, match="kind must be one of"):
        monitor.first("explosion")


def test_monitor_accepts_a_single_tensor():
    (p,) = _params([3.0, 4.0])
    monitor = GradientMonitor(p)
    monitor.observe()
    assert monitor.norms == [5.0]
