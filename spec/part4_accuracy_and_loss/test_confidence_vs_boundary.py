"""confidence.vs-boundary

Source: 「置信度与决策边界: 损失函数通常考虑了模型预测的置信度,而准确率只关注最终分类结果。因此,在一些情况下,模型可能在某些样本上非常自信地做出错误分类,这会导致较高的损失而相对较高的准确率。」

What is true (confirmed):
- The loss sees confidence; accuracy sees only which side of the decision boundary a prediction falls on.
- Two predictions of the same class with different confidence give the same accuracy and different cross-entropy,
  and a confident mistake costs far more than a hesitant one.
- Two models with the same accuracy can differ in calibration: at accuracy 0.75, a model that always says 0.99 has
  an expected calibration error (ECE, 15 equal-width bins) of 0.24 and an NLL of 1.159, while one whose confidence
  matches its accuracy in every bin has ECE 0.
- Dividing the overconfident logits by a suitable temperature changes neither the predictions nor the accuracy, but
  brings the ECE to 0 and the NLL down to the binary entropy of 0.75, 0.562.

Why: for a binary prediction with margin m, CE = log(1 + e^-m): at margins 0.5 and 5 (both right) the confident
prediction costs less; at -0.1 and -5 (both wrong) the confident mistake costs 5.0067 / 0.7444 = 6.7 times more.
Calibration (Guo et al. 2017, sec. 2): with M = 15 equal-width confidence bins B_m, ECE = sum_m |B_m| / n |acc(B_m)
- conf(B_m)| (eq. 3).
* overconfident: confidence 0.99 on all 100 samples, 75 right: one bin, ECE = |0.75 - 0.99| = 0.24, NLL = -(0.75 ln
  0.99 + 0.25 ln 0.01) = 1.159;
* calibrated: 20 samples at each confidence 0.55, 0.65, 0.75, 0.85, 0.95 (five different bins), with 11, 13, 15,
  17, 19 of them right: every bin's accuracy equals its confidence, ECE = 0;
* temperature scaling (Guo sec. 4.2): dividing the overconfident logits (margin ln 99) by T = ln 99 / ln 3 gives
  confidence 0.75 everywhere: the same argmax and accuracy, ECE 0, and NLL = H(0.75) = -(0.75 ln 0.75 + 0.25 ln
  0.25) = 0.562.
"""  # noqa: E501 (the source's quotes are kept on one line, verbatim)

import math

import pytest
import torch
import torch.nn.functional as F

from support.metrics import accuracy, expected_calibration_error, reliability_bins
from support.tensors import maker
from support.tolerances import assert_close, assert_ge, assert_le, slack

pytestmark = pytest.mark.claim("confidence.vs-boundary")
# CE = logsumexp(z) - z_y in float64 with |z| <= 5: absolute rounding a few ulps of 5 (~4e-15)
CE_REL, CE_ABS = 1e-12, 1e-14
ECE_ROUNDING = slack(
    abs=1e-12,
    reason=("ECE sums <= 100 float64 confidences per bin and 15 weighted gaps: rounding ~100 * 2.2e-16 ~ 2e-14"),
)


def _binary(confidences, right, device):
    """Logits of a binary model predicting class 0 with the given confidences; target 0 where `right`, else 1."""
    c = maker(device).tensor(confidences)
    z = torch.stack([c.log(), torch.log1p(-c)], dim=1)
    y = torch.tensor([0 if r else 1 for r in right], dtype=torch.long, device=device)
    return z, y


def test_same_class_different_confidence_same_accuracy_different_loss(device, figures):
    y = torch.tensor([0], device=device)
    losses = {}
    for m in (0.5, 5.0, -0.1, -5.0):  # margin of class 0 (the target) over class 1
        z = maker(device).tensor([[m, 0.0]])
        assert accuracy(z, y) == (1.0 if m > 0 else 0.0)
        losses[m] = F.cross_entropy(z, y).item()
        assert math.isclose(losses[m], math.log1p(math.exp(-m)), rel_tol=CE_REL, abs_tol=CE_ABS)
    assert losses[5.0] < losses[0.5]  # both right: the confident one costs less
    assert losses[-5.0] > 6 * losses[-0.1]  # both wrong: 5.0067 vs 0.7444, the confident mistake costs 6.7x more
    figures.record(
        "CE right at margin 0.5 / at margin 5", losses[0.5] / losses[5.0], "1", zh="分对时的 CE:间隔 0.5 / 间隔 5"
    )
    figures.record(
        "CE wrong at margin -5 / at margin -0.1", losses[-5.0] / losses[-0.1], "1", zh="分错时的 CE:间隔 -5 / 间隔 -0.1"
    )


def test_equal_accuracy_very_different_calibration_and_temperature_scaling(device, figures):
    over_z, over_y = _binary([0.99] * 100, [True] * 75 + [False] * 25, device)
    levels = [0.55, 0.65, 0.75, 0.85, 0.95]
    conf, right = [], []
    for c in levels:
        n_right = round(20 * c)  # 11, 13, 15, 17, 19
        conf += [c] * 20
        right += [True] * n_right + [False] * (20 - n_right)
    cal_z, cal_y = _binary(conf, right, device)
    assert accuracy(over_z, over_y) == accuracy(cal_z, cal_y) == 0.75
    ece_over = expected_calibration_error(torch.softmax(over_z, dim=1), over_y)
    ece_cal = expected_calibration_error(torch.softmax(cal_z, dim=1), cal_y)
    assert_le(ece_over, 0.24, slack=ECE_ROUNDING, strict=True)  # ECE = 0.24 up to rounding
    assert_ge(ece_over, 0.24, slack=ECE_ROUNDING, strict=True)
    assert_le(ece_cal, 0.0, slack=ECE_ROUNDING, strict=True)
    make = maker(device)
    nll_over = F.cross_entropy(over_z, over_y)
    assert_close(nll_over, make.tensor(-(0.75 * math.log(0.99) + 0.25 * math.log(0.01))))
    # temperature scaling: margin ln 99 / T = ln 3 gives confidence 3/4
    t = math.log(99) / math.log(3)
    scaled = over_z / t
    assert torch.equal(scaled.argmax(dim=1), over_z.argmax(dim=1))
    assert accuracy(scaled, over_y) == 0.75
    ece_scaled = expected_calibration_error(torch.softmax(scaled, dim=1), over_y)
    nll_scaled = F.cross_entropy(scaled, over_y)
    assert_le(ece_scaled, 0.0, slack=ECE_ROUNDING, strict=True)
    assert_close(nll_scaled, make.tensor(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25))))
    figures.record("ECE, overconfident model (15 bins)", ece_over, "1", zh="ECE,过度自信的模型(15 个区间)")
    figures.record("ECE, calibrated model (15 bins)", ece_cal, "1", zh="ECE,校准良好的模型(15 个区间)")
    figures.record(
        "ECE, overconfident model after temperature scaling", ece_scaled, "1", zh="ECE,温度缩放后的过度自信模型"
    )
    figures.record("NLL, overconfident model", nll_over, "nats", zh="NLL,过度自信的模型")
    figures.record("NLL, after temperature scaling", nll_scaled, "nats", zh="NLL,温度缩放后")
    # reliability diagram (Guo et al. 2017, fig. 1): a perfectly calibrated model lies on y = x
    plot = figures.plot(
        "reliability diagram, 15 bins, accuracy 0.75 each",
        x_label="mean confidence of the bin (probability)",
        y_label="accuracy of the bin (fraction)",
        zh=("可靠性图,15 个区间,准确率均为 0.75", "区间的平均置信度(概率)", "区间的准确率(比例)"),
    )
    plot.bound("perfect calibration (y = x)", [0.5, 1.0], [0.5, 1.0], zh="完美校准(y = x)")
    for name, name_zh, z, y, ece in (
        ("overconfident: 100 at 0.99", "过度自信:100 个样本置信度均为 0.99", over_z, over_y, ece_over),
        ("calibrated: 20 at each of 0.55..0.95", "校准良好:0.55..0.95 每个置信度各 20 个", cal_z, cal_y, ece_cal),
        ("overconfident after temperature scaling", "温度缩放后的过度自信模型", scaled, over_y, ece_scaled),
    ):
        counts, acc, mean_conf = reliability_bins(torch.softmax(z, dim=1), y)
        filled = counts > 0
        add = plot.points if int(filled.sum()) == 1 else plot.line
        add(f"{name} (ECE {abs(ece):.2f})", mean_conf[filled], acc[filled], zh=f"{name_zh}(ECE {abs(ece):.2f})")
