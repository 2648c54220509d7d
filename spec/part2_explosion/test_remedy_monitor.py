"""remedy.monitor

Source: 「监控训练过程: 实时监控训练过程中的损失和梯度值,一旦发现异常,可以采取措施调整 学习率或停止训练。」

What is true (confirmed):
- Recording the loss and the total gradient norm (the norm clip_grad_norm_ computes and returns) after every
  backward flags an explosion as a spike, a norm far above the median of the recent ones, while every number is
  still finite, before the gradients overflow.
- It then names the parameters whose gradients went non-finite; a healthy run raises no flag.
- For a NaN born inside backward, torch.autograd.detect_anomaly() makes backward raise at the first function that
  returns NaN and names it, instead of letting the NaN flow silently into .grad.

Why: support.monitor.GradientMonitor records, once per step after backward, the loss and the total gradient norm,
and flags non-finite values and spikes (a norm above 10x the median of the recent ones); Pascanu et al. 2013 clip
with the same total norm. On the run explosion.definition studies (SGD above the stability limit) the tests check
that the recorded norms equal what clip_grad_norm_ with max_norm = inf returns, that a spike is flagged at a finite
value before the first non-finite gradient or loss, that the flagged parameters exist in the model, and that a run
at lr = 0.05 raises no flag. For a NaN created inside backward (d/dw of sqrt(w) * 0 at w = 0: SqrtBackward0
computes 0 / 0) the NaN lands silently in .grad; under torch.autograd.detect_anomaly() backward raises a
RuntimeError naming SqrtBackward0, .grad stays None, and a warning carries the traceback of the forward call
(PyTorch docs, torch.autograd.detect_anomaly).
"""

import math
import warnings

import pytest
import torch

from support.explosion import UNSTABLE_LR, unstable_regression
from support.monitor import GradientMonitor
from support.tensors import maker
from support.tolerances import assert_close

pytestmark = pytest.mark.claim("remedy.monitor")
STEPS = 12


def _monitored_run(device, lr):
    """(model, monitor, stopped_at, clip_norms): the run explosion.definition studies, observed every step;
    clip_norms holds what clip_grad_norm_ returns for the same gradients (max_norm = inf: it measures and
    never scales, its clip coefficient being clamped to 1)."""
    x, y, make_model = unstable_regression(device)
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    monitor = GradientMonitor(model)
    stopped_at, clip_norms = None, []
    for step in range(STEPS):
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        anomalies = monitor.observe(loss)
        clip_norms.append(torch.nn.utils.clip_grad_norm_(model.parameters(), math.inf).item())
        if any(a.kind != "spike" for a in anomalies):
            stopped_at = step  # "stop training": do not apply a non-finite update
            break
        opt.step()
    return model, monitor, stopped_at, clip_norms


def test_monitor_records_the_norm_clip_grad_norm_computes_and_the_loss(device):
    _, monitor, _, clip_norms = _monitored_run(device, lr=0.05)
    assert len(monitor.norms) == len(clip_norms) == STEPS
    assert_close(torch.tensor(monitor.norms, dtype=torch.float64), torch.tensor(clip_norms, dtype=torch.float64))
    x, y, make_model = unstable_regression(device)
    assert monitor.losses[0] == torch.nn.functional.mse_loss(make_model()(x), y).item()  # the loss as observed


def test_monitor_flags_a_spike_before_the_gradient_turns_non_finite(device, figures):
    model, monitor, stopped_at, _ = _monitored_run(device, lr=UNSTABLE_LR)
    spike = monitor.first("spike")
    bad = monitor.first("non-finite-grad") or monitor.first("non-finite-loss")
    assert spike is not None and bad is not None
    assert spike.step < bad.step  # an early warning, while every number is still finite
    assert math.isfinite(spike.value) and spike.value > monitor.spike_factor * spike.reference
    assert stopped_at == bad.step
    if bad.kind == "non-finite-grad":
        names = {n for n, _ in model.named_parameters()}
        assert bad.parameters and set(bad.parameters) <= names
    x, _, _ = unstable_regression(device)  # the run's data, for what the figures were measured on
    layers = "-".join(str(n) for n in [x.shape[1]] + [m.out_features for m in model if isinstance(m, torch.nn.Linear)])
    on = (
        f"linear MLP {layers}, MSELoss, {x.shape[0]} regression samples, full-batch SGD at lr {UNSTABLE_LR}, "
        f"spike factor {monitor.spike_factor:g}"
    )
    on_zh = (
        f"线性 MLP {layers},MSELoss,{x.shape[0]} 个回归样本,全 batch SGD,lr {UNSTABLE_LR},"
        f"尖峰阈值倍数 {monitor.spike_factor:g}"
    )
    figures.record(
        "monitor: first spike step",
        spike.step,
        "step",
        zh="监控:首个尖峰所在的步",
        measured_on=on,
        measured_on_zh=on_zh,
    )
    figures.record(
        "monitor: first non-finite step",
        bad.step,
        "step",
        zh="监控:首个出现非有限值的步",
        measured_on=on,
        measured_on_zh=on_zh,
    )
    figures.record(
        "monitor: spike norm / median of previous norms",
        spike.value / spike.reference,
        "1",
        zh="监控:尖峰处的范数 / 此前范数的中位数",
        measured_on=on,
        measured_on_zh=on_zh,
    )
    plot = figures.plot(
        "monitored run at lr = 1.0: gradient norm per step",
        x_label="SGD step",
        y_label="total gradient norm (L2)",
        zh=("lr = 1.0 的受监控训练:每步的梯度范数", "SGD步数", "总梯度范数(L2)"),
        log_y=True,
    )
    plot.line(
        f"total gradient norm (non-finite at step {bad.step}, not drawn)",
        range(len(monitor.norms)),
        monitor.norms,
        zh=f"总梯度范数(第{bad.step}步为非有限值,未画出)",
    )
    plot.points(
        f"first spike flagged, step {spike.step}", [spike.step], [spike.value], zh=f"首个被标记的尖峰,第{spike.step}步"
    )
    plot.points(
        f"spike threshold there: {monitor.spike_factor:g} x median of the previous norms",
        [spike.step],
        [monitor.spike_factor * spike.reference],
        zh=f"该处的尖峰阈值:此前范数中位数的 {monitor.spike_factor:g} 倍",
    )


def test_monitor_is_quiet_on_a_healthy_run(device):
    _, monitor, stopped_at, _ = _monitored_run(device, lr=0.05)
    assert monitor.healthy and stopped_at is None
    assert len(monitor.norms) == STEPS


def _sqrt_at_zero_times_zero(w):
    # d/dw [sqrt(w) * 0] at w = 0: Mul's backward sends 0 to sqrt, whose backward computes 0 / (2 sqrt(0)) = NaN
    return (torch.sqrt(w) * 0.0).sum()


def test_without_anomaly_detection_the_nan_lands_silently_in_grad(device):
    w = maker(device).zeros(2).requires_grad_()
    _sqrt_at_zero_times_zero(w).backward()
    assert torch.isnan(w.grad).all()
    monitor = GradientMonitor([w])
    (anomaly,) = monitor.observe()
    assert anomaly.kind == "non-finite-grad" and anomaly.parameters == ("0",)


def test_detect_anomaly_names_the_backward_function_that_returned_nan(device):
    w = maker(device).zeros(2).requires_grad_()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with torch.autograd.detect_anomaly():
            loss = _sqrt_at_zero_times_zero(w)
            with pytest.raises(RuntimeError, match=r"Function 'SqrtBackward0' returned nan values"):
                loss.backward()
    assert w.grad is None  # the NaN never reached .grad
    # and a warning carries the traceback of the forward call that created the failing function
    assert any("Error detected in SqrtBackward0" in str(c.message) for c in caught)
