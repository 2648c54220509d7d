"""Check: every trainable parameter gets a finite gradient from one batch backward (backward.fills-grad).

One forward of the batch in train mode, the loss, one ``backward()`` on the subject's own model (its tensor hooks in
force). Fails on parameters left with ``.grad`` None (defined but not used, or cut off by ``.detach()`` /
``torch.no_grad()``), non-finite gradients, and zero gradients that ``_zero_gradients.diagnose`` finds harmful: a
dead unit, a hook that zeroes the gradient of a parameter not named ``frozen``, an underflow. Parameters whose
gradient is zero at init only (a zero-initialised layer blocks them) or that the loss does not depend on at all (a
bias before a normalisation, attention's key bias) pass, named in a note. Parameters named ``frozen`` are exempt.
"""

from __future__ import annotations

import torch

from support.gradients import dense, flat_grad
from support.model_check.catalog import info
from support.model_check.checks._notes import harmless, skipped_at_random
from support.model_check.checks._numerics import check_seed, listing, listing_zh, num, same_randomness
from support.model_check.checks._zero_gradients import Kind, diagnose, draws_of, unused_in_every_draw
from support.model_check.checks.result import CheckResult, Recorder, Text, join
from support.model_check.subject import ModelUnderTest

INFO = info("every-parameter-gets-a-gradient")


def every_parameter_gets_a_gradient(subject: ModelUnderTest) -> CheckResult:
    rec = Recorder(INFO)
    seed = check_seed(INFO.id)
    model = subject.model
    model.train()
    model.zero_grad(set_to_none=True)
    with same_randomness(seed):
        loss = subject.loss(subject.forward(), subject.targets)
    rec.number("loss of the batch", loss.item())
    if not torch.isfinite(loss):
        return rec.failed(
            Text(
                f"the loss of the batch is {loss.item()} before any training: the forward or the loss produces "
                f"non-finite values, so no gradient can be trusted (backward.fills-grad).",
                f"训练开始前该 batch 的损失就是 {loss.item()}:前向计算或损失函数产生了非有限值,任何梯度都不可信"
                f"(backward.fills-grad)。",
            )
        )
    loss.backward()
    trainable = [n for n, p in subject.trainable() if n not in subject.frozen]
    params = dict(model.named_parameters())
    grads = {n: (None if p.grad is None else dense(p.grad).detach().clone()) for n, p in params.items()}
    no_grad = [n for n in trainable if grads[n] is None]
    none = unused_in_every_draw(subject, no_grad, draws_of(subject, seed)) if no_grad else []
    skipped = [n for n in no_grad if n not in none]  # LayerDrop or stochastic depth left them out of this draw
    nonfinite = [n for n in trainable if grads[n] is not None and not bool(torch.isfinite(grads[n]).all())]
    found = diagnose(subject, grads, [n for n in trainable if n not in no_grad and n not in nonfinite], seed)
    by_kind = {k: [n for n in trainable if n in found and found[n].kind is k] for k in Kind}
    harmful = by_kind[Kind.DEAD] + by_kind[Kind.HOOK_ZEROED] + by_kind[Kind.UNDERFLOW] + by_kind[Kind.STUCK_TOGETHER]
    learning = len(trainable) - len(none) - len(nonfinite) - len(harmful) - len(by_kind[Kind.NO_EFFECT])
    rec.number("trainable parameters", len(trainable))
    rec.number("with a finite non-zero gradient", learning - len(by_kind[Kind.ZERO_AT_INIT]))
    rec.number("parameters the loss does not depend on", len(by_kind[Kind.NO_EFFECT]))
    rec.number("parameters with zero gradient at init only", len(by_kind[Kind.ZERO_AT_INIT]))
    notes = harmless(found, by_kind) + skipped_at_random(skipped)
    problems = []
    if none:
        other = subject.other_outputs()
        also = (
            Text(
                f"; the checks' loss reads the model's `logits` only, so parameters that feed only its other "
                f"outputs ({other}) get no gradient from it",
                f";检查所用的损失只读取模型的 `logits`,只影响其他输出({other})的参数得不到它的梯度",
            )
            if other
            else Text("", "")
        )
        problems.append(
            Text(
                f"no gradient (.grad is None: not used in the forward, cut off by .detach() or torch.no_grad(), or used "
                f"only for some inputs, e.g. a routed expert that no sample of this batch reached): {listing(none)}",
                f"没有梯度(.grad 为 None:前向计算中没有用到,被 .detach() / torch.no_grad() 切断,或只对部分输入使用,"
                f"例如这个 batch 中没有样本被路由到的专家):{listing_zh(none)}",
            )
            + also
        )
    if by_kind[Kind.STUCK_TOGETHER]:
        stuck = by_kind[Kind.STUCK_TOGETHER]
        problems.append(
            Text(
                f"a zero gradient that no step changes, although shifting them together moves the loss: {listing(stuck)} "
                f"-- parameters initialised to 0 on both sides of a product (a LoRA adapter with A and B both 0) hold each "
                f"other's gradient at 0; initialise one side randomly",
                f"梯度为零且任何一步都不改变它,尽管把它们一起平移会改变损失:{listing_zh(stuck)}——乘积两侧都初始化为 0 的参数"
                f"(A 和 B 都为 0 的 LoRA 适配器)使彼此的梯度保持为 0;请随机初始化其中一侧",
            )
        )
    if by_kind[Kind.DEAD]:
        dead = by_kind[Kind.DEAD]
        problems.append(
            Text(
                f"a zero gradient although the loss depends on them (shifting them changes the loss): "
                f"{listing(dead, lambda n: f'{n} ({found[n].describe()})')} -- a dead ReLU or clamp, a saturated unit",
                f"梯度为零,但损失依赖于它们(平移它们会改变损失):{listing_zh(dead, lambda n: f'{n}({found[n].describe()})')}"
                f"——死掉的 ReLU 或 clamp、饱和的单元",
            )
        )
    if by_kind[Kind.HOOK_ZEROED]:
        hooked = by_kind[Kind.HOOK_ZEROED]
        problems.append(
            Text(
                f"a gradient that a hook on the tensor sets to 0 (p.register_hook; in float64 arithmetic it is not 0): "
                f"{listing(hooked, lambda n: f'{n} ({found[n].describe()})')} -- if they are frozen on purpose, name them "
                f"in `frozen` (the step check then verifies that nothing moves them) or set requires_grad=False",
                f"梯度被张量上的 hook 置零(p.register_hook;按 float64 计算并不为零):"
                f"{listing_zh(hooked, lambda n: f'{n}({found[n].describe()})')}——如果是有意冻结,请在 `frozen` 中列出它们"
                f"(更新步检查会确认没有任何东西移动它们),或设置 requires_grad=False",
            )
        )
    if by_kind[Kind.UNDERFLOW]:
        under = by_kind[Kind.UNDERFLOW]
        problems.append(
            Text(
                f"a gradient that is 0 in the model's dtype but not in float64 (it underflows): "
                f"{listing(under, lambda n: f'{n} ({found[n].describe()})')}",
                f"梯度在模型的数据类型中为 0,但在 float64 中不为 0(下溢):"
                f"{listing_zh(under, lambda n: f'{n}({found[n].describe()})')}",
            )
        )
    if nonfinite:
        problems.append(
            Text(
                f"a non-finite gradient (NaN or inf): {listing(nonfinite)}",
                f"非有限的梯度(NaN 或 inf):{listing_zh(nonfinite)}",
            )
        )
    note = join(notes, en=" ", zh="") or None
    if problems:
        bad = len(none) + len(nonfinite) + len(harmful)
        return rec.failed(
            Text(
                f"{bad} of {len(trainable)} trainable parameters get no usable gradient from one batch backward: ",
                f"{len(trainable)} 个可训练参数中有 {bad} 个没有从一次 batch 反向传播中得到可用的梯度:",
            )
            + join(problems)
            + Text(". They do not train (backward.fills-grad).", "。它们不会被训练(backward.fills-grad)。"),
            note,
        )
    frozen = [n for n, p in params.items() if not p.requires_grad]
    total = flat_grad([params[n] for n in trainable if grads[n] is not None]).double().norm().item()
    rec.number("total gradient norm", total)
    head = (
        Text(f"all {len(trainable)} trainable parameters get", f"全部 {len(trainable)} 个可训练参数都")
        if learning == len(trainable)
        else Text(
            f"{learning} of {len(trainable)} trainable parameters get",
            f"{len(trainable)} 个可训练参数中有 {learning} 个",
        )
    )
    parts = [
        head
        + Text(
            f" a finite gradient from one batch backward (total norm {num(total)})",
            f"从一次 batch 反向传播中得到有限的梯度(总范数 {num(total)})",
        )
    ]
    if frozen:
        parts.append(
            Text(
                f"{len(frozen)} with requires_grad=False keep .grad None",
                f"{len(frozen)} 个 requires_grad=False 的参数的 .grad 保持为 None",
            )
        )
    if subject.frozen:
        parts.append(
            Text(
                f"{len(subject.frozen)} named frozen are not required to",
                f"{len(subject.frozen)} 个被指名冻结的参数不要求有梯度",
            )
        )
    return rec.passed(join(parts) + Text(" (backward.fills-grad).", "(backward.fills-grad)。"), note)
