"""Check: per-sample gradients add up to the batch gradient (per-sample.backward-accumulates, per-sample.vmap).

In eval mode the per-sample gradients (torch.func.vmap, or a loop of batches of one where vmap cannot run the model)
must add up to the gradient of the summed batch loss. Checked in float64 (float32 for a model that does not run in
float64) on the first ``PER_SAMPLE_MAX`` samples, on a copy of the model (a copy carries no tensor hooks).
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from support.gradients import batch_grads, per_sample_grads_loop, per_sample_grads_vmap
from support.model_check.batch import outputs, take
from support.model_check.catalog import info
from support.model_check.checks._numerics import (
    eval_backward,
    exact_copy,
    floating_tol,
    listing,
    listing_zh,
    named_grads_differ,
    num,
    relative_difference,
)
from support.model_check.checks.result import CheckResult, Recorder, Text
from support.model_check.subject import ModelUnderTest

INFO = info("per-sample-gradients-add-up")
PER_SAMPLE_MAX = 3  # samples compared: a mixing bug shows between any two; 3 keeps float64 cheap


class _Indexed(nn.Module):
    """The subject's model as a function of sample indices: forward(idx) = model(inputs[idx]).

    support.gradients takes a model of one tensor; indexing the batch this way serves any input structure
    (a tensor, a tuple, a dict), under vmap too (each vmapped call indexes one sample).
    """

    def __init__(self, subject: ModelUnderTest):
        super().__init__()
        self.model = subject.model
        self._inputs = subject.inputs

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return outputs(self.model, take(self._inputs, idx))


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:100]


def _batch_dependent_shape(model: nn.Module, inputs, k: int) -> Text | None:
    """Why the loop of batches of one cannot be compared, where the model runs on one sample but its output's shape
    beyond dim 0 depends on the batch (e.g. pad_packed_sequence without total_length pads to the batch's longest
    sequence): one sample's output then no longer fits its targets. None where that is not so (the forward itself
    fails on one sample, or keeps its shape)."""
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            full = outputs(model, inputs)
            for i in range(k):
                one = outputs(model, take(inputs, slice(i, i + 1)))
                if one.dim() >= 1 and one.shape[0] == 1 and one.shape[1:] != full.shape[1:]:
                    return Text(
                        f"sample {i} alone gives an output of shape {tuple(one.shape)}, the batch of {k} one of shape "
                        f"{tuple(full.shape)}: the output's shape depends on the batch (e.g. pad_packed_sequence "
                        f"without total_length), so a sample's own targets do not fit its output and per-sample "
                        f"gradients cannot be formed; pass total_length (or pad to a fixed length) to run this check",
                        f"样本 {i} 单独运行时输出形状为 {tuple(one.shape)},{k} 个样本的 batch 输出形状为 "
                        f"{tuple(full.shape)}:输出形状依赖于 batch(例如 pad_packed_sequence 未指定 total_length),"
                        f"单个样本的目标与其输出对不上,无法计算逐样本梯度;传入 total_length(或填充到固定长度)后可运行此检查",
                    )
    except Exception:  # the forward fails on one sample: the caller's FAIL says so
        return None
    return None


def per_sample_gradients_add_up(subject: ModelUnderTest) -> CheckResult:
    rec = Recorder(INFO)
    k = min(subject.batch_size, PER_SAMPLE_MAX)
    s, precision = exact_copy(subject.subset(slice(0, k)))
    for p in s.model.parameters():  # a copy: frozen parameters join in, so every name has a gradient
        p.requires_grad_(True)
    s.model.eval()
    indexed = _Indexed(s)
    idx = torch.arange(k, device=s.targets.device)
    loss_sum = s.loss_fn("sum")
    method, why = ("vmap", "vmap"), Text("", "")
    with eval_backward(), warnings.catch_warnings():
        # torch.func falls back to a loop for ops without a batching rule (and says so): slower, still right
        warnings.filterwarnings("ignore", message="There is a performance drop")
        try:
            per = per_sample_grads_vmap(indexed, loss_sum, idx, s.targets)
        except Exception as exc:  # documented limits of torch.func (per-sample.vmap): fall back to the loop
            method = ("a loop of batches of one", "逐个样本的循环")
            why = Text(
                f" (vmap cannot run it: {type(exc).__name__}: {_first_line(exc)})",
                f"(vmap 无法运行它:{type(exc).__name__}: {_first_line(exc)})",
            )
            try:
                per = per_sample_grads_loop(indexed, loss_sum, idx, s.targets, allow_unused=True)
            except Exception as exc2:
                shape_note = _batch_dependent_shape(s.model, s.inputs, k)
                if (
                    shape_note is not None
                ):  # the model ran; the loss could not pair one sample's output with its targets
                    return rec.could_not_run(shape_note)
                return rec.failed(
                    Text(
                        f"the model fails on a batch of one sample in eval mode ({type(exc2).__name__}: "
                        f"{_first_line(exc2)}): a model that treats samples independently runs on any batch size (e.g. "
                        f"a squeeze() that drops the batch dimension of a batch of one) (per-sample.backward-accumulates)",
                        f"模型在 eval 模式下无法处理只有一个样本的 batch({type(exc2).__name__}: {_first_line(exc2)}):"
                        f"独立处理样本的模型在任何 batch 大小上都能运行(例如 squeeze() 会去掉只有一个样本时的 batch 维)"
                        f"(per-sample.backward-accumulates)",
                    )
                )
        batch = batch_grads(indexed, loss_sum, idx, s.targets, allow_unused=True)
    summed = {n: g.sum(dim=0) for n, g in per.items()}
    tol = floating_tol(next(iter(batch.values())).dtype, k)
    wanted = {n.removeprefix("model."): n for n in batch}
    trainable = [n for n, _ in subject.trainable() if n in wanted]
    bad = named_grads_differ({n: summed[wanted[n]] for n in trainable}, {n: batch[wanted[n]] for n in trainable}, tol)
    # over every trainable parameter, passing ones too: on a pass it shows how far inside the tolerance they are
    largest = max((relative_difference(summed[wanted[n]], batch[wanted[n]], tol) for n in trainable), default=0.0)
    rec.number("samples compared", k)
    rec.number("largest relative difference", largest)
    if bad:
        show = lambda b: f"{b[0]} (relative difference {num(b[1])})"
        show_zh = lambda b: f"{b[0]}(相对差异 {num(b[1])})"
        return rec.failed(
            Text(
                f"in eval mode the per-sample gradients of the first {k} samples ({method[0]}",
                f"在 eval 模式下,前 {k} 个样本的逐样本梯度({method[1]}",
            )
            + why
            + Text(
                f") do not add up to the gradient of their summed loss for {len(bad)} parameters: {listing(bad, show)}. "
                f"Each sample's loss depends on the other samples, or the model computes something else on a batch of "
                f"one (per-sample.backward-accumulates).",
                f")对 {len(bad)} 个参数之和不等于它们总损失的梯度:{listing_zh(bad, show_zh)}。每个样本的损失依赖于其他"
                f"样本,或者模型在只有一个样本的 batch 上算的是别的东西(per-sample.backward-accumulates)。",
            )
        )
    return rec.passed(
        Text(
            f"in eval mode the per-sample gradients of the first {k} samples ({method[0]}",
            f"在 eval 模式下,前 {k} 个样本的逐样本梯度({method[1]}",
        )
        + why
        + Text(
            f") add up to the gradient of their summed loss for all {len(trainable)} trainable "
            f"parameters (compared in {precision}; per-sample.backward-accumulates).",
            f")之和对全部 {len(trainable)} 个可训练参数都等于它们总损失的梯度(以 {precision} "
            f"比较;per-sample.backward-accumulates)。",
        )
    )
