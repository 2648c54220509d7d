"""Loading and validating a subject: ``load_subject("package.module:factory")`` imports the module, calls the factory
and validates what it returns; ``validate`` checks every field and runs the model once. Every problem raises one
``SpecInputError`` that names it (the plugin turns it into one usage error of ``--model``).

Validation runs, on a copy of the model: one forward and the loss with each reduction (without gradients), one
train-mode forward, loss and backward (an error of the model's own backward is the model's, said once here), and a
probe that dim 0 is the batch: the first N - 1 samples must give N - 1 rows of output (a sequence-first input,
(T, N, ...) given as if batch-first, fails here even when T = N).
"""

from __future__ import annotations

import copy
import importlib
import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import fields, replace
from typing import Any

import torch
from torch import nn

from support import _arguments
from support.errors import SpecInputError, describe_error, did_you_mean
from support.model_check.batch import call, model_output, no_tensor_message, outputs, take
from support.model_check.losses import SequenceCrossEntropyLoss
from support.model_check.subject import OPTIONAL, REQUIRED, ModelUnderTest


def _accepts_reduction(fn: Callable) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: let the call decide
        return True
    return any(p.name == "reduction" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def _check_batch(what: str, batch: object) -> list[torch.Tensor]:
    if isinstance(batch, torch.Tensor):
        tensors = [batch]
    elif isinstance(batch, Mapping):
        if not batch:
            raise SpecInputError(f"{what} is an empty dict; give a batch-first tensor, or a tuple/dict of them")
        bad = [k for k, v in batch.items() if not isinstance(v, torch.Tensor)]
        if bad:
            raise SpecInputError(f"{what}[{bad[0]!r}] is a {type(batch[bad[0]]).__name__}, not a tensor")
        tensors = list(batch.values())
    elif isinstance(batch, (tuple, list)):
        if not batch:
            raise SpecInputError(f"{what} is empty; give a batch-first tensor, or a tuple/dict of them")
        bad = [i for i, v in enumerate(batch) if not isinstance(v, torch.Tensor)]
        if bad:
            raise SpecInputError(f"{what}[{bad[0]}] is a {type(batch[bad[0]]).__name__}, not a tensor")
        tensors = list(batch)
    else:
        raise SpecInputError(
            f"{what} must be a batch-first tensor, or a tuple/dict of them, got {type(batch).__name__}"
        )
    for t in tensors:
        if t.dim() < 1:
            raise SpecInputError(
                f"{what} holds a 0-dimensional tensor; every tensor must be batch-first (dim 0 = samples)"
            )
    return tensors


def validate(subject: ModelUnderTest, *, run_forward: bool = True) -> ModelUnderTest:
    """Check every field (and, with ``run_forward``, that the model and the loss run on the batch); returns the
    subject with ``frozen`` as a tuple. Raises SpecInputError naming the first problem."""
    if not isinstance(subject.name, str) or not subject.name.strip():
        raise SpecInputError(f"name must be a non-empty string, got {subject.name!r}")
    who = f"model {subject.name!r}"
    _check_model(subject, who)
    _check_batch_sizes(subject, who)
    _check_loss(subject.loss, who)
    _check_options(subject, who)
    subject = replace(subject, frozen=_check_frozen(subject, who))
    if run_forward:
        _run_once(subject, who)
    return subject


def _check_model(subject: ModelUnderTest, who: str) -> None:
    if not isinstance(subject.model, nn.Module):
        raise SpecInputError(f"{who}: model must be a torch.nn.Module, got {type(subject.model).__name__}")
    if not any(p.requires_grad for p in subject.model.parameters()):
        raise SpecInputError(f"{who}: the model has no trainable parameter (none with requires_grad=True)")


def _check_batch_sizes(subject: ModelUnderTest, who: str) -> None:
    """Inputs and targets batch-first, with one batch size of at least 2."""
    tensors = _check_batch("inputs", subject.inputs)
    if not isinstance(subject.targets, torch.Tensor):
        raise SpecInputError(f"{who}: targets must be a batch-first tensor, got {type(subject.targets).__name__}")
    if subject.targets.dim() < 1:
        raise SpecInputError(f"{who}: targets must be batch-first (dim 0 = samples), got a 0-dimensional tensor")
    n = subject.targets.shape[0]
    if sorted({t.shape[0] for t in tensors}) != [n]:
        raise SpecInputError(
            f"{who}: inputs and targets must have the same batch size along dim 0, got inputs "
            f"{[tuple(t.shape) for t in tensors]} and targets {tuple(subject.targets.shape)}"
        )
    if n < 2:
        raise SpecInputError(
            f"{who}: the batch has {n} sample(s); the checks need at least 2 (whether samples "
            f"are independent, per-sample gradients and the mean over samples compare samples)"
        )


def _check_loss(loss: object, who: str) -> None:
    """A torch.nn loss module (with ``reduction``) or a callable taking ``reduction=``."""
    if isinstance(loss, nn.Module):
        if not isinstance(getattr(loss, "reduction", None), str):
            raise SpecInputError(
                f"{who}: loss is a {type(loss).__name__} without a `reduction` attribute; give a "
                f"torch.nn loss module (e.g. nn.CrossEntropyLoss()) or a callable "
                f"loss(output, targets, reduction='mean'|'sum'|'none')"
            )
    elif not callable(loss):
        raise SpecInputError(f"{who}: loss must be a torch.nn loss module or a callable, got {type(loss).__name__}")
    elif not _accepts_reduction(loss):
        raise SpecInputError(
            f"{who}: the loss callable {getattr(loss, '__name__', loss)!r} takes no `reduction` "
            f"argument; the checks call it with reduction='mean', 'sum' and 'none'"
        )


def _check_options(subject: ModelUnderTest, who: str) -> None:
    if subject.optimizer is not None and not callable(subject.optimizer):
        raise SpecInputError(
            f"{who}: optimizer must be a callable params -> torch.optim.Optimizer, got "
            f"{type(subject.optimizer).__name__}"
        )
    n_classes = subject.n_classes
    if n_classes is not None:
        _arguments.integer(f"{who}: n_classes", n_classes, at_least=2)


def _check_frozen(subject: ModelUnderTest, who: str) -> tuple[str, ...]:
    """``frozen`` as a tuple of names of the model's parameters."""
    frozen = subject.frozen
    if isinstance(frozen, str) or not isinstance(frozen, Iterable):
        raise SpecInputError(f"{who}: frozen must be a list of parameter names, got {frozen!r}")
    names = [n for n, _ in subject.model.named_parameters()]
    for f in frozen:
        if f not in names:
            raise SpecInputError(
                f"{who}: frozen names {f!r}, which is not a parameter of the model{did_you_mean(str(f), names)}"
            )
    return tuple(frozen)


def _run_once(subject: ModelUnderTest, who: str) -> None:
    """One forward and the loss with each reduction, without gradients: a model or loss that fails says so once.
    Then the batch axis: the first N - 1 samples must give N - 1 rows of output.

    The forwards run on a copy of the model: in train mode they would move BatchNorm's running statistics (and any
    other buffer a forward updates), so the model the checks see would depend on whether this validation ran in
    the process (serial) or not (an xdist worker)."""

    model = copy.deepcopy(subject.model)
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        try:
            raw = call(model, subject.inputs)
        except Exception as exc:  # the user's code: any error is reported, once
            raise SpecInputError(f"{who}: the model's forward fails on the batch: {describe_error(exc)}") from None
        out = model_output(raw)
        if out is None:
            raise SpecInputError(f"{who}: {no_tensor_message(raw)}")
        if out.dim() < 1 or out.shape[0] != subject.batch_size:
            raise SpecInputError(
                f"{who}: the model's output has shape {tuple(out.shape)}; it must be batch-first "
                f"with the batch size {subject.batch_size} along dim 0"
            )
        if not out.is_floating_point():
            raise SpecInputError(f"{who}: the model's output has dtype {out.dtype}; it must be floating point")
        if (
            subject.n_classes is not None
            and subject.class_loss
            and not isinstance(subject.loss, SequenceCrossEntropyLoss)
            and out.dim() >= 2
            and out.shape[1] != subject.n_classes
        ):
            raise SpecInputError(
                f"{who}: n_classes is {subject.n_classes}, but the model's output has "
                f"{out.shape[1]} classes along dim 1 (shape {tuple(out.shape)}) for "
                f"{type(subject.loss).__name__}"
            )
        for reduction in (None, "sum", "none"):
            what = "the loss" if reduction is None else f"the loss with reduction={reduction!r}"
            try:
                value = subject.loss_fn(reduction)(out, subject.targets)
            except Exception as exc:
                raise SpecInputError(
                    f"{who}: {what} fails on the model's output {tuple(out.shape)} and the "
                    f"targets {tuple(subject.targets.shape)}: {describe_error(exc)}"
                ) from None
            if not isinstance(value, torch.Tensor):
                raise SpecInputError(f"{who}: {what} returned a {type(value).__name__}, not a tensor")
            if reduction != "none" and value.numel() != 1:
                raise SpecInputError(f"{who}: {what} must return a scalar, got shape {tuple(value.shape)}")
        _probe_batch_axis(subject, model, out, who)
    _run_backward(subject, model, who)


def _run_backward(subject: ModelUnderTest, model: nn.Module, who: str) -> None:
    """One train-mode forward, the loss and a backward on the copy: an error in the model's backward (an in-place
    change of a tensor autograd saved, a custom Function that fails) is the model's, said once here rather than
    inside every check."""
    model.train()
    with torch.random.fork_rng(devices=[]):
        try:
            loss = subject.loss_fn(None)(outputs(model, subject.inputs), subject.targets)
            if loss.requires_grad:
                loss.backward()
        except Exception as exc:
            raise SpecInputError(
                f"{who}: one train-mode forward, loss and backward of the batch fails: {describe_error(exc)}"
            ) from None


def _probe_batch_axis(subject: ModelUnderTest, model: nn.Module, out: torch.Tensor, who: str) -> None:
    """Dim 0 of the inputs is the batch only if the first k = N - 1 samples give k rows of output. A sequence-first
    input, (T, N, ...) given as if batch-first, passes the size checks when T = N but fails here: k time steps of
    N sequences give N rows (a classifier from the last hidden state). Only the rows are compared: the rest of the
    shape may follow the batch (a tagger padding to the batch's longest sequence). Eval mode, so that no train-mode
    layer sees the smaller batch; values are not compared (mixing samples is what the checks find)."""
    k = subject.batch_size - 1
    model.eval()
    try:
        sub = model_output(call(model, take(subject.inputs, slice(0, k))))
    except Exception as exc:
        raise SpecInputError(
            f"{who}: the model's forward fails on the first {k} samples of the batch "
            f"({describe_error(exc)}); every tensor of the inputs must be batch-first (dim 0 = the "
            f"{subject.batch_size} samples) and the model must run on any batch size"
        ) from None
    if sub is None or sub.dim() == 0 or sub.shape[0] != k:
        got = "no tensor" if sub is None else f"shape {tuple(sub.shape)}"
        raise SpecInputError(
            f"{who}: dim 0 of the inputs is not the batch: the first {k} samples along dim 0 give an "
            f"output of {got}, not {k} rows. Is the input sequence-first (T, N, ...)? "
            f"nn.LSTM, nn.GRU, nn.RNN and nn.Transformer* take (T, N, ...) unless batch_first=True; "
            f"give the factory batch-first inputs (N, T, ...) and transpose inside forward"
        )


# ---------------------------------------------------------------- loading from "package.module:factory"
SPEC_PATTERN = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


def _import(module_name: str):
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise SpecInputError(
                f"cannot import module {module_name!r}: {exc} (is it on sys.path? run from the "
                f"directory that holds it, or install it)"
            ) from None
        raise SpecInputError(f"importing {module_name!r} failed: {describe_error(exc)}") from None
    except Exception as exc:
        raise SpecInputError(f"importing {module_name!r} failed: {describe_error(exc)}") from None


def _fields_of(spec: str, made: object) -> dict[str, Any]:
    if isinstance(made, ModelUnderTest):
        return {f.name: getattr(made, f.name) for f in fields(made)}
    if isinstance(made, Mapping):
        unknown = sorted(str(k) for k in made if k not in REQUIRED + OPTIONAL)
        if unknown:
            raise SpecInputError(
                f"{spec} returned unknown field(s) {unknown}; the fields are "
                f"{', '.join(REQUIRED)} and optionally {', '.join(OPTIONAL)}"
            )
        got = dict(made)
    else:
        got = {k: getattr(made, k) for k in REQUIRED + OPTIONAL if hasattr(made, k)}
    missing = [k for k in REQUIRED if k not in got]
    if missing:
        raise SpecInputError(
            f"{spec} returned a {type(made).__name__} without {', '.join(missing)}; a factory "
            f"returns a mapping or an object with {', '.join(REQUIRED)} (and optionally "
            f"{', '.join(OPTIONAL)})"
        )
    return {k: v for k, v in got.items() if v is not None or k in REQUIRED}


def load_subject(spec: str, *, run_forward: bool = True) -> ModelUnderTest:
    """Import ``package.module``, call ``factory()`` and validate what it returns (see ``validate``)."""
    if not isinstance(spec, str) or not SPEC_PATTERN.match(spec.strip()):
        raise SpecInputError(f"expected PACKAGE.MODULE:FACTORY (e.g. examples.tiny_classifier:make), got {spec!r}")
    spec = spec.strip()
    module_name, attr = spec.split(":")
    obj = _import(module_name)
    for part in attr.split("."):
        if not hasattr(obj, part):
            public = [n for n in dir(obj) if not n.startswith("_")]
            raise SpecInputError(f"{module_name!r} has no attribute {attr!r}{did_you_mean(part, public)}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise SpecInputError(f"{spec} is a {type(obj).__name__}, not a callable factory")
    try:
        made = obj()
    except Exception as exc:
        raise SpecInputError(f"the factory {spec} raised {describe_error(exc)}") from None
    got = _fields_of(spec, made)
    got.setdefault("name", module_name.rpartition(".")[2])
    if got.get("frozen") is None:
        got["frozen"] = ()
    return validate(ModelUnderTest(**got), run_forward=run_forward)


__all__ = ["load_subject", "validate"]
