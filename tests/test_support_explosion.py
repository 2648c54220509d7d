"""Tests of support.explosion: the one-unit recurrent model of Pascanu et al., the depth sweep and the sweep over
weight stds."""

import math

import pytest
import torch

from support import explosion
from support.errors import SpecInputError, SpecTypeError
from support.models import mlp
from support.tensors import generator
from support.tolerances import assert_close, override

F64 = torch.float64


# ---------------------------------------------------------------- the one-unit recurrent model
def test_one_unit_model_one_step_is_w_sigmoid_x0_plus_b():
    x1 = explosion.one_unit_rnn_final_state(5.0, -1.0, 1, x0=0.3)
    assert_close(x1, torch.tensor(5.0 / (1 + math.exp(-0.3)) - 1.0, dtype=F64))


def test_one_unit_model_vectorised_bias_equals_scalar_runs():
    bs = torch.tensor([-3.0, -2.6, 0.5], dtype=F64)
    vec = explosion.one_unit_rnn_bias_grad(5.0, bs, 12)
    for i, b in enumerate(bs.tolist()):
        assert_close(vec[i], explosion.one_unit_rnn_bias_grad(5.0, b, 12))
    assert_close(explosion.one_unit_rnn_error(5.0, bs, 12)[1], explosion.one_unit_rnn_error(5.0, -2.6, 12))


def test_one_unit_model_bias_grad_matches_finite_differences():
    b = torch.tensor([-2.0, 0.3], dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: explosion.one_unit_rnn_error(3.0, v, 15), (b,))
    h = 1e-6
    fd = (explosion.one_unit_rnn_error(3.0, -2.0 + h, 15) - explosion.one_unit_rnn_error(3.0, -2.0 - h, 15)) / (2 * h)
    assert math.isclose(explosion.one_unit_rnn_bias_grad(3.0, -2.0, 15).item(), fd.item(), rel_tol=1e-6)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: explosion.one_unit_rnn_final_state(math.nan, 0.0, 3), SpecInputError, "w must be"),
        (lambda: explosion.one_unit_rnn_final_state(3.0, 0.0, 0), SpecInputError, "steps"),
        (lambda: explosion.one_unit_rnn_final_state(3.0, "b", 3), SpecInputError, "b must be"),
        (lambda: explosion.one_unit_rnn_final_state(3.0, torch.zeros(2), 3), SpecTypeError, "float64"),
        (lambda: explosion.one_unit_rnn_error(3.0, 0.0, 3, target=math.inf), SpecInputError, "target"),
    ],
)
def test_one_unit_model_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ---------------------------------------------------------------- depth sweep and predictions
def test_depth_sweep_one_linear_layer_is_the_norm_of_w_transpose_u():
    sweep = explosion.depth_sweep("linear", 0.3, width=4, depths=[1], seeds=2, seed=5)
    for k in range(2):
        s = explosion.sweep_seed(1, k, 5)
        net = mlp(4, 4, 4, depth=1, activation="linear", weight_std=0.3, bias=False, seed=s)
        g = generator(s)
        x = torch.randn(1, 4, generator=g, dtype=F64)
        u = torch.randn(1, 4, generator=g, dtype=F64)
        u = u / u.norm()
        w = net[0].weight.detach()
        assert math.isclose(sweep.log_norms[0][k], math.log((u @ w).norm().item()), rel_tol=1e-12)
        assert math.isclose(
            sweep.forward_log_gains[0][k],
            math.log((x @ w.T).norm().item() / x.norm().item()),
            rel_tol=1e-12,
            abs_tol=1e-12,
        )


def test_depth_sweep_is_cached_and_its_fit_uses_the_seed_means():
    a = explosion.depth_sweep("relu", 0.25, width=8, depths=[2, 3], seeds=2)
    assert explosion.depth_sweep("relu", 0.25, width=8, depths=(2, 3), seeds=2) is a
    assert a.mean_log_norms == tuple(sum(r) / 2 for r in a.log_norms)
    assert math.isclose(a.fit().slope, a.mean_log_norms[1] - a.mean_log_norms[0])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(activation="gelu"), "activation must be one of"),
        (dict(weight_std=0.0), "weight_std"),
        (dict(width=0), "width"),
        (dict(seeds=0), "seeds"),
        (dict(depths=[]), "depths is empty"),
        (dict(depths=[2, 0]), "depths"),
        (dict(depths=4), "depths must be a sequence"),
        (dict(seed=1.5), "seed"),
    ],
)
def test_depth_sweep_bad_arguments(kwargs, match):
    args = {"activation": "linear", "weight_std": 0.1, "width": 4, "depths": [1], "seeds": 1, **kwargs}
    with pytest.raises(SpecInputError, match=match):
        explosion.depth_sweep(args.pop("activation"), args.pop("weight_std"), **args)


# ---------------------------------------------------------------- sweeps over the weight scale (remedy.relu)
@pytest.mark.parametrize("activation", ["linear", "relu", "tanh", "sigmoid"])
def test_depth_sweeps_over_stds_match_depth_sweep(activation):
    stds = (0.2, 0.45)
    batched = explosion.depth_sweeps_over_stds(
        activation, stds, width=8, depths=(1, 3), seeds=2, seed=3, input_scale=0.7
    )
    assert len(batched) == 2
    for std, b in zip(stds, batched):
        ref = explosion.depth_sweep(activation, std, width=8, depths=(1, 3), seeds=2, seed=3, input_scale=0.7)
        assert (b.activation, b.weight_std, b.width, b.depths) == (activation, std, 8, (1, 3))
        # the same networks: mlp draws std * z in float32, the batch scales float64 copies of the std-1 draws,
        # so the weights differ by float32 rounding (2^-24 = 6e-8 relative); over <= 3 layers the log-norms move
        # by a few times that, far below the 1e-3 that a different network gives (next test)
        tol = override(rtol=0, atol=1e-6, reason="weights equal up to float32 rounding of std * z")
        assert_close(torch.tensor(b.log_norms, dtype=F64), torch.tensor(ref.log_norms, dtype=F64), tol=tol)
        assert_close(
            torch.tensor(b.forward_log_gains, dtype=F64), torch.tensor(ref.forward_log_gains, dtype=F64), tol=tol
        )


def test_depth_sweeps_over_stds_are_cached_and_a_wrong_std_is_detected():
    a = explosion.depth_sweeps_over_stds("tanh", [0.3, 0.6], width=5, depths=[2], seeds=1)
    assert explosion.depth_sweeps_over_stds("tanh", (0.3, 0.6), width=5, depths=(2,), seeds=1) is a
    # a different std gives a different network: the comparison above can fail
    other = explosion.depth_sweep("tanh", 0.31, width=5, depths=[2], seeds=1)
    assert abs(other.log_norms[0][0] - a[0].log_norms[0][0]) > 1e-3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(activation="gelu"), "activation must be one of"),
        (dict(weight_stds=[]), "weight_stds is empty"),
        (dict(weight_stds=[0.1, -1.0]), "weight_stds"),
        (dict(weight_stds=0.1), "weight_stds must be a sequence"),
        (dict(width=0), "width"),
        (dict(seeds=0), "seeds"),
        (dict(depths=[]), "depths is empty"),
        (dict(depths=[2, 0]), "depths"),
        (dict(seed=1.5), "seed"),
        (dict(input_scale=0.0), "input_scale"),
    ],
)
def test_depth_sweeps_over_stds_bad_arguments(kwargs, match):
    args = {"activation": "linear", "weight_stds": [0.1], "width": 4, "depths": [1], "seeds": 1, **kwargs}
    with pytest.raises(SpecInputError, match=match):
        explosion.depth_sweeps_over_stds(args.pop("activation"), args.pop("weight_stds"), **args)


def test_the_sweep_description_follows_the_sweep_settings_in_both_languages(monkeypatch):
    en, zh = explosion.sweep_measured_on(12)
    assert en.startswith("12 bias-free MLPs of width 32 per depth, depths (2, 4, 8, 16, 32)")
    assert zh.startswith("每个深度 12 个宽度 32")
    assert explosion.sweep_measured_on()[0].startswith(f"{explosion.SWEEP_SEEDS} bias-free")
    monkeypatch.setattr(explosion, "SWEEP_WIDTH", 16)  # read when called, so a changed sweep changes the text
    assert "width 16" in explosion.sweep_measured_on()[0] and "宽度 16" in explosion.sweep_measured_on()[1]


@pytest.mark.parametrize("seeds", [0, -3, 2.5, "3"])
def test_the_sweep_description_refuses_a_bad_seed_count(seeds):
    with pytest.raises((SpecInputError, SpecTypeError), match="seeds"):
        explosion.sweep_measured_on(seeds)
