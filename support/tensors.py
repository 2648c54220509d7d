"""Tensor makers for the spec: one place for "float64 on this test's device" and for seeded generators.

After PyTorch's ``common_modules.py`` (``make_input = partial(make_tensor, device=device, dtype=dtype)``)::

    make = maker(device)                 # float64 on the test's device
    z = make.tensor([[0.0, 1.0]])        # torch.tensor(..., dtype=float64, device=device)
    x = make(4, 3, low=-1, high=1)       # torch.testing.make_tensor, from the global RNG the plugin seeds
    y = make.randn(4, 3, seed=7)         # drawn on the CPU from its own generator, then moved: same on every device

Sizes have names (``XS`` .. ``L``) so that "a small batch" means the same everywhere.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch

from support import _arguments
from support.errors import SpecInputError, SpecTypeError

XS, S, M, L = 3, 5, 10, 20  # the size vocabulary of PyTorch's OpInfo tests


def generator(seed: int) -> torch.Generator:
    """A CPU generator seeded with ``seed``: draw from it, then move the result, and every device sees the same
    numbers."""
    _arguments.seed(seed)
    return torch.Generator().manual_seed(seed)


def seed_global_rngs(seed: int) -> None:
    """Seed torch's global CPU generator and, where CUDA is available, every CUDA device's.

    What ``torch.manual_seed`` does for the devices the spec runs on, without its cost: for each device backend
    whose runtime is not initialised (CUDA, XPU, MTIA on a CPU-only machine) it queues a lazy seed together with
    ``traceback.format_stack()`` (torch/random.py ``_manual_seed_impl``, torch/cuda/__init__.py ``_lazy_call``),
    which reads the source line of every frame: ~3 ms a call under pytest's and Hypothesis' deep stacks, seconds
    over a run that seeds before every test and every model.
    """
    _arguments.seed(seed)
    torch.default_generator.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def seeded_init(seed: int):
    """``with seeded_init(seed):`` modules built in the block draw their initial weights from ``seed``; the
    caller's global CPU RNG is restored on exit. Modules are built on the CPU (and moved afterwards), so only the
    CPU generator matters."""
    _arguments.seed(seed)
    return _seeded_init(seed)


@contextmanager
def _seeded_init(seed: int):
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        yield


@dataclass(frozen=True)
class Maker:
    """Tensors of one dtype on one device."""

    device: torch.device
    dtype: torch.dtype

    @property
    def kwargs(self) -> dict:
        """``dtype=`` and ``device=`` for a torch factory not wrapped here."""
        return {"dtype": self.dtype, "device": self.device}

    def __call__(
        self, *shape: int, low: float | None = None, high: float | None = None, requires_grad: bool = False
    ) -> torch.Tensor:
        """``torch.testing.make_tensor`` of ``shape`` (uniform in [low, high), default [-9, 9))."""
        return torch.testing.make_tensor(
            shape, dtype=self.dtype, device=self.device, low=low, high=high, requires_grad=requires_grad
        )

    def tensor(self, data, *, requires_grad: bool = False) -> torch.Tensor:
        return torch.tensor(data, dtype=self.dtype, device=self.device, requires_grad=requires_grad)

    def zeros(self, *shape: int) -> torch.Tensor:
        return torch.zeros(*shape, **self.kwargs)

    def ones(self, *shape: int) -> torch.Tensor:
        return torch.ones(*shape, **self.kwargs)

    def full(self, *shape: int, value: float) -> torch.Tensor:
        """``torch.full`` of ``shape`` filled with ``value``: sizes as for ``zeros``/``ones`` (``full(2, 3,
        value=7.0)``, or one tuple ``full((2, 3), value=7.0)``); the value is keyword-only, so it cannot be
        mistaken for a size."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list, torch.Size)):
            shape = tuple(shape[0])
        if any(isinstance(n, bool) or not isinstance(n, int) for n in shape):
            raise SpecTypeError(f"full: sizes must be ints (give the fill value as value=...), got {shape!r}")
        _arguments.number("full: value", value, finite=False)
        return torch.full(shape, value, **self.kwargs)

    def randn(self, *shape: int, seed: int) -> torch.Tensor:
        """Standard normal entries from a generator seeded with ``seed`` (drawn in float64 on the CPU, then moved)."""
        return torch.randn(*shape, generator=generator(seed), dtype=torch.float64).to(**self.kwargs)


def maker(device: str | torch.device, dtype: torch.dtype = torch.float64) -> Maker:
    """Tensors of ``dtype`` (float64 by default: exact identities are checked in float64) on ``device``."""
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise SpecTypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise SpecInputError(f"device must name a torch device such as 'cpu' or 'cuda', got {device!r}") from None
    return Maker(device, dtype)


__all__ = ["L", "M", "Maker", "S", "XS", "generator", "maker"]
