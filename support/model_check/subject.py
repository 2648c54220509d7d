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

import copy
import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from support.errors import SpecInputError
from support.model_check.batch import Batch, call, map_batch, outputs, take
from support.model_check.losses import SequenceCrossEntropyLoss
from support.model_check.preserve import preserved

REQUIRED = ("model", "inputs", "targets", "loss")
OPTIONAL = ("optimizer", "n_classes", "name", "frozen")
DEFAULT_LR, DEFAULT_MOMENTUM = 0.01, 0.9
CLASS_LOSSES = (nn.CrossEntropyLoss, nn.NLLLoss)


def default_optimizer(params: Iterable[torch.Tensor]) -> torch.optim.Optimizer:
    """SGD with momentum, the optimizer of a subject that names none (lr 0.01, momentum 0.9: PyTorch's ImageNet
    example uses lr 0.1 with batch 256; a few-sample batch wants smaller steps)."""
    return torch.optim.SGD(params, lr=DEFAULT_LR, momentum=DEFAULT_MOMENTUM)


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
        return (
            self.n_classes is not None
            or self.class_loss
            or not (self.targets.is_floating_point() or self.targets.is_complex())
        )

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
            raise SpecInputError(
                f"{self.name}: optimizer(params) must return a torch.optim.Optimizer, got {type(opt).__name__}"
            )
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


__all__ = ["OPTIONAL", "REQUIRED", "ModelUnderTest", "default_optimizer", "preserved"]
