"""Hypothesis strategies for the identities: batch sizes, feature shapes, reductions, dtypes, losses."""

from __future__ import annotations

import torch
from hypothesis import strategies as st

from support.losses import LOSS_CASES, REDUCTIONS, LossCase

EXACT_DTYPES = (torch.float64,)
FLOAT_DTYPES = (torch.float32, torch.float64)


def batch_sizes(min_size: int = 1, max_size: int = 16) -> st.SearchStrategy[int]:
    return st.integers(min_size, max_size)


def feature_shapes(case: LossCase, *, max_dims: int = 2, max_side: int = 5) -> st.SearchStrategy[tuple[int, ...]]:
    """Per-sample shapes a loss accepts: (C,) with C >= 2 classes, or 1..max_dims element dimensions."""
    if case.kind == "class":
        return st.tuples(st.integers(2, max_side + 1))
    return st.lists(st.integers(1, max_side), min_size=1, max_size=max_dims).map(tuple)


def reductions(include_none: bool = True) -> st.SearchStrategy[str]:
    return st.sampled_from(REDUCTIONS if include_none else tuple(r for r in REDUCTIONS if r != "none"))


def dtypes(exact_only: bool = False) -> st.SearchStrategy[torch.dtype]:
    return st.sampled_from(EXACT_DTYPES if exact_only else FLOAT_DTYPES)


def loss_cases() -> st.SearchStrategy[LossCase]:
    return st.sampled_from(LOSS_CASES)


def seeds() -> st.SearchStrategy[int]:
    return st.integers(0, 2**31 - 1)
