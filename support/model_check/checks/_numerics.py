"""Helpers two or more checks share: same-randomness forwards, copies in another dtype, tolerances of a comparison
computed two ways, and the formatting of names and numbers in messages."""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Callable

import torch

from support.model_check.subject import ModelUnderTest
from support.tensors import seed_global_rngs
from support.tolerances import EXACT_DTYPE, Tolerance, accumulation, override

LIST_AT_MOST = 8  # names or pairs listed in a message before "and k more"


def listing(items: list, describe: Callable = str) -> str:
    shown = ", ".join(describe(i) for i in items[:LIST_AT_MOST])
    return shown + (f" and {len(items) - LIST_AT_MOST} more" if len(items) > LIST_AT_MOST else "")


def listing_zh(items: list, describe: Callable = str) -> str:
    shown = "、".join(describe(i) for i in items[:LIST_AT_MOST])
    return shown + (f" 等(另有 {len(items) - LIST_AT_MOST} 个)" if len(items) > LIST_AT_MOST else "")


def num(x: float) -> str:
    """A measured number in a message: three significant digits."""
    return f"{x:.3g}"


def check_seed(check_id: str) -> int:
    """The seed of a check's random draws (dropout masks, probes): from the check's id alone, so that a verdict
    never depends on the model's name, the test id or the order of the run."""
    return zlib.crc32(check_id.encode())


@contextlib.contextmanager
def same_randomness(seed: int):
    """Every forward run inside draws the same random numbers (dropout masks): the global RNGs are forked and
    seeded with ``seed``, and put back on exit."""
    with torch.random.fork_rng(devices=list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []):
        seed_global_rngs(seed)
        yield


@contextlib.contextmanager
def eval_backward():
    """cuDNN's RNN backward runs in train mode only; the checks backpropagate through eval-mode models too."""
    with torch.backends.cudnn.flags(enabled=False):
        yield


def exact_copy(subject: ModelUnderTest) -> tuple[ModelUnderTest, str]:
    """A float64 copy for exact identities; else a float32 one (half-precision models); else a copy in the
    subject's own dtype. Returns it and the precision in words. Tensor hooks of the model do not travel with a
    copy (PyTorch's deepcopy of a parameter copies its data, not its hooks)."""
    failed = []
    for dtype in (torch.float64, torch.float32):
        try:
            s = subject.to_dtype(dtype)
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                s.forward()
            return s, str(dtype).removeprefix("torch.") + (f" ({failed[0]})" if failed else "")
        except Exception as exc:  # a model with float32-only parts: the next dtype, with room for it
            failed.append(f"{str(dtype).removeprefix('torch.')} failed: {type(exc).__name__}")
    return subject.copy(), f"its own dtype ({'; '.join(failed)})"


def floating_tol(dtype: torch.dtype, n_terms: int) -> Tolerance:
    """The tolerance of gradients computed two ways (a batch and its samples) in ``dtype``."""
    if dtype == EXACT_DTYPE:
        return accumulation(dtype, n_terms)
    if dtype == torch.float32:
        # the two sides computed by different kernels (batch of one vs batch) through a deep network: rounding grows
        # with depth; 1e-4 relative is ~1000 eps (float32 eps 1.2e-7) and far below any real mismatch; 1e-6 absolute
        # (~8 eps) is the floor for gradients that vanish on one side and round to a residue on the other
        return override(rtol=1e-4, atol=1e-6, reason="float32 gradients of a deep network computed two ways")
    # a model that runs in neither float64 nor float32: 10x the sum-of-terms tolerance of its dtype
    base = accumulation(dtype, n_terms)
    return override(
        rtol=10 * base.rtol,
        atol=10 * base.atol,
        reason=f"{dtype} gradients of a network computed two ways: 10x the sum-of-terms tolerance",
    )


def relative_difference(x: torch.Tensor, y: torch.Tensor, tol: Tolerance) -> float:
    """max |x - y| / max |y| (the denominator at least tol.atol, so that a zero y does not divide by 0)."""
    if x.numel() == 0:
        return 0.0
    return (x - y).abs().max().item() / y.abs().max().clamp_min(tol.atol).item()


def named_grads_differ(a: dict, b: dict, tol: Tolerance) -> list[tuple[str, float]]:
    """(name, max relative difference) of the entries of a and b that differ beyond tol."""
    return [
        (name, relative_difference(a[name], b[name], tol))
        for name in a
        if not torch.allclose(a[name], b[name], rtol=tol.rtol, atol=tol.atol)
    ]


__all__ = [
    "check_seed",
    "eval_backward",
    "exact_copy",
    "floating_tol",
    "listing",
    "listing_zh",
    "named_grads_differ",
    "num",
    "relative_difference",
    "same_randomness",
]
