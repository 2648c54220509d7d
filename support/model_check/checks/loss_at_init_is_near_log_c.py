"""Check: a classifier's loss at initialisation is near ln C (loss.at-init, loss.measures-error).

At initialisation a classifier's cross-entropy should be near the loss of a uniform prediction -- ln C, the loss at
margin 0 -- whatever the label smoothing; an over-confident init (large logits) starts at many times it. Fails above
``INIT_LOSS_LIMIT`` x the uniform-prediction loss. The uniform prediction is scored by the subject's own loss (equal
logits; log(1/C) everywhere for NLLLoss), so masks, shifts and class weights inside the loss count as in training.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from support.model_check.catalog import info
from support.model_check.checks._numerics import check_seed, listing, listing_zh, num, same_randomness
from support.model_check.checks.result import CheckResult, Recorder, Text
from support.model_check.subject import ModelUnderTest

INFO = info("loss-at-init-is-near-log-c")
# x the loss of a uniform prediction (ln C): logits of std s cost about ln C + s^2/2 for small s (less for large s),
# so 2 ln C takes s of at least sqrt(2 ln C), 2.1 for C = 10, while default inits give s well below 1
INIT_LOSS_LIMIT = 2.0


def _uniform_prediction(subject: ModelUnderTest, out: torch.Tensor, n_classes: int | None) -> torch.Tensor:
    if isinstance(subject.loss, nn.NLLLoss) and n_classes:  # NLLLoss takes log-probabilities: log(1/C) everywhere
        return torch.full_like(out, -math.log(n_classes))
    return torch.zeros_like(out)  # equal logits: softmax is uniform


def _tied_output(model, n_classes: int | None) -> list[str]:
    """The names of a weight with one row per class (an output layer's, or an embedding's of the same vocabulary)
    that several modules share (weight tying): "head.weight = embed.weight"."""
    seen: dict[int, str] = {}
    tied = []
    for name, p in model.named_parameters(remove_duplicate=False):
        if id(p) in seen:
            if n_classes is not None and p.dim() == 2 and p.shape[0] == n_classes:
                tied.append(f"{name} = {seen[id(p)]}")
        else:
            seen[id(p)] = name
    return tied


def loss_at_init_is_near_log_c(subject: ModelUnderTest) -> CheckResult:
    rec = Recorder(INFO)
    if not subject.classification:
        return rec.not_applicable(
            Text(
                "neither a CrossEntropyLoss/NLLLoss nor class-index targets (nor n_classes): the ln C baseline is that "
                "of a softmax over C classes, which this loss and these targets do not define",
                "既不是 CrossEntropyLoss/NLLLoss,也不是类别索引目标(也未给出 n_classes):ln C 基线属于 C 个类别上的 "
                "softmax,而这个损失和这些目标没有定义它",
            )
        )
    model = subject.model
    model.train()
    with torch.no_grad(), same_randomness(check_seed(INFO.id)):
        out = subject.forward()
        c = subject.classes(out)
        loss = subject.loss(out, subject.targets).item()
        baseline = subject.loss(_uniform_prediction(subject, out, c), subject.targets).item()
    rec.number("loss at init", loss)
    if c is not None:
        rec.number("ln C", math.log(c))
    rec.number("loss of a uniform prediction", baseline)
    if not baseline > 0 or not math.isfinite(baseline):
        return rec.not_applicable(
            Text(
                f"the loss of a uniform prediction is {baseline}: the loss is not a cross-entropy over classes, so ln C "
                f"is no baseline",
                f"均匀预测的损失是 {baseline}:该损失不是对类别的交叉熵,因此 ln C 不是基线",
            )
        )
    scores = subject.class_scores(out.detach().double())
    scale = math.nan
    if scores is not None and scores[0].shape[1] > 1:
        rows = scores[0]
        scale = rec.number("logit scale (std across classes, mean over samples)", rows.std(dim=-1).mean().item())
        rec.number("largest |logit|", rows.abs().max().item())
    ratio = rec.number("loss at init / uniform-prediction loss", loss / baseline)
    if c is not None and abs(baseline - math.log(c)) < 1e-3 * math.log(c):
        base = Text(f"ln C = ln {c} = {num(math.log(c))}", f"ln C = ln {c} = {num(math.log(c))}")
    else:
        base = Text(f"the loss of a uniform prediction, {num(baseline)}", f"均匀预测的损失 {num(baseline)}")
    logits = (
        Text(f" (logits' std across classes {num(scale)})", f"(logit 在各类别间的标准差为 {num(scale)})")
        if math.isfinite(scale)
        else Text("", "")
    )
    if not math.isfinite(loss) or ratio > INIT_LOSS_LIMIT:
        tied = _tied_output(model, c)
        last_layer = (
            Text(
                f"an output layer tied to an embedding ({listing(tied)}) at the embedding's large init (zeroing the "
                f"output layer would zero the embedding too: scale the shared weight's init down instead, e.g. std "
                f"0.02 as in GPT-2)",
                f"与嵌入层绑定的输出层({listing_zh(tied)})沿用了嵌入层过大的初始化(把输出层置零会连嵌入层一起置零:"
                f"应调小这个共享权重的初始化尺度,例如 GPT-2 的标准差 0.02)",
            )
            if tied
            else Text(
                "a last layer initialised with a large scale (initialise it smaller, e.g. zeros or x0.01)",
                "最后一层是否以过大的尺度初始化(把它初始化得更小,例如全零或乘以 0.01)",
            )
        )
        return rec.failed(
            Text(
                f"the loss at initialisation is {num(loss)} = {num(ratio)} x ",
                f"初始化时的损失是 {num(loss)} = {num(ratio)} × ",
            )
            + base
            + Text(": the untrained model is confidently wrong", ":未训练的模型自信地犯错")
            + logits
            + Text(
                ". Logits of std s cost about ln C + s^2/2 for small s and grow like s for large s; look for ",
                "。标准差为 s 的 logit 在 s 较小时损失约为 ln C + s^2/2,在 s 较大时随 s 线性增长;请检查",
            )
            + last_layer
            + Text(
                ", inputs that were not normalised, or a loss that sums instead of averaging "
                "(loss.at-init, loss.measures-error).",
                "、输入是否没有归一化,以及损失是否在求和而不是求平均(loss.at-init、loss.measures-error)。",
            )
        )
    side = ("below", "低于") if ratio < 1 else ("above", "高于")
    pct = num(abs(ratio - 1) * 100)
    return rec.passed(
        Text(f"the loss at initialisation is {num(loss)}, {pct}% {side[0]} ", f"初始化时的损失是 {num(loss)},比")
        + base
        + Text("", f"{side[1]} {pct}%")
        + logits
        + Text(" (loss.at-init).", "(loss.at-init)。")
    )
