"""high-acc-high-loss

Source: 「**高准确率但高损失**:在某些情况下,模型可能在大多数样本上做出正确预测,但在少数样本上犯了较大的错误。这种情况下,尽管准确率很高,但由于少数错误预测导致较高的损失。」 「例如,一个二分类模型可能在95%的样本上预测正确,但对于5%的样本,它可能非常自信地预测错误,从而导致较高的损失。」

What is true (confirmed):
- A classifier can be more accurate and still have the higher loss: a binary classifier right on 95% of the samples
  with p_y = 0.99 and confidently wrong on 5% with p_y = 1e-4 has a mean cross-entropy of 0.470, above the 0.423 of
  a calibrated classifier that is right on only 85% (p_y = 0.85 on those, 0.15 on the rest).
- Its few confident mistakes carry almost all of that loss.
- Their contribution, (1 - accuracy) * (-ln(1 - q)) for a wrong confidence q, grows without bound as q -> 1, so at
  any accuracy below 100% the loss has no upper bound; its lower bound is the floor (1 - accuracy) ln 2 of
  low-acc-low-loss.

Why: binary classification, N = 100:
* A: 95 right with p_y = 0.99, 5 wrong with p_y = 1e-4: mean CE = 0.95 (-ln 0.99) + 0.05 (-ln 1e-4) = 0.00955 +
  0.46052 = 0.470, of which the 5 wrong samples carry more than 95%;
* B: 85 right with p_y = 0.85, 15 wrong with p_y = 0.15: mean CE = -(0.85 ln 0.85 + 0.15 ln 0.15) = 0.423, the
  binary entropy of 0.85.
With the right samples fixed, each factor 10 on 1 - q adds exactly (1 - acc) ln 10 to the mean loss (0.115 at 95%);
the test follows q = 1 - 10^-k for k = 1 to 12, checks each step, and reaches a mean loss above 1 (more than a coin
flip's ln 2) at 95% accuracy. Hypothesis then builds, for accuracies from 50% to 99% and any target loss, a model
whose mean loss is the target + (1 - acc) ln 2. Guo et al. 2017 (Table 1, Tables S2-S3) report the same for real
networks: ResNet-110 on CIFAR-100 has 27.83% error but NLL 1.50 and ECE 16.5% before calibration.
"""  # noqa: E501 (the source's quotes are kept on one line, verbatim)

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from support.metrics import accuracy
from support.tensors import maker
from support.tolerances import assert_close

pytestmark = pytest.mark.claim("high-acc-high-loss")
# a float64 mean CE over 100 samples is a 100-term sum of non-negative terms: relative rounding <= 100 * 1.1e-16
# ~ 1e-14 (Higham sec. 4.2) of means <= 5.4 nats; 1e-9 (relative, or absolute on steps between means ~1.4) is far above
MEAN_CE_REL = 1e-9
# the 1 - 1e-15 right samples add O(1e-15) each to the mean, which the derived value leaves out
RIGHT_SAMPLES_ABS = 1e-12


def _binary_model(n_right, p_right, n_wrong, p_wrong_y, device):
    """Logits log p of a binary model: targets all 0; right samples give p_0 = p_right, wrong ones p_0 = p_wrong_y."""
    p0 = maker(device).tensor([p_right] * n_right + [p_wrong_y] * n_wrong)
    logits = torch.stack([p0.log(), torch.log1p(-p0)], dim=1)
    return logits, torch.zeros(n_right + n_wrong, dtype=torch.long, device=device)


def test_95_percent_right_with_5_percent_confidently_wrong_loses_to_a_calibrated_85_percent(device, figures):
    za, ya = _binary_model(95, 0.99, 5, 1e-4, device)
    zb, yb = _binary_model(85, 0.85, 15, 0.15, device)
    acc_a, acc_b = accuracy(za, ya), accuracy(zb, yb)
    ce_a, ce_b = F.cross_entropy(za, ya), F.cross_entropy(zb, yb)
    assert (acc_a, acc_b) == (0.95, 0.85)
    make = maker(device)
    assert_close(ce_a, make.tensor(-(0.95 * math.log(0.99) + 0.05 * math.log(1e-4))))
    assert_close(ce_b, make.tensor(-(0.85 * math.log(0.85) + 0.15 * math.log(0.15))))
    assert acc_a > acc_b and ce_a > ce_b
    figures.record(
        "mean CE, 95% right, 5% wrong at confidence 0.9999",
        ce_a,
        "nats",
        zh="平均 CE:95% 分对,5% 以 0.9999 的置信度分错",
    )
    figures.record("mean CE, calibrated 85% right", ce_b, "nats", zh="平均 CE:经过校准、85% 分对")
    share = -0.05 * math.log(1e-4) / ce_a.item()
    figures.record("share of A's loss from its 5 wrong samples", share, "1", zh="A 的损失中来自其 5 个分错样本的比例")
    assert share > 0.95  # 0.4605 of 0.4701: the loss is the few confident mistakes


def test_the_loss_grows_without_bound_as_the_wrong_confidence_goes_to_one(device, figures):
    ks = list(range(1, 13))  # wrong confidence q = 1 - 10^-k
    ces = []
    for k in ks:
        z, y = _binary_model(95, 0.99, 5, 10.0**-k, device)
        assert accuracy(z, y) == 0.95
        ces.append(F.cross_entropy(z, y).item())
    steps = [b - a for a, b in zip(ces, ces[1:])]
    # each factor 10 on 1 - q adds 0.05 ln 10 = 0.1151 to the mean: linear in -log(1 - q), so unbounded
    assert all(abs(s - 0.05 * math.log(10)) < MEAN_CE_REL for s in steps)  # the steps are ~0.1: absolute ~ relative
    assert ces[-1] > 1.0  # already above ln 2 (a coin flip's loss) at q = 1 - 1e-12, with accuracy 95%
    figures.record(
        "mean CE at 95% accuracy, wrong confidence 1 - 1e-12",
        ces[-1],
        "nats",
        zh="准确率 95% 时的平均 CE,错误置信度 1 - 1e-12",
    )
    plot = figures.plot(
        "mean CE at 95% accuracy vs the wrong answers' confidence",
        x_label="-log10(1 - confidence in the wrong class) (decades)",
        y_label="mean cross-entropy (nats)",
        zh=("准确率 95% 时的平均 CE 与错误预测的置信度", "-log10(1 - 对错误类别的置信度)(数量级)", "平均交叉熵(nats)"),
    )
    plot.line("95 right at p_y = 0.99, 5 wrong", ks, ces, zh="95 个以 p_y = 0.99 分对,5 个分错")
    plot.bound("ln 2: a coin flip's loss", [ks[0], ks[-1]], [math.log(2)] * 2, zh="ln 2:抛硬币的损失")


@given(n_right=st.integers(50, 99), target=st.floats(0.01, 5.0))
def test_any_accuracy_below_one_can_have_a_loss_above_any_target(device, n_right, target):
    # N = 100; right samples at p_y = 1 - 1e-15 (loss ~1e-15), wrong ones at -ln p_y = target / miss + ln 2,
    # where miss = 1 - acc: the mean loss is then target + miss ln 2 + O(1e-15) > target, at any accuracy
    n = 100
    miss = (n - n_right) / n
    log_p_wrong = -(target / miss + math.log(2))  # >= -500: exp() stays a normal float64
    z, y = _binary_model(n_right, 1 - 1e-15, n - n_right, math.exp(log_p_wrong), device)
    assert accuracy(z, y) == n_right / n
    ce = F.cross_entropy(z, y).item()
    assert ce > target
    assert math.isclose(ce, target + miss * math.log(2), rel_tol=MEAN_CE_REL, abs_tol=RIGHT_SAMPLES_ABS)
