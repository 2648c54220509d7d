"""remedy.clip-value

Source: 「通过设定一个阈值,当梯度超过该阈值时,将其缩放到该范围内。」

What is true (confirmed):
- torch.nn.utils.clip_grad_value_(parameters, clip_value) clamps every gradient element in place to [-clip_value,
  clip_value], leaves smaller elements alone and returns None.
- Unlike norm clipping it changes the gradient's direction and bounds no norm: the clipped L2 norm can reach
  clip_value * sqrt(P) for P elements.
- Scaling the gradient back into range with its direction kept is norm clipping, torch.nn.utils.clip_grad_norm_,
  which rescales all gradients by one common factor.

Why: PyTorch docs, torch.nn.utils.clip_grad_value_ (each element clamped to [-clip_value, clip_value]) and
clip_grad_norm_ (one factor min(1, max_norm / (total + 1e-6))); Goodfellow et al., Deep Learning, sec. 10.11.1,
compare element-wise and norm clipping. Hypothesis checks the in-place clamp, the untouched small elements and the
None return over random shapes, scales and thresholds. For (10, 1) and c = 1 value clipping gives (1, 1), whose
cosine with the original is 11 / sqrt(101 * 2) = 0.774, while norm clipping to the same length sqrt(2) keeps cosine
1. A gradient of P elements all equal to 10 becomes a vector of ones, norm sqrt(P) (tested for P = 4 and 100),
where clip_grad_norm_ with max_norm = 1 gives norm 1.
"""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from support.gradients import flat_grad
from support.tensors import generator, maker
from support.tolerances import assert_close

pytestmark = pytest.mark.claim("remedy.clip-value")

shapes = st.lists(st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple), min_size=1, max_size=4)


def _params(grads, device):
    make = maker(device)
    params = []
    for grad in grads:
        p = make.zeros(*grad.shape).requires_grad_()
        p.grad = grad.to(device=device, dtype=torch.float64).clone()
        params.append(p)
    return params


@given(shape_list=shapes, log_scale=st.floats(-2, 2), log_clip=st.floats(-2, 2), seed=st.integers(0, 2**16))
def test_clip_grad_value_clamps_each_element_and_leaves_the_small_ones(device, shape_list, log_scale, log_clip, seed):
    g = generator(seed)
    params = _params([10.0**log_scale * torch.randn(s, dtype=torch.float64, generator=g) for s in shape_list], device)
    c = 10.0**log_clip
    before = flat_grad(params).clone()
    assert torch.nn.utils.clip_grad_value_(params, c) is None
    after = flat_grad(params)
    assert torch.equal(after, before.clamp(-c, c))
    small = before.abs() <= c
    assert torch.equal(after[small], before[small])
    assert (after.abs() <= c).all()


def test_value_clipping_turns_the_gradient_where_norm_clipping_keeps_its_direction(device, figures):
    grad = torch.tensor([10.0, 1.0], dtype=torch.float64)
    by_value = _params([grad], device)
    torch.nn.utils.clip_grad_value_(by_value, 1.0)
    make = maker(device)
    assert_close(by_value[0].grad, make.tensor([1.0, 1.0]))
    cos_value = (by_value[0].grad @ grad.to(device)) / (by_value[0].grad.norm() * grad.norm())
    assert_close(cos_value, make.tensor(11 / math.sqrt(101 * 2)))
    by_norm = _params([grad], device)
    torch.nn.utils.clip_grad_norm_(by_norm, by_value[0].grad.norm().item())  # the same final length, sqrt(2)
    cos_norm = (by_norm[0].grad @ grad.to(device)) / (by_norm[0].grad.norm() * grad.norm())
    assert_close(cos_norm, torch.ones_like(cos_norm))
    figures.record(
        "cosine(original, value-clipped) for (10, 1), c = 1",
        cos_value,
        "1",
        zh="梯度 (10, 1)、c = 1 时原梯度与按值裁剪后梯度的余弦",
    )


@pytest.mark.parametrize("n_elements", [4, 100])
def test_value_clipping_bounds_no_norm(device, n_elements, figures):
    # every element 10, c = 1: value clipping leaves a vector of ones, norm sqrt(P); clip_grad_norm_(1) gives norm 1
    grad = torch.full((n_elements,), 10.0, dtype=torch.float64)
    by_value = _params([grad], device)
    torch.nn.utils.clip_grad_value_(by_value, 1.0)
    assert_close(by_value[0].grad.norm(), maker(device).tensor(math.sqrt(n_elements)))
    by_norm = _params([grad], device)
    torch.nn.utils.clip_grad_norm_(by_norm, 1.0)
    assert by_norm[0].grad.norm() <= 1.0
    figures.record(
        f"L2 norm after clip_grad_value_(1) of {n_elements} elements of 10",
        by_value[0].grad.norm(),
        "1",
        zh=f"{n_elements}个值为10的元素经 clip_grad_value_(1) 后的L2范数",
    )
