"""remedy.clip-norm

Source: 「例如,如果使用L2范数,可以将所有梯度归一化,使其不超过设定的最大值。」

What is true (confirmed):
- torch.nn.utils.clip_grad_norm_(parameters, max_norm) computes the norm of all gradients viewed as one vector
  (parameters whose .grad is None are skipped) and returns that pre-clipping norm.
- It multiplies every gradient in place by min(1, max_norm / (total + 1e-6)): the direction is unchanged, a gradient
  whose total norm is at most max_norm - 1e-6 is left untouched, and after clipping the total norm is max_norm *
  total / (total + 1e-6), at most max_norm.
- norm_type=inf uses the largest absolute element instead.
- A NaN or inf total raises with error_if_nonfinite=True; by default it is used anyway: a NaN total turns every
  gradient into NaN, an inf total zeroes the finite ones.

Why: this is Pascanu et al. 2013's Algorithm 1 (g <- threshold * g / ||g|| when ||g|| >= threshold) with a 1e-6
guard in the denominator (PyTorch docs, torch.nn.utils.clip_grad_norm_). Hypothesis draws parameter shapes,
gradient scales and thresholds from 1e-3 to 1e3; the tests check the returned norm, the one common factor, the
bound max_norm (up to rounding), the exact value max_norm * total / (total + 1e-6) and an unchanged direction above
the threshold, and bit-for-bit equality below it; for norm_type=inf the same with the largest |element|. The guard
is visible for tiny gradients: a total of 2e-6 with max_norm 1e-6 gives the factor 1/3, not 1/2. Parameters without
.grad are skipped and keep it None. With error_if_nonfinite=True a NaN or inf raises before any gradient is
touched; by default the coefficient max_norm / (nan + 1e-6) is NaN and max_norm / (inf + 1e-6) is 0, so the finite
gradients become NaN resp. 0, and an inf element becomes inf * 0 = NaN.
"""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from support.gradients import flat_grad, total_grad_norm
from support.tensors import generator, maker
from support.tolerances import ROUNDING, assert_close, assert_le

pytestmark = pytest.mark.claim("remedy.clip-norm")
EPS_TERM = 1e-6  # the documented guard in the clip coefficient

shapes = st.lists(st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple), min_size=1, max_size=4)
log_scales = st.floats(-3, 3)  # gradient scales and thresholds from 1e-3 to 1e3


def _params_with_grads(shape_list, scale, seed, device):
    g = generator(seed)
    make = maker(device)
    params = []
    for shape in shape_list:
        p = make.zeros(*shape).requires_grad_()
        p.grad = (scale * torch.randn(shape, dtype=torch.float64, generator=g)).to(device)
        params.append(p)
    return params


@given(shape_list=shapes, log_scale=log_scales, log_max=log_scales, seed=st.integers(0, 2**16))
def test_clip_grad_norm_scales_all_gradients_by_one_documented_factor(device, shape_list, log_scale, log_max, seed):
    params = _params_with_grads(shape_list, 10.0**log_scale, seed, device)
    max_norm = 10.0**log_max
    before = flat_grad(params).clone()
    total = before.norm()  # the norm of all gradients concatenated
    returned = torch.nn.utils.clip_grad_norm_(params, max_norm)
    assert_close(returned, total)  # the pre-clip total norm
    after = flat_grad(params)
    coef = min(1.0, max_norm / (total.item() + EPS_TERM))
    assert_close(after, before * coef)
    assert_le(after.norm(), max_norm, slack=ROUNDING)  # never above the threshold
    if total > max_norm:
        # equal to the threshold up to the 1e-6 term: max_norm * total / (total + 1e-6)
        assert_close(after.norm(), maker(device).tensor(max_norm * total.item() / (total.item() + EPS_TERM)))
        cosine = (after @ before) / (after.norm() * before.norm())
        assert_close(cosine, torch.ones_like(cosine))  # direction unchanged
    elif coef == 1.0:  # total + 1e-6 <= max_norm: at most max_norm - 1e-6, the coefficient is 1
        assert torch.equal(after, before)  # a no-op


@given(shape_list=shapes, log_scale=log_scales, log_max=log_scales, seed=st.integers(0, 2**16))
def test_inf_norm_type_clips_the_largest_element(device, shape_list, log_scale, log_max, seed):
    params = _params_with_grads(shape_list, 10.0**log_scale, seed, device)
    max_norm = 10.0**log_max
    before = flat_grad(params).clone()
    returned = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type=math.inf)
    assert_close(returned, before.abs().max())
    after = flat_grad(params)
    assert_close(after, before * min(1.0, max_norm / (before.abs().max().item() + EPS_TERM)))
    assert_le(after.abs().max(), max_norm, slack=ROUNDING)


def test_the_1e6_term_is_visible_for_tiny_gradients(device):
    # total = 2e-6, max_norm = 1e-6: the coefficient is 1e-6 / (2e-6 + 1e-6) = 1/3, so the clipped norm is
    # 2e-6 / 3 = 6.7e-7, not 1e-6 (a plain max_norm / total would give exactly 1e-6)
    make = maker(device)
    p = make.zeros(2).requires_grad_()
    p.grad = make.tensor([2e-6, 0.0])
    torch.nn.utils.clip_grad_norm_([p], 1e-6)
    assert_close(p.grad, make.tensor([2e-6 / 3, 0.0]))


def test_parameters_without_grad_are_skipped(device):
    make = maker(device)
    a = make.zeros(3).requires_grad_()
    b = make.zeros(2).requires_grad_()
    a.grad = make.tensor([3.0, 0.0, 4.0])  # norm 5
    total = total_grad_norm([a, b])  # skips b, whose .grad is None
    returned = torch.nn.utils.clip_grad_norm_([a, b], 1.0)
    assert_close(returned, total)
    assert returned.item() == 5.0
    assert b.grad is None
    assert_close(a.grad, make.tensor([3.0, 0.0, 4.0]) / (5.0 + EPS_TERM))


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_gradients_raise_with_error_if_nonfinite(device, bad):
    make = maker(device)
    p = make.zeros(3).requires_grad_()
    p.grad = make.tensor([1.0, bad, 2.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        torch.nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    assert p.grad[0].item() == 1.0  # raised before touching the gradients


def test_by_default_a_non_finite_total_spreads_into_every_gradient(device):
    # coefficient = max_norm / (nan + 1e-6) = nan: every gradient becomes NaN
    make = maker(device)
    a = make.zeros(2).requires_grad_()
    b = make.zeros(2).requires_grad_()
    a.grad = make.tensor([1.0, math.nan])
    b.grad = make.tensor([1.0, 2.0])
    returned = torch.nn.utils.clip_grad_norm_([a, b], 1.0)
    assert math.isnan(returned.item())
    assert torch.isnan(b.grad).all()
    # coefficient = max_norm / (inf + 1e-6) = 0: finite gradients are zeroed, the inf one becomes inf * 0 = NaN
    a.grad = make.tensor([1.0, math.inf])
    b.grad = make.tensor([1.0, 2.0])
    returned = torch.nn.utils.clip_grad_norm_([a, b], 1.0)
    assert returned.item() == math.inf
    assert torch.equal(b.grad, torch.zeros_like(b.grad))
    assert a.grad[0].item() == 0.0 and math.isnan(a.grad[1].item())
