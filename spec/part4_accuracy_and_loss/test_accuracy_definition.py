"""accuracy.definition

Source: 「准确率:表示模型正确预测的样本数量占总样本数量的比例,通常以百分比形式表示。它是一个离散的指标,只有在模型做出正确分类时才会增加。」

What is true (confirmed):
- Accuracy is the number of samples whose argmax class equals the target, divided by N, so it takes only the values
  k / N; ties go to the first maximal class, as torch.argmax returns.
- As a function of the logits it is piecewise constant: perturbations smaller than half of every sample's gap
  between its two largest logits change no prediction, and it moves only by jumps of 1/N, when a sample's top class
  changes, while the loss changes continuously.
- Its gradient is therefore zero almost everywhere, and autograd cannot differentiate it at all (argmax returns
  integers), which is why training minimises a differentiable loss instead.

Why: torch.argmax returns the first maximal index on ties (PyTorch docs: "If there are multiple maximal values then
the indices of the first maximal value are returned"); Hypothesis draws integer logits in [-2, 2], where ties are
common, and compares with a count that uses list.index. If every |delta_ij| is below half of each sample's gap
between its two largest logits, z_top - z_j stays positive for every j, so no argmax moves; the test draws such
perturbations. Moving one logit of one of 8 samples across the boundary changes the accuracy from 4/8 to 5/8 in one
jump (at the tie the first class wins) while the mean cross-entropy falls at every step. (z.argmax(1) ==
y).double().mean() does not require grad, so backward raises, while the loss has a non-zero gradient at the same
point. Training therefore minimises a differentiable surrogate (Goodfellow et al., Deep Learning, sec. 8.1.2).
"""  # noqa: E501 (the source's quotes are kept on one line, verbatim)

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from support.hypothesis_helpers import batch_sizes, seeds
from support.metrics import accuracy
from support.tensors import generator

pytestmark = pytest.mark.claim("accuracy.definition")


def _logits(n, k, seed, integer, device):
    g = generator(seed)
    z = (
        torch.randint(-2, 3, (n, k), generator=g).double()
        if integer
        else torch.randn(n, k, generator=g, dtype=torch.float64)
    )
    return z.to(device), torch.randint(0, k, (n,), generator=g).to(device)


@given(n=batch_sizes(1, 20), k=st.integers(2, 6), integer=st.booleans(), seed=seeds())
def test_accuracy_is_a_count_over_n_with_ties_to_the_first_class(device, n, k, integer, seed):
    z, y = _logits(n, k, seed, integer, device)  # integer logits in [-2, 2] make ties common
    acc = accuracy(z, y)
    rows = z.tolist()
    correct = sum(row.index(max(row)) == t for row, t in zip(rows, y.tolist()))  # list.index: first maximum
    assert acc == correct / n
    assert 0 <= correct <= n


@given(n=batch_sizes(2, 20), k=st.integers(2, 6), seed=seeds(), frac=st.floats(0.0, 0.99))
def test_accuracy_is_constant_under_perturbations_below_half_the_top_two_gap(device, n, k, seed, frac):
    z, y = _logits(n, k, seed, False, device)
    top2 = z.topk(2, dim=1).values
    half_gap = ((top2[:, 0] - top2[:, 1]) / 2).min()
    # any perturbation with |delta_ij| < half the gap keeps z_top - z_j > 0 for every j, so no argmax moves
    delta = torch.rand(n, k, generator=generator(seed + 1), dtype=torch.float64).to(device)
    delta = frac * half_gap * (2 * delta - 1)
    assert accuracy(z + delta, y) == accuracy(z, y)


def test_accuracy_jumps_by_one_over_n_when_one_prediction_changes_class(device, figures):
    n = 8
    z = torch.zeros(n, 2, dtype=torch.float64, device=device)
    z[:, 1] = 1.0  # every sample predicts class 1
    y = torch.zeros(n, dtype=torch.long, device=device)
    y[:4] = 1  # half the samples are right
    ts = [k / 20 for k in range(41)]  # move sample 7's class-0 logit from 0 to 2 across the boundary at 1
    accs, losses = [], []
    for t in ts:
        w = z.clone()
        w[7, 0] = t
        accs.append(accuracy(w, y))
        losses.append(F.cross_entropy(w, y).item())
    # before the boundary 4/8 (t < 1), a tie at t = 1 (argmax picks class 0: right), after it 5/8: one jump of 1/N
    assert set(accs[:20]) == {4 / n} and set(accs[20:]) == {5 / n}
    assert all(b < a for a, b in zip(losses, losses[1:]))  # meanwhile the loss falls at every step
    figures.record(
        "accuracy jump at the boundary",
        accs[20] - accs[19],
        "1",
        zh="决策边界处的准确率跳变",
        measured_on=f"a batch of {n} two-class samples, one sample's class-0 logit moved across the boundary",
        measured_on_zh=f"大小为 {n} 的二分类 batch,一个样本的类别 0 logit 移过决策边界",
    )
    # accuracy and loss share one axis (both lie in [0.5, 0.8] here): the point is a step against a slope
    plot = figures.plot(
        f"moving one logit across the decision boundary (N = {n})",
        x_label="class-0 logit of sample 7 (class-1 logit = 1)",
        y_label="accuracy (fraction) / mean CE (nats)",
        zh=(
            f"将一个 logit 移过决策边界(N = {n})",
            "样本 7 的类别 0 logit(类别 1 的 logit = 1)",
            "准确率(比例)/ 平均交叉熵(nats)",
        ),
    )
    plot.line("accuracy (fraction): one step of 1/N", ts, accs, zh="准确率(比例):一次 1/N 的跳变")
    plot.line("mean cross-entropy (nats): continuous", ts, losses, zh="平均交叉熵(nats):连续变化")


def test_autograd_cannot_differentiate_accuracy_but_can_the_loss(device):
    z, y = _logits(6, 3, 0, False, device)
    z.requires_grad_()
    acc = (z.argmax(dim=1) == y).double().mean()
    assert not acc.requires_grad  # argmax returns integers: the graph ends there
    with pytest.raises(RuntimeError, match="does not require grad"):
        acc.backward()
    loss = F.cross_entropy(z, y)
    (g,) = torch.autograd.grad(loss, z)
    assert g.abs().sum() > 0  # the loss has a non-zero gradient at the same point
