"""The model under test: a model, one batch, its loss and (optionally) its optimizer; loaded from a factory.

A factory is any callable that takes no argument and returns either a ``ModelUnderTest``, a mapping or an
object with these fields (a plain dict works)::

    model       nn.Module                        the model; the checks run on it (on the test's device) and put
                                                 back its parameters, buffers, gradients, requires_grad and train/
                                                 eval mode after each check; hooks on its tensors stay in force.
                                                 Its forward returns the logits or predictions (N, ...) as a
                                                 tensor, or a mapping / Hugging Face ModelOutput with `logits`
    inputs      Tensor | tuple | dict of Tensors one batch, batch-first (dim 0 = the N samples); a tuple is
                                                 passed as model(*inputs), a dict as model(**inputs)
    targets     Tensor                           batch-first targets (class indices, or values)
    loss        torch.nn loss module | callable  a module with a ``reduction`` attribute (nn.CrossEntropyLoss()),
                                                 or a callable loss(output, targets, reduction=...). For class-last
                                                 logits (N, T, C), e.g. a causal language model with labels -100 at
                                                 padding, use support.model_check.losses.SequenceCrossEntropyLoss
                                                 (shift=1 for next-token prediction)
    optimizer   params -> Optimizer  (optional)  default: torch.optim.SGD(params, lr=0.01, momentum=0.9)
    n_classes   int >= 2             (optional)  default: the output's dim 1 when the targets are class indices
    name        str                  (optional)  shown in test ids and the report (default: the module's name)
    frozen      names of parameters  (optional)  parameters that must not change in a step (e.g. a frozen
                                                 embedding kept in the optimizer)

``load_subject("package.module:factory")`` imports the module, calls the factory and validates the result; every
problem raises ``SpecInputError`` with one message that names it. Validation runs one train-mode forward, loss and
backward (on a copy), so that an error of the model's own backward is one usage error; it also probes that dim 0 is
the batch:
the model's output for the first N - 1 samples must have N - 1 rows (a sequence-first input, (T, N, ...) given as if
batch-first, fails here even when T = N).

The checks change the model while they run (a step, BatchNorm statistics); ``preserved(subject)`` puts it back.
Copies are made only where a check needs another dtype (float64 for exact identities): tensor hooks registered on
the model's parameters (``p.register_hook``) do not travel with such a copy.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import importlib
import inspect
import re
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

import torch
from torch import nn

from support.errors import SpecInputError, did_you_mean
from support.model_check.losses import SequenceCrossEntropyLoss

Batch = torch.Tensor | tuple | dict
REQUIRED = ("model", "inputs", "targets", "loss")
OPTIONAL = ("optimizer", "n_classes", "name", "frozen")
DEFAULT_LR, DEFAULT_MOMENTUM = 0.01, 0.9
CLASS_LOSSES = (nn.CrossEntropyLoss, nn.NLLLoss)


def default_optimizer(params: Iterable[torch.Tensor]) -> torch.optim.Optimizer:
    """SGD with momentum, the optimizer of a subject that names none (lr 0.01, momentum 0.9: PyTorch's ImageNet
    example uses lr 0.1 with batch 256; a few-sample batch wants smaller steps)."""
    return torch.optim.SGD(params, lr=DEFAULT_LR, momentum=DEFAULT_MOMENTUM)


# ---------------------------------------------------------------- batches: a tensor, a tuple or a dict of tensors
def batch_tensors(batch: Batch) -> list[torch.Tensor]:
    if isinstance(batch, torch.Tensor):
        return [batch]
    if isinstance(batch, Mapping):
        return list(batch.values())
    return list(batch)


def map_batch(batch: Batch, fn: Callable[[torch.Tensor], torch.Tensor]) -> Batch:
    """``fn`` applied to every tensor of the batch, keeping its structure."""
    if isinstance(batch, torch.Tensor):
        return fn(batch)
    if isinstance(batch, Mapping):
        return {k: fn(v) for k, v in batch.items()}
    return tuple(fn(v) for v in batch)


def take(batch: Batch, index) -> Batch:
    """Samples ``index`` (a slice, an int list or an index tensor) of every tensor of the batch."""
    return map_batch(batch, lambda t: t[index])


def call(model: Callable, inputs: Batch):
    """model(x), model(*inputs) or model(**inputs), as the batch is a tensor, a tuple or a dict; the output as the
    model returns it."""
    if isinstance(inputs, torch.Tensor):
        return model(inputs)
    if isinstance(inputs, Mapping):
        return model(**inputs)
    return model(*inputs)


def model_output(out: object) -> torch.Tensor | None:
    """The tensor the loss takes from what a forward returned: the tensor itself, or the ``logits`` of a mapping or
    of an object with that attribute (a Hugging Face ``ModelOutput``); None when there is none."""
    if isinstance(out, torch.Tensor):
        return out
    logits = out.get("logits") if isinstance(out, Mapping) else getattr(out, "logits", None)
    return logits if isinstance(logits, torch.Tensor) else None


def outputs(model: Callable, inputs: Batch) -> torch.Tensor:
    """The model's output tensor on ``inputs`` (``model_output`` of the forward)."""
    out = call(model, inputs)
    found = model_output(out)
    if found is None:
        raise SpecInputError(_no_tensor(out))
    return found


def _no_tensor(out: object) -> str:
    keys = f" with keys {list(out)}" if isinstance(out, Mapping) else ""
    return (f"the model's forward must return the logits or predictions as a tensor, or a mapping / ModelOutput "
            f"with a 'logits' entry; it returned a {type(out).__name__}{keys}: wrap the model so that it does")


def _cast_floating(dtype: torch.dtype) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda t: t.to(dtype) if t.is_floating_point() else t


# ---------------------------------------------------------------- the subject
@dataclass
class ModelUnderTest:
    """What the checks of spec/part6_your_model run on (see the module docstring for the fields)."""

    model: nn.Module
    inputs: Batch
    targets: torch.Tensor
    loss: nn.Module | Callable
    optimizer: Callable[[Iterable[torch.Tensor]], torch.optim.Optimizer] | None = None
    n_classes: int | None = None
    name: str = "model"
    frozen: tuple[str, ...] = field(default_factory=tuple)

    # ------------------------------------------------------------ the batch
    @property
    def batch_size(self) -> int:
        return self.targets.shape[0]

    def forward(self, model: nn.Module | None = None, inputs: Batch | None = None) -> torch.Tensor:
        """The output tensor (the logits of a ModelOutput) of ``model`` (default: the subject's) on ``inputs``."""
        return outputs(self.model if model is None else model, self.inputs if inputs is None else inputs)

    def subset(self, index) -> ModelUnderTest:
        """The same subject on samples ``index`` of the batch (model shared, not copied)."""
        return replace(self, inputs=take(self.inputs, index), targets=self.targets[index])

    # ------------------------------------------------------------ the loss
    def loss_fn(self, reduction: str | None = None) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """The loss as given (reduction None), or with ``reduction`` ('mean' | 'sum' | 'none') set."""
        if reduction is None:
            return self.loss
        if isinstance(self.loss, nn.Module):
            clone = copy.copy(self.loss)  # a shallow copy shares the weight buffers; only .reduction differs
            clone.reduction = reduction
            return clone
        return functools.partial(self.loss, reduction=reduction)

    @property
    def class_loss(self) -> bool:
        """The loss is CrossEntropyLoss or NLLLoss (SequenceCrossEntropyLoss included): the loss says where the
        class scores are and which targets count."""
        return isinstance(self.loss, CLASS_LOSSES)

    @property
    def classification(self) -> bool:
        """Class-index targets, a CrossEntropyLoss/NLLLoss, or ``n_classes`` given."""
        return (self.n_classes is not None or self.class_loss
                or not (self.targets.is_floating_point() or self.targets.is_complex()))

    def class_scores(self, output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The rows of class scores (M, C) and the class index each is scored against (M,), paired as the loss
        pairs them: class dim 1 for CrossEntropyLoss/NLLLoss (torch's layout), class-last and shifted for
        SequenceCrossEntropyLoss; probability targets give their most likely class. None where the loss does not
        say (a loss callable): its layout, and any shift or mask inside it, are unknown to the checks."""
        if not self.class_loss:
            return None
        targets = self.targets
        if isinstance(self.loss, SequenceCrossEntropyLoss):
            z, y = self.loss.aligned(output, targets)
            return z.reshape(-1, z.shape[-1]), y.reshape(-1)
        if output.dim() < 2:
            return None
        if targets.is_floating_point():  # class probabilities, laid out like the output
            if targets.shape != output.shape:
                return None
            targets = targets.argmax(dim=1)
        if targets.shape != output.shape[:1] + output.shape[2:]:
            return None
        return output.movedim(1, -1).reshape(-1, output.shape[1]), targets.reshape(-1)

    def classes(self, output: torch.Tensor) -> int | None:
        """The number of classes: ``n_classes``, else the class dimension the loss uses; None when unknown."""
        if self.n_classes is not None:
            return self.n_classes
        scores = self.class_scores(output)
        return None if scores is None else scores[0].shape[1]

    @property
    def ignore_index(self) -> int | None:
        return getattr(self.loss, "ignore_index", None) if self.class_loss else None

    # ------------------------------------------------------------ the optimizer
    def make_optimizer(self, params: Iterable[torch.Tensor]) -> torch.optim.Optimizer:
        opt = (self.optimizer or default_optimizer)(params)
        if not isinstance(opt, torch.optim.Optimizer):
            raise SpecInputError(f"{self.name}: optimizer(params) must return a torch.optim.Optimizer, "
                                 f"got {type(opt).__name__}")
        return opt

    # ------------------------------------------------------------ copies
    def copy(self) -> ModelUnderTest:
        """A deep copy of the model and the loss module (the checks change parameters); the batch is shared."""
        loss = copy.deepcopy(self.loss) if isinstance(self.loss, nn.Module) else self.loss
        return replace(self, model=copy.deepcopy(self.model), loss=loss)

    def to(self, device: str | torch.device) -> ModelUnderTest:
        """A copy on ``device`` (model, loss module, batch)."""
        out = self.copy()
        out.model.to(device)
        if isinstance(out.loss, nn.Module):
            out.loss.to(device)
        return replace(out, inputs=map_batch(self.inputs, lambda t: t.to(device)), targets=self.targets.to(device))

    def double(self) -> ModelUnderTest:
        """A float64 copy (model, floating inputs and targets, loss buffers): exact identities are checked in
        float64."""
        return self.to_dtype(torch.float64)

    def to_dtype(self, dtype: torch.dtype) -> ModelUnderTest:
        """A copy in floating ``dtype``: model, floating inputs and targets, loss buffers."""
        out = self.copy()
        out.model.to(dtype)
        if isinstance(out.loss, nn.Module):
            out.loss.to(dtype)
        cast = _cast_floating(dtype)
        return replace(out, inputs=map_batch(self.inputs, cast), targets=cast(self.targets))

    def on(self, device: str | torch.device) -> ModelUnderTest:
        """The same subject on ``device``: the model (and a loss module) moved there in place -- the same parameter
        objects, so hooks and an optimizer factory that closes over the model keep working -- and the batch copied
        there."""
        self.model.to(device)
        if isinstance(self.loss, nn.Module):
            self.loss.to(device)
        return replace(self, inputs=map_batch(self.inputs, lambda t: t.to(device)), targets=self.targets.to(device))

    def other_outputs(self) -> str:
        """The names of the tensors the forward returns beside the one the loss reads ("" when it returns one
        tensor): a mapping's or a named tuple's other fields (GoogLeNet's aux_logits1, aux_logits2)."""
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            out = call(self.model, self.inputs)
        if isinstance(out, Mapping):
            names = [str(k) for k, v in out.items() if k != "logits" and isinstance(v, torch.Tensor)]
        elif hasattr(out, "_fields"):
            names = [f for f in out._fields if f != "logits" and isinstance(getattr(out, f), torch.Tensor)]
        else:
            names = []
        return ", ".join(names)

    def trainable(self) -> list[tuple[str, nn.Parameter]]:
        return [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]

    def __repr__(self) -> str:  # short: it appears in pytest's assertion rewriting
        return f"ModelUnderTest({self.name!r}, {type(self.model).__name__}, batch {self.batch_size})"


# ---------------------------------------------------------------- putting the model back after a check
@dataclass
class _Snapshot:
    values: dict[str, torch.Tensor]  # parameters and buffers, by name, cloned
    grads: dict[str, torch.Tensor | None]
    requires_grad: dict[str, bool]
    training: dict[str, bool]  # module name -> training flag


def _snapshot(model: nn.Module) -> _Snapshot:
    with torch.no_grad():
        params = dict(model.named_parameters(remove_duplicate=False))
        values = {n: p.detach().clone() for n, p in params.items()}
        values.update({f"buffer:{n}": b.detach().clone() for n, b in model.named_buffers(remove_duplicate=False)
                       if b is not None})
    grads = {n: None if p.grad is None else p.grad.detach().clone() for n, p in params.items()}
    return _Snapshot(values, grads, {n: p.requires_grad for n, p in params.items()},
                     {n: m.training for n, m in model.named_modules(remove_duplicate=False)})


def _restore(model: nn.Module, snap: _Snapshot) -> None:
    params = dict(model.named_parameters(remove_duplicate=False))
    buffers = dict(model.named_buffers(remove_duplicate=False))
    with torch.no_grad():
        for name, value in snap.values.items():
            if name.startswith("buffer:"):
                target = buffers.get(name.removeprefix("buffer:"))
            else:
                target = params.get(name)
            if target is not None:
                if target.shape != value.shape:  # a check replaced it (lazy modules): put the old tensor back
                    target.data = value.to(target.device)
                else:
                    target.copy_(value)
    for name, p in params.items():
        p.requires_grad_(snap.requires_grad.get(name, p.requires_grad))
        g = snap.grads.get(name)
        p.grad = None if g is None else g.to(p.device)
    for name, m in model.named_modules(remove_duplicate=False):
        if name in snap.training:
            m.training = snap.training[name]


@contextlib.contextmanager
def preserved(subject: ModelUnderTest):
    """Run a check on the subject's own model and put back, afterwards, its parameters and buffers (values), its
    gradients, requires_grad flags and train/eval modes; the global RNG state is put back too."""
    snap = _snapshot(subject.model)
    devices = [subject.targets.device] if subject.targets.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        try:
            yield subject
        finally:
            _restore(subject.model, snap)


# ---------------------------------------------------------------- validation
def _accepts_reduction(fn: Callable) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: let the call decide
        return True
    return any(p.name == "reduction" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def _where(exc: BaseException) -> str:
    """'file.py:12 in fn' of the innermost frame of an exception (the line that raised)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    f = frames[-1]
    return f" (at {f.filename}:{f.lineno} in {f.name})"


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}{_where(exc)}"


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
        raise SpecInputError(f"{what} must be a batch-first tensor, or a tuple/dict of them, got "
                             f"{type(batch).__name__}")
    for t in tensors:
        if t.dim() < 1:
            raise SpecInputError(f"{what} holds a 0-dimensional tensor; every tensor must be batch-first "
                                 f"(dim 0 = samples)")
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
        raise SpecInputError(f"{who}: inputs and targets must have the same batch size along dim 0, got inputs "
                             f"{[tuple(t.shape) for t in tensors]} and targets {tuple(subject.targets.shape)}")
    if n < 2:
        raise SpecInputError(f"{who}: the batch has {n} sample(s); the checks need at least 2 (whether samples "
                             f"are independent, per-sample gradients and the mean over samples compare samples)")


def _check_loss(loss: object, who: str) -> None:
    """A torch.nn loss module (with ``reduction``) or a callable taking ``reduction=``."""
    if isinstance(loss, nn.Module):
        if not isinstance(getattr(loss, "reduction", None), str):
            raise SpecInputError(f"{who}: loss is a {type(loss).__name__} without a `reduction` attribute; give a "
                                 f"torch.nn loss module (e.g. nn.CrossEntropyLoss()) or a callable "
                                 f"loss(output, targets, reduction='mean'|'sum'|'none')")
    elif not callable(loss):
        raise SpecInputError(f"{who}: loss must be a torch.nn loss module or a callable, got {type(loss).__name__}")
    elif not _accepts_reduction(loss):
        raise SpecInputError(f"{who}: the loss callable {getattr(loss, '__name__', loss)!r} takes no `reduction` "
                             f"argument; the checks call it with reduction='mean', 'sum' and 'none'")


def _check_options(subject: ModelUnderTest, who: str) -> None:
    if subject.optimizer is not None and not callable(subject.optimizer):
        raise SpecInputError(f"{who}: optimizer must be a callable params -> torch.optim.Optimizer, got "
                             f"{type(subject.optimizer).__name__}")
    n_classes = subject.n_classes
    if n_classes is not None and (isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2):
        raise SpecInputError(f"{who}: n_classes must be an int >= 2, got {n_classes!r}")


def _check_frozen(subject: ModelUnderTest, who: str) -> tuple[str, ...]:
    """``frozen`` as a tuple of names of the model's parameters."""
    frozen = subject.frozen
    if isinstance(frozen, str) or not isinstance(frozen, Iterable):
        raise SpecInputError(f"{who}: frozen must be a list of parameter names, got {frozen!r}")
    names = [n for n, _ in subject.model.named_parameters()]
    for f in frozen:
        if f not in names:
            raise SpecInputError(f"{who}: frozen names {f!r}, which is not a parameter of the model"
                                 f"{did_you_mean(str(f), names)}")
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
            raise SpecInputError(f"{who}: the model's forward fails on the batch: {_describe(exc)}") from None
        out = model_output(raw)
        if out is None:
            raise SpecInputError(f"{who}: {_no_tensor(raw)}")
        if out.dim() < 1 or out.shape[0] != subject.batch_size:
            raise SpecInputError(f"{who}: the model's output has shape {tuple(out.shape)}; it must be batch-first "
                                 f"with the batch size {subject.batch_size} along dim 0")
        if not out.is_floating_point():
            raise SpecInputError(f"{who}: the model's output has dtype {out.dtype}; it must be floating point")
        if subject.n_classes is not None and subject.class_loss and not isinstance(
                subject.loss, SequenceCrossEntropyLoss) and out.dim() >= 2 and out.shape[1] != subject.n_classes:
            raise SpecInputError(f"{who}: n_classes is {subject.n_classes}, but the model's output has "
                                 f"{out.shape[1]} classes along dim 1 (shape {tuple(out.shape)}) for "
                                 f"{type(subject.loss).__name__}")
        for reduction in (None, "sum", "none"):
            what = "the loss" if reduction is None else f"the loss with reduction={reduction!r}"
            try:
                value = subject.loss_fn(reduction)(out, subject.targets)
            except Exception as exc:
                raise SpecInputError(f"{who}: {what} fails on the model's output {tuple(out.shape)} and the "
                                     f"targets {tuple(subject.targets.shape)}: {_describe(exc)}") from None
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
            raise SpecInputError(f"{who}: one train-mode forward, loss and backward of the batch fails: "
                                 f"{_describe(exc)}") from None


def _probe_batch_axis(subject: ModelUnderTest, model: nn.Module, out: torch.Tensor, who: str) -> None:
    """Dim 0 of the inputs is the batch only if the first k = N - 1 samples give k rows of output. A sequence-first
    input, (T, N, ...) given as if batch-first, passes the size checks when T = N but fails here: k time steps of
    N sequences give N rows (a classifier from the last hidden state) or rows of the wrong shape. Eval mode, so that
    no train-mode layer sees the smaller batch; values are not compared (mixing samples is what the checks find)."""
    k = subject.batch_size - 1
    model.eval()
    try:
        sub = model_output(call(model, take(subject.inputs, slice(0, k))))
    except Exception as exc:
        raise SpecInputError(f"{who}: the model's forward fails on the first {k} samples of the batch "
                             f"({_describe(exc)}); every tensor of the inputs must be batch-first (dim 0 = the "
                             f"{subject.batch_size} samples) and the model must run on any batch size") from None
    if sub is None or tuple(sub.shape) != (k, *out.shape[1:]):
        got = "no tensor" if sub is None else f"shape {tuple(sub.shape)}"
        raise SpecInputError(f"{who}: dim 0 of the inputs is not the batch: the first {k} samples along dim 0 give an "
                             f"output of {got}, not {(k, *out.shape[1:])}. Is the input sequence-first (T, N, ...)? "
                             f"nn.LSTM, nn.GRU, nn.RNN and nn.Transformer* take (T, N, ...) unless batch_first=True; "
                             f"give the factory batch-first inputs (N, T, ...) and transpose inside forward")


# ---------------------------------------------------------------- loading from "package.module:factory"
SPEC_PATTERN = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


def _import(module_name: str):
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise SpecInputError(f"cannot import module {module_name!r}: {exc} (is it on sys.path? run from the "
                                 f"directory that holds it, or install it)") from None
        raise SpecInputError(f"importing {module_name!r} failed: {_describe(exc)}") from None
    except Exception as exc:
        raise SpecInputError(f"importing {module_name!r} failed: {_describe(exc)}") from None


def _fields_of(spec: str, made: object) -> dict[str, Any]:
    if isinstance(made, ModelUnderTest):
        return {f.name: getattr(made, f.name) for f in fields(made)}
    if isinstance(made, Mapping):
        unknown = sorted(str(k) for k in made if k not in REQUIRED + OPTIONAL)
        if unknown:
            raise SpecInputError(f"{spec} returned unknown field(s) {unknown}; the fields are "
                                 f"{', '.join(REQUIRED)} and optionally {', '.join(OPTIONAL)}")
        got = dict(made)
    else:
        got = {k: getattr(made, k) for k in REQUIRED + OPTIONAL if hasattr(made, k)}
    missing = [k for k in REQUIRED if k not in got]
    if missing:
        raise SpecInputError(f"{spec} returned a {type(made).__name__} without {', '.join(missing)}; a factory "
                             f"returns a mapping or an object with {', '.join(REQUIRED)} (and optionally "
                             f"{', '.join(OPTIONAL)})")
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
        raise SpecInputError(f"the factory {spec} raised {_describe(exc)}") from None
    got = _fields_of(spec, made)
    got.setdefault("name", module_name.rpartition(".")[2])
    if got.get("frozen") is None:
        got["frozen"] = ()
    return validate(ModelUnderTest(**got), run_forward=run_forward)


__all__ = ["Batch", "ModelUnderTest", "batch_tensors", "call", "default_optimizer", "load_subject", "map_batch",
           "model_output", "outputs", "preserved", "take", "validate"]
