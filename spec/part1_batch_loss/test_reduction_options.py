"""reduction.options

Source: 「PyTorch中的大多数损失函数(如`CrossEntropyLoss`或`MSELoss`)都有一个`reduction`参数,可以控制如何处理batch中的多个样本的损失。」
「`mean`: 计算平均损失 (默认选项) , 适用于大多数情况。」

What is true (confirmed):
- The built-in loss modules (MSE, L1, SmoothL1, Huber, BCEWithLogits, BCE, CrossEntropy, NLL, KLDiv) take
  reduction='mean' | 'sum' | 'none'; 'mean' is the default.
- The old name 'elementwise_mean' is still accepted as 'mean', with a deprecation warning.
- Any other value raises ValueError("<value> is not a valid value for reduction") at the forward call; the
  constructor stores the string unchecked.
- KLDivLoss also takes 'batchmean' (the sum divided by the batch size); its 'mean' divides by the number of elements
  and warns.
- On an empty batch (N = 0) 'mean' and 'batchmean' return NaN (0/0), 'sum' returns 0 and 'none' an empty tensor of
  shape (0, ...).
- Backward on an empty batch gives every parameter a zero gradient: the NaN shows in the loss value, not in the
  gradients.

Why: the reductions are documented on each loss module's page (PyTorch docs, torch.nn loss functions: "reduction
(str, optional) - Specifies the reduction to apply to the output: 'none' | 'mean' | 'sum'. ... Default: 'mean'";
torch.nn.KLDivLoss adds 'batchmean' and warns that 'mean' "doesn't return the true KL divergence value"). The
string is stored by the constructor and only translated to an enum (torch.nn._reduction.get_enum) when the
functional form runs, which is where an unknown value raises; that function still maps the pre-1.0 name
'elementwise_mean' to 'mean' with a warning. An empty batch has no terms: their sum is the empty
sum 0, their mean 0/0 = NaN, and 'batchmean' = sum / N = 0/0 = NaN too. The gradient of any parameter is a sum
over the batch's samples of (dloss/doutput_i)(doutput_i/dparameter): with no samples that is an empty sum, 0,
whatever the 1/0 factor of the mean, so a plain SGD step on an empty batch changes nothing while the logged loss
is NaN. The tests check each loss of the table (support.losses.LOSS_CASES) and the two losses on
(log-)probabilities (support.losses.PROBABILITY_LOSS_CASES: KLDivLoss, BCELoss).
"""  # noqa: E501 (the source's quotes are kept on one line, verbatim)

import contextlib

import pytest
import torch

from support.losses import LOSS_CASES, PROBABILITY_LOSS_CASES, REDUCTIONS
from support.models import head_for
from support.tolerances import assert_close

pytestmark = pytest.mark.claim("reduction.options")
ALL_CASES = LOSS_CASES + PROBABILITY_LOSS_CASES
CASES = pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.name)
KL_MEAN_WARNING = "'mean' divides the total loss by both the batch size and the support size"


def _reductions(case):
    return REDUCTIONS + (("batchmean",) if case.name == "KLDivLoss" else ())


def _warns_if_kl_mean(case, reduction):
    """KLDivLoss's 'mean' warns (PyTorch docs: use 'batchmean' for the KL divergence); no other loss does."""
    if case.name == "KLDivLoss" and reduction == "mean":
        return pytest.warns(UserWarning, match=KL_MEAN_WARNING)
    return contextlib.nullcontext()


def _unreduced_shape(case, x):
    # class losses: one term per sample, (N,); elementwise losses: one per element, the input's shape
    return x.shape[:1] if case.kind == "class" else x.shape


@CASES
def test_loss_accepts_each_reduction(case, device):
    x, y = case.sample_batch(4, (3,), seed=0, device=device)
    for reduction in _reductions(case):
        with _warns_if_kl_mean(case, reduction):
            out = case.module(reduction=reduction)(x, y)
        # mean, sum (and batchmean) reduce to a scalar; none keeps the unreduced terms
        assert out.shape == (_unreduced_shape(case, x) if reduction == "none" else torch.Size([])), reduction
        assert torch.isfinite(out).all()


@CASES
def test_default_reduction_is_mean(case, device):
    x, y = case.sample_batch(5, (3,), seed=1, device=device)
    default = case.module()
    assert default.reduction == "mean"
    with _warns_if_kl_mean(case, "mean"):
        value = default(x, y)
    with _warns_if_kl_mean(case, "mean"):
        assert_close(value, case.make("mean")(x, y))
    # and it is really the average over the terms, not the sum (15 or 5 terms: the two differ)
    total = case.make("sum")(x, y)
    assert_close(value * _unreduced_shape(case, x).numel(), total)
    assert not torch.allclose(value, total)


@CASES
def test_unknown_reduction_is_rejected_naming_it_at_the_forward_call(case):
    x, y = case.sample_batch(2, (3,), seed=2)
    bad_values = ["average", "Mean", "", "elementwise_sum"] + ([] if case.name == "KLDivLoss" else ["batchmean"])
    for bad in bad_values:
        module = case.module(reduction=bad)  # the constructor accepts and stores any string ...
        assert module.reduction == bad
        with pytest.raises(ValueError, match=f"^{bad} is not a valid value for reduction$"):
            module(x, y)  # ... and the forward call rejects it


@CASES
def test_the_old_name_elementwise_mean_is_still_mean_with_a_deprecation_warning(case):
    x, y = case.sample_batch(3, (3,), seed=5)
    with pytest.warns(UserWarning, match="reduction='elementwise_mean' is deprecated"):
        old = case.module(reduction="elementwise_mean")(x, y)
    with _warns_if_kl_mean(case, "mean"):
        assert torch.equal(old, case.make("mean")(x, y))


def test_kl_batchmean_is_the_sum_over_the_batch_size(device):
    case = PROBABILITY_LOSS_CASES[0]
    assert case.name == "KLDivLoss"
    x, y = case.sample_batch(6, (4,), seed=3, device=device)
    batchmean = case.module(reduction="batchmean")(x, y)
    total = case.make("sum")(x, y)
    assert_close(batchmean, total / 6)
    with pytest.warns(UserWarning, match=KL_MEAN_WARNING):
        mean = case.make("mean")(x, y)
    assert_close(mean, total / 24)  # 'mean' divides by the 6 x 4 elements: 4 times smaller than batchmean


@CASES
def test_empty_batch_mean_is_nan_sum_is_zero_none_is_empty_and_the_gradient_is_zero(case, device):
    # a trainable producer of the loss input, so the gradient that reaches parameters is checked, not only the
    # loss value; 3 samples then sliced to none (the table's batches need N >= 1)
    head = head_for(2, (3,), seed=4, device=device)
    _, y3 = case.sample_batch(3, (3,), seed=4, device=device)
    x, y = torch.randn(0, 2, dtype=torch.float64, device=device), y3[:0]
    for reduction in _reductions(case):
        head.zero_grad(set_to_none=True)
        with _warns_if_kl_mean(case, reduction):
            out = case.module(reduction=reduction)(case.to_loss_input(head(x)), y)
        if reduction == "none":
            assert out.shape == ((0,) if case.kind == "class" else (0, 3))
            continue
        assert out.shape == torch.Size([])
        if reduction == "sum":
            assert out.item() == 0.0  # the empty sum
        else:
            assert out.isnan().item(), reduction  # mean (and batchmean): 0 / 0
        out.backward()
        for name, p in head.named_parameters():  # an empty sum over samples: exactly zero, not NaN
            assert torch.equal(p.grad, torch.zeros_like(p)), (reduction, name)
        # so a plain SGD step on the empty batch changes nothing (lr away from 1; momentum's first buffer is the
        # gradient itself, zero too)
        before = [p.detach().clone() for p in head.parameters()]
        torch.optim.SGD(head.parameters(), lr=0.3, momentum=0.9).step()
        for b, p in zip(before, head.parameters()):
            assert torch.equal(p.detach(), b), reduction
