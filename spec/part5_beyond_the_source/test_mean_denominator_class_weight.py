"""mean.denominator.class-weight

What is true (confirmed):
- CrossEntropyLoss and NLLLoss with class-index targets and weight=w take, under reduction='mean', the weighted
  average sum_i w[y_i] l_i / sum_i w[y_i], not sum_i w[y_i] l_i / N, for the value and the gradient.
- So multiplying all weights by a constant leaves the mean unchanged (it scales 'sum').
- With class-probability targets CrossEntropyLoss divides by N and the weights are not in the denominator, so there
  scaling them scales the mean.
- For K-dimensional inputs (N, C, d1, ..., dK) every position is a term: the denominator is the sum of w[y] over all
  N x d1 x ... x dK positions (their number without weights).

Why: PyTorch docs, CrossEntropyLoss and NLLLoss: for class-index targets 'mean' = sum_n w_{y_n} l_n / sum_n
w_{y_n}; for probability targets l_n = -sum_c w_c p_nc log softmax(x_n)_c and 'mean' = sum_n l_n / N. Hypothesis
draws N, C and weights in [0.25, 4] and checks the weighted average, and that 10 w gives the same mean and ten
times the sum. The input gradient is w[y_i] (softmax(z_i) - onehot(y_i)) / sum_k w[y_k]. With every target of class
2 (weight 5) the weighted mean equals the unweighted one, while "weighted sum / N" is 5 times larger. K-dimensional
inputs (N, C, d1, d2) are checked position by position against the flattened 2-D reference.
"""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from support import hypothesis_helpers as hh
from support.losses import loss_case
from support.tensors import generator, maker
from support.tolerances import EXACT_DTYPE, accumulation, assert_close

pytestmark = pytest.mark.claim("mean.denominator.class-weight")
CE, NLL = loss_case("CrossEntropyLoss"), loss_case("NLLLoss")


def _weights(c, seed, device):
    # positive, unequal class weights in [0.25, 4]: their values matter, so they are not all 1
    g = generator(seed)
    return (0.25 + 3.75 * torch.rand(c, generator=g, dtype=EXACT_DTYPE)).to(device)


@given(case=st.sampled_from((CE, NLL)), n=hh.batch_sizes(1, 12), c=st.integers(2, 6), seed=hh.seeds())
def test_weighted_mean_divides_by_the_sum_of_the_targets_weights(case, n, c, seed, device):
    x, y = case.sample_batch(n, (c,), seed=seed, device=device)
    w = _weights(c, seed, device)
    terms = case.reference_terms(x, y)  # -log softmax(x)_y resp. -x_y, from the documented formula
    mean = case.module(weight=w)(x, y)
    tol = accumulation(EXACT_DTYPE, n)
    assert_close(mean, (w[y] * terms).sum() / w[y].sum(), tol=tol)
    # scale invariance of a weighted average: 10 w gives the same mean, ten times the sum
    assert_close(case.module(weight=10 * w)(x, y), mean, tol=tol)
    assert_close(
        case.module(weight=10 * w, reduction="sum")(x, y), 10 * case.module(weight=w, reduction="sum")(x, y), tol=tol
    )


def test_weighted_mean_gradient_carries_the_same_denominator(device):
    # d/dz_i [sum_k w[y_k] l_k / W] = w[y_i] (softmax(z_i) - onehot(y_i)) / W with W = sum_k w[y_k]
    z, y = CE.sample_batch(6, (4,), seed=8, device=device)
    w = maker(device, EXACT_DTYPE).tensor([1.0, 2.0, 5.0, 0.5])
    z.requires_grad_(True)
    F.cross_entropy(z, y, weight=w).backward()
    expected = w[y, None] * (torch.softmax(z.detach(), dim=1) - F.one_hot(y, 4)) / w[y].sum()
    assert_close(z.grad, expected)


def test_weighted_mean_is_not_the_weighted_sum_over_n(device, figures):
    # With targets all of class 2 (weight 5) the weighted mean is the plain mean of the terms: 5 l / 5,
    # while "sum / N" would be 5 times larger.
    z, _ = CE.sample_batch(8, (3,), seed=9, device=device)
    y = torch.full((8,), 2, device=device)
    make = maker(device, EXACT_DTYPE)
    w = make.tensor([1.0, 1.0, 5.0])
    weighted_mean = F.cross_entropy(z, y, weight=w)
    assert_close(weighted_mean, F.cross_entropy(z, y))
    ratio = (F.cross_entropy(z, y, weight=w, reduction="sum") / 8) / weighted_mean
    assert_close(ratio, make.tensor(5.0))
    figures.record(
        "(weighted sum / N) / weighted mean, all targets of weight 5",
        ratio,
        "1",
        zh="(加权和 / N) / 加权平均,所有目标的权重均为 5",
    )


def test_probability_targets_divide_by_n_and_keep_the_weights_out_of_the_denominator(device):
    # documented: l_n = -sum_c w_c p_nc log softmax(x_n)_c, 'mean' = sum_n l_n / N
    n, c = 5, 4
    z, _ = CE.sample_batch(n, (c,), seed=10, device=device)
    g = generator(11)
    p = torch.softmax(torch.randn(n, c, generator=g, dtype=EXACT_DTYPE), dim=1).to(device)
    w = maker(device, EXACT_DTYPE).tensor([0.5, 1.0, 2.0, 4.0])
    terms = -(w * p * torch.log_softmax(z, dim=1)).sum(dim=1)
    mean = F.cross_entropy(z, p, weight=w)
    assert_close(mean, terms.sum() / n, tol=accumulation(EXACT_DTYPE, n * c))
    # so here scaling the weights does scale the mean
    assert_close(F.cross_entropy(z, p, weight=10 * w), 10 * mean, tol=accumulation(EXACT_DTYPE, n * c))


@pytest.mark.parametrize("case", [CE, NLL], ids=lambda c: c.name)
def test_k_dimensional_inputs_count_every_position(case, device):
    # input (N, C, d1, d2) and target (N, d1, d2): terms at every (n, d1, d2) position
    n, c, d1, d2 = 3, 4, 2, 5
    g = generator(12)
    x = case.to_loss_input(torch.randn(n, c, d1, d2, generator=g, dtype=EXACT_DTYPE).to(device))
    y = torch.randint(0, c, (n, d1, d2), generator=g).to(device)
    w = maker(device, EXACT_DTYPE).tensor([1.0, 3.0, 0.5, 2.0])
    # move the class axis last and flatten the positions: the 2-D reference applies position by position
    flat_x, flat_y = x.movedim(1, -1).reshape(-1, c), y.reshape(-1)
    terms = case.reference_terms(flat_x, flat_y)
    tol = accumulation(EXACT_DTYPE, n * d1 * d2)
    assert_close(case.module()(x, y), terms.sum() / (n * d1 * d2), tol=tol)
    assert_close(case.module(weight=w)(x, y), (w[flat_y] * terms).sum() / w[flat_y].sum(), tol=tol)
