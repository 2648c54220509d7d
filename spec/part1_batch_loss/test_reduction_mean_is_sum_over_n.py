"""reduction.mean-is-sum-over-n

Source: 「`mean`: 计算平均损失」「`sum`: 计算总损失,适用于需要对所有样本的损失进行累加的情况。」

What is true (qualified):
- For unweighted losses, reduction='mean' equals reduction='sum' divided by N, for the loss value and for every
  parameter's gradient.
- N is the number of loss terms averaged: the batch size for class losses (CrossEntropyLoss, NLLLoss) on (N, C)
  inputs and N x d1 x ... x dK on K-dimensional (N, C, d1, ..., dK) inputs, batch size x elements per sample for
  elementwise losses (MSELoss, L1Loss, BCEWithLogitsLoss, ...).
- So N is not always the batch size, and class weights and ignore_index change the denominator again
  (mean.denominator.*).

Why: both reductions reduce the same documented terms, so mean = sum / (number of terms), and the gradient is
linear, so the same factor holds for every parameter (PyTorch docs, torch.nn loss functions).
Hypothesis draws loss cases, batch sizes, feature shapes and dtypes; the tests check the value within the
accumulation error of a sum of that many terms, against the documented terms averaged independently in float64, and
the gradients of a linear head in float64. For MSELoss, L1Loss and BCEWithLogitsLoss they check that dividing by
the batch size alone would overstate the mean D-fold. CrossEntropyLoss and NLLLoss on K-dimensional inputs (N, C, d1,
..., dK) have one term per position (PyTorch docs): a test checks mean = sum / (N d1 ... dK) for (N, C, d1) and (N,
C, d1, d2). The other denominators are mean.denominator.class-weight and mean.denominator.ignore-index.
"""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from support import hypothesis_helpers as hh
from support.losses import LOSS_CASES, loss_case, reduce_reference
from support.models import head_for
from support.tensors import generator
from support.tolerances import EXACT_DTYPE, accumulation, assert_close

pytestmark = pytest.mark.claim("reduction.mean-is-sum-over-n")
IN_FEATURES = 3


@given(data=st.data(), case=hh.loss_cases(), n=hh.batch_sizes(1, 12), dtype=hh.dtypes(), seed=hh.seeds())
def test_mean_loss_is_sum_over_number_of_terms(data, case, n, dtype, seed):
    shape = data.draw(hh.feature_shapes(case), label="feature_shape")
    x, y = case.sample_batch(n, shape, seed=seed, dtype=dtype)
    n_terms = n * case.terms_per_sample(x)
    mean, total = case.make("mean")(x, y), case.make("sum")(x, y)
    # both are reductions of the same terms, possibly added in different orders
    assert_close(mean, total / n_terms, tol=accumulation(dtype, n_terms))
    # and it is the average of the documented terms, computed independently in float64
    y64 = y if case.kind == "class" else y.double()
    reference = reduce_reference(case.reference_terms(x.double(), y64), "mean")
    assert_close(mean.double(), reference, tol=accumulation(dtype, n_terms))


@given(data=st.data(), case=hh.loss_cases(), n=hh.batch_sizes(1, 12), seed=hh.seeds())
def test_mean_gradient_is_sum_gradient_over_number_of_terms(data, case, n, seed):
    shape = data.draw(hh.feature_shapes(case), label="feature_shape")
    model = head_for(IN_FEATURES, shape, seed=seed % 1000, dtype=EXACT_DTYPE)
    inputs = torch.randn(n, IN_FEATURES, dtype=EXACT_DTYPE, generator=generator(seed))
    _, y = case.sample_batch(n, shape, seed=seed, dtype=EXACT_DTYPE)
    params = list(model.parameters())

    def grads(reduction):
        prediction = case.to_loss_input(model(inputs))
        return torch.autograd.grad(case.make(reduction)(prediction, y), params), prediction

    mean_grads, prediction = grads("mean")
    sum_grads, _ = grads("sum")
    n_terms = n * case.terms_per_sample(prediction)
    for g_mean, g_sum in zip(mean_grads, sum_grads):
        assert_close(g_mean, g_sum / n_terms)


@pytest.mark.parametrize("name", ["MSELoss", "L1Loss", "BCEWithLogitsLoss"])
def test_elementwise_mean_divides_by_elements_not_batch_size(name, device):
    case = loss_case(name)
    n, d = 4, 3
    x, y = case.sample_batch(n, (d,), seed=5, device=device)
    mean, total = case.make("mean")(x, y), case.make("sum")(x, y)
    assert_close(mean * (n * d), total)
    # dividing by the batch size alone would overstate the mean d-fold
    assert not torch.allclose(mean * n, total)


@pytest.mark.parametrize("case", LOSS_CASES, ids=lambda c: c.name)
def test_identity_holds_on_device(case, device):
    x, y = case.sample_batch(7, (4,), seed=6, device=device)
    n_terms = 7 * case.terms_per_sample(x)
    assert_close(case.make("mean")(x, y), case.make("sum")(x, y) / n_terms, tol=accumulation(x.dtype, n_terms))


@pytest.mark.parametrize("name", ["CrossEntropyLoss", "NLLLoss"])
@pytest.mark.parametrize("extra", [(5,), (2, 3)], ids=["N,C,d1", "N,C,d1,d2"])
def test_class_losses_on_k_dimensional_inputs_average_over_every_position(name, extra, device):
    # PyTorch docs, CrossEntropyLoss/NLLLoss: input (N, C, d1, ..., dK), target (N, d1, ..., dK), one term per
    # position, and 'mean' averages them: N x d1 x ... x dK terms, not N
    n, c = 4, 3
    g = generator(11)
    logits = torch.randn(n, c, *extra, generator=g, dtype=torch.float64).to(device)
    target = torch.randint(0, c, (n, *extra), generator=g).to(device)
    loss_input = torch.log_softmax(logits, dim=1) if name == "NLLLoss" else logits
    loss = getattr(torch.nn, name)
    mean, total = loss()(loss_input, target), loss(reduction="sum")(loss_input, target)
    n_terms = n * math.prod(extra)
    assert_close(mean, total / n_terms, tol=accumulation(torch.float64, n_terms))
    # dividing by the batch size alone would overstate the mean d1 x ... x dK-fold
    assert not torch.allclose(mean, total / n)
