"""Float64 reference implementations of the SGD and Adam updates, written from the documented formulas.

They exist so that a test can compare ``torch.optim.SGD`` / ``torch.optim.Adam`` against an independent
implementation that does not call them. Each reference keeps its own state (momentum buffer; first and
second moments, step count) per parameter, takes the gradients explicitly and returns the new parameters
without touching its inputs. Everything is computed in float64 on the inputs' device.

SGD (PyTorch docs, torch.optim.SGD, "Implements stochastic gradient descent (optionally with momentum)"),
with lr gamma, weight decay lambda, momentum mu, dampening tau::

    g_t <- -grad f(theta_{t-1})  if maximize  else  grad f(theta_{t-1})
    if lambda != 0:  g_t <- g_t + lambda theta_{t-1}
    if mu != 0:
        b_t <- g_t                                  if t == 1
        b_t <- mu b_{t-1} + (1 - tau) g_t           if t > 1
        g_t <- g_t + mu b_t   if nesterov   else   b_t
    theta_t <- theta_{t-1} - gamma g_t

(The docs note this differs from Sutskever et al. 2013, who put the learning rate inside the velocity.)

Adam (PyTorch docs, torch.optim.Adam; Kingma & Ba 2015, Algorithm 1), with betas (beta1, beta2), eps::

    g_t <- -grad f(theta_{t-1})  if maximize  else  grad f(theta_{t-1})
    if lambda != 0:  g_t <- g_t + lambda theta_{t-1}        (L2 penalty, decoupled_weight_decay=False)
                     theta_{t-1} <- theta_{t-1} (1 - gamma lambda)  (decoupled_weight_decay=True: AdamW)
    m_t <- beta1 m_{t-1} + (1 - beta1) g_t
    v_t <- beta2 v_{t-1} + (1 - beta2) g_t^2
    m^_t <- m_t / (1 - beta1^t)
    v^_t <- max(v^max_{t-1}, v_t) / (1 - beta2^t)  if amsgrad  else  v_t / (1 - beta2^t)
    theta_t <- theta_{t-1} - gamma m^_t / (sqrt(v^_t) + eps)

The decoupled variant follows the PyTorch docs of torch.optim.AdamW (Loshchilov & Hutter 2019, Algorithm 2).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from support import _arguments
from support.errors import SpecInputError, SpecTypeError

F64 = torch.float64


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise SpecInputError(f"{name} must be a bool, got {value!r}")
    return value


Layout = list[tuple[torch.Size, torch.device]]


def _layout(pairs: list[tuple]) -> Layout:
    """Shape and device of every parameter, saved on the first step to check the later ones against."""
    return [(theta.shape, theta.device) for theta, _ in pairs]


def _pairs(params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor], layout: Layout | None) -> list[tuple]:
    # layout: the state's shapes and devices (None before the first step). The state is matched to the
    # parameters by position, so a reordered list must raise, not broadcast one state onto another
    # parameter. The dtype may change (the state is float64 whatever came in, and step returns float64).
    if isinstance(params, torch.Tensor) or isinstance(grads, torch.Tensor):
        raise SpecTypeError("params and grads must be sequences of tensors (wrap a single tensor in a list)")
    params, grads = list(params), list(grads)
    if not params:
        raise SpecInputError("params is empty")
    if len(params) != len(grads):
        raise SpecInputError(f"params and grads must have the same length, got {len(params)} and {len(grads)}")
    if layout is not None and len(layout) != len(params):
        raise SpecInputError(f"this optimizer holds state for {len(layout)} parameters, got {len(params)}")
    out = []
    for i, (p, g) in enumerate(zip(params, grads)):
        for name, t in ((f"params[{i}]", p), (f"grads[{i}]", g)):
            if not isinstance(t, torch.Tensor):
                raise SpecTypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
            if not t.is_floating_point():
                raise SpecTypeError(f"{name} must be a floating-point tensor, got dtype {t.dtype}")
        if p.shape != g.shape:
            raise SpecInputError(f"grads[{i}] has shape {tuple(g.shape)}, but params[{i}] has {tuple(p.shape)}")
        if layout is not None and (p.shape, p.device) != layout[i]:
            shape, device = layout[i]
            raise SpecInputError(
                f"params[{i}] has shape {tuple(p.shape)} on {p.device}, but this optimizer's state for parameter {i} "
                f"has shape {tuple(shape)} on {device}: pass the same parameters in the same order every step"
            )
        out.append((p.detach().to(F64), g.detach().to(F64)))
    return out


class ReferenceSGD:
    """SGD as documented (see the module docstring). ``step(params, grads)`` returns the new parameters (float64).

    The same argument checks as torch.optim.SGD: Nesterov needs momentum > 0 and dampening 0.
    """

    def __init__(
        self,
        *,
        lr: float,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        maximize: bool = False,
    ):
        self.lr = _arguments.number("lr", lr, at_least=0)
        self.momentum = _arguments.number("momentum", momentum, at_least=0)
        self.dampening = _arguments.number("dampening", dampening)
        self.weight_decay = _arguments.number("weight_decay", weight_decay, at_least=0)
        self.nesterov = _flag("nesterov", nesterov)
        self.maximize = _flag("maximize", maximize)
        if nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise SpecInputError("nesterov=True requires momentum > 0 and dampening = 0 (as torch.optim.SGD)")
        self.buffers: list[torch.Tensor | None] | None = None
        self.layout: Layout | None = None
        self.t = 0

    def step(self, params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        pairs = _pairs(params, grads, self.layout)
        if self.layout is None:
            self.layout = _layout(pairs)
            self.buffers = [None] * len(pairs)
        self.t += 1
        new = []
        for i, (theta, grad) in enumerate(pairs):
            g = -grad if self.maximize else grad
            if self.weight_decay != 0:
                g = g + self.weight_decay * theta
            if self.momentum != 0:
                prev = self.buffers[i]
                b = g.clone() if prev is None else self.momentum * prev + (1 - self.dampening) * g
                self.buffers[i] = b
                g = g + self.momentum * b if self.nesterov else b
            new.append(theta - self.lr * g)
        return new


class ReferenceAdam:
    """Adam as documented (see the module docstring). ``step(params, grads)`` returns the new parameters (float64).

    ``decoupled_weight_decay=True`` is AdamW. ``self.t`` is the step count t of the bias corrections.
    """

    def __init__(
        self,
        *,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ):
        self.lr = _arguments.number("lr", lr, at_least=0)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise SpecInputError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        self.beta1 = _arguments.number("betas[0]", betas[0], at_least=0, below=1)
        self.beta2 = _arguments.number("betas[1]", betas[1], at_least=0, below=1)
        self.eps = _arguments.number("eps", eps, at_least=0)
        self.weight_decay = _arguments.number("weight_decay", weight_decay, at_least=0)
        self.amsgrad = _flag("amsgrad", amsgrad)
        self.maximize = _flag("maximize", maximize)
        self.decoupled_weight_decay = _flag("decoupled_weight_decay", decoupled_weight_decay)
        self.m: list[torch.Tensor] | None = None
        self.v: list[torch.Tensor] | None = None
        self.v_max: list[torch.Tensor] | None = None
        self.layout: Layout | None = None
        self.t = 0

    def step(self, params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        pairs = _pairs(params, grads, self.layout)
        if self.layout is None:
            self.layout = _layout(pairs)
            self.m = [torch.zeros_like(p) for p, _ in pairs]
            self.v = [torch.zeros_like(p) for p, _ in pairs]
            self.v_max = [torch.zeros_like(p) for p, _ in pairs]
        self.t += 1
        t, b1, b2 = self.t, self.beta1, self.beta2
        new = []
        for i, (theta, grad) in enumerate(pairs):
            g = -grad if self.maximize else grad
            if self.weight_decay != 0:
                if self.decoupled_weight_decay:
                    theta = theta * (1 - self.lr * self.weight_decay)
                else:
                    g = g + self.weight_decay * theta
            self.m[i] = b1 * self.m[i] + (1 - b1) * g
            self.v[i] = b2 * self.v[i] + (1 - b2) * g * g
            m_hat = self.m[i] / (1 - b1**t)
            if self.amsgrad:
                self.v_max[i] = torch.maximum(self.v_max[i], self.v[i])
                v_hat = self.v_max[i] / (1 - b2**t)
            else:
                v_hat = self.v[i] / (1 - b2**t)
            new.append(theta - self.lr * m_hat / (v_hat.sqrt() + self.eps))
        return new
