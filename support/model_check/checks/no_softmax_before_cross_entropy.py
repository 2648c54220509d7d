"""Check: no softmax before CrossEntropyLoss (loss.measures-error).

CrossEntropyLoss applies log_softmax itself. Outputs whose rows are probabilities (non-negative, summing to 1) cap
the logit margin at 1, so the loss can never fall below log(1 + (C-1)/e); they are flagged. Rows that are
log-probabilities are harmless (log_softmax is idempotent) and reported. For NLLLoss the rows must be
log-probabilities: anything else is flagged. The rows are the class scores as the loss reads them (class dim 1, or
class-last for SequenceCrossEntropyLoss); a loss callable does not say where they are, so the check does not apply.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from support.model_check.catalog import info
from support.model_check.checks._numerics import check_seed, num, same_randomness
from support.model_check.checks.result import CheckResult, Recorder, Text
from support.model_check.subject import ModelUnderTest

INFO = info("no-softmax-before-cross-entropy")


def no_softmax_before_cross_entropy(subject: ModelUnderTest) -> CheckResult:
    rec = Recorder(INFO)
    if not subject.class_loss:
        kind = type(subject.loss).__name__
        return rec.not_applicable(
            Text(
                f"the loss is a {kind}; the check applies to CrossEntropyLoss and NLLLoss, whose class dimension it knows",
                f"损失是 {kind};该检查只适用于 CrossEntropyLoss 和 NLLLoss,它们的类别维是已知的",
            )
        )
    model = subject.model
    model.train()
    with torch.no_grad(), same_randomness(check_seed(INFO.id)):
        out = subject.forward()
    scores = subject.class_scores(out.detach())
    if scores is None or subject.targets.is_floating_point():
        return rec.not_applicable(
            Text("the output has no class dimension with class-index targets", "输出没有与类别索引目标对应的类别维")
        )
    rows = scores[0]
    c = rows.shape[1]
    # a sum of C values in [0, 1] is off by at most about C * eps (Higham, sec. 4.2); twice that, in the output dtype
    tol = 2 * c * torch.finfo(rows.dtype).eps
    probs = bool(((rows >= 0).all(dim=1) & ((rows.sum(dim=1) - 1).abs() <= tol)).all())
    log_probs = bool(((rows <= 0).all(dim=1) & (torch.logsumexp(rows, dim=1).abs() <= tol)).all())
    floor = math.log1p((c - 1) / math.e)
    rec.number("rows that are probabilities", float(probs))
    rec.number("rows that are log-probabilities", float(log_probs))
    rec.number("classes", c)
    is_ce = isinstance(subject.loss, nn.CrossEntropyLoss)
    if is_ce and probs:
        rec.number("lowest reachable loss", floor)
        return rec.failed(
            Text(
                f"the model's outputs are probabilities (every row is non-negative and sums to 1): a softmax before "
                f"CrossEntropyLoss, which applies log_softmax again. The logit margin is then at most 1, so the loss can "
                f"never fall below log(1 + (C-1)/e) = {num(floor)} for C = {c} (ln C = {num(math.log(c))}) and its "
                f"gradients shrink: return the logits (loss.measures-error).",
                f"模型的输出是概率(每一行非负且和为 1):在 CrossEntropyLoss 之前做了 softmax,而 CrossEntropyLoss 会再做一次 "
                f"log_softmax。这样 logit 的间隔至多为 1,损失永远不会低于 log(1 + (C-1)/e) = {num(floor)}(C = {c},"
                f"ln C = {num(math.log(c))}),梯度也会变小:请直接返回 logit(loss.measures-error)。",
            )
        )
    if is_ce and log_probs:
        return rec.passed(
            Text(
                "the model's outputs are log-probabilities (a log_softmax before CrossEntropyLoss): harmless, since "
                "log_softmax of log-probabilities returns them unchanged, but redundant (loss.measures-error).",
                "模型的输出是对数概率(CrossEntropyLoss 之前有 log_softmax):无害,因为对对数概率再做 log_softmax 结果不变,"
                "但多余(loss.measures-error)。",
            )
        )
    if not is_ce and not log_probs:
        kind = (
            ("probabilities (a softmax where log_softmax belongs)", "概率(应当用 log_softmax 的地方用了 softmax)")
            if probs
            else ("not log-probabilities", "不是对数概率")
        )
        return rec.failed(
            Text(
                f"NLLLoss takes log-probabilities, but the model's outputs are {kind[0]}: the loss is then not the "
                f"cross-entropy (apply log_softmax, or return logits to CrossEntropyLoss) (loss.measures-error).",
                f"NLLLoss 接收对数概率,但模型的输出是{kind[1]}:这样算出的损失不是交叉熵(请做 log_softmax,或把 logit 交给 "
                f"CrossEntropyLoss)(loss.measures-error)。",
            )
        )
    what = (
        ("log-probabilities, as NLLLoss takes", "对数概率,正是 NLLLoss 所接收的")
        if not is_ce
        else (
            "logits (rows are neither probabilities nor log-probabilities), as CrossEntropyLoss takes",
            "logit(各行既不是概率也不是对数概率),正是 CrossEntropyLoss 所接收的",
        )
    )
    return rec.passed(
        Text(
            f"the model's outputs are {what[0]} (loss.measures-error).", f"模型的输出是{what[1]}(loss.measures-error)。"
        )
    )
