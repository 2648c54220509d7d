"""loss.continuous

Source: 「损失值是一个连续变量,反映了模型预测的不确定性或错误程度。」

What is true (confirmed):
- Cross-entropy is a smooth function of the logits that reflects confidence, where accuracy does not.
- Multiplying the logits by any temperature T > 0 keeps every argmax, hence the accuracy, while the loss changes
  continuously with T, by at most |T - 1| times the mean over samples of the largest gap |z_ij - z_iy| between a
  logit and the target's.
- As T grows, the loss of a correctly classified sample falls towards 0 and that of a misclassified one grows
  linearly in T.

Why: temperature scaling "does not change the maximum of the softmax" (Guo et al. 2017, sec. 4.2), so the accuracy
is the same at every T > 0. d/dT CE(T z_i) = E_{p(T)}[z_i] - z_iy lies in [min_j z_ij - z_iy, max_j z_ij - z_iy],
so |CE(T z) - CE(z)| <= |T - 1| mean_i max_j |z_ij - z_iy|, and at T = 1 the derivative is mean_i (E_p[z_i] -
z_iy); Hypothesis checks both for T from 0.05 to 20. For K = 2 and one sample with margin m = z_y - z_other, CE(T)
= log(1 + e^(-T m)): the test follows m = +1 and m = -1 for T from 0.25 to 16 with the accuracy fixed at 1 resp. 0,
the loss strictly falling (below 1e-6 at T = 16) resp. rising (16 + log(1 + e^-16) at T = 16).
"""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from support.hypothesis_helpers import batch_sizes, seeds
from support.metrics import accuracy
from support.tensors import generator, maker
from support.tolerances import assert_close, assert_le, slack

pytestmark = pytest.mark.claim("loss.continuous")


@given(n=batch_sizes(1, 16), k=st.integers(2, 6), temperature=st.floats(0.05, 20.0), seed=seeds())
def test_scaling_logits_keeps_accuracy_and_moves_the_loss_continuously(device, n, k, temperature, seed):
    g = generator(seed)
    z = torch.randn(n, k, generator=g, dtype=torch.float64).to(device)
    y = torch.randint(0, k, (n,), generator=g).to(device)
    assert accuracy(temperature * z, y) == accuracy(z, y)
    z_y = z.gather(1, y[:, None])
    lipschitz = (z - z_y).abs().max(dim=1).values.mean()
    change = (F.cross_entropy(temperature * z, y) - F.cross_entropy(z, y)).abs()
    assert_le(
        change,
        abs(temperature - 1) * lipschitz,
        slack=slack(
            rel=1e-12,
            abs=1e-13,
            reason=("each CE is a log-sum-exp of logits up to ~20 * 4 = 80, exact to a few ulps of 80 (~1e-14)"),
        ),
    )
    # first-order: d CE(T z) / dT at T = 1 is mean_i (sum_j p_ij z_ij - z_iy)
    t = torch.ones((), dtype=torch.float64, device=device, requires_grad=True)
    (dce,) = torch.autograd.grad(F.cross_entropy(t * z, y), t)
    p = torch.softmax(z, dim=1)
    assert_close(dce, ((p * z).sum(dim=1) - z_y.squeeze(1)).mean())


def test_one_sample_loss_follows_confidence_while_accuracy_stays(device, figures):
    temps = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0]
    y = torch.tensor([0], device=device)
    curves = {}
    for label, m in (("right (margin +1)", 1.0), ("wrong (margin -1)", -1.0)):
        z = maker(device).tensor([[m, 0.0]])
        accs = {accuracy(t * z, y) for t in temps}
        assert accs == {1.0 if m > 0 else 0.0}
        ce = [F.cross_entropy(t * z, y).item() for t in temps]
        for t, v in zip(temps, ce):
            # log(1 + e^(-T m)); abs_tol: torch forms it as logsumexp - z_y, exact to a few ulps of |T m| <= 16
            assert math.isclose(v, math.log1p(math.exp(-t * m)), rel_tol=1e-12, abs_tol=1e-14)
        curves[label] = ce
    right, wrong = curves["right (margin +1)"], curves["wrong (margin -1)"]
    assert all(b < a for a, b in zip(right, right[1:]))  # right: confidence up, loss down towards 0
    assert all(b > a for a, b in zip(wrong, wrong[1:]))  # wrong: confidence up, loss up like T |m|
    assert right[-1] < 1e-6 and abs(wrong[-1] - 16.0) < 1e-6  # log(1 + e^-16) ~ 1.1e-7; 16 + log(1 + e^-16)
    figures.record("CE of the right sample at T = 16", right[-1], "nats", zh="T = 16 时分对样本的 CE")
    figures.record("CE of the wrong sample at T = 16", wrong[-1], "nats", zh="T = 16 时分错样本的 CE")
    plot = figures.plot(
        "one sample's cross-entropy vs logit scale T",
        x_label="logit scale T (factor on the logits)",
        y_label="cross-entropy (nats)",
        log_x=True,
        log_y=True,
        zh=("单个样本的交叉熵与 logit 尺度 T", "logit 尺度 T(logits 的乘数)", "交叉熵(nats)"),
    )
    labels_zh = {"right (margin +1)": "分对(间隔 +1)", "wrong (margin -1)": "分错(间隔 -1)"}
    for label, ce in curves.items():
        plot.line(
            f"{label}, accuracy {1 if label.startswith('right') else 0} at every T",
            temps,
            ce,
            zh=f"{labels_zh[label]},每个 T 下准确率均为 {1 if label.startswith('right') else 0}",
        )
