"""A batch as the model-check contract takes it -- one tensor, or a tuple or dict of tensors, batch-first -- and the
model's output as the loss reads it (a tensor, or the ``logits`` of a mapping or Hugging Face ``ModelOutput``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from support.errors import SpecInputError

Batch = torch.Tensor | tuple | dict


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
    return (
        f"the model's forward must return the logits or predictions as a tensor, or a mapping / ModelOutput "
        f"with a 'logits' entry; it returned a {type(out).__name__}{keys}: wrap the model so that it does"
    )


def no_tensor_message(out: object) -> str:
    """What is wrong with a forward that returned ``out`` instead of a tensor or logits."""
    return _no_tensor(out)


__all__ = ["Batch", "batch_tensors", "call", "map_batch", "model_output", "no_tensor_message", "outputs", "take"]
