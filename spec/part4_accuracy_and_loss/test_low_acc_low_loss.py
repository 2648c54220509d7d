"""low-acc-low-loss

Source: 「低准确率但低损失:相反,也可能出现模型总体表现不佳(低准确率),但由于其对每个样本的预测相对一致(即使不正确),导致较低的损失。这种情况通常发生在模型对所有类别都没有很强信心时。」

What is true (qualified):
- True as a comparison, above a floor: a misclassified sample has p_y <= 1/2, so its cross-entropy is at least ln 2,
  whatever the tie rule, and mean CE >= (1 - accuracy) ln 2.
- That floor is the only condition: at every accuracy below 1, every loss above it is reached, so a less accurate
  model can have the lower loss.
- The source's case, a model slightly wrong everywhere, is one: a binary model at p_y = 0.49 on every sample
  (accuracy 0, CE -ln 0.49, about 0.713) has a lower loss than one right on 90% at p_y = 0.99 and confidently wrong
  on 10% at p_y = 1e-4 (accuracy 0.9, CE about 0.930).
- The source's reason, no strong confidence about any class, does not make a loss low by itself: uniform predictions
  over K classes cost exactly ln K, the loss of knowing nothing, which is high for large K.
- What keeps the example's loss low is a target probability close to 1/2: with the rest on one other class it costs
  -ln 0.49 for any K, below the uniform model's ln K from K = 3 on, although the uniform model is the more accurate.

Why: the floor. Let sample i be misclassified, its predicted class j = argmax_k p_ik != y_i. Then p_ij >= p_iy (j is a
maximal class; this holds whatever rule breaks ties, as long as it picks a maximal class; torch.argmax picks the
first, PyTorch docs) and p_ij + p_iy <= 1, so p_iy <= 1/2 and CE_i = -ln p_iy >= ln 2. Every sample has CE_i >= 0,
so mean CE >= (number misclassified / N) ln 2 = (1 - accuracy) ln 2. The bound is tight: a binary sample with tied
logits and target 1 is misclassified (argmax picks class 0) with CE exactly ln 2.
Every loss above the floor is reached (the construction of the hypothesis test): with m of N right (a = m/N < 1)
and a target c = (1 - a) ln 2 + s, s > 0, give each right sample the loss e_r = min(s / (2a), ln 2 / 2) < ln 2
(p_y > 1/2 against one rival class: right) and each wrong one e_w = (c - a e_r) / (1 - a) >= ln 2 + s / (2(1 - a))
(p_y < 1/2: wrong); the mean is c. So the set of (accuracy, loss) pairs is exactly the region above the floor
(strictly above for a > 0, where right samples cannot cost 0). Then a model with accuracy a and loss c loses to
one with any higher accuracy b < 1 whose wrong samples are confident enough (its loss is unbounded above), and even
to a perfect model (b = 1, loss anywhere in (0, ln K), the extreme p_y -> 1/K) when c < ln K.
The comparative example: A wrong everywhere at p_y = 0.49: CE -ln 0.49 = 0.713; B right on 90% at p_y = 0.99,
wrong on 10% at p_y = 1e-4: CE = 0.9 (0.01005) + 0.1 (9.2103) = 0.930. A model unconfident about every class
(uniform predictions) has CE ln K on every sample; the wrong-everywhere model A keeps CE 0.713 for any K, by
putting its remaining 0.51 on one class, so for K >= 3 it beats the uniform model in loss while the uniform model
is more accurate (1/K against 0).
"""  # noqa: E501 (the source's quotes are kept on one line, verbatim)

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from support.hypothesis_helpers import batch_sizes, seeds
from support.metrics import accuracy
from support.tensors import generator, maker
from support.tolerances import assert_close, assert_ge, assert_le, slack

pytestmark = pytest.mark.claim("low-acc-low-loss")
LN2 = math.log(2)
AT_HALF = slack(abs=1e-12, reason="float64 rounding of -log_softmax at p_y = 1/2 (a few ulps of ln 2)")


def _plot(figures):
    """One figure for the claim: the floor (1 - acc) ln 2 and the models of the tests below, as (accuracy, mean CE)."""
    return figures.plot(
        "mean cross-entropy vs accuracy: the floor (1 - accuracy) ln 2",
        x_label="accuracy (fraction)",
        y_label="mean cross-entropy (nats)",
        zh=("平均交叉熵与准确率:下限 (1 - 准确率) ln 2", "准确率(比例)", "平均交叉熵(nats)"),
    )


@given(n=batch_sizes(1, 24), k=st.integers(2, 6), integer=st.booleans(), scale=st.floats(0.1, 50.0), seed=seeds())
def test_mean_cross_entropy_is_at_least_one_minus_accuracy_times_ln2(device, n, k, integer, scale, seed):
    g = generator(seed)
    # integer logits in [-2, 2] give frequent ties, the case where p_y = 1/2 exactly can occur
    raw = (
        torch.randint(-2, 3, (n, k), generator=g).double()
        if integer
        else torch.randn(n, k, generator=g, dtype=torch.float64)
    )
    z, y = (scale * raw).to(device), torch.randint(0, k, (n,), generator=g).to(device)
    per_sample = F.cross_entropy(z, y, reduction="none")
    wrong = z.argmax(dim=1) != y
    assert_ge(per_sample[wrong], LN2, slack=AT_HALF)  # each misclassified sample: p_y <= 1/2
    assert_le(torch.softmax(z, dim=1).gather(1, y[:, None]).squeeze(1)[wrong], 0.5, slack=AT_HALF)
    assert_ge(per_sample.mean().item(), (1 - accuracy(z, y)) * LN2, slack=AT_HALF)


def test_the_bound_is_tight(device, figures):
    # 6 samples tied between 2 classes with target 1: argmax picks class 0 -> wrong, CE = ln 2 each;
    # 4 samples right with margin 40: CE = log(1 + e^-40) ~ 4e-18. Accuracy 0.4, bound 0.6 ln 2.
    make = maker(device)
    z = make.zeros(10, 2)
    y = torch.ones(10, dtype=torch.long, device=device)
    z[6:, 1] = 40.0
    acc = accuracy(z, y)
    ce = F.cross_entropy(z, y)
    assert acc == 0.4
    assert_close(ce, make.tensor(0.6 * LN2))
    figures.record(
        "mean CE / bound (1 - acc) ln 2, tight construction",
        ce / (0.6 * LN2),
        "1",
        zh="平均 CE / 下限 (1 - acc) ln 2,恰好取到下限的构造",
    )
    plot = _plot(figures)
    plot.bound("bound: mean CE >= (1 - accuracy) ln 2", [0.0, 1.0], [LN2, 0.0], zh="下限:平均 CE >= (1 - 准确率) ln 2")
    plot.points(
        "tight: 6 ties (CE ln 2) + 4 right at margin 40",
        [acc],
        [ce],
        zh="取到下限:6 个并列(CE 为 ln 2)+ 4 个以间隔 40 分对",
    )


def _two_way_logits(losses, y, k, device):
    """Logits whose per-sample cross-entropy is ``losses`` (nats), with all probability on the target y and one
    rival class (y + 1) % k: p_y = exp(-loss), logit margin t = ln p_y - ln(1 - p_y). The other classes get -1e4,
    whose exp underflows to exactly 0 in float64. A loss below ln 2 gives t > 0 (right), above ln 2 t < 0 (wrong)."""
    losses = torch.as_tensor(losses, dtype=torch.float64)
    t = -losses - torch.log(-torch.expm1(-losses))
    z = torch.full((len(y), k), -1e4, dtype=torch.float64)
    z[torch.arange(len(y)), (y + 1) % k] = 0.0
    z[torch.arange(len(y)), y] = t
    return z.to(device)


def _losses_reaching(c, right, n):
    """Per-sample losses with ``right`` of ``n`` samples right and mean c > (1 - right / n) ln 2 (see Why)."""
    a = right / n
    slack = c - (1 - a) * LN2
    e_right = min(slack / (2 * a), LN2 / 2) if right else 0.0
    e_wrong = (c - a * e_right) / (1 - a)
    return [e_right] * right + [e_wrong] * (n - right)


@given(n=batch_sizes(2, 24), data=st.data(), k=st.integers(2, 6), slack=st.floats(1e-3, 5.0), seed=seeds())
def test_every_loss_above_the_floor_is_reached_and_beaten_by_a_more_accurate_model(device, n, data, k, slack, seed):
    # the floor is the whole condition: any accuracy a < 1 with any loss c above (1 - a) ln 2 exists, and some
    # model with a higher accuracy has a higher loss
    right = data.draw(st.integers(0, n - 1), label="right")
    a, c = right / n, (1 - right / n) * LN2 + slack
    y = torch.randint(0, k, (n,), generator=generator(seed)).to(device)
    za = _two_way_logits(_losses_reaching(c, right, n), y.cpu(), k, device)
    ce_a = F.cross_entropy(za, y)
    assert accuracy(za, y) == a
    assert_close(ce_a, maker(device).tensor(c))
    if right + 1 < n:  # any higher accuracy b < 1: its floor (1 - b) ln 2 is below c, so c + 1 is reachable
        right_b = data.draw(st.integers(right + 1, n - 1), label="right_b")
        zb = _two_way_logits(_losses_reaching(c + 1, right_b, n), y.cpu(), k, device)
        assert accuracy(zb, y) == right_b / n > a
        assert F.cross_entropy(zb, y) > ce_a
    if c < math.log(k):  # even a perfect model: all right with p_y = e^t / (e^t + K - 1), loss in (0, ln K)
        target = (c + math.log(k)) / 2
        t = -math.log(math.expm1(target) / (k - 1))  # ln(1 + (K - 1) e^-t) = target, t > 0 as target < ln K
        zp = maker(device).zeros(n, k)
        zp[torch.arange(n), y] = t
        assert accuracy(zp, y) == 1.0
        assert ce_a < F.cross_entropy(zp, y) < math.log(k)


@pytest.mark.parametrize("k", [2, 3, 10, 100])
def test_a_model_unconfident_about_every_class_sits_at_ln_k(device, k, figures):
    y = torch.arange(k, device=device).repeat(3)  # balanced targets
    make = maker(device)
    z = make.zeros(3 * k, k)  # uniform predictions
    ce = F.cross_entropy(z, y)
    assert_close(ce, make.tensor(math.log(k)))
    assert accuracy(z, y) == 1 / k  # every tie goes to class 0, right for the 1/K of samples of class 0
    # ln K >= (1 - 1/K) ln 2 for every K >= 2: the uniform model meets the floor, far above it for large K
    # wrong everywhere but only just, between the target (0.49) and one rival (0.51): -ln 0.49 whatever K, so it
    # beats the more accurate uniform model exactly when ln K > -ln 0.49, i.e. K >= 3
    wrong = _two_way_logits([-math.log(0.49)] * (3 * k), y.cpu(), k, device)
    ce_wrong = F.cross_entropy(wrong, y)
    assert accuracy(wrong, y) == 0.0
    assert_close(ce_wrong, make.tensor(-math.log(0.49)))
    assert (ce_wrong < ce).item() == (k >= 3)
    figures.record(f"uniform model CE, K={k}", ce, "nats", zh=f"均匀预测模型的 CE,K={k}")
    _plot(figures).points(
        f"uniform model, K = {k}: (1/K, ln K)", [accuracy(z, y)], [ce], zh=f"均匀预测模型,K = {k}:(1/K, ln K)"
    )


def test_a_model_slightly_wrong_everywhere_has_a_lower_loss_than_a_more_accurate_one(device, figures):
    # A: binary, every sample wrong with p_y = 0.49. B: 90 right at p_y = 0.99, 10 wrong at p_y = 1e-4.
    make = maker(device)

    def model(p_y, y_len):
        p = make.tensor(p_y)
        return torch.stack([torch.log1p(-p), p.log()], dim=1), torch.ones(y_len, dtype=torch.long, device=device)

    za, ya = model([0.49] * 100, 100)
    zb, yb = model([0.99] * 90 + [1e-4] * 10, 100)
    acc_a, acc_b = accuracy(za, ya), accuracy(zb, yb)
    ce_a, ce_b = F.cross_entropy(za, ya), F.cross_entropy(zb, yb)
    assert (acc_a, acc_b) == (0.0, 0.9)
    assert_close(ce_a, make.tensor(-math.log(0.49)))
    assert_close(ce_b, make.tensor(-(0.9 * math.log(0.99) + 0.1 * math.log(1e-4))))
    assert ce_a < ce_b  # lower accuracy, lower loss: the comparative case exists...
    assert ce_a >= (1 - acc_a) * LN2  # ...above the floor: accuracy 0 costs at least ln 2
    figures.record("CE of the accuracy-0 model (p_y = 0.49)", ce_a, "nats", zh="准确率为 0 的模型的 CE(p_y = 0.49)")
    figures.record(
        "CE of the accuracy-0.9 model (10% at p_y = 1e-4)",
        ce_b,
        "nats",
        zh="准确率为 0.9 的模型的 CE(10% 的样本 p_y = 1e-4)",
    )
    plot = _plot(figures)
    plot.points(
        f"A: all wrong at p_y = 0.49 (CE {float(ce_a):.3f})",
        [acc_a],
        [ce_a],
        zh=f"A:全部以 p_y = 0.49 分错(CE {float(ce_a):.3f})",
    )
    plot.points(
        f"B: 90% right at 0.99, 10% wrong at 1e-4 (CE {float(ce_b):.3f})",
        [acc_b],
        [ce_b],
        zh=f"B:90% 以 0.99 分对,10% 以 1e-4 分错(CE {float(ce_b):.3f})",
    )
