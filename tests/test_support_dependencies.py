"""Tests of support.dependencies: per-sample models chart as independent, batch-mixing ones are caught with
the right pairs, the strengths equal hand-computed Jacobian blocks, cancelling sums do not hide a
dependency, and bad input is rejected with errors naming the argument."""

import pytest
import torch
from torch import nn

from support import dependencies, models
from support.errors import SpecInputError, SpecTypeError
from support.tensors import generator

F64 = torch.float64


def test_per_sample_mlp_has_no_cross_sample_dependency():
    net = models.mlp(3, 5, 2, depth=3, seed=1)
    x = torch.randn(6, 3, dtype=F64)
    assert dependencies.cross_sample_dependencies(net, x) == []
    strength = dependencies.dependency_matrix(net, x)
    assert strength.shape == (6, 6)
    assert (strength.diagonal() > 0).all()  # each output does depend on its own input
    assert (strength - torch.diag(strength.diagonal())).abs().max() == 0


def test_mixing_the_batch_is_caught_with_exactly_the_mixed_pairs():
    # out_i = x_i + 2 x_{i+1 mod n}: output i depends on inputs i and i+1 (with gradient 2 w.r.t. the latter)
    def shift_mix(x):
        return x + 2 * torch.roll(x, shifts=-1, dims=0)

    x = torch.randn(4, 3, dtype=F64)
    pairs = dependencies.cross_sample_dependencies(shift_mix, x)
    assert pairs == [(0, 1), (1, 2), (2, 3), (3, 0)]


def test_strength_is_the_largest_probe_gradient_of_the_jacobian_block():
    # out_i = a * x_i + b * x_0 (scalar features): d out_i / d x_j = a [i == j] + b [j == 0].
    # With one probe v_i per output, the gradient on x_j is v_i * that derivative.
    a, b = 3.0, -0.5

    def f(x):
        return a * x + b * x[:1]

    x = torch.randn(3, 1, dtype=F64)
    strength = dependencies.dependency_matrix(f, x, probes=1, seed=7)
    g = generator(7)
    v = torch.stack([torch.randn(1, generator=g, dtype=F64) for _ in range(3)]).squeeze(1).abs()
    expected = torch.zeros(3, 3, dtype=F64)
    for i in range(3):
        for j in range(3):
            expected[i, j] = v[i] * abs(a * (i == j) + b * (j == 0))
    torch.testing.assert_close(strength, expected, rtol=1e-12, atol=0)


def test_a_dependency_whose_plain_sum_cancels_is_still_found():
    # out_i = x_{i+1} - x_{i+1} @ ones/d * ones: each row sums to zero for every input (centred), so backprop
    # of sum(out_i) gives exactly zero everywhere; the random probes still see the dependency on sample i+1.
    def centred_neighbour(x):
        nb = torch.roll(x, shifts=-1, dims=0)
        return nb - nb.mean(dim=1, keepdim=True)

    x = torch.randn(3, 4, dtype=F64)
    assert set(dependencies.cross_sample_dependencies(centred_neighbour, x)) == {(0, 1), (1, 2), (2, 0)}


def test_batchnorm_couples_in_train_mode_and_not_in_eval_mode():
    net = models.batchnorm_net(3, 4, 2, seed=3)
    x = torch.randn(5, 3, dtype=F64)
    pairs = dependencies.cross_sample_dependencies(net.train(), x)
    assert len(pairs) == 5 * 4  # every off-diagonal pair: the batch statistics involve every sample
    assert dependencies.cross_sample_dependencies(net.eval(), x) == []


def test_atol_filters_weak_dependencies():
    def weak(x):
        return x + 1e-9 * x.sum(dim=0, keepdim=True)

    x = torch.randn(3, 2, dtype=F64)
    assert len(dependencies.cross_sample_dependencies(weak, x)) == 6
    # strength of an off-diagonal pair is |v| * 1e-9 with |v| a standard normal draw (< 10 surely here)
    assert dependencies.cross_sample_dependencies(weak, x, atol=1e-7) == []


def test_multidimensional_samples_and_outputs():
    conv = nn.Conv1d(2, 3, kernel_size=3, padding=1).double()
    x = torch.randn(4, 2, 7, dtype=F64)
    assert dependencies.cross_sample_dependencies(conv, x) == []
    # the classic bug: flatten after moving the batch axis
    assert dependencies.cross_sample_dependencies(lambda t: conv(t).transpose(0, 1).reshape(4, -1), x) != []


def test_the_callers_rng_and_the_input_are_left_untouched():
    net = models.mlp(3, 4, 2, seed=0)
    x = torch.randn(4, 3, dtype=F64)
    before = x.clone()
    state = torch.get_rng_state()
    dependencies.dependency_matrix(net, x)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(x, before) and not x.requires_grad and x.grad is None


def test_a_model_with_dropout_leaves_the_callers_rng_untouched():
    net = nn.Sequential(nn.Linear(3, 16), nn.Dropout(0.5), nn.Linear(16, 2)).double().train()
    x = torch.randn(4, 3, dtype=F64)
    state = torch.get_rng_state()
    assert dependencies.cross_sample_dependencies(net, x) == []  # dropout masks each sample alone
    assert torch.equal(torch.get_rng_state(), state)
    # the forward did draw: the same forward outside the helper moves the state
    net(x)
    assert not torch.equal(torch.get_rng_state(), state)


def test_output_that_ignores_the_input_has_zero_strength():
    w = torch.ones(2, dtype=F64, requires_grad=True)
    strength = dependencies.dependency_matrix(lambda x: w.expand(x.shape[0], 2) * 1.0, torch.randn(3, 2, dtype=F64))
    assert strength.abs().max() == 0


@pytest.mark.parametrize(
    "model, x, error, fragment",
    [
        ("not callable", torch.randn(3, 2, dtype=F64), SpecTypeError, "model"),
        (lambda x: x, [[1.0, 2.0], [3.0, 4.0]], SpecTypeError, "x"),
        (lambda x: x, torch.ones(3, 2, dtype=torch.int64), SpecTypeError, "x"),
        (lambda x: x, torch.randn(1, 2, dtype=F64), SpecInputError, "at least 2 samples"),
        (lambda x: x, torch.tensor(1.0, dtype=F64), SpecInputError, "at least 2 samples"),
        (lambda x: x.sum(), torch.randn(3, 2, dtype=F64), SpecInputError, "batch size 3"),
        (lambda x: x.t(), torch.randn(3, 2, dtype=F64), SpecInputError, "batch size 3"),
        (lambda x: (x, x), torch.randn(3, 2, dtype=F64), SpecTypeError, "return a tensor"),
        (lambda x: x.detach(), torch.randn(3, 2, dtype=F64), SpecInputError, "grad_fn"),
    ],
)
def test_bad_input_is_rejected_naming_the_problem(model, x, error, fragment):
    with pytest.raises(error, match=fragment):
        dependencies.cross_sample_dependencies(model, x)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"probes": 0}, "probes"),
        ({"probes": 1.5}, "probes"),
        ({"seed": "1"}, "seed"),
        ({"atol": -1.0}, "atol"),
        ({"atol": float("nan")}, "atol"),
    ],
)
def test_bad_options_are_rejected(kwargs, fragment):
    with pytest.raises(SpecInputError, match=fragment):
        dependencies.cross_sample_dependencies(lambda x: x * 2, torch.randn(3, 2, dtype=F64), **kwargs)
