"""Tests of support.activations: each derivative written from its definition agrees with autograd's backward through
the module support.models builds for that activation, and the scalar sigmoid with torch.sigmoid."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from support import activations
from support.errors import SpecInputError, SpecTypeError
from support.models import ACTIVATIONS
from support.tolerances import assert_close

values = st.lists(st.floats(-30, 30, allow_nan=False), min_size=1, max_size=16)


def test_every_activation_of_the_models_has_a_derivative():
    assert set(activations.DERIVATIVES) == set(ACTIVATIONS)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@given(values=values)
def test_the_derivative_is_autograds(name, values):
    a = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    (autograd,) = torch.autograd.grad(ACTIVATIONS[name]()(a).sum(), a)
    assert_close(activations.derivative(name, a.detach()), autograd)


def test_relus_derivative_at_zero_is_zero_as_in_its_backward():
    a = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    (autograd,) = torch.autograd.grad(torch.nn.ReLU()(a).sum(), a)
    assert autograd.tolist() == activations.derivative("relu", a.detach()).tolist() == [0.0, 0.0, 0.0]


@given(v=st.floats(-1e6, 1e6, allow_nan=False) | st.sampled_from([-1e308, 1e308]))
def test_the_scalar_sigmoid_is_torchs(v):  # at any finite v: no overflow below -709
    expected = torch.sigmoid(torch.tensor(v, dtype=torch.float64)).item()
    assert math.isclose(activations.sigmoid(v), expected, rel_tol=1e-15, abs_tol=1e-300)


def test_bad_arguments_name_the_problem():
    with pytest.raises(SpecInputError, match="activation must be one of .*, got 'gelu'"):
        activations.derivative("gelu", torch.zeros(2, dtype=torch.float64))
    with pytest.raises(SpecTypeError, match="a must be a floating-point tensor"):
        activations.derivative("tanh", torch.zeros(2, dtype=torch.int64))
    with pytest.raises(SpecTypeError, match="v must be a finite number"):
        activations.sigmoid("0.5")
