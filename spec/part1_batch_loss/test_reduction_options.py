"""reduction.options

Source: 「PyTorch中的大多数损失函数(如`CrossEntropyLoss`或`MSELoss`)都有一个`reduction`参数,可以控制如何处理batch中的多个样本的损失。」
「`mean`: 计算平均损失 (默认选项) , 适用于大多数情况。」

What is true: every loss module in the table (MSE, L1, SmoothL1, Huber, BCEWithLogits, CrossEntropy, NLL)
accepts reduction='mean' | 'sum' | 'none'; 'mean' is the default; any other value raises a ValueError that
names it (raised at the forward call: the constructor stores the string unchecked).
"""

import pytest
import torch

from support.losses import LOSS_CASES, REDUCTIONS
from support.tolerances import assert_close

pytestmark = pytest.mark.claim("reduction.options")
CASES = pytest.mark.parametrize("case", LOSS_CASES, ids=lambda c: c.name)


@CASES
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_loss_accepts_each_reduction(case, reduction, device):
    x, y = case.sample_batch(4, (3,), seed=0, device=device)
    out = case.make(reduction)(x, y)
    # mean and sum reduce to a scalar; none keeps the unreduced terms
    expected_shape = x.shape[:1] if (reduction == "none" and case.kind == "class") else (
        x.shape if reduction == "none" else torch.Size([]))
    assert out.shape == expected_shape


@CASES
def test_default_reduction_is_mean(case, device):
    x, y = case.sample_batch(5, (3,), seed=1, device=device)
    default = case.module()
    assert default.reduction == "mean"
    assert_close(default(x, y), case.make("mean")(x, y))
    # and it is really the average, not the sum (5 samples: the two differ)
    assert not torch.allclose(default(x, y), case.make("sum")(x, y))


@CASES
@pytest.mark.parametrize("bad", ["average", "Mean", "batchmean", ""])
def test_unknown_reduction_is_rejected_naming_it(case, bad):
    x, y = case.sample_batch(2, (3,), seed=2)
    with pytest.raises(ValueError, match=f"^{bad} is not a valid value for reduction"):
        case.module(reduction=bad)(x, y)
