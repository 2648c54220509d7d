"""Tests of support.tensors: makers put the right dtype on the right device; seeded draws repeat."""

import pytest
import torch
from torch import nn

from support.errors import SpecInputError, SpecTypeError
from support.tensors import generator, maker, seed_global_rngs, seeded_init


def test_maker_makes_float64_on_the_device_by_default(device):
    make = maker(device)
    for t in (
        make.tensor([1.0, 2.0]),
        make.zeros(2, 3),
        make.ones(4),
        make.full(2, value=7.0),
        make(3, 2),
        make.randn(2, seed=1),
    ):
        assert t.dtype == torch.float64 and t.device.type == torch.device(device).type
    assert make.zeros(2, 3).shape == (2, 3) and make.full(2, value=7.0).tolist() == [7.0, 7.0]
    assert make.kwargs == {"dtype": torch.float64, "device": torch.device(device)}


def test_maker_keeps_another_floating_dtype_and_bounds():
    make = maker("cpu", torch.float32)
    x = make(50, low=-1, high=1, requires_grad=True)
    assert x.dtype == torch.float32 and x.requires_grad
    assert (x.detach().abs() <= 1).all()


def test_seeded_draws_repeat_and_differ_between_seeds():
    make = maker("cpu")
    assert torch.equal(make.randn(5, seed=3), make.randn(5, seed=3))
    assert not torch.equal(make.randn(5, seed=3), make.randn(5, seed=4))
    assert torch.equal(torch.randn(3, generator=generator(9)), torch.randn(3, generator=generator(9)))


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (("cpu", torch.int64), SpecTypeError, "dtype must be a floating torch.dtype"),
        (("cpu", "float64"), SpecTypeError, "dtype must be a floating torch.dtype"),
        (("gpu0",), SpecInputError, "device must name a torch device"),
    ],
)
def test_bad_maker_arguments_name_the_problem(args, error, message):
    with pytest.raises(error, match=message):
        maker(*args)


@pytest.mark.parametrize("seed", [1.5, "1", True, None])
@pytest.mark.parametrize("takes_seed", [generator, seed_global_rngs, seeded_init])
def test_seeding_needs_an_int_seed(takes_seed, seed):
    with pytest.raises(SpecInputError, match="seed must be an int"):
        takes_seed(seed)  # seeded_init too: before its block is entered


def test_seed_global_rngs_leaves_the_cpu_generator_as_torch_manual_seed_does():
    torch.manual_seed(123)
    expected = torch.get_rng_state()
    torch.manual_seed(9)  # somewhere else first
    seed_global_rngs(123)
    assert torch.equal(torch.get_rng_state(), expected) and torch.initial_seed() == 123


def test_seeded_init_builds_the_weights_of_its_seed_and_restores_the_callers_rng():
    torch.manual_seed(3)
    expected = nn.Linear(4, 2).weight.detach().clone()
    torch.manual_seed(77)
    before = torch.get_rng_state()
    with seeded_init(3):
        built = nn.Linear(4, 2)
    assert torch.equal(built.weight, expected)
    assert torch.equal(torch.get_rng_state(), before)
    with seeded_init(4):
        assert not torch.equal(nn.Linear(4, 2).weight, expected)


def test_full_takes_sizes_like_zeros_and_the_value_by_keyword():
    make = maker("cpu")
    assert torch.equal(make.full(2, 3, value=7.0), torch.full((2, 3), 7.0, dtype=torch.float64))
    assert torch.equal(make.full((2, 3), value=7.0), make.full(2, 3, value=7.0))  # one tuple, as zeros((2, 3))
    assert make.full(value=1.5).shape == ()  # no sizes: a scalar, as zeros()
    # the old positional form full((2,), 7.0) would put 7.0 among the sizes: refused by name
    with pytest.raises(SpecTypeError, match=r"full: sizes must be ints \(give the fill value as value=...\)"):
        make.full((2,), 7.0, value=1.0)
    with pytest.raises(TypeError, match="value"):
        make.full(2, 3)
    with pytest.raises(SpecTypeError, match="full: value must be a number, got True"):
        make.full(2, value=True)
