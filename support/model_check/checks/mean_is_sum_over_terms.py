"""Check: the mean loss divides the summed loss by the number of loss terms (reduction.mean-is-sum-over-n,
mean.denominator.*).

The gradient of the loss with the subject's 'mean' must equal the gradient of its 'sum' divided by the number of
loss terms: batch x elements for elementwise losses, the positions that count with ignore_index or a mask, the sum
of the class weights with class weights; for KLDivLoss, whose per-sample divergence sums over the sample's elements,
the batch size (reduction='batchmean').

Compared at the model's output, in float64: every parameter's gradient is the output gradient pulled back through
the same graph (the chain rule, linear in the output gradient), so grad(sum) = D x grad(mean) at the output holds for
every parameter exactly when it holds there. A loss module with parameters of its own is compared on those too. One
forward of the model, in train mode, serves both reductions.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
from torch import nn

from support.model_check.catalog import info
from support.model_check.checks._numerics import (
    check_seed,
    listing,
    listing_zh,
    named_grads_differ,
    num,
    same_randomness,
)
from support.model_check.checks.result import CheckResult, Recorder, Text
from support.model_check.losses import SequenceCrossEntropyLoss
from support.model_check.subject import ModelUnderTest
from support.tensors import generator
from support.tolerances import EXACT_DTYPE, accumulation

INFO = info("mean-is-sum-over-terms")
PERTURBATIONS = 3  # pairs of random outputs (z, -z) at which an entry of the loss must stay 0 to be no term


def reduction_in_training(subject: ModelUnderTest) -> str:
    """The reduction the subject trains with: the module's attribute, or the callable's default."""
    if isinstance(subject.loss, nn.Module):
        return subject.loss.reduction
    try:
        default = inspect.signature(subject.loss).parameters["reduction"].default
    except (KeyError, TypeError, ValueError):
        return "mean"
    return default if isinstance(default, str) else "mean"


def live_terms(loss_none: Callable, output: torch.Tensor, targets: torch.Tensor, *, seed: int = 0) -> torch.Tensor:
    """Which entries of the reduction='none' loss are terms of the loss: a bool tensor of its shape.

    An entry counts when it is non-zero at the model's output or at one of ``PERTURBATIONS`` pairs of random
    outputs z and -z (standard normal times a scale above the output's own). A masked or ignored entry (a padded
    position, ignore_index) is zero whatever the output and does not count; a hinge-like term that happens to be
    0 at the output is non-zero at z or -z (its argument changes sign between them), so it does. If the loss
    cannot be evaluated at random outputs (e.g. it requires probabilities), every entry counts.
    """
    with torch.no_grad():
        out = output.detach()
        live = loss_none(out, targets) != 0
        scale = max(1.0, 3.0 * out.float().std().item()) if out.numel() > 1 else 1.0
        g = generator(seed)
        try:
            for _ in range(PERTURBATIONS):
                z = (torch.randn(out.shape, generator=g, dtype=torch.float64) * scale).to(out)
                live |= (loss_none(z, targets) != 0) | (loss_none(-z, targets) != 0)
        except Exception:  # the loss rejects arbitrary outputs: count every entry
            return torch.ones_like(live)
    return live


def _expected_denominator(subject: ModelUnderTest, output: torch.Tensor, reduction: str) -> tuple[float, Text]:
    """The number the mean should divide the sum by, and how it was counted."""
    n = subject.batch_size
    if isinstance(subject.loss, nn.KLDivLoss):
        # the KL divergence of a sample is the sum over its elements, so the batch's mean divides by the batch size:
        # reduction='batchmean' does; 'mean' divides by every element (PyTorch docs; mean.denominator.kldiv)
        if reduction == "batchmean":
            return float(n), Text(
                f"{n} samples (reduction='batchmean' divides KLDivLoss's sum by the batch size)",
                f"{n} 个样本(reduction='batchmean' 用 batch 大小去除 KLDivLoss 的总和)",
            )
        return float(n), Text(
            f"{n} samples: the KL divergence of a sample sums over its elements, so KLDivLoss must divide by the "
            f"batch size -- use reduction='batchmean' ('mean' divides by every element, mean.denominator.kldiv)",
            f"{n} 个样本:一个样本的 KL 散度是对它所有元素求和,所以 KLDivLoss 应当除以 batch 大小——请用 "
            f"reduction='batchmean'('mean' 除以全部元素个数,mean.denominator.kldiv)",
        )
    terms = subject.loss_fn("none")(output, subject.targets)
    live = live_terms(subject.loss_fn("none"), output, subject.targets)
    n_live, n_all = int(live.sum()), live.numel()
    weight = getattr(subject.loss, "weight", None) if subject.class_loss else None
    if weight is not None and not subject.targets.is_floating_point():
        # CrossEntropy/NLL with class weights: mean = sum_i w[y_i] l_i / sum_i w[y_i] (PyTorch docs)
        targets = subject.targets
        if isinstance(subject.loss, SequenceCrossEntropyLoss):
            targets = subject.loss.aligned(output, targets)[1]
        y = targets.reshape(-1)[live.reshape(-1)]
        d = weight.to(torch.float64)[y].sum().item()
        return d, Text(
            f"the sum of the class weights of its {n_live} counted targets, {num(d)}",
            f"其 {n_live} 个计入的目标的类别权重之和,{num(d)}",
        )
    how = Text(f"{n_live} loss terms", f"{n_live} 个损失项")
    if n_live != n_all:
        how += Text(
            f" ({n_all} entries of reduction='none', {n_all - n_live} of them zero whatever the output: "
            f"ignored or padded positions)",
            f"(reduction='none' 有 {n_all} 个条目,其中 {n_all - n_live} 个无论输出如何都为零:被忽略或填充的位置)",
        )
    elif terms.dim() > 1 or terms.shape[0] != n:
        shape = "x".join(map(str, terms.shape))
        how += Text(f" ({shape} entries of reduction='none')", f"(reduction='none' 的 {shape} 个条目)")
    return float(n_live), how


def mean_is_sum_over_terms(subject: ModelUnderTest) -> CheckResult:
    rec = Recorder(INFO)
    reduction = reduction_in_training(subject)
    if reduction not in ("mean", "batchmean"):
        return rec.not_applicable(
            Text(
                f"the loss uses reduction={reduction!r}: it does not divide by a count, so there is no denominator to "
                f"check (with 'sum', plain SGD steps grow with the batch size: sum.needs-batch-scaling)",
                f"损失使用 reduction={reduction!r}:它不除以任何计数,因此没有分母可查(用 'sum' 时,普通 SGD 的步长随 "
                f"batch 大小增长:sum.needs-batch-scaling)",
            )
        )
    if isinstance(subject.loss, nn.CTCLoss):
        return rec.not_applicable(
            Text(
                "CTCLoss's 'mean' divides each sample's loss by its target length before averaging over the batch "
                "(PyTorch docs): by design it is not the sum over a count of terms",
                "CTCLoss 的 'mean' 先用每个样本的目标长度去除该样本的损失,再对 batch 求平均(PyTorch 文档):它本来就不是"
                "总和除以项数",
            )
        )
    subject.model.train()
    with torch.no_grad(), same_randomness(check_seed(INFO.id)):
        out = subject.forward()
    s = subject.copy()
    if isinstance(s.loss, nn.Module):
        s.loss.double()
    s.targets = s.targets.double() if s.targets.is_floating_point() else s.targets
    out64 = out.detach().double().requires_grad_(True)
    loss_params = (
        [(n, p) for n, p in s.loss.named_parameters() if p.requires_grad] if isinstance(s.loss, nn.Module) else []
    )
    wrt = [out64] + [p for _, p in loss_params]
    labels = ["the model's output"] + [f"loss.{n}" for n, _ in loss_params]
    mean = s.loss_fn(reduction)(out64, s.targets)
    total = s.loss_fn("sum")(out64, s.targets)
    g_mean = torch.autograd.grad(mean, wrt, retain_graph=True, allow_unused=True, materialize_grads=True)
    g_sum = torch.autograd.grad(total, wrt, allow_unused=True, materialize_grads=True)
    flat_mean = torch.cat([g.reshape(-1) for g in g_mean])
    flat_sum = torch.cat([g.reshape(-1) for g in g_sum])
    expected, how = _expected_denominator(s, out64.detach(), reduction)
    rec.number("expected denominator (loss terms)", expected)
    mm = (flat_mean @ flat_mean).item()
    if mm == 0 or mm != mm or mm == float("inf"):
        what = ("zero", "为零") if mm == 0 else ("not finite", "不是有限值")
        return rec.not_applicable(
            Text(
                f"the mean-loss gradient is {what[0]} at the output, so the ratio of sum to mean cannot be measured",
                f"mean 损失在输出处的梯度{what[1]},因此无法测量 sum 与 mean 之比",
            )
        )
    measured = rec.number(
        "measured denominator (grad of sum / grad of mean)", (flat_sum @ flat_mean).item() / mm
    )  # the least-squares factor: g_sum ~ measured * g_mean
    tol = accumulation(EXACT_DTYPE, max(1, out64.numel()))
    # both sides are on the scale of the sum's gradient, `expected` times the mean's: the absolute room scales with it
    if torch.allclose(flat_sum, flat_mean * expected, rtol=tol.rtol, atol=tol.atol * max(1.0, expected)):
        return rec.passed(
            Text(
                f"grad of the 'sum' loss = {num(measured)} x grad of the '{reduction}' loss, and the batch has ",
                f"'sum' 损失的梯度 = {num(measured)} × '{reduction}' 损失的梯度,而该 batch 有",
            )
            + how
            + Text(
                ": the mean divides by the number of terms (reduction.mean-is-sum-over-n).",
                ":mean 除以的正是项数(reduction.mean-is-sum-over-n)。",
            )
        )
    wrong = named_grads_differ(dict(zip(labels, g_sum)), {n: g * expected for n, g in zip(labels, g_mean)}, tol)
    where = (
        Text(
            f" (the gradients differ at {listing([n for n, _ in wrong])})",
            f"(梯度在 {listing_zh([n for n, _ in wrong])} 处不同)",
        )
        if loss_params
        else Text("", "")
    )
    return rec.failed(
        Text(
            f"the '{reduction}' loss divides the sum by {num(measured)} (grad of sum / grad of mean), "
            f"but the batch has ",
            f"'{reduction}' 损失用 {num(measured)} 去除总和(sum 的梯度 / mean 的梯度),但该 batch 有",
        )
        + how
        + Text(
            f": each term's gradient, and so every parameter's, is weighted {num(expected / measured)}x "
            f"what a mean over the terms gives. Divide by the number of terms that count "
            f"(reduction.mean-is-sum-over-n, mean.denominator.*)",
            f":每一项的梯度(因而每个参数的梯度)被加权为按项求平均时的 {num(expected / measured)} 倍。"
            f"请除以真正计入的项数(reduction.mean-is-sum-over-n、mean.denominator.*)",
        )
        + where
        + Text(".", "。")
    )
