"""reduction.none-is-per-sample

Source: 「`none`: 返回每个样本的损失, 允许用户自行处理。」

What is true (qualified):
- reduction='none' returns the unreduced loss terms; each equals that term computed alone by the loss's documented
  formula.
- Class losses (CrossEntropyLoss, NLLLoss) give one loss per sample, shape (N,).
- Elementwise losses (MSELoss, L1Loss, SmoothL1Loss, HuberLoss, BCEWithLogitsLoss) give one term per element, with
  the input's shape (N, *D).
- A sample's loss is then a reduction of its row: the row's sum is that sample's 'sum' loss and the row's mean its
  'mean' loss.

Why: each loss's documented formula gives one term l_n per sample for class losses and one per element for
elementwise losses (PyTorch docs, torch.nn loss functions); 'none' returns those terms unreduced.
Hypothesis draws loss cases, batch sizes and feature shapes; the tests compare every entry of 'none' (the sum of
its row for elementwise losses) with the 'sum' loss of that sample computed alone, and the whole tensor with the
documented terms computed independently. For elementwise losses they check that there are N x D terms, not N, and
that each row's mean equals reduction='mean' on that sample alone; for class losses, that the shape is (N,) and
every loss is non-negative.
"""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from support import hypothesis_helpers as hh
from support.losses import LOSS_CASES
from support.tolerances import assert_close

pytestmark = pytest.mark.claim("reduction.none-is-per-sample")


@given(data=st.data(), case=hh.loss_cases(), n=hh.batch_sizes(1, 8), seed=hh.seeds())
def test_none_entries_equal_each_sample_computed_alone(data, case, n, seed):
    shape = data.draw(hh.feature_shapes(case), label="feature_shape")
    x, y = case.sample_batch(n, shape, seed=seed)
    terms = case.make("none")(x, y)
    assert terms.shape == ((n,) if case.kind == "class" else (n, *shape))
    for i in range(n):
        alone = case.make("sum")(x[i : i + 1], y[i : i + 1])
        # the sample's loss: its one term, or the sum of its row of element terms
        assert_close(terms[i].sum(), alone)


@given(data=st.data(), case=hh.loss_cases(), n=hh.batch_sizes(1, 8), seed=hh.seeds())
def test_none_entries_follow_the_documented_formula(data, case, n, seed):
    shape = data.draw(hh.feature_shapes(case), label="feature_shape")
    x, y = case.sample_batch(n, shape, seed=seed)
    assert_close(case.make("none")(x, y), case.reference_terms(x, y))


@pytest.mark.parametrize("case", [c for c in LOSS_CASES if c.kind == "elementwise"], ids=lambda c: c.name)
def test_elementwise_losses_return_one_term_per_element_not_per_sample(case, device):
    n, d = 4, 3
    x, y = case.sample_batch(n, (d,), seed=3, device=device)
    terms = case.make("none")(x, y)
    assert terms.numel() == n * d != n
    # a per-sample loss is a reduction of the row; mean over its d elements matches reduction='mean' on it alone
    row_means = terms.mean(dim=1)
    for i in range(n):
        assert_close(row_means[i], case.make("mean")(x[i : i + 1], y[i : i + 1]))
    assert math.prod(terms.shape) == n * case.terms_per_sample(x)


@pytest.mark.parametrize("case", [c for c in LOSS_CASES if c.kind == "class"], ids=lambda c: c.name)
def test_class_losses_return_one_loss_per_sample(case, device):
    x, y = case.sample_batch(6, (4,), seed=4, device=device)
    terms = case.make("none")(x, y)
    assert terms.shape == torch.Size([6])
    assert (terms >= 0).all()
