"""The derivatives of the activations of ``support.models.ACTIVATIONS``, written from their definitions: the oracle
that tests hold autograd's backward through a network against (its self-test checks it against autograd itself).

    tanh'(a) = 1 - tanh(a)^2,   sigmoid'(a) = sigmoid(a) (1 - sigmoid(a)),   relu'(a) = 1 if a > 0 else 0,
    linear'(a) = 1

(Goodfellow et al., Deep Learning, sec. 6.3). ReLU's derivative at 0 is taken as 0, as torch.nn.ReLU's backward
does (threshold_backward in aten/src/ATen/native/Activation.cpp passes the gradient only where the input is > 0).
``sigmoid`` is the scalar function 1 / (1 + exp(-v)) in Python floats, for closed forms and bisections.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from support import _arguments

DERIVATIVES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": lambda a: (a > 0).to(a.dtype),
    "tanh": lambda a: 1 - torch.tanh(a) ** 2,
    "sigmoid": lambda a: torch.sigmoid(a) * (1 - torch.sigmoid(a)),
    "linear": torch.ones_like,
}


def derivative(activation: str, a: torch.Tensor) -> torch.Tensor:
    """phi'(a) elementwise for ``activation`` (a key of ``support.models.ACTIVATIONS``)."""
    _arguments.one_of("activation", activation, DERIVATIVES)
    _arguments.tensor("a", a, floating=True)
    return DERIVATIVES[activation](a)


def sigmoid(v: float) -> float:
    """1 / (1 + exp(-v)) for a Python number, written with exp(-|v|) so that no v overflows."""
    v = _arguments.number("v", v)
    e = math.exp(-abs(v))
    return 1 / (1 + e) if v >= 0 else e / (1 + e)
