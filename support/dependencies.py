""" "Backprop to chart dependencies": does output i of a batched model depend on input j for i != j?

A. Karpathy, "A Recipe for Training Neural Networks" (2019), section "2. Set up the end-to-end
training/evaluation skeleton + get dumb baselines", tip "use backprop to chart dependencies": make the
loss depend on the outputs of sample i only, run backward to the input, and check that only sample i's
input receives a non-zero gradient. A model that mixes the batch (a wrong ``view``/``transpose``, a layer
that normalises over the batch) gives non-zero gradients on other samples' inputs.

The check here does this for every sample i: it backpropagates ``<v, output_i>`` for ``probes`` random
probe vectors v (seeded, Gaussian) to the input and records, for every input sample j, the largest
absolute gradient entry. Block (i, j) of the Jacobian is J_ij = d output_i / d input_j and the gradient
on input j is v^T J_ij, which is zero for every v when J_ij = 0 and zero with probability 0 when
J_ij != 0 (the v with v^T J_ij = 0 form a proper subspace). A plain sum of the outputs (v = 1) could
cancel, e.g. after a softmax, whose outputs always sum to 1; a random v does not.

Use :func:`cross_sample_dependencies` for the offending pairs and :func:`dependency_matrix` for the
strengths. The model runs once, as it is (train or eval mode); the caller's RNG state is left untouched.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from support import _arguments
from support.errors import SpecInputError, SpecTypeError
from support.tensors import generator

Model = Callable[[torch.Tensor], torch.Tensor]


def _check_probes_seed(probes: object, seed: object) -> None:
    _arguments.positive_int("probes", probes)
    _arguments.seed(seed)


def dependency_matrix(model: Model, x: torch.Tensor, *, probes: int = 2, seed: int = 0) -> torch.Tensor:
    """The (N, N) matrix D with D[i, j] = max over probes of max |d <v, output_i> / d input_j|.

    ``model`` maps a batch ``x`` of shape (N, ...) to an output of shape (N, ...) (same N). D[i, j] is
    zero when output i does not depend on input j (up to the probability-0 event explained in the
    module docstring). The diagonal tells whether a sample's output depends on its own input at all.
    Returns a float64 tensor on the CPU.
    """
    if not callable(model):
        raise SpecTypeError(
            f"model must be callable (an nn.Module or a function of the batch), got {type(model).__name__}"
        )
    _arguments.tensor("x", x, floating=True)
    if x.dim() < 1 or x.shape[0] < 2:
        raise SpecInputError(
            f"x must be a batch of at least 2 samples along dim 0 (else there is no pair to chart), "
            f"got shape {tuple(x.shape)}"
        )
    _check_probes_seed(probes, seed)
    n = x.shape[0]
    inp = x.detach().clone().requires_grad_(True)
    # a model with dropout draws from the global RNG: fork it so the caller's state is left as it was
    with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else [], device_type="cuda"):
        out = model(inp)
    if not isinstance(out, torch.Tensor):
        raise SpecTypeError(f"model must return a tensor, got {type(out).__name__}")
    if out.dim() < 1 or out.shape[0] != n:
        raise SpecInputError(
            f"model output must have the batch size {n} along dim 0, got shape {tuple(out.shape)}; "
            "the check compares output sample i with input sample j"
        )
    if not out.is_floating_point() or out.grad_fn is None:
        raise SpecInputError(
            "model output does not depend differentiably on x (no grad_fn): it cannot be charted by backprop"
        )
    g = generator(seed)
    strength = torch.zeros(n, n, dtype=torch.float64)
    for i in range(n):
        for p in range(probes):
            v = torch.randn(out[i].shape, generator=g, dtype=torch.float64).to(device=out.device, dtype=out.dtype)
            last = i == n - 1 and p == probes - 1
            (grad_x,) = torch.autograd.grad((out[i] * v).sum(), inp, retain_graph=not last, allow_unused=True)
            if grad_x is None:  # output i does not depend on the input at all
                continue
            per_input = grad_x.detach().abs().reshape(n, -1).amax(dim=1).to(device="cpu", dtype=torch.float64)
            strength[i] = torch.maximum(strength[i], per_input)
    return strength


def cross_sample_dependencies(
    model: Model, x: torch.Tensor, *, atol: float = 0.0, probes: int = 2, seed: int = 0
) -> list[tuple[int, int]]:
    """The pairs (i, j), i != j, for which output i depends on input j: ``dependency_matrix > atol``.

    An empty list means the model treats the samples of ``x`` independently (as a per-sample model must).
    ``atol`` = 0 flags any non-zero gradient: exact zeros are what a per-sample model produces, since no
    arithmetic connects sample j's input to sample i's output.
    """
    _arguments.positive_float("atol", atol, allow_zero=True)
    strength = dependency_matrix(model, x, probes=probes, seed=seed)
    n = strength.shape[0]
    return [(i, j) for i in range(n) for j in range(n) if i != j and strength[i, j] > atol]
