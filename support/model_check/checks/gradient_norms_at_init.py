"""Check: gradients at init are finite and neither explode nor vanish with depth (explosion.definition,
explosion.cause.init, explosion.cause.depth, remedy.clip-norm).

At init the gradients are finite; the gradient at each layer's output (every module with parameters of its own, in
forward order) neither explodes nor vanishes with depth: the least-squares trend of its log-norm, carried over the
depth of the net, changes it by less than ``SPREAD_LIMIT``; clipping the model's gradients to half their norm meets
clip_grad_norm_'s post-condition. Per-layer norms and the update/weight ratio of one step are reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from support.fits import fit_log_slope
from support.gradients import dense, flat_grad, flat_params
from support.model_check.catalog import info
from support.model_check.checks._numerics import check_seed, listing, listing_zh, num, same_randomness
from support.model_check.checks.result import CheckResult, Recorder, Text
from support.model_check.subject import ModelUnderTest
from support.monitor import GradientMonitor
from support.tolerances import accumulation

INFO = info("gradient-norms-at-init")
UPDATE_RATIO_RULE = 1e-3  # update / weight of a healthy step (CS231n notes, "Ratio of weights:updates")
SPREAD_LIMIT = 1.0 / UPDATE_RATIO_RULE  # gradient spread over the depth one learning rate can serve


@dataclass
class LayerGradients:
    names: list[str]
    output_grad_norms: list[float]
    weight_grad_norms: list[float]
    weight_norms: list[float]


def _tensors(output) -> list[torch.Tensor]:
    """Every tensor of a module's output: a tensor, or the tensors of a (nested) tuple/list (an RNN returns
    (output, (h_n, c_n)); a model may use any of them)."""
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, (tuple, list)):
        return [t for o in output for t in _tensors(o)]
    return []


def layer_gradients(subject: ModelUnderTest, seed: int) -> tuple[torch.Tensor, LayerGradients]:
    """One train-mode backward of the batch loss, with the gradient norm at the output of every layer (module with
    parameters of its own) in forward order -- over all the tensors it returns that the loss reaches -- and the norms
    of its own parameters' gradients. Returns the loss."""
    model = subject.model
    model.train()
    model.zero_grad(set_to_none=True)
    calls: list[dict] = []

    def on_output(name: str):
        def hook(mod, args, output):
            reached = [t for t in _tensors(output) if t.requires_grad]
            if not reached:
                return
            rec = {"name": name, "module": mod, "squares": []}
            calls.append(rec)
            for t in reached:  # a hook sees None for an output the loss does not reach
                t.register_hook(
                    lambda g, rec=rec: (
                        None if g is None else rec["squares"].append(g.detach().double().pow(2).sum().item())
                    )
                )

        return hook

    layers = [
        (n or type(m).__name__, m) for n, m in model.named_modules() if any(True for _ in m.parameters(recurse=False))
    ]
    hooks = [m.register_forward_hook(on_output(n)) for n, m in layers]
    try:
        with same_randomness(seed):
            loss = subject.loss(subject.forward(), subject.targets)
        loss.backward()
    finally:
        for h in hooks:
            h.remove()
    calls = [c for c in calls if c["squares"]]
    seen: dict[str, int] = {}
    names, out_norms, w_norms, p_norms = [], [], [], []
    for c in calls:
        seen[c["name"]] = seen.get(c["name"], 0) + 1
        names.append(c["name"] if seen[c["name"]] == 1 else f"{c['name']} (call {seen[c['name']]})")
        out_norms.append(math.sqrt(sum(c["squares"])))
        own = [p for p in c["module"].parameters(recurse=False) if p.grad is not None]
        w_norms.append(flat_grad(own).double().norm().item() if own else 0.0)
        p_norms.append(flat_params(own).double().norm().item() if own else 0.0)
    return loss, LayerGradients(names, out_norms, w_norms, p_norms)


def _clip_problem(params: list[torch.Tensor], before: torch.Tensor, total64: float, rec: Recorder) -> Text | None:
    """clip_grad_norm_'s post-condition on this model's gradients (remedy.clip-norm): it returns the total norm and
    scales every gradient by min(1, max_norm / (total + 1e-6)), so afterwards the norm is <= max_norm and the
    direction is unchanged. The reference norm is taken in float64; clip_grad_norm_ sums n squares in the gradients'
    dtype, so they may differ by the accumulation tolerance of n terms (support.tolerances)."""
    max_norm = total64 / 2
    if not max_norm > 0:
        return None
    room = accumulation(params[0].grad.dtype, before.numel()).rtol
    returned = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
    after = flat_grad(params).double()
    clipped = rec.number("norm after clip_grad_norm_(max_norm = norm / 2)", after.norm().item())
    cosine = (after @ before).item() / (clipped * total64)
    if clipped > max_norm * (1 + room) or cosine < 1 - room or abs(returned - total64) > room * total64:
        return Text(
            f"clip_grad_norm_ does not meet its post-condition on this model's gradients: norm {num(clipped)} "
            f"after clipping to {num(max_norm)} (cosine to the unclipped {cosine:.9f}, returned total "
            f"{num(returned)} vs {num(total64)}; relative room {room:.2g}) (remedy.clip-norm)",
            f"clip_grad_norm_ 在该模型的梯度上不满足它的后置条件:裁剪到 {num(max_norm)} 之后范数为 {num(clipped)}"
            f"(与未裁剪梯度的余弦 {cosine:.9f},返回的总范数 {num(returned)},而应为 {num(total64)};相对余量 "
            f"{room:.2g})(remedy.clip-norm)",
        )
    return None


def gradient_norms_at_init(subject: ModelUnderTest) -> CheckResult:
    rec = Recorder(INFO)
    seed = check_seed(INFO.id)
    monitor = GradientMonitor(subject.model)
    loss, layers = layer_gradients(subject, seed)
    anomalies = monitor.observe(loss)
    params = [p for p in subject.model.parameters() if p.grad is not None]
    rec.number("loss at init", loss.item())
    rec.number("layers charted", len(layers.names))
    if any(a.kind in ("non-finite-loss", "non-finite-grad") for a in anomalies):
        bad = [p for a in anomalies for p in a.parameters]
        return rec.failed(
            Text(
                f"at initialisation the loss or the gradients are not finite (loss {loss.item()}); parameters with "
                f"NaN/inf gradients: {listing(bad) or 'none (only their total overflows)'} (explosion.definition).",
                f"初始化时损失或梯度不是有限值(损失 {loss.item()});梯度为 NaN/inf 的参数:"
                f"{listing_zh(bad) or '没有(只是它们的总和溢出)'}(explosion.definition)。",
            )
        )
    before = flat_grad(params).double()  # float64, the reference of the clip check too
    total64 = rec.number("total gradient norm", before.norm().item())
    idx = list(range(len(layers.names)))
    positive = [(i, v) for i, v in zip(idx, layers.output_grad_norms) if v > 0]
    rec.curve("gradient norm at each layer's output", idx, layers.output_grad_norms)
    rec.curve("gradient norm of each layer's parameters", idx, layers.weight_grad_norms)
    trend = None
    problems = []
    if len(positive) >= 3:
        fit = fit_log_slope([i for i, _ in positive], [v for _, v in positive])
        depth = positive[-1][0] - positive[0][0]
        spread = rec.number("trend: gradient at first layer / at last layer", math.exp(-fit.slope * depth))
        per_layer = rec.number("trend: factor per layer toward the input", math.exp(-fit.slope))
        rec.curve("fitted trend", [i for i, _ in positive], [math.exp(fit.predict(i)) for i, _ in positive])
        trend = Text(
            f"the trend of the output-gradient norm over {len(positive)} layers changes it {num(spread)}x from "
            f"the last layer to the first ({num(per_layer)}x per layer)",
            f"输出梯度范数在 {len(positive)} 层上的趋势使它从最后一层到第一层变化 {num(spread)} 倍"
            f"(每层 {num(per_layer)} 倍)",
        )
        if spread > SPREAD_LIMIT or spread < 1 / SPREAD_LIMIT:
            kind = ("explode", "爆炸") if spread > 1 else ("vanish", "消失")
            first, last = layers.names[positive[0][0]], layers.names[positive[-1][0]]
            lo, hi = num(positive[-1][1]), num(positive[0][1])
            problems.append(
                Text(f"gradients {kind[0]} with depth at init: ", f"初始化时梯度随深度{kind[1]}:")
                + trend
                + Text(
                    f" -- from {lo} at layer {last!r} to {hi} at layer {first!r}, beyond the "
                    f"{SPREAD_LIMIT:g}x a single learning rate can serve (explosion.cause.init, "
                    f"explosion.cause.depth); use the init the layers' activation calls for (He for "
                    f"ReLU, Glorot for tanh), normalisation or residual connections",
                    f"——从层 {last!r} 的 {lo} 到层 {first!r} 的 {hi},超出了单一学习率能兼顾的 "
                    f"{SPREAD_LIMIT:g} 倍(explosion.cause.init、explosion.cause.depth);请使用与激活函数"
                    f"相配的初始化(ReLU 用 He,tanh 用 Glorot)、归一化或残差连接",
                )
            )
    saved = [p.grad.detach().clone() for p in params]
    for p in params:  # clip_grad_norm_ takes strided gradients (a sparse embedding's are made dense, then put back)
        p.grad = dense(p.grad)
    clip = _clip_problem(params, before, total64, rec)
    if clip is not None:
        problems.append(clip)
    for p, g in zip(params, saved):
        p.grad = g
    # update / weight ratio of one step of the subject's optimizer (reported)
    opt = subject.make_optimizer(subject.model.parameters())
    weights_before = {id(p): p.detach().clone() for p in subject.model.parameters()}
    opt.step()
    modules = dict(subject.model.named_modules())
    ratios = []
    for layer in layers.names:
        mod = modules.get(layer.split(" (call")[0])
        own = list(mod.parameters(recurse=False)) if isinstance(mod, nn.Module) else []
        num_ = math.sqrt(sum((p.detach() - weights_before[id(p)]).double().pow(2).sum().item() for p in own))
        den = math.sqrt(sum(weights_before[id(p)].double().pow(2).sum().item() for p in own))
        ratios.append(num_ / den if den > 0 else 0.0)
    if ratios:
        rec.number("largest update/weight ratio of one step", max(ratios))
    if problems:
        return rec.failed(Text("; ".join(p.en for p in problems) + ".", ";".join(p.zh for p in problems) + "。"))
    shape = (
        trend + Text(".", "。")
        if trend is not None
        else Text(
            f"only {len(positive)} layers: too few for a trend with depth.",
            f"只有 {len(positive)} 层:太少,看不出随深度的趋势。",
        )
    )
    largest = num(max(ratios, default=0.0))
    return rec.passed(
        Text(
            f"gradients at init are finite (total norm {num(total64)}); ",
            f"初始化时梯度是有限的(总范数 {num(total64)});",
        )
        + shape
        + Text(
            f" clip_grad_norm_ meets its post-condition; one step moves each layer by at most "
            f"{largest} of its weights (explosion.definition, explosion.cause.depth).",
            f"clip_grad_norm_ 满足它的后置条件;一步更新使每层最多移动其权重的 {largest}"
            f"(explosion.definition、explosion.cause.depth)。",
        )
    )
