"""mean.denominator.elementwise

What is true (confirmed):
- For elementwise losses (MSELoss, L1Loss, SmoothL1Loss, HuberLoss, BCEWithLogitsLoss) reduction='mean' divides the
  sum of the element terms by the number of elements N x D (batch size times elements per sample), not by the batch
  size N, for the value and for the gradient.
- The mean is therefore 1/D of the per-sample loss summed over features and averaged over the batch, and its
  gradient shrinks as D grows.
- BCEWithLogitsLoss with weight= or pos_weight= still divides by the number of elements: the weights scale the terms
  but are not in the denominator.

Why: PyTorch docs of each loss: "the sum of the output will be divided by the number of elements in the output";
for BCEWithLogitsLoss l_ij = -w_j [p_j y_ij log s(x_ij) + (1 - y_ij) log(1 - s(x_ij))] and 'mean' = sum l / (N D).
So d mean / d x_ij = l'(x_ij, y_ij) / (N D). Hypothesis draws the loss, N and D and checks the value against the
documented terms divided by N D, the "sum over features, mean over the batch" value D times larger, and the input
gradient against each loss's derivative (2 d for MSE, sign(d) for L1, d clamped to [-1, 1] for SmoothL1 and Huber
with beta = delta = 1, sigmoid(x) - y for BCEWithLogits) divided by N D. For MSE with error 1 on 4 x 8 outputs
'mean' is 32 / 32 = 1, not 32 / 4 = 8. With weights summing to 10.5 over D = 5 features, a weighted average would
be D / sum(w) = 5 / 10.5 times BCEWithLogitsLoss's mean: the test shows it is not.
"""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from support import hypothesis_helpers as hh
from support.losses import LOSS_CASES, huber_terms, loss_case, smooth_l1_terms
from support.tensors import maker
from support.tolerances import EXACT_DTYPE, accumulation, assert_close

pytestmark = pytest.mark.claim("mean.denominator.elementwise")
ELEMENTWISE = tuple(c for c in LOSS_CASES if c.kind == "elementwise")


def _term_derivative(name, x, y):
    """d term / d x of one element, from each loss's documented formula (default beta = delta = 1)."""
    d = x - y
    if name == "MSELoss":
        return 2 * d
    if name == "L1Loss":
        return torch.sign(d)
    if name in ("SmoothL1Loss", "HuberLoss"):  # beta = delta = 1: both are d inside [-1, 1], sign(d) outside
        return d.clamp(-1.0, 1.0)
    if name == "BCEWithLogitsLoss":  # d/dz [-y log s(z) - (1-y) log(1-s(z))] = s(z) - y
        return torch.sigmoid(x) - y
    raise AssertionError(name)


@given(case=st.sampled_from(ELEMENTWISE), n=hh.batch_sizes(1, 8), d=st.integers(2, 12), seed=hh.seeds())
def test_mean_value_and_input_gradient_divide_by_the_number_of_elements(case, n, d, seed, device):
    x, y = case.sample_batch(n, (d,), seed=seed, dtype=EXACT_DTYPE, device=device)
    x.requires_grad_(True)
    mean = case.make("mean")(x, y)
    (grad,) = torch.autograd.grad(mean, x)
    # value: the documented terms, summed and divided by N * D (not N)
    terms = case.reference_terms(x.detach(), y)
    assert_close(mean.detach(), terms.sum() / (n * d), tol=accumulation(EXACT_DTYPE, n * d))
    # "sum over features, mean over the batch" (what a per-sample loss would be) is D times larger
    per_sample_then_batch_mean = case.make("sum")(x, y).detach() / n
    assert_close(per_sample_then_batch_mean, d * mean.detach(), tol=accumulation(EXACT_DTYPE, n * d))
    # gradient: every element's derivative carries 1 / (N D)
    assert_close(grad, _term_derivative(case.name, x.detach(), y) / (n * d))


@given(
    name=st.sampled_from(["SmoothL1Loss", "HuberLoss"]),
    width=st.sampled_from([0.05, 0.4, 3.0, 20.0]),
    n=hh.batch_sizes(1, 8),
    d=st.integers(2, 12),
    seed=hh.seeds(),
)
def test_smooth_l1_and_huber_divide_by_the_elements_away_from_beta_delta_one(name, width, n, d, seed, device):
    # at beta = delta = 1 the two losses are one function; away from 1 they differ (SmoothL1 = Huber / beta), so a
    # swapped or missing 1/beta, or delta's scaling, shows. Errors drawn at 4x the width reach both regimes.
    make = maker(device, EXACT_DTYPE)
    x = make.randn(n, d, seed=seed).mul_(4 * width).requires_grad_(True)
    y = make.zeros(n, d)
    if name == "SmoothL1Loss":
        mean, terms = F.smooth_l1_loss(x, y, beta=width), smooth_l1_terms(x.detach(), y, beta=width)
        derivative = (x.detach() / width).clamp(-1.0, 1.0)  # d/beta inside [-beta, beta], sign(d) outside
    else:
        mean, terms = F.huber_loss(x, y, delta=width), huber_terms(x.detach(), y, delta=width)
        derivative = x.detach().clamp(-width, width)  # d inside [-delta, delta], delta sign(d) outside
    (grad,) = torch.autograd.grad(mean, x)
    assert_close(mean.detach(), terms.sum() / (n * d), tol=accumulation(EXACT_DTYPE, n * d))
    assert_close(grad, derivative / (n * d))


def test_mse_mean_on_wide_outputs_is_one_over_d_of_the_per_sample_loss(device, figures):
    # N = 4 samples of D = 8 outputs with error 1 everywhere: every squared term is 1, the sum is 32,
    # 'mean' = 32 / (4 * 8) = 1 (not 32 / 4 = 8) and d mean / d x_ij = 2 * 1 / 32.
    n, d = 4, 8
    make = maker(device, EXACT_DTYPE)
    x = make.ones(n, d).requires_grad_()
    y = make.zeros(n, d)
    mean = F.mse_loss(x, y)
    mean.backward()
    assert mean.item() == 1.0
    assert torch.equal(x.grad, torch.full_like(x, 2.0 / (n * d)))
    figures.record(
        "MSE 'mean' / (sum / batch size), D = 8",
        mean.item() / (F.mse_loss(x, y, reduction="sum").item() / n),
        "1",
        zh="MSE 'mean' / (sum / batch 大小),D = 8",
    )


def test_bce_with_logits_weights_scale_terms_but_stay_out_of_the_denominator(device, figures):
    # Documented terms: l_ij = -w_j [p_j y_ij log s(x_ij) + (1 - y_ij) log(1 - s(x_ij))], 'mean' = sum l / (N D),
    # with log s(x) = -softplus(-x) and log(1 - s(x)) = -softplus(x).
    n, d = 6, 5
    case = loss_case("BCEWithLogitsLoss")
    x, y = case.sample_batch(n, (d,), seed=3, dtype=EXACT_DTYPE, device=device)
    make = maker(device, EXACT_DTYPE)
    weight = make.tensor([0.5, 1.0, 2.0, 3.0, 4.0])  # sums to 10.5, not D = 5
    pos_weight = make.tensor([1.0, 2.0, 0.5, 3.0, 1.5])
    terms = -weight * (pos_weight * y * -F.softplus(-x) + (1 - y) * -F.softplus(x))
    for kwargs, ref in (
        ({"weight": weight}, -weight * (y * -F.softplus(-x) + (1 - y) * -F.softplus(x))),
        ({"pos_weight": pos_weight}, -(pos_weight * y * -F.softplus(-x) + (1 - y) * -F.softplus(x))),
        ({"weight": weight, "pos_weight": pos_weight}, terms),
    ):
        mean = torch.nn.BCEWithLogitsLoss(**kwargs)(x, y)
        assert_close(mean, ref.sum() / (n * d), tol=accumulation(EXACT_DTYPE, n * d))
    # a weighted average sum(l) / sum(weights over elements) would be D / sum(w) = 5 / 10.5 times the mean
    weighted_average = terms.sum() / (n * weight.sum())
    mean = torch.nn.BCEWithLogitsLoss(weight=weight, pos_weight=pos_weight)(x, y)
    assert_close(weighted_average / mean, make.tensor(d / weight.sum().item()))
    assert abs(mean.item() - weighted_average.item()) > 0.1 * abs(mean.item())  # 1 - 5/10.5 = 52 % apart
    figures.record(
        "BCEWithLogits weighted 'mean' / (sum / (N*D))",
        (mean / (terms.sum() / (n * d))).item(),
        "1",
        zh="BCEWithLogits 加权 'mean' / (sum / (N*D))",
    )
