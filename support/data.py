"""Seeded synthetic data. Every maker draws from its own CPU generator and then moves the result,
so a seed gives the same numbers on every device and in every process."""

from __future__ import annotations

import torch

from support import _arguments
from support.errors import SpecInputError
from support.tensors import generator


def regression(
    n: int,
    in_features: int,
    out_features: int = 1,
    *,
    noise: float = 0.1,
    seed: int = 0,
    dtype=torch.float64,
    device="cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """x ~ N(0, I); y = x W + noise with a fixed random W. Returns (x of (n, in), y of (n, out))."""
    _arguments.positive_int("n", n)
    _arguments.positive_int("in_features", in_features)
    _arguments.positive_int("out_features", out_features)
    _arguments.positive_float("noise", noise, allow_zero=True)
    _arguments.floating_dtype("dtype", dtype)
    g = generator(seed)
    x = torch.randn(n, in_features, generator=g, dtype=torch.float64)
    w = torch.randn(in_features, out_features, generator=g, dtype=torch.float64) / in_features**0.5
    y = x @ w + noise * torch.randn(n, out_features, generator=g, dtype=torch.float64)
    return x.to(device=device, dtype=dtype), y.to(device=device, dtype=dtype)


def classification(
    n: int,
    in_features: int,
    n_classes: int,
    *,
    separation: float = 2.0,
    seed: int = 0,
    dtype=torch.float64,
    device="cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian blobs: class k centred at ``separation`` * mu_k with mu_k ~ N(0, I), unit noise.

    Classes are balanced (equal shares). Returns (x of (n, in_features), y int64 of (n,)).
    """
    _arguments.integer("n_classes", n_classes, at_least=2)  # before 1 / n_classes: 0 must not divide
    return imbalanced_classification(
        n, in_features, [1.0 / n_classes] * n_classes, separation=separation, seed=seed, dtype=dtype, device=device
    )


def imbalanced_classification(
    n: int, in_features: int, shares, *, separation: float = 2.0, seed: int = 0, dtype=torch.float64, device="cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian blobs with class k taking ``shares[k]`` of the n samples (rounded; the remainder goes to class 0)."""
    _arguments.positive_int("n", n)
    _arguments.positive_int("in_features", in_features)
    _arguments.positive_float("separation", separation, allow_zero=True)
    _arguments.floating_dtype("dtype", dtype)
    shares = [float(s) for s in shares]
    if len(shares) < 2 or any(s < 0 for s in shares) or abs(sum(shares) - 1.0) > 1e-9:
        raise SpecInputError(f"shares must be >= 2 non-negative fractions summing to 1, got {shares}")
    counts = [int(round(s * n)) for s in shares]
    counts[0] += n - sum(counts)
    if counts[0] < 0:
        raise SpecInputError(f"shares {shares} do not fit n={n}")
    g = generator(seed)
    k = len(shares)
    centres = separation * torch.randn(k, in_features, generator=g, dtype=torch.float64)
    y = torch.cat([torch.full((c,), i, dtype=torch.int64) for i, c in enumerate(counts)])
    y = y[torch.randperm(n, generator=g)]
    x = centres[y] + torch.randn(n, in_features, generator=g, dtype=torch.float64)
    return x.to(device=device, dtype=dtype), y.to(device)


def sequences(
    n: int, length: int, input_size: int, *, seed: int = 0, dtype=torch.float64, device="cpu"
) -> torch.Tensor:
    """Standard normal sequences of shape (n, length, input_size), batch first."""
    _arguments.positive_int("n", n)
    _arguments.positive_int("length", length)
    _arguments.positive_int("input_size", input_size)
    _arguments.floating_dtype("dtype", dtype)
    g = generator(seed)
    return torch.randn(n, length, input_size, generator=g, dtype=torch.float64).to(device=device, dtype=dtype)
