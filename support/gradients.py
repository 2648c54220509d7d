"""Gradient helpers: flat gradients, total norms, per-sample gradients (a loop and torch.func), and
a count of the autograd nodes a backward pass executes."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from support import _arguments
from support.errors import SpecInputError, SpecTypeError

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _params(params: Iterable[torch.Tensor] | nn.Module) -> list[torch.Tensor]:
    if isinstance(params, nn.Module):
        params = params.parameters()
    if isinstance(params, torch.Tensor):
        params = [params]
    out = list(params)
    if not out:
        raise SpecInputError("no parameters given")
    for p in out:
        if not isinstance(p, torch.Tensor):
            raise SpecTypeError(f"parameters must be tensors, got {type(p).__name__}")
    return out


def flat_grad(params: Iterable[torch.Tensor] | nn.Module, *, none_as_zero: bool = False) -> torch.Tensor:
    """All gradients concatenated into one vector, in parameter order.

    A parameter whose .grad is None is an error unless ``none_as_zero`` (then it contributes zeros). A sparse
    gradient (``nn.Embedding(sparse=True)``) contributes its dense values.
    """
    pieces = []
    for i, p in enumerate(_params(params)):
        if p.grad is None:
            if not none_as_zero:
                raise SpecInputError(f"parameter {i} (shape {tuple(p.shape)}) has no .grad; run backward first")
            pieces.append(torch.zeros(p.numel(), dtype=p.dtype, device=p.device))
        else:
            pieces.append(dense(p.grad).reshape(-1))
    return torch.cat(pieces)


def dense(g: torch.Tensor) -> torch.Tensor:
    """A gradient as a strided tensor: a sparse one (``nn.Embedding(sparse=True)``) made dense, any other as it is."""
    return g.to_dense() if g.layout != torch.strided else g


def flat_params(params: Iterable[torch.Tensor] | nn.Module) -> torch.Tensor:
    """All parameter values concatenated into one new vector (detached), in parameter order."""
    return torch.cat([p.detach().reshape(-1) for p in _params(params)])


def total_grad_norm(params: Iterable[torch.Tensor] | nn.Module, norm_type: float = 2.0) -> torch.Tensor:
    """The norm of all gradients concatenated (what clip_grad_norm_ calls the total norm); None grads are skipped."""
    _arguments.number("norm_type", norm_type, above=0, finite=False)
    grads = [p.grad.reshape(-1) for p in _params(params) if p.grad is not None]
    if not grads:
        raise SpecInputError("no parameter has a .grad; run backward first")
    return torch.linalg.vector_norm(torch.cat(grads), ord=norm_type)


def grads_by_name(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of every parameter's .grad by name (None grads as zeros)."""
    return {
        n: (p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)) for n, p in model.named_parameters()
    }


def batch_grads(
    model: nn.Module, loss_fn: LossFn, x: torch.Tensor, y: torch.Tensor, *, allow_unused: bool = False
) -> dict[str, torch.Tensor]:
    """Gradient of loss_fn(model(x), y) for every parameter: one forward, one backward (.grad is not touched).

    A parameter the loss does not depend on is an error (autograd's), unless ``allow_unused``: then its gradient
    is zeros (torch.autograd.grad's materialize_grads).
    """
    _arguments.same_batch("x", x, "y", y)
    params = dict(model.named_parameters())
    loss = loss_fn(model(x), y)
    if loss.dim() != 0:
        raise SpecInputError(f"loss_fn must return a scalar (reduction 'mean' or 'sum'), got shape {tuple(loss.shape)}")
    grads = torch.autograd.grad(
        loss, list(params.values()), allow_unused=bool(allow_unused), materialize_grads=bool(allow_unused)
    )
    return {n: dense(g) for n, g in zip(params, grads)}


def per_sample_grads_loop(
    model: nn.Module, loss_fn: LossFn, x: torch.Tensor, y: torch.Tensor, *, allow_unused: bool = False
) -> dict[str, torch.Tensor]:
    """Gradient of each sample's loss alone: N forwards and N backwards on batches of one.

    Returns {name: tensor of shape (N, *param.shape)}. loss_fn is called on a batch of one and must return a scalar.
    ``allow_unused`` as in ``batch_grads``.
    """
    n = _arguments.same_batch("x", x, "y", y)
    per_sample = [batch_grads(model, loss_fn, x[i : i + 1], y[i : i + 1], allow_unused=allow_unused) for i in range(n)]
    return {name: torch.stack([g[name] for g in per_sample]) for name in per_sample[0]}


VMAP_RANDOMNESS = ("error", "different", "same")


def per_sample_grads_vmap(
    model: nn.Module, loss_fn: LossFn, x: torch.Tensor, y: torch.Tensor, *, randomness: str = "error"
) -> dict[str, torch.Tensor]:
    """The same as per_sample_grads_loop with torch.func.vmap(grad(...)) (PyTorch tutorial "Per-sample-gradients").

    The model must not couple samples (no BatchNorm in train mode): vmap runs it on batches of one.
    ``randomness`` is passed to torch.func.vmap and says what random operations (e.g. dropout) do there
    (PyTorch docs, torch.func.vmap): "error" (the default) raises on any call to a random function,
    "different" draws independently for each sample, "same" draws once and uses it for every sample.
    """
    from torch.func import functional_call, grad, vmap

    _arguments.same_batch("x", x, "y", y)
    _arguments.one_of("randomness", randomness, VMAP_RANDOMNESS)
    params = {n: p.detach() for n, p in model.named_parameters()}
    buffers = {n: b.detach() for n, b in model.named_buffers()}

    def sample_loss(p, xi, yi):
        out = functional_call(model, (p, buffers), (xi.unsqueeze(0),))
        return loss_fn(out, yi.unsqueeze(0))

    return vmap(grad(sample_loss), in_dims=(None, 0, 0), randomness=randomness)(params, x, y)


def executed_nodes(loss: torch.Tensor, *, retain_graph: bool = False) -> int:
    """Run loss.backward() and return how many autograd nodes it executed (AccumulateGrad included).

    Hooks are put on every node reachable from loss.grad_fn and removed afterwards (PyTorch docs,
    torch.autograd.graph.Node.register_hook: called after the node's gradient is computed).
    """
    _arguments.tensor("loss", loss)
    if loss.dim() != 0:
        raise SpecInputError(f"loss must be a scalar, got shape {tuple(loss.shape)}")
    if loss.grad_fn is None:
        raise SpecInputError("loss has no grad_fn: it does not depend on anything that requires grad")
    count = 0

    def hook(*_):
        nonlocal count
        count += 1

    handles, seen, stack = [], set(), [loss.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        handles.append(node.register_hook(hook))
        stack.extend(next_fn for next_fn, _ in node.next_functions)
    try:
        loss.backward(retain_graph=retain_graph)
    finally:
        for h in handles:
            h.remove()
    return count


# ---------------------------------------------------------------- peers: independent per-sample implementations
def _loss_reduction(model: nn.Module, loss_fn: LossFn, x: torch.Tensor, y: torch.Tensor) -> str:
    """How ``loss_fn`` reduces a batch: "mean" or "sum" of the samples' own losses, read off the batch itself.

    The peers need it (``loss_reduction``): Opacus and ExpandedWeights multiply what reaches them by N for "mean"
    and not for "sum", so telling them the wrong one gives N times (or 1/N of) the per-sample gradients. One
    forward without grad; loss_fn of the batch's output is compared with the mean and with the sum of loss_fn on
    each sample's own row (out[i:i+1], y[i:i+1]), allowing the rounding of a sum of N terms in the output's dtype
    (``support.tolerances.accumulation``). Anything else (a class-weighted mean, a mean over non-ignored targets
    only) is neither: SpecInputError, since no per-sample gradient adds up to its gradient by a fixed factor.
    """
    from support.tolerances import accumulation

    with torch.no_grad():
        out = model(x)
        batch = loss_fn(out, y)
        if not isinstance(batch, torch.Tensor) or batch.dim() != 0:
            got = f"shape {tuple(batch.shape)}" if isinstance(batch, torch.Tensor) else type(batch).__name__
            raise SpecInputError(f"loss_fn must return the batch's mean loss or summed loss (a scalar), got {got}")
        singles = torch.stack([loss_fn(out[i : i + 1], y[i : i + 1]) for i in range(out.shape[0])]).double()
    n = singles.numel()
    value = batch.double()
    tol = accumulation(out.dtype if out.is_floating_point() else torch.float64, n)
    matches = [
        name
        for name, reduced in (("mean", singles.mean()), ("sum", singles.sum()))
        if bool(torch.isclose(value, reduced, rtol=tol.rtol, atol=tol.atol))
    ]
    if n == 1 or matches == ["mean"]:  # a batch of one: mean and sum are the same loss
        return "mean"
    if matches == ["sum"]:
        return "sum"
    if matches:  # both: the summed loss is 0 (within rounding), so N x or 1/N x cannot be told apart
        raise SpecInputError(
            f"cannot tell whether loss_fn averages or sums over the batch: its loss on this batch "
            f"({value.item():.6g}) is 0 within rounding, and so are the mean and the sum of the "
            f"samples' own losses; use a batch with a non-zero loss"
        )
    raise SpecInputError(
        f"loss_fn is neither the mean nor the sum of the samples' own losses: on this batch it "
        f"gives {value.item():.6g}, the mean of loss_fn on each sample alone is "
        f"{singles.mean().item():.6g} and their sum {singles.sum().item():.6g} (a class-weighted "
        f"mean, or a mean over non-ignored targets only, divides by something else); per-sample "
        f"gradients need reduction 'mean' or 'sum' over the samples"
    )


def _peer_grads(model: nn.Module, wrap, loss_fn: LossFn, x: torch.Tensor, y: torch.Tensor, what: str):
    """Run ``wrap(copy, reduction)`` forward on the batch, backpropagate loss_fn's batch loss (its reduction over the
    samples read off the batch by ``_loss_reduction``) and read each parameter's ``grad_sample``. Works on a deep
    copy, so the caller's model keeps no hooks and no ``grad_sample`` attributes. Every parameter must require
    grad: the peers skip the others, and the loop (``per_sample_grads_loop``) cannot differentiate by them."""
    import copy

    _arguments.same_batch("x", x, "y", y)
    fixed = [name for name, p in model.named_parameters() if not p.requires_grad]
    if fixed:
        raise SpecInputError(
            f"{what} computes per-sample gradients of parameters that require grad only, and "
            f"{', '.join(map(repr, fixed))} has requires_grad=False: set requires_grad=True on a "
            f"copy of the model, or use per_sample_grads_vmap (it differentiates by every parameter)"
        )
    clone = copy.deepcopy(model)
    for p in clone.parameters():
        p.grad = None
    reduction = _loss_reduction(clone, loss_fn, x, y)
    wrapped = wrap(clone, reduction)
    loss = loss_fn(wrapped(x), y)
    loss.backward()
    out = {}
    for name, p in clone.named_parameters():
        sample = getattr(p, "grad_sample", None)
        if sample is None:
            raise SpecInputError(
                f"{what} computed no per-sample gradient for parameter {name!r} (a layer it does "
                f"not support, or a parameter the loss does not use)"
            )
        out[name] = sample.detach().clone()
    return out, wrapped


def per_sample_grads_expanded_weights(
    model: nn.Module, loss_fn: LossFn, x: torch.Tensor, y: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Per-sample gradients by PyTorch's ExpandedWeights (``torch.nn.utils._per_sample_grad.
    call_for_per_sample_grads``, one forward and one backward of the batch): the same result as
    ``per_sample_grads_loop`` for a loss_fn that averages or sums over the batch (which one is read off the batch
    and passed as ``loss_reduction``; anything else is a SpecInputError). Supports Linear, Conv, Embedding,
    LayerNorm, GroupNorm and InstanceNorm layers (PyTorch docs, "Per-sample gradients" with ExpandedWeights)."""
    from torch.nn.utils._per_sample_grad import call_for_per_sample_grads

    grads, _ = _peer_grads(
        model,
        lambda m, reduction: call_for_per_sample_grads(m, loss_reduction=reduction),
        loss_fn,
        x,
        y,
        "ExpandedWeights",
    )
    return grads


def per_sample_grads_opacus(
    model: nn.Module, loss_fn: LossFn, x: torch.Tensor, y: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Per-sample gradients by Opacus' ``GradSampleModule`` (backward hooks per layer; opacus.ai, "GradSampleModule"),
    for a loss_fn that averages or sums over the batch (passed as ``loss_reduction``, as for
    ``per_sample_grads_expanded_weights``). Opacus is an optional dependency (the ``dev`` extra): ImportError when
    it is not installed."""
    import warnings

    from opacus import GradSampleModule

    with warnings.catch_warnings():
        # Opacus' full backward hooks warn when the input does not require grad: expected here, nothing is wrong
        warnings.filterwarnings("ignore", message="Full backward hook is firing", category=UserWarning)
        grads, wrapped = _peer_grads(
            model, lambda m, reduction: GradSampleModule(m, loss_reduction=reduction), loss_fn, x, y, "Opacus"
        )
    # the hooks Opacus put on the copy's layers hold the wrapper, which holds the copy: a reference cycle that only
    # the cyclic garbage collector would free (checked: without _close() the copy outlives `del`); removing the hooks
    # frees the copy and its activations now
    wrapped._close()
    return grads


def loss_hessian_max_eigenvalue(
    model: nn.Module, loss_fn: LossFn, x: torch.Tensor, y: torch.Tensor, *, at: torch.Tensor | None = None
) -> float:
    """The largest eigenvalue of the Hessian of ``loss_fn(model(x), y)`` with respect to all parameters, taken at the
    model's weights or, with ``at``, at that flat parameter vector (in ``flat_params`` order): the curvature that
    sets gradient descent's stability limit 2 / lambda_max. Builds the full Hessian (P x P): for small models."""
    from torch.func import functional_call

    _arguments.same_batch("x", x, "y", y)
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    flat = flat_params(model) if at is None else at
    _arguments.tensor("at", flat, dim=1, floating=True)
    total = sum(s.numel() for s in shapes)
    if flat.numel() != total:
        raise SpecInputError(f"at has {flat.numel()} entries, but the model has {total} parameters")

    def loss(v):
        params, i = {}, 0
        for name, shape in zip(names, shapes):
            params[name] = v[i : i + shape.numel()].reshape(shape)
            i += shape.numel()
        value = loss_fn(functional_call(model, params, (x,)), y)
        if value.dim() != 0:
            raise SpecInputError(f"loss_fn must return a scalar, got shape {tuple(value.shape)}")
        return value

    hessian = torch.autograd.functional.hessian(loss, flat.detach(), vectorize=True)
    return torch.linalg.eigvalsh(hessian)[-1].item()
