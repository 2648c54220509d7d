"""imbalance.misleading

Source: 「**类别不平衡**:在类别不平衡的数据集中,准确率可能会给出误导性的结果。例如,如果某一类别占据了大部分数据,模型可能只需简单地预测该类别就能获得高准确率,但这并不能反映其对其他类别的学习能力。」

What is true (confirmed):
- On data where the majority class holds a share s of the samples, the constant predictor that always outputs that
  class reaches an accuracy equal to s (exactly its count divided by N) while its recall on every minority class is
  0.
- Balanced accuracy, the mean of the per-class recalls, is then exactly 1/K for K classes and exposes it.
- A model that recovers the minority classes can have a lower accuracy than the constant predictor and a far higher
  balanced accuracy.

Why: the constant predictor is right exactly on the n_0 majority samples, so accuracy = n_0 / N, and its per-class
recalls are 1 for the majority class and 0 for the others, so balanced accuracy (the mean per-class recall:
Brodersen et al. 2010; scikit-learn's balanced_accuracy_score) is 1/K. Hypothesis draws K from 2 to 5, majority
shares from 0.6 to 0.95 and 100 to 400 samples. With shares 0.9 / 0.05 / 0.05 (counts 180 / 10 / 10), a model right
on every minority sample and on 85% of the majority has accuracy (153 + 20) / 200 = 0.865 < 0.9 but balanced
accuracy (153/180 + 1 + 1) / 3 = 0.95 against 1/3.
"""  # noqa: E501 (the source's quotes are kept on one line, verbatim)

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from support.data import imbalanced_classification
from support.metrics import accuracy, balanced_accuracy, per_class_recall

pytestmark = pytest.mark.claim("imbalance.misleading")
# balanced accuracy is a float64 mean of k <= 5 recalls in [0, 1]: rounding <= ~k * 2.2e-16 ~ 1.1e-15 worst case
MEAN_ABS = 1e-15


@given(k=st.integers(2, 5), majority=st.floats(0.6, 0.95), n=st.integers(100, 400), seed=st.integers(0, 10**6))
def test_the_majority_predictor_has_accuracy_of_the_majority_share_and_balanced_accuracy_one_over_k(
    device, k, majority, n, seed
):
    shares = [majority] + [(1 - majority) / (k - 1)] * (k - 1)
    x, y = imbalanced_classification(n, 3, shares, seed=seed, device=device)
    counts = torch.bincount(y, minlength=k)
    assume(bool((counts > 0).all()))
    scores = torch.zeros(n, k, dtype=torch.float64, device=device)
    scores[:, 0] = 1.0  # always class 0
    assert accuracy(scores, y) == counts[0].item() / n
    assert abs(accuracy(scores, y) - majority) <= k / n  # = the share, up to rounding the counts to integers
    recall = per_class_recall(scores, y, k)
    assert recall[0] == 1.0 and (recall[1:] == 0).all()
    assert balanced_accuracy(scores, y, k) == pytest.approx(1 / k, abs=MEAN_ABS)


def test_a_less_accurate_model_can_be_much_more_useful(device, figures):
    shares = [0.9, 0.05, 0.05]
    _, y = imbalanced_classification(200, 3, shares, seed=4, device=device)
    majority = torch.zeros(200, dtype=torch.long, device=device)
    # a model right on every minority sample and on only 85% of the majority ones
    model = y.clone()
    idx0 = (y == 0).nonzero().squeeze(1)
    n_miss = round(0.15 * len(idx0))
    model[idx0[:n_miss]] = 1
    acc_major, acc_model = accuracy(majority, y), accuracy(model, y)
    bal_major, bal_model = balanced_accuracy(majority, y, 3), balanced_accuracy(model, y, 3)
    # counts 180/10/10: majority acc 0.9, balanced 1/3; model acc (180 - 27 + 20)/200 = 0.865,
    # balanced (153/180 + 1 + 1) / 3 = 0.95
    assert (acc_major, acc_model) == (0.9, 0.865)
    assert bal_major == pytest.approx(1 / 3, abs=MEAN_ABS) and bal_model == pytest.approx(0.95, abs=MEAN_ABS)
    labels_on = f"{len(y)} labels of {len(shares)} classes in shares {shares}"
    labels_on_zh = f"{len(y)} 个标签,{len(shares)} 个类别,比例为 {shares}"
    model_on = f"{labels_on}; the model is wrong on {n_miss} of the {len(idx0)} class-0 samples and right on the rest"
    model_on_zh = f"{labels_on_zh};该模型在 {len(idx0)} 个类别 0 的样本中分错 {n_miss} 个,其余全部分对"
    figures.record(
        "majority predictor: accuracy",
        acc_major,
        "1",
        zh="多数类预测器:准确率",
        measured_on=labels_on,
        measured_on_zh=labels_on_zh,
    )
    figures.record(
        "majority predictor: balanced accuracy",
        bal_major,
        "1",
        zh="多数类预测器:平衡准确率",
        measured_on=labels_on,
        measured_on_zh=labels_on_zh,
    )
    figures.record(
        "minority-aware model: accuracy",
        acc_model,
        "1",
        zh="兼顾少数类的模型:准确率",
        measured_on=model_on,
        measured_on_zh=model_on_zh,
    )
    figures.record(
        "minority-aware model: balanced accuracy",
        bal_model,
        "1",
        zh="兼顾少数类的模型:平衡准确率",
        measured_on=model_on,
        measured_on_zh=model_on_zh,
    )
