"""Argument checks shared by the support helpers; each raises SpecInputError naming the argument."""

from __future__ import annotations

import torch

from support.errors import SpecInputError, SpecTypeError


def positive_int(name: str, value: object, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SpecInputError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def positive_ints(name: str, values: object) -> list[int]:
    """A non-empty sequence of ints >= 1 (e.g. depths), as a list."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise SpecInputError(f"{name} must be a sequence of positive ints, got {values!r}")
    out = [positive_int(f"{name}[i]", v) for v in values]
    if not out:
        raise SpecInputError(f"{name} is empty")
    return out


def positive_float(name: str, value: object, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecInputError(f"{name} must be a number, got {value!r}")
    if not (value > 0 or (allow_zero and value == 0)) or value != value or value == float("inf"):
        raise SpecInputError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0, got {value!r}")
    return float(value)


def floating_dtype(name: str, dtype: object) -> torch.dtype:
    if dtype not in (torch.float32, torch.float64):
        raise SpecTypeError(f"{name} must be torch.float32 or torch.float64, got {dtype!r}")
    return dtype  # type: ignore[return-value]


def tensor(name: str, value: object, *, dim: int | None = None, floating: bool | None = None) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise SpecTypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if dim is not None and value.dim() != dim:
        raise SpecInputError(f"{name} must have {dim} dimension(s), got shape {tuple(value.shape)}")
    if floating is True and not value.is_floating_point():
        raise SpecTypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    if floating is False and (value.is_floating_point() or value.is_complex() or value.dtype == torch.bool):
        raise SpecTypeError(f"{name} must be an integer tensor, got dtype {value.dtype}")
    return value


def same_batch(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> int:
    tensor(name_a, a)
    tensor(name_b, b)
    if a.dim() < 1 or b.dim() < 1 or a.shape[0] != b.shape[0]:
        raise SpecInputError(
            f"{name_a} and {name_b} must have the same batch size (dim 0), "
            f"got shapes {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if a.shape[0] == 0:
        raise SpecInputError(f"{name_a} and {name_b} are empty batches")
    return a.shape[0]
