"""Tests of support.models: input checks, seeding (determinism, global RNG untouched), layer counts,
output shapes, dtype, the weight_std initialisation and the Glorot/He formulas."""

import math

import pytest
import torch
from torch import nn

from support import models
from support.errors import SpecInputError, SpecTypeError
from support.tolerances import assert_close


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: models.mlp(0, 4, 2), "in_features"),
        (lambda: models.mlp(3, -1, 2), "width"),
        (lambda: models.mlp(3, 4, 0), "out_features"),
        (lambda: models.mlp(3, 4, 2, depth=0), "depth"),
        (lambda: models.mlp(True, 4, 2), "in_features"),  # bool is not an int size
        (lambda: models.mlp(3, 4.0, 2), "width"),
        (lambda: models.mlp(3, 4, 2, activation="gelu"), "activation must be one of .*, got 'gelu'"),
        (lambda: models.mlp(3, 4, 2, weight_std=0.0), "weight_std"),
        (lambda: models.mlp(3, 4, 2, weight_std=float("nan")), "weight_std"),
        (lambda: models.mlp(3, 4, 2, seed=1.5), "seed"),
        (lambda: models.mlp(3, 4, 2, seed=True), "seed"),
        (lambda: models.linear_model(0, 1), "in_features"),
        (lambda: models.linear_model(2, False), "out_features"),
        (lambda: models.recurrent("transformer", 3, 4), "kind must be one of .*, got 'transformer'"),
        (lambda: models.recurrent("lstm", 0, 4), "input_size"),
        (lambda: models.recurrent("gru", 3, True), "hidden_size"),
        (lambda: models.recurrent("rnn", 3, 4, out_features=0), "out_features"),
        (lambda: models.batchnorm_net(3, 0, 2), "width"),
        (lambda: models.head_for(3, ()), "out_shape"),
        (lambda: models.head_for(3, [2, 2]), "out_shape"),
        (lambda: models.head_for(3, (2, 0)), "out_shape"),
        (lambda: models.glorot_std(0, 3), "fan_in"),
        (lambda: models.glorot_std(3, True), "fan_out"),
        (lambda: models.he_std(-2), "fan_in"),
        (lambda: models.token_model(0, 3, 2), "vocab_size"),
        (lambda: models.token_model(5, True, 2), "embedding_dim"),
        (lambda: models.token_model(5, 3, 1), "n_classes"),  # one class: cross-entropy is identically 0
    ],
)
def test_bad_arguments_raise_naming_the_argument(call, match):
    with pytest.raises(SpecInputError, match=match):
        call()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.int64])
@pytest.mark.parametrize(
    "build",
    [
        lambda dt: models.mlp(3, 4, 2, dtype=dt),
        lambda dt: models.linear_model(3, 2, dtype=dt),
        lambda dt: models.recurrent("gru", 3, 4, dtype=dt),
        lambda dt: models.batchnorm_net(3, 4, 2, dtype=dt),
        lambda dt: models.head_for(3, (2,), dtype=dt),
        lambda dt: models.token_model(5, 3, 2, dtype=dt),
    ],
)
def test_non_float32_64_dtype_is_a_type_error(build, dtype):
    with pytest.raises(SpecTypeError, match="dtype"):
        build(dtype)


@pytest.mark.parametrize("in_features", [0, -1, True])
def test_head_for_rejects_bad_in_features(in_features):
    # every other builder checks its sizes; head_for must too (0 would build an empty Linear silently)
    with pytest.raises(SpecInputError, match="in_features"):
        models.head_for(in_features, (2,))


def test_head_for_rejects_bool_in_out_shape():
    # the other size checks (_arguments.positive_int) reject bools; (2, True) is not a shape
    with pytest.raises(SpecInputError, match="out_shape"):
        models.head_for(3, (2, True))


def test_recurrent_forward_rejects_two_dimensional_input():
    net = models.recurrent("rnn", 3, 4)
    with pytest.raises(SpecInputError, match="x must have 3 dimension"):
        net(torch.zeros(5, 3, dtype=torch.float64))


# ---------------------------------------------------------------- formulas
@pytest.mark.parametrize("fan_in, fan_out, expected", [(3, 5, 0.5), (1, 1, 1.0), (50, 150, 0.1)])
def test_glorot_std_is_sqrt_two_over_fan_sum(fan_in, fan_out, expected):
    assert models.glorot_std(fan_in, fan_out) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("fan_in, expected", [(2, 1.0), (8, 0.5), (200, 0.1)])
def test_he_std_is_sqrt_two_over_fan_in(fan_in, expected):
    assert models.he_std(fan_in) == pytest.approx(expected, rel=1e-12)


# ---------------------------------------------------------------- seeding
def _weights(module):
    return [p.detach().clone() for p in module.parameters()]


BUILDERS = {
    "mlp": lambda seed: models.mlp(3, 5, 2, seed=seed),
    "linear": lambda seed: models.linear_model(3, 2, seed=seed),
    "rnn": lambda seed: models.recurrent("rnn", 3, 4, seed=seed),
    "lstm": lambda seed: models.recurrent("lstm", 3, 4, seed=seed),
    "gru": lambda seed: models.recurrent("gru", 3, 4, seed=seed),
    "batchnorm": lambda seed: models.batchnorm_net(3, 4, 2, seed=seed),
    "head": lambda seed: models.head_for(3, (2, 2), seed=seed),
    "token": lambda seed: models.token_model(5, 3, 2, seed=seed),
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_same_seed_gives_identical_weights_different_seed_differs(name):
    build = BUILDERS[name]
    a, b, c = _weights(build(7)), _weights(build(7)), _weights(build(8))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    # only the weight matrices are random for every builder (BatchNorm's affine params start at 1/0)
    assert any(not torch.equal(x, z) for x, z in zip(a, c) if x.dim() == 2)


def test_same_seed_is_independent_of_global_rng():
    torch.manual_seed(1)
    a = _weights(models.mlp(3, 5, 2, seed=3))
    torch.manual_seed(2)
    torch.rand(10)
    b = _weights(models.mlp(3, 5, 2, seed=3))
    assert all(torch.equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_building_a_model_leaves_global_rng_state_unchanged(name):
    before = torch.get_rng_state()
    BUILDERS[name](5)
    assert torch.equal(torch.get_rng_state(), before)


# ---------------------------------------------------------------- structure, shapes, dtype
@pytest.mark.parametrize("depth", [1, 2, 4])
def test_mlp_depth_counts_linear_layers(depth):
    net = models.mlp(3, 6, 2, depth=depth, activation="tanh")
    linears = [m for m in net if isinstance(m, nn.Linear)]
    assert len(linears) == depth
    assert sum(isinstance(m, nn.Tanh) for m in net) == depth - 1  # activations only between layers
    assert linears[0].in_features == 3 and linears[-1].out_features == 2
    assert all(lin.in_features == 6 for lin in linears[1:])


def test_mlp_without_bias_has_no_bias_parameters():
    net = models.mlp(3, 4, 2, depth=3, bias=False)
    assert all(m.bias is None for m in net if isinstance(m, nn.Linear))


@pytest.mark.parametrize("sigma", [0.05, 1.5])
def test_weight_std_sets_sample_std_and_zeroes_biases(sigma):
    net = models.mlp(300, 300, 1, depth=2, weight_std=sigma)
    w = net[0].weight.detach()
    n = w.numel()
    # the sample std of n normal draws has std about sigma / sqrt(2n); allow 5 of those
    assert abs(w.std().item() - sigma) < 5 * sigma / math.sqrt(2 * n)
    assert abs(w.mean().item()) < 5 * sigma / math.sqrt(n)
    for lin in (net[0], net[2]):
        assert torch.count_nonzero(lin.bias) == 0


def test_default_dtype_is_float64_and_float32_is_honoured():
    for build in BUILDERS.values():
        assert all(p.dtype == torch.float64 for p in build(0).parameters())
    assert all(p.dtype == torch.float32 for p in models.mlp(3, 4, 2, dtype=torch.float32).parameters())


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_recurrent_output_has_shape_batch_by_out(kind):
    net = models.recurrent(kind, 3, 4, out_features=2)
    x = torch.randn(5, 7, 3, dtype=torch.float64)
    assert net(x).shape == (5, 2)
    assert isinstance(net.rnn, models.RECURRENT[kind])


def test_recurrent_reads_out_the_last_step():
    net = models.recurrent("gru", 2, 3, seed=1)
    x = torch.randn(4, 6, 2, dtype=torch.float64)
    out, _ = net.rnn(x)
    assert_close(net(x), net.head(out[:, -1]))
    # changing only the first step must change the output (the last hidden state sees the whole sequence)
    y = x.clone()
    y[:, 0] += 1.0
    assert not torch.allclose(net(x), net(y))


@pytest.mark.parametrize("out_shape", [(3,), (2, 4), (2, 1, 3)])
def test_head_for_output_shape(out_shape):
    head = models.head_for(5, out_shape)
    assert head(torch.randn(6, 5, dtype=torch.float64)).shape == (6, *out_shape)


def test_batchnorm_net_couples_samples_in_train_mode():
    net = models.batchnorm_net(3, 4, 2)
    x = torch.randn(6, 3, dtype=torch.float64)
    alone = net(x[:3])
    together = net(x)[:3]
    assert not torch.allclose(alone, together)


def test_token_model_gives_per_position_logits_of_its_own_token():
    net = models.token_model(6, 3, 4, seed=2)
    tokens = torch.tensor([[0, 5, 2], [5, 1, 1]])
    out = net(tokens)
    assert out.shape == (2, 3, 4) and out.dtype == torch.float64
    # Embedding -> Linear: position (n, t) sees token tokens[n, t] only, so equal tokens give equal logits
    assert_close(out[0, 1], out[1, 0])
    assert_close(out[1, 1], out[1, 2])
    assert_close(out[0, 2], net.head(net.embedding.weight[2]))


@pytest.mark.parametrize(
    "tokens, error", [(torch.zeros(2, 3), SpecTypeError), (torch.zeros(6, dtype=torch.long), SpecInputError)]
)
def test_token_model_rejects_float_or_one_dimensional_tokens(tokens, error):
    with pytest.raises(error, match="tokens"):
        models.token_model(5, 3, 2)(tokens)


def test_simple_cnn_is_the_tutorial_model_and_seeded():
    a, b = models.simple_cnn(seed=4), models.simple_cnn(seed=4)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert a(torch.zeros(2, 1, 28, 28, dtype=torch.float64)).shape == (2, 10)
    assert sum(p.numel() for p in a.parameters()) == 1_199_882  # the tutorial's conv 1->32->64, fc 9216->128->10


def test_embedding_norm_net_classifies_token_sequences_and_checks_its_input():
    net = models.embedding_norm_net(vocab_size=10, embedding_dim=4, hidden=6, groups=2, n_classes=3, seed=1)
    assert net(torch.randint(0, 10, (5, 7))).shape == (5, 3)
    with pytest.raises(SpecInputError, match="multiple of groups"):
        models.embedding_norm_net(hidden=7, groups=2)
    with pytest.raises(SpecTypeError, match="integer tensor"):
        net(torch.zeros(5, 7))
