"""Small seeded models. Each builder seeds its own generator, so the same arguments give the same
weights in any process, in any test order, on any device (weights are drawn on the CPU, then moved)."""

from __future__ import annotations

import math

import torch
from torch import nn

from support import _arguments
from support.errors import SpecInputError
from support.tensors import seeded_init

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "linear": nn.Identity}
RECURRENT = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def glorot_std(fan_in: int, fan_out: int) -> float:
    """Glorot & Bengio 2010, eq. 12: Var(W) = 2 / (fan_in + fan_out) keeps activation and gradient variance."""
    return math.sqrt(2.0 / (_arguments.positive_int("fan_in", fan_in) + _arguments.positive_int("fan_out", fan_out)))


def he_std(fan_in: int) -> float:
    """He et al. 2015, eq. 10: Var(W) = 2 / fan_in for ReLU layers."""
    return math.sqrt(2.0 / _arguments.positive_int("fan_in", fan_in))


def _build(seed: int, factory, *, dtype, device) -> nn.Module:
    _arguments.seed(seed)
    _arguments.floating_dtype("dtype", dtype)
    with seeded_init(seed):  # leave the global RNG as the caller had it
        module = factory()
    return module.to(device=device, dtype=dtype)


def mlp(
    in_features: int,
    width: int,
    out_features: int,
    *,
    depth: int = 2,
    activation: str = "relu",
    weight_std: float | None = None,
    bias: bool = True,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    device="cpu",
) -> nn.Sequential:
    """``depth`` Linear layers (depth - 1 hidden layers of ``width``) with ``activation`` between them.

    ``weight_std`` draws every weight from N(0, weight_std^2) and zeroes the biases (the setting of the
    Glorot/He analyses); None keeps PyTorch's default init.
    """
    for name, v in (("in_features", in_features), ("width", width), ("out_features", out_features), ("depth", depth)):
        _arguments.positive_int(name, v)
    _arguments.one_of("activation", activation, sorted(ACTIVATIONS))
    if weight_std is not None:
        _arguments.positive_float("weight_std", weight_std)

    def factory():
        sizes = [in_features] + [width] * (depth - 1) + [out_features]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            lin = nn.Linear(a, b, bias=bias)
            if weight_std is not None:
                nn.init.normal_(lin.weight, 0.0, weight_std)
                if bias:
                    nn.init.zeros_(lin.bias)
            layers.append(lin)
            if i < depth - 1:
                layers.append(ACTIVATIONS[activation]())
        return nn.Sequential(*layers)

    return _build(seed, factory, dtype=dtype, device=device)


def linear_model(in_features: int, out_features: int, *, seed: int = 0, dtype=torch.float64, device="cpu") -> nn.Linear:
    _arguments.positive_int("in_features", in_features)
    _arguments.positive_int("out_features", out_features)
    return _build(seed, lambda: nn.Linear(in_features, out_features), dtype=dtype, device=device)


class RecurrentRegressor(nn.Module):
    """A one-layer RNN/LSTM/GRU over (N, T, input_size) followed by a linear read-out of the last step."""

    def __init__(self, kind: str, input_size: int, hidden_size: int, out_features: int):
        super().__init__()
        self.kind = kind
        self.rnn = RECURRENT[kind](input_size, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _arguments.tensor("x", x, dim=3, floating=True)
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def recurrent(
    kind: str,
    input_size: int,
    hidden_size: int,
    out_features: int = 1,
    *,
    seed: int = 0,
    dtype=torch.float64,
    device="cpu",
) -> RecurrentRegressor:
    _arguments.one_of("kind", kind, sorted(RECURRENT))
    for name, v in (("input_size", input_size), ("hidden_size", hidden_size), ("out_features", out_features)):
        _arguments.positive_int(name, v)
    return _build(
        seed, lambda: RecurrentRegressor(kind, input_size, hidden_size, out_features), dtype=dtype, device=device
    )


def batchnorm_net(in_features: int, width: int, out_features: int, *, seed: int = 0, dtype=torch.float64, device="cpu"):
    """Linear -> BatchNorm1d -> ReLU -> Linear: in train mode its output for one sample depends on the others."""
    for name, v in (("in_features", in_features), ("width", width), ("out_features", out_features)):
        _arguments.positive_int(name, v)
    return _build(
        seed,
        lambda: nn.Sequential(
            nn.Linear(in_features, width), nn.BatchNorm1d(width), nn.ReLU(), nn.Linear(width, out_features)
        ),
        dtype=dtype,
        device=device,
    )


def head_for(
    in_features: int, out_shape: tuple[int, ...], *, seed: int = 0, dtype=torch.float64, device="cpu"
) -> nn.Module:
    """A linear layer whose output is reshaped to (N, *out_shape): a trainable producer of any loss input."""
    _arguments.positive_int("in_features", in_features)
    _arguments.shape("out_shape", out_shape)
    return _build(
        seed,
        lambda: nn.Sequential(nn.Linear(in_features, math.prod(out_shape)), nn.Unflatten(1, out_shape)),
        dtype=dtype,
        device=device,
    )


class TokenClassifier(nn.Module):
    """Embedding -> Linear over (N, T) token ids: per-position logits of shape (N, T, n_classes).

    The smallest token-level model: each position's logits depend on its own token only, so a per-token loss
    (cross-entropy with ignore_index padding) has one term per valid position and no coupling between them.
    """

    def __init__(self, vocab_size: int, embedding_dim: int, n_classes: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.head = nn.Linear(embedding_dim, n_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        _arguments.tensor("tokens", tokens, dim=2, floating=False)
        return self.head(self.embedding(tokens))


def token_model(
    vocab_size: int, embedding_dim: int, n_classes: int, *, seed: int = 0, dtype=torch.float64, device="cpu"
) -> TokenClassifier:
    """A seeded ``TokenClassifier`` (PyTorch's default init: embedding N(0, 1), Linear uniform)."""
    for name, v in (("vocab_size", vocab_size), ("embedding_dim", embedding_dim)):
        _arguments.positive_int(name, v)
    _arguments.integer("n_classes", n_classes, at_least=2)
    return _build(seed, lambda: TokenClassifier(vocab_size, embedding_dim, n_classes), dtype=dtype, device=device)


class SimpleCNN(nn.Module):
    """The model of PyTorch's per-sample-gradients tutorial (torch.func docs): two 3x3 convolutions, max-pool, two
    linear layers, for (N, 1, 28, 28) inputs and 10 classes."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        x = torch.nn.functional.max_pool2d(x, 2)
        x = torch.flatten(x, 1)
        return self.fc2(torch.relu(self.fc1(x)))


def simple_cnn(*, seed: int = 0, dtype=torch.float64, device="cpu") -> SimpleCNN:
    return _build(seed, SimpleCNN, dtype=dtype, device=device)


class EmbeddingNormNet(nn.Module):
    """Token ids (N, T) -> Embedding -> LayerNorm -> mean over T -> Linear -> GroupNorm -> ReLU -> Linear: the
    per-sample layers (Embedding, LayerNorm, GroupNorm) that per-sample gradient libraries special-case. Every
    sample is normalised on its own, so samples stay independent in train mode (unlike BatchNorm)."""

    def __init__(self, vocab_size: int, embedding_dim: int, hidden: int, groups: int, n_classes: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.layer_norm = nn.LayerNorm(embedding_dim)
        self.hidden = nn.Linear(embedding_dim, hidden)
        self.group_norm = nn.GroupNorm(groups, hidden)
        self.head = nn.Linear(hidden, n_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        _arguments.tensor("tokens", tokens, dim=2, floating=False)
        h = self.layer_norm(self.embedding(tokens)).mean(dim=1)
        return self.head(torch.relu(self.group_norm(self.hidden(h))))


def embedding_norm_net(
    vocab_size: int = 20,
    embedding_dim: int = 8,
    hidden: int = 12,
    groups: int = 3,
    n_classes: int = 4,
    *,
    seed: int = 0,
    dtype=torch.float64,
    device="cpu",
) -> EmbeddingNormNet:
    for name, v in (
        ("vocab_size", vocab_size),
        ("embedding_dim", embedding_dim),
        ("hidden", hidden),
        ("groups", groups),
        ("n_classes", n_classes),
    ):
        _arguments.positive_int(name, v)
    if hidden % groups:
        raise SpecInputError(f"hidden ({hidden}) must be a multiple of groups ({groups}) for GroupNorm")
    return _build(
        seed, lambda: EmbeddingNormNet(vocab_size, embedding_dim, hidden, groups, n_classes), dtype=dtype, device=device
    )
