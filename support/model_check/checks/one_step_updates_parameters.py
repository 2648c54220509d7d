"""Check: one optimizer step changes every trainable parameter and nothing frozen (step.updates-parameters).

One step of the subject's optimizer on its own model. Fails on a trainable parameter the step leaves unchanged for a
reason that persists (not in the optimizer, ``.grad`` None, a dead unit, a learning rate of 0), and on a parameter
with requires_grad=False or named ``frozen`` that the step changes -- also through weight decay, which moves a
parameter whose gradient is zero (but not one whose ``.grad`` is None, which step() skips). Parameters the shared
diagnosis (``_zero_gradients``) finds harmless pass with the same notes as check 1. A parameter with a real gradient
whose first update rounds away (a tiny gradient next to its weights, behind a layer-scale initialised small) passes
with a note when one of the next ``MORE_STEPS`` steps moves it.
"""

from __future__ import annotations

import torch

from support.gradients import dense
from support.model_check.catalog import info
from support.model_check.checks._notes import harmless, skipped_at_random
from support.model_check.checks._numerics import check_seed, listing, listing_zh, num, same_randomness
from support.model_check.checks._zero_gradients import Kind, diagnose, draws_of, has_tensor_hooks, unused_in_every_draw
from support.model_check.checks.result import CheckResult, Recorder, Text, join
from support.model_check.subject import ModelUnderTest

INFO = info("one-step-updates-parameters")
MORE_STEPS = 5  # a layer-scale of 1e-6 grows by a factor of ~100 a step under SGD: a few steps open its branch


def _group_of(opt: torch.optim.Optimizer, p: torch.Tensor) -> dict | None:
    for group in opt.param_groups:
        if any(q is p for q in group["params"]):
            return group
    return None


def _step(subject: ModelUnderTest, opt: torch.optim.Optimizer, seed: int) -> None:
    opt.zero_grad(set_to_none=True)
    with same_randomness(seed):
        subject.loss(subject.forward(), subject.targets).backward()
    opt.step()


def one_step_updates_parameters(subject: ModelUnderTest) -> CheckResult:
    rec = Recorder(INFO)
    seed = check_seed(INFO.id)
    model = subject.model
    model.train()
    opt = subject.make_optimizer(model.parameters())
    optimizer = type(opt).__name__
    params = dict(model.named_parameters())
    before = {n: p.detach().clone() for n, p in params.items()}
    learnable = [n for n, p in params.items() if p.requires_grad and n not in subject.frozen]
    opt.zero_grad(set_to_none=True)
    with same_randomness(seed):
        subject.loss(subject.forward(), subject.targets).backward()
    raw = {n: p.grad for n, p in params.items()}  # as backward left them (sparse for a sparse embedding)
    grads = {n: (None if g is None else dense(g).detach().clone()) for n, g in raw.items()}
    # the diagnosis of zero gradients is made where they were measured, before the step (it puts the model back)
    found = diagnose(subject, grads, learnable, seed)
    for n, p in params.items():
        p.grad = raw[n]
    opt.step()
    changed = {n: not torch.equal(before[n], params[n].detach()) for n in params}
    max_change = {n: (params[n].detach() - before[n]).abs().max().item() if params[n].numel() else 0.0 for n in params}
    stuck = [n for n in learnable if not changed[n]]
    after_one = {n: params[n].detach().clone() for n in stuck}
    no_grad = [n for n in stuck if grads[n] is None and _group_of(opt, params[n]) is not None]
    skipped = [n for n in no_grad if n not in unused_in_every_draw(subject, no_grad, draws_of(subject, seed))]
    # the notes name harmless parameters whether the step moved them or not (Adam turns rounding into a full step)
    by_kind = {k: [n for n in learnable if n in found and found[n].kind is k] for k in Kind}
    excused = set(by_kind[Kind.NO_EFFECT] + by_kind[Kind.ZERO_AT_INIT] + skipped)
    notes = harmless(found, by_kind) + skipped_at_random(skipped)
    # a real gradient whose first update rounded away: do the next steps move it?
    slow = [
        n
        for n in stuck
        if n not in excused
        and grads[n] is not None
        and _group_of(opt, params[n]) is not None
        and (n not in found or found[n].kind is Kind.LEARNS)
        and float(_group_of(opt, params[n])["lr"]) > 0
    ]
    late: dict[str, int] = {}
    for step in range(2, 2 + MORE_STEPS if slow else 0):
        _step(subject, opt, seed + step)  # a new random draw each step: a branch one draw drops, the next keeps
        for n in slow:
            if n not in late and not torch.equal(after_one[n], params[n].detach()):
                late[n] = step
        if len(late) == len(slow):
            break
    if late:
        notes.append(
            Text(
                f"Note: the first update of {len(late)} parameter(s) rounds away (a gradient tiny next to their weights, "
                f"e.g. behind a layer-scale initialised small); a later step moves them: "
                f"{listing(list(late), lambda n: f'{n} (from step {late[n]})')} (step.updates-parameters).",
                f"注意:{len(late)} 个参数的第一次更新被舍入掉了(梯度相对其权重极小,例如在初始化得很小的 layer-scale 之后);"
                f"之后的某一步会移动它们:{listing_zh(list(late), lambda n: f'{n}(从第 {late[n]} 步起)')}"
                f"(step.updates-parameters)。",
            )
        )

    def why_stuck(n: str) -> Text:
        g, group = grads[n], _group_of(opt, params[n])
        if group is None:
            return Text(f"{n} (not in the optimizer)", f"{n}(不在优化器中)")
        if g is None:
            return Text(
                f"{n} (.grad is None: step() skips it; unused in the forward, or used only for inputs this batch lacks)",
                f"{n}(.grad 为 None:step() 跳过它;前向中未使用,或只用于这个 batch 没有的输入)",
            )
        if float(group["lr"]) == 0:
            return Text(f"{n} (its optimizer group has lr=0)", f"{n}(它所在的优化器参数组 lr=0)")
        d = found.get(n)
        if d is not None and d.kind is Kind.DEAD:
            return Text(
                f"{n} ({d.describe()}: a dead unit, the loss depends on it)",
                f"{n}({d.describe()}:死掉的单元,损失依赖于它)",
            )
        if d is not None and d.kind is Kind.STUCK_TOGETHER:
            return Text(
                f"{n} ({d.describe()}: zero on both sides of a product, it and others hold each other's "
                f"gradient at 0, e.g. LoRA's A and B both 0)",
                f"{n}({d.describe()}:乘积两侧都为零,它与其他参数使彼此的梯度保持为 0,例如 A 和 B 都为 0 的 LoRA)",
            )
        if d is not None and d.kind is Kind.HOOK_ZEROED:
            return Text(
                f"{n} ({d.describe()}: a hook on the tensor zeroes its gradient; name it in `frozen` if "
                f"that is on purpose)",
                f"{n}({d.describe()}:张量上的 hook 把梯度置零;如果是有意的,请在 `frozen` 中列出它)",
            )
        return Text(
            f"{n} (gradient norm {num(g.norm().item())}: {1 + MORE_STEPS} steps leave it unchanged)",
            f"{n}(梯度范数 {num(g.norm().item())}:{1 + MORE_STEPS} 步都没有改变它)",
        )

    problems = []
    still = [n for n in stuck if n not in excused and n not in late]
    if still:
        problems.append(
            Text("trainable but unchanged by the step: ", "可训练但没有被更新改变:")
            + join([why_stuck(n) for n in still[:8]], en=", ", zh="、")
            + (
                Text(f" and {len(still) - 8} more", f" 等(另有 {len(still) - 8} 个)")
                if len(still) > 8
                else Text("", "")
            )
        )

    def how_moved(n: str) -> Text:
        p, g, group = params[n], grads[n], _group_of(opt, params[n])
        decay = float((group or {}).get("weight_decay", 0.0) or 0.0)
        change = num(max_change[n])
        if g is not None and g.count_nonzero() == 0 and decay > 0:
            cause = " (a hook on the tensor zeroes it)" if has_tensor_hooks(p) else ""
            cause_zh = "(张量上的 hook 把它置零)" if has_tensor_hooks(p) else ""
            return Text(
                f"{n} (max |change| {change}; its gradient is zero{cause} but weight_decay={decay:g} in its "
                f"optimizer group moves it: set requires_grad=False or leave it out of the optimizer)",
                f"{n}(最大改变量 {change};它的梯度为零{cause_zh},但它所在参数组的 weight_decay={decay:g} 仍会"
                f"移动它:设置 requires_grad=False,或不要把它交给优化器)",
            )
        if g is not None and g.count_nonzero() > 0:
            return Text(
                f"{n} (max |change| {change}; it gets a gradient and the optimizer updates it: set "
                f"requires_grad=False or leave it out of the optimizer)",
                f"{n}(最大改变量 {change};它得到了梯度,优化器更新了它:设置 requires_grad=False,或不要把它交给优化器)",
            )
        return Text(
            f"{n} (max |change| {change}; written to outside the optimizer, e.g. in forward)",
            f"{n}(最大改变量 {change};在优化器之外被写入,例如在 forward 中)",
        )

    moved_frozen = [n for n in subject.frozen if changed[n]]
    if moved_frozen:
        problems.append(
            Text("named frozen but changed by one step: ", "被指名冻结却在一步之后改变了:")
            + join([how_moved(n) for n in moved_frozen], en=", ", zh="、")
        )
    moved_fixed = [n for n, p in params.items() if not p.requires_grad and n not in subject.frozen and changed[n]]
    if moved_fixed:
        problems.append(
            Text(
                f"requires_grad=False but changed (written to outside the optimizer, e.g. in forward): "
                f"{listing(moved_fixed)}",
                f"requires_grad=False 却改变了(在优化器之外被写入,例如在 forward 中):{listing_zh(moved_fixed)}",
            )
        )
    rec.number("trainable parameters", len(learnable))
    rec.number("trainable parameters changed by one step", sum(changed[n] for n in learnable))
    kept = [n for n, p in params.items() if not p.requires_grad or n in subject.frozen]
    rec.number("frozen parameters (requires_grad=False or named) left unchanged", sum(not changed[n] for n in kept))
    rec.number("parameters the loss does not depend on", len(by_kind[Kind.NO_EFFECT]))
    rec.number("parameters with zero gradient at init only", len(by_kind[Kind.ZERO_AT_INIT]))
    note = join(notes, en=" ", zh="") or None
    if problems:
        return rec.failed(
            Text(
                f"one {optimizer} step does not move what it should: ",
                f"一次 {optimizer} 更新没有按应有的方式移动参数:",
            )
            + join(problems)
            + Text(" (step.updates-parameters).", "(step.updates-parameters)。"),
            note,
        )
    moved = len(learnable) - len(excused)
    moves = (
        Text(f"changes all {len(learnable)} trainable parameters", f"改变了全部 {len(learnable)} 个可训练参数")
        if not stuck
        else Text(f"changes the {moved} trainable parameters that learn", f"改变了会学习的 {moved} 个可训练参数")
    )
    return rec.passed(
        Text(f"one {optimizer} step ", f"一次 {optimizer} 更新")
        + moves
        + Text(
            f" and leaves the {len(kept)} frozen ones (requires_grad=False or named) unchanged "
            f"(step.updates-parameters).",
            f",并且保持 {len(kept)} 个冻结参数(requires_grad=False 或被指名冻结的)不变(step.updates-parameters)。",
        ),
        note,
    )
