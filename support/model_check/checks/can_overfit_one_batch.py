"""Check: the model can overfit one batch (step.updates-parameters).

Trained on its one batch in train mode, the model must fit it within ``MAX_STEPS`` steps: the gap between its loss
and the lowest loss the loss function can reach on these targets falls ``GAP_FACTOR``-fold, and (where the loss says
which class each output row is scored against) every counted target is predicted right. The lowest reachable loss is
measured, not assumed: the loss minimised over a free output tensor (``lowest_reachable_loss``) -- 0 for hard labels,
the entropy of the smoothed targets with label smoothing, whatever a mask leaves.

First with the subject's own optimizer. A fine-tuning learning rate (AdamW at 5e-5) is too small to memorise a batch
in ``MAX_STEPS`` steps; when the subject's optimizer makes progress but does not get there, the check trains again
from the same start with its own choice, ``torch.optim.Adam`` at each of ``CHECKER_LRS``, and passes, saying so, when
one fits: the model can learn. A run whose loss becomes non-finite, or ends above where it started without ever going
below it, fails: the subject's steps overshoot or go uphill (explosion.definition), and no other optimizer hides it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from support.model_check.catalog import info
from support.model_check.checks._numerics import check_seed, num, same_randomness
from support.model_check.checks.result import CheckResult, Recorder, Text
from support.model_check.losses import SequenceCrossEntropyLoss
from support.model_check.subject import ModelUnderTest, preserved

INFO = info("can-overfit-one-batch")
GAP_FACTOR = 10.0  # the loss must close an order of magnitude of its gap to the lowest reachable loss
MAX_STEPS = 200  # healthy models fit a small batch in tens of steps: an order of magnitude of room
# Adam's default step size (Kingma & Ba 2015; torch.optim.Adam's default lr), then 3x it: 2-layer transformer
# language models take 130 to 200 steps at 1e-3 on a batch of 8 (T5, BART, GPT-2, Llama configs), T5 does not fit in 200
CHECKER_LRS = (1e-3, 3e-3)
# The lowest reachable loss: Adam on a free output tensor from the model's own output; 500 steps of 0.1 move each
# logit by up to 50, past any margin a loss rewards (e^-50 of cross-entropy is below float64's resolution of 1)
FLOOR_STEPS, FLOOR_LR = 500, 0.1


@dataclass
class Run:
    optimizer: str
    lr: float
    losses: list[float] = field(default_factory=list)
    accuracies: list[float] = field(default_factory=list)
    reached: int | None = None

    @property
    def diverged(self) -> bool:
        return bool(self.losses) and not math.isfinite(self.losses[-1])

    @property
    def went_uphill(self) -> bool:
        """The loss ended above where it started and never went below it (by more than 0.1%, the noise of a
        dropout's masks on one batch): the steps go the wrong way."""
        first = self.losses[0]
        return len(self.losses) > 1 and self.losses[-1] > first and min(self.losses[1:]) >= first * (1 - 1e-3)


def lowest_reachable_loss(subject: ModelUnderTest, output: torch.Tensor) -> float | None:
    """The least loss over free outputs of the output's shape (the loss of a model that could output anything), from
    Adam on the output tensor itself, in float64; NLLLoss's input is kept log-probabilities. None when the
    minimisation does not stay finite (a loss unbounded below)."""
    loss = subject.loss
    if isinstance(loss, nn.Module):
        loss = _float64(loss)
    targets = subject.targets.double() if subject.targets.is_floating_point() else subject.targets
    z = output.detach().double().clone().requires_grad_(True)
    transform = (lambda t: torch.log_softmax(t, dim=1)) if isinstance(subject.loss, nn.NLLLoss) else (lambda t: t)
    opt = torch.optim.Adam([z], lr=FLOOR_LR)
    best = math.inf
    for _ in range(FLOOR_STEPS):
        opt.zero_grad()
        value = loss(transform(z), targets)
        v = value.item()
        if not math.isfinite(v):
            return None
        best = min(best, v)
        value.backward()
        opt.step()
    return best


def _float64(loss: nn.Module) -> nn.Module:
    import copy

    out = copy.deepcopy(loss)
    return out.double()


def _accuracy_counts(subject: ModelUnderTest, out: torch.Tensor) -> tuple[int, int] | None:
    """(right, counted) over the rows the loss scores, targets in [0, C) other than ignore_index; None where the loss
    does not say (a callable) or where the batch cannot be memorised position by position (a causal LM: positions
    with the same prefix get the same output, whatever their next token)."""
    if isinstance(subject.loss, SequenceCrossEntropyLoss) and subject.loss.shift:
        return None
    scores = subject.class_scores(out)
    if scores is None:
        return None
    rows, y = scores
    keep = (y >= 0) & (y < rows.shape[1])
    if subject.ignore_index is not None:
        keep &= y != subject.ignore_index
    return int((rows.argmax(dim=1)[keep] == y[keep]).sum()), int(keep.sum())


def _train(subject: ModelUnderTest, opt: torch.optim.Optimizer, floor: float, seed: int) -> Run:
    run = Run(type(opt).__name__, float(opt.param_groups[0]["lr"]))
    model = subject.model
    model.train()
    with same_randomness(seed):
        for step in range(MAX_STEPS):
            opt.zero_grad(set_to_none=True)
            out = subject.forward()
            loss = subject.loss(out, subject.targets)
            value = loss.item()
            run.losses.append(value)
            counts = _accuracy_counts(subject, out.detach())
            if counts is not None:
                run.accuracies.append(counts[0] / counts[1] if counts[1] else math.nan)
            if not math.isfinite(value):
                break
            if value - floor <= (run.losses[0] - floor) / GAP_FACTOR and (counts is None or counts[0] == counts[1]):
                run.reached = step
                break
            loss.backward()
            opt.step()
    return run


def _gap_fell(run: Run, floor: float) -> float:
    first, last = run.losses[0] - floor, run.losses[-1] - floor
    if not (math.isfinite(first) and math.isfinite(last)) or first <= 0:
        return math.nan
    return first / last if last > 0 else math.inf


def _describe(run: Run, floor: float) -> tuple[str, str]:
    acc = (
        f" and accuracy {run.accuracies[-1]:.1%}" if run.accuracies else "",
        f",准确率 {run.accuracies[-1]:.1%}" if run.accuracies else "",
    )
    fell = num(_gap_fell(run, floor))
    return (
        f"the loss went from {num(run.losses[0])} to {num(run.losses[-1])} (its gap to the lowest reachable loss "
        f"{num(floor)} fell {fell}x){acc[0]}",
        f"损失从 {num(run.losses[0])} 降到 {num(run.losses[-1])}(与可达到的最低损失 {num(floor)} 之差下降了 {fell} "
        f"倍){acc[1]}",
    )


def _record(rec: Recorder, run: Run, floor: float) -> None:
    steps = range(len(run.losses))
    rec.curve("loss / loss at step 0", steps, [v / run.losses[0] if run.losses[0] else math.nan for v in run.losses])
    if run.accuracies:
        rec.curve("accuracy on the batch", steps, run.accuracies)
        rec.number("final accuracy", run.accuracies[-1])
    rec.number("steps", len(run.losses) - 1)
    rec.number("loss at step 0", run.losses[0])
    rec.number("final loss", run.losses[-1])
    rec.number("gap to the lowest loss fell by", _gap_fell(run, floor))
    rec.number("learning rate", run.lr)


def can_overfit_one_batch(subject: ModelUnderTest) -> CheckResult:
    rec = Recorder(INFO)
    seed = check_seed(INFO.id)
    model = subject.model
    model.train()
    with torch.no_grad(), same_randomness(seed):
        out0 = subject.forward()
    floor = lowest_reachable_loss(subject, out0)
    floor_known = floor is not None
    floor = floor if floor_known else 0.0
    rec.number("lowest reachable loss", floor)
    with preserved(subject):
        own = _train(subject, subject.make_optimizer(model.parameters()), floor, seed)
    n = subject.batch_size
    if own.reached is not None:
        _record(rec, own, floor)
        what = _describe(own, floor)
        s = "" if own.reached == 1 else "s"
        return rec.passed(
            Text(
                f"{own.optimizer} (lr {own.lr:g}) fits the batch in {own.reached} step{s}: {what[0]} "
                f"(step.updates-parameters).",
                f"{own.optimizer}(lr {own.lr:g})在 {own.reached} 步内拟合了该 batch:{what[1]}"
                f"(step.updates-parameters)。",
            )
        )
    theirs = _describe(own, floor)
    if own.diverged or own.went_uphill:
        _record(rec, own, floor)
        how = (
            f"the loss became {own.losses[-1]} at step {len(own.losses) - 1}"
            if own.diverged
            else f"the loss rose from {num(own.losses[0])} to {num(own.losses[-1])} and never went below its start"
        )
        how_zh = (
            f"第 {len(own.losses) - 1} 步损失变成 {own.losses[-1]}"
            if own.diverged
            else f"损失从 {num(own.losses[0])} 升到 {num(own.losses[-1])},从未低于起点"
        )
        return rec.failed(
            Text(
                f"{own.optimizer} (lr {own.lr:g}) does not descend on one batch of {n} samples: {how}. The steps overshoot "
                f"or go uphill: lower the learning rate, and check the optimizer's maximize= and the loss's sign "
                f"(explosion.definition).",
                f"{own.optimizer}(lr {own.lr:g})在一个 {n} 个样本的 batch 上没有下降:{how_zh}。更新步长过大或方向向上:请降低"
                f"学习率,并检查优化器的 maximize= 与损失的符号(explosion.definition)。",
            )
        )
    tried = []
    for lr in CHECKER_LRS:
        with preserved(subject):
            mine = _train(subject, torch.optim.Adam(model.parameters(), lr=lr), floor, seed)
        tried.append(mine)
        if mine.reached is not None:
            break
    _record(rec, mine, floor)
    if mine.reached is not None:
        return rec.passed(
            Text(
                f"with Adam at lr {mine.lr:g}, the checker's choice for this check, the model fits the batch in "
                f"{mine.reached} steps: {_describe(mine, floor)[0]}; the model can learn (step.updates-parameters).",
                f"用本检查自选的 Adam(lr {mine.lr:g}),模型在 {mine.reached} 步内拟合了该 batch:"
                f"{_describe(mine, floor)[1]};模型能够学习(step.updates-parameters)。",
            ),
            note=Text(
                f"Note: its own {own.optimizer} (lr {own.lr:g}) does not fit the batch within {MAX_STEPS} steps "
                f"({theirs[0]}): at that learning rate memorising one batch is slow, which is no fault of the "
                f"model (step.updates-parameters).",
                f"注意:它自己的 {own.optimizer}(lr {own.lr:g})在 {MAX_STEPS} 步内拟合不了该 batch({theirs[1]}):"
                f"在这个学习率下记住一个 batch 很慢,这不是模型的问题(step.updates-parameters)。",
            ),
        )
    unknown = (
        "" if floor_known else " (the loss is unbounded below over free outputs: 0 taken as its floor)",
        "" if floor_known else "(在任意输出上该损失无下界:取 0 作为下限)",
    )
    adam = "; ".join(f"lr {r.lr:g}: {_describe(r, floor)[0]}" for r in tried)
    adam_zh = ";".join(f"lr {r.lr:g}:{_describe(r, floor)[1]}" for r in tried)
    return rec.failed(
        Text(
            f"the model does not fit one batch of {n} samples in {MAX_STEPS} steps, with its own {own.optimizer} "
            f"(lr {own.lr:g}: {theirs[0]}) nor with Adam ({adam}){unknown[0]}. A model that cannot memorise one batch "
            f"cannot learn the data: check that the output depends on the input, that the layers train (no dead units, "
            f"nothing detached or frozen by mistake) and that the loss compares the right things "
            f"(step.updates-parameters).",
            f"模型在 {MAX_STEPS} 步内拟合不了一个 {n} 个样本的 batch:用它自己的 {own.optimizer}(lr {own.lr:g}:{theirs[1]})"
            f"和用 Adam({adam_zh})都不行{unknown[1]}。连一个 batch 都记不住的模型学不会数据:请检查输出是否依赖输入、各层是否"
            f"在训练(没有死单元,没有误用 detach 或冻结),以及损失比较的对象是否正确(step.updates-parameters)。",
        )
    )
