"""mean.denominator.ignore-index

What is true (confirmed):
- A target equal to ignore_index (default -100) contributes neither a term nor a count to the reduction='mean' of
  CrossEntropyLoss and NLLLoss: the mean runs over the kept targets only, and with class weights the ignored
  targets' weights leave the denominator too.
- Label smoothing's term is dropped for those positions as well, and their logits get exactly zero gradient.
- When every target is ignored, 'mean' is 0/0 = NaN while 'sum' is 0, and the gradient with respect to the input is
  zero, not NaN.

Why: PyTorch docs, NLLLoss and CrossEntropyLoss: the 'mean' denominator is sum_n w_{y_n} 1{y_n != ignore_index}.
Hypothesis masks random subsets of the targets with -100 (never all of them) and checks the mean over the kept
terms, with and without weights. The logits of ignored rows get exactly zero gradient and the kept rows (softmax -
onehot) / (number kept); ignore_index=0 drops a real class. Label smoothing's term (1 - eps)(-log q_y) + eps
mean_c(-log q_c) is averaged over the kept positions only. With every target ignored the mean is an empty sum over
an empty denominator, 0 / 0 = NaN, the sum is 0, and both gradients are exactly zero (checked for CrossEntropyLoss
with and without label smoothing and for NLLLoss), so a NaN logged for such a batch does not poison .grad.
"""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from support import hypothesis_helpers as hh
from support.losses import loss_case
from support.tolerances import EXACT_DTYPE, accumulation, assert_close

pytestmark = pytest.mark.claim("mean.denominator.ignore-index")
CE, NLL = loss_case("CrossEntropyLoss"), loss_case("NLLLoss")


@given(case=st.sampled_from((CE, NLL)), n=hh.batch_sizes(2, 12), c=st.integers(2, 5), seed=hh.seeds(), data=st.data())
def test_ignored_targets_leave_the_mean_and_its_denominator(case, n, c, seed, data, device):
    x, y = case.sample_batch(n, (c,), seed=seed, device=device)
    ignored = torch.tensor(
        data.draw(st.lists(st.booleans(), min_size=n, max_size=n).filter(lambda m: not all(m)), label="ignored"),
        device=device,
    )
    y_masked = torch.where(ignored, torch.full_like(y, -100), y)
    kept = ~ignored
    terms = case.reference_terms(x[kept], y[kept])
    tol = accumulation(EXACT_DTYPE, n)
    assert_close(case.module()(x, y_masked), terms.sum() / kept.sum(), tol=tol)
    w = torch.linspace(0.5, 2.0, c, dtype=EXACT_DTYPE, device=device)
    assert_close(case.module(weight=w)(x, y_masked), (w[y[kept]] * terms).sum() / w[y[kept]].sum(), tol=tol)


def test_ignored_rows_get_zero_gradient_and_kept_rows_one_over_the_kept_count(device):
    # d mean / d z_i = (softmax(z_i) - onehot(y_i)) / K for the K kept rows, 0 for ignored rows
    z, y = CE.sample_batch(6, (3,), seed=4, device=device)
    y[[1, 4]] = -100
    kept = y != -100
    z.requires_grad_(True)
    F.cross_entropy(z, y).backward()
    expected = torch.zeros_like(z)
    expected[kept] = (torch.softmax(z.detach()[kept], dim=1) - F.one_hot(y[kept], 3)) / kept.sum()
    assert_close(z.grad, expected)
    assert torch.equal(z.grad[~kept], torch.zeros_like(z.grad[~kept]))


def test_a_custom_ignore_index_that_is_a_real_class(device):
    z, _ = CE.sample_batch(5, (3,), seed=5, device=device)
    y = torch.tensor([0, 1, 0, 2, 1], device=device)
    kept = y != 0
    assert_close(F.cross_entropy(z, y, ignore_index=0), CE.reference_terms(z[kept], y[kept]).mean())


def test_label_smoothing_drops_ignored_positions_from_its_term_too(device):
    # documented label smoothing: target (1 - eps) onehot + eps / C, so the term is
    # (1 - eps) (-log q_y) + eps * mean_c(-log q_c); 'mean' averages it over the K kept positions only
    eps, c = 0.2, 4
    z, y = CE.sample_batch(7, (c,), seed=6, device=device)
    y[[0, 3, 5]] = -100
    kept = y != -100
    logq = torch.log_softmax(z[kept], dim=1)
    per_position = (1 - eps) * -logq.gather(1, y[kept, None]).squeeze(1) + eps * -logq.mean(dim=1)
    assert_close(F.cross_entropy(z, y, label_smoothing=eps), per_position.sum() / kept.sum())


@pytest.mark.parametrize(
    "case, label_smoothing",
    [(CE, 0.0), (CE, 0.1), (NLL, 0.0)],
    ids=["CrossEntropyLoss", "CrossEntropyLoss-smoothed", "NLLLoss"],
)
def test_all_targets_ignored_mean_is_nan_sum_is_zero_gradient_is_zero(case, label_smoothing, device, figures):
    x, _ = case.sample_batch(4, (3,), seed=7, device=device)
    x.requires_grad_(True)
    y = torch.full((4,), -100, device=device)
    kwargs = {"label_smoothing": label_smoothing} if case is CE else {}
    mean = case.module(**kwargs)(x, y)
    total = case.module(reduction="sum", **kwargs)(x, y)
    assert torch.isnan(mean)  # 0 / 0: an empty sum over an empty denominator
    assert total.item() == 0.0
    for loss in (mean, total):
        (grad,) = torch.autograd.grad(loss, x)
        assert torch.equal(grad, torch.zeros_like(x)), "the gradient of an all-ignored batch is exactly zero"
    figures.record("mean loss of an all-ignored batch", mean.item(), "nat", zh="目标全部被忽略的 batch 的平均损失")
