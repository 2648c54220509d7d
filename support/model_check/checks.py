"""The checks of spec/part6_your_model: pure functions of a ``ModelUnderTest``, each returning a ``CheckResult``.

Each check applies claims this suite proves on PyTorch to the subject's own model, batch, loss and optimizer,
and says what it found in the user's terms (parameter names, sample pairs, layer names). A check changes the
subject's model (a step, BatchNorm statistics): give it a copy (``ModelUnderTest.copy``/``to``).

Cost is bounded for big models: the per-sample check uses the first ``PER_SAMPLE_MAX`` samples, the dependency
chart the first ``CHART_MAX`` samples with one random probe each, and overfitting stops at
``OVERFIT_MAX_STEPS`` steps (or as soon as it has succeeded).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from support.dependencies import dependency_matrix
from support.errors import SpecInputError
from support.fits import fit_log_slope
from support.gradients import batch_grads, flat_grad, flat_params, per_sample_grads_loop, per_sample_grads_vmap
from support.model_check.subject import ModelUnderTest, batch_tensors, call, take
from support.monitor import GradientMonitor
from support.tensors import generator
from support.tolerances import EXACT_DTYPE, Tolerance, accumulation, override

VERDICTS = ("pass", "fail", "n/a")
LIST_AT_MOST = 8  # names or pairs listed in a message before "and k more"

# ---------------------------------------------------------------- bounds and thresholds
PER_SAMPLE_MAX = 3  # samples of the per-sample check: a mixing bug shows between any two; 3 keeps float64 cheap
CHART_MAX = 4  # samples charted (4 x 3 ordered pairs): the cost grows as the square of this
CHART_PROBES = 1  # a random probe misses a non-zero Jacobian block with probability 0 (support.dependencies)
PERTURBATIONS = 3  # pairs of random outputs (z, -z) at which an entry of the loss must stay 0 to be no term
# x the loss of a uniform prediction (ln C): logits of std s cost about ln C + s^2/2 for small s (less for large s),
# so 2 ln C takes s of at least sqrt(2 ln C), 2.1 for C = 10, while default inits give s well below 1
INIT_LOSS_LIMIT = 2.0
UPDATE_RATIO_RULE = 1e-3  # update / weight of a healthy step (CS231n notes, "Ratio of weights:updates")
SPREAD_LIMIT = 1.0 / UPDATE_RATIO_RULE  # gradient spread over the depth one learning rate can serve (check 8)
OVERFIT_FACTOR = 10.0  # the loss must fall an order of magnitude on the batch it trains on
OVERFIT_MAX_STEPS = 200  # healthy models fit a small batch in tens of steps: an order of magnitude of room
# A parameter's gradient is zero "up to rounding" (checks 1 and 2) when max |g| <= ZERO_GRADIENT_EPS * eps(dtype) *
# the largest |gradient entry| of the model. Why 128 = 2^7: a gradient that is 0 in exact arithmetic (terms that
# cancel, e.g. a bias before BatchNorm) comes out of backward as the rounding error of that cancellation, about
# sqrt(n) eps times the terms' size for n terms (random-walk growth; n eps at worst: Higham 2002, sec. 4.2), and
# 128 covers sqrt(n) up to n = 16384 terms (a batch of 256 x 64 positions) when the terms are no larger than the
# model's largest gradient entry. And no real gradient is that small in effect: at a healthy step (update/weight
# UPDATE_RATIO_RULE = 1e-3 for the largest gradient), one at most 128 eps of it moves a weight of the same size by
# at most 0.128 eps of it, less than half an ulp: plain SGD's update rounds away.
ZERO_GRADIENT_EPS = 128
# Normalisations that subtract a per-channel mean over every position they normalise in train mode (BatchNorm's
# batch, InstanceNorm's sample): a constant added per channel just before them -- a bias -- cancels exactly.
# GroupNorm does the same when each group is one channel.
_CANCELLING_NORMS = (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm, nn.GroupNorm)


@dataclass
class CheckResult:
    """The outcome of one check on one subject.

    ``verdict``: "pass", "fail" or "n/a" (the check does not apply, e.g. ln C for a regression model);
    ``message``: what was found, in the user's terms; ``numbers``: measured values {name: (value, unit)};
    ``curves``: measured sequences for figures {name: (xs, ys)}.
    """

    check: str
    claims: tuple[str, ...]
    verdict: str
    message: str
    numbers: dict[str, tuple[float, str]] = field(default_factory=dict)
    curves: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise SpecInputError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    def __repr__(self) -> str:  # short: pytest's assertion rewriting prints it
        return f"CheckResult({self.check!r}, {self.verdict!r})"


# the Chinese name of every number a check reports (``CheckResult.numbers``), for the report's zh edition
NUMBER_NAMES_ZH = {
    "loss of the batch": "该 batch 的损失",
    "trainable parameters": "可训练参数",
    "with a finite non-zero gradient": "梯度有限且非零的参数",
    "total gradient norm": "总梯度范数",
    "trainable parameters changed by one step": "一步之后发生变化的可训练参数",
    "biases cancelled by a normalisation": "被其后的归一化层抵消的偏置",
    "frozen parameters (requires_grad=False or named) left unchanged":
        "保持不变的冻结参数(requires_grad=False 或被指名冻结的)",
    "expected denominator (loss terms)": "预期的分母(损失项数)",
    "measured denominator (grad of sum / grad of mean)": "测得的分母(sum 的梯度 / mean 的梯度)",
    "coupled pairs in eval mode": "eval 模式下相互耦合的样本对",
    "coupled pairs in train mode": "train 模式下相互耦合的样本对",
    "pairs charted": "依赖图中检查的样本对",
    "samples compared": "比较的样本数",
    "largest relative difference": "最大相对差异",
    "loss at init": "初始化时的损失",
    "ln C": "ln C(C 为类别数)",
    "loss of a uniform prediction": "均匀预测的损失",
    "logit scale (std across classes, mean over samples)": "logit 尺度(各类别间的标准差,对样本取平均)",
    "largest |logit|": "最大的 |logit|",
    "loss at init / uniform-prediction loss": "初始化时的损失 / 均匀预测的损失",
    "rows that are probabilities": "构成概率分布的行",
    "rows that are log-probabilities": "构成对数概率的行",
    "classes": "类别数",
    "lowest reachable loss": "可达到的最低损失",
    "layers charted": "统计的层数",
    "trend: gradient at first layer / at last layer": "趋势:第一层的梯度 / 最后一层的梯度",
    "trend: factor per layer toward the input": "趋势:朝输入方向每层的倍数",
    "norm after clip_grad_norm_(max_norm = norm / 2)": "clip_grad_norm_(max_norm = norm / 2) 之后的范数",
    "largest update/weight ratio of one step": "一步更新中最大的 update/weight 比值",
    "steps": "步数",
    "loss at step 0": "第 0 步的损失",
    "final loss": "最终损失",
    "loss fell by": "损失下降的倍数",
    "final accuracy": "最终准确率",
}


def _listing(items: list, describe: Callable = str) -> str:
    shown = ", ".join(describe(i) for i in items[:LIST_AT_MOST])
    return shown + (f" and {len(items) - LIST_AT_MOST} more" if len(items) > LIST_AT_MOST else "")


def _g(x: float) -> str:
    return f"{x:.3g}"


@contextlib.contextmanager
def _eval_backward():
    """cuDNN's RNN backward runs in train mode only; the checks backpropagate through eval-mode models too."""
    with torch.backends.cudnn.flags(enabled=False):
        yield


def _exact_copy(subject: ModelUnderTest) -> tuple[ModelUnderTest, str]:
    """A float64 copy for exact identities; else a float32 one (half-precision models); else the subject's own
    dtype."""
    failed = []
    for dtype in (torch.float64, torch.float32):
        try:
            s = subject.to_dtype(dtype)
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                s.forward()
            return s, str(dtype).removeprefix("torch.") + (f" ({failed[0]})" if failed else "")
        except Exception as exc:  # a model with float32-only parts: the next dtype, with room for it
            failed.append(f"{str(dtype).removeprefix('torch.')} failed: {type(exc).__name__}")
    return subject.copy(), f"its own dtype ({'; '.join(failed)})"


def _floating_tol(dtype: torch.dtype, n_terms: int) -> Tolerance:
    if dtype == EXACT_DTYPE:
        return accumulation(dtype, n_terms)
    if dtype == torch.float32:
        # the two sides computed by different kernels (batch of one vs batch) through a deep network: rounding grows
        # with depth; 1e-4 relative is ~1000 eps (float32 eps 1.2e-7) and far below any real mismatch; 1e-6 absolute
        # (~8 eps) is the floor for gradients that vanish on one side and round to a residue on the other
        return override(rtol=1e-4, atol=1e-6, reason="float32 gradients of a deep network computed two ways")
    # a model that runs in neither float64 nor float32: 10x the sum-of-terms tolerance of its dtype
    base = accumulation(dtype, n_terms)
    return override(rtol=10 * base.rtol, atol=10 * base.atol,
                    reason=f"{dtype} gradients of a network computed two ways: 10x the sum-of-terms tolerance")


def _relative_difference(x: torch.Tensor, y: torch.Tensor, tol: Tolerance) -> float:
    """max |x - y| / max |y| (the denominator at least tol.atol, so that a zero y does not divide by 0)."""
    if x.numel() == 0:
        return 0.0
    return (x - y).abs().max().item() / y.abs().max().clamp_min(tol.atol).item()


def _named_grads_differ(a: dict, b: dict, tol: Tolerance) -> list[tuple[str, float]]:
    """(name, max relative difference) of the entries of a and b that differ beyond tol."""
    return [(name, _relative_difference(a[name], b[name], tol)) for name in a
            if not torch.allclose(a[name], b[name], rtol=tol.rtol, atol=tol.atol)]


def _zero_gradients(grads: dict[str, torch.Tensor | None]) -> tuple[dict[str, bool], float]:
    """The one zero test of checks 1 and 2: ({name: exactly zero} of the finite gradients that are zero up to
    rounding, the scale), where zero up to rounding is max |g| <= ZERO_GRADIENT_EPS * eps(g's dtype) * scale and
    the scale is the largest |entry| of all the finite gradients given (the model's)."""
    finite = {n: g.detach() for n, g in grads.items() if g is not None and bool(torch.isfinite(g).all())}
    peak = {n: (g.abs().max().item() if g.numel() else 0.0) for n, g in finite.items()}
    scale = max(peak.values(), default=0.0)
    zeros = {n: peak[n] == 0 for n, g in finite.items()
             if peak[n] <= ZERO_GRADIENT_EPS * torch.finfo(g.dtype).eps * scale}
    return zeros, scale


def _cancels_a_bias(module: nn.Module) -> bool:
    if isinstance(module, nn.GroupNorm):
        return module.num_groups == module.num_channels
    # BatchNorm in train mode (or without running statistics) and InstanceNorm use the statistics of the input
    return module.training or getattr(module, "running_mean", None) is None


@contextlib.contextmanager
def _biases_before_normalisation(model: nn.Module):
    """During the forward run inside it, record which biases feed a normalisation that cancels them: yields a dict
    filled afterwards, {bias parameter name: "NormType 'layer name'"}. A bias is counted when its module's output
    tensor is itself the input of a BatchNorm / InstanceNorm (GroupNorm with a group per channel) in train mode:
    the normalisation subtracts the mean of every channel, so a constant added per channel has no effect and its
    true gradient is 0 (the bias trains nothing; create the layer with bias=False)."""
    outputs: list[tuple[str, torch.Tensor]] = []
    inputs: list[tuple[str, nn.Module, torch.Tensor]] = []
    hooks = []
    for name, module in model.named_modules():
        if isinstance(getattr(module, "bias", None), nn.Parameter) and module.bias.requires_grad:
            bias_name = f"{name}.bias" if name else "bias"
            hooks.append(module.register_forward_hook(
                lambda mod, args, out, n=bias_name: outputs.append((n, out)) if isinstance(out, torch.Tensor)
                else None))
        if isinstance(module, _CANCELLING_NORMS):
            hooks.append(module.register_forward_pre_hook(
                lambda mod, args, n=name: inputs.append((n, mod, args[0])) if args and isinstance(
                    args[0], torch.Tensor) else None))
    found: dict[str, str] = {}
    try:
        yield found
    finally:
        for h in hooks:
            h.remove()
    for bias_name, out in outputs:
        for norm_name, norm, x in inputs:
            if x is out and _cancels_a_bias(norm):
                found.setdefault(bias_name, f"{type(norm).__name__} {norm_name!r}")
    outputs.clear()
    inputs.clear()


def _cancelled_note(cancelled: dict[str, str]) -> str:
    listed = _listing(list(cancelled.items()), lambda c: f"{c[0]} (before {c[1]})")
    if len(cancelled) == 1:
        return (f"; 1 bias feeds a normalisation that subtracts each channel's mean and so cancels it (its true "
                f"gradient is 0, whatever rounding leaves): {listed} -- harmless, but it trains nothing: create that "
                f"layer with bias=False")
    return (f"; {len(cancelled)} biases feed normalisations that subtract each channel's mean and so cancel them "
            f"(their true gradient is 0, whatever rounding leaves): {listed} -- harmless, but they train nothing: "
            f"create those layers with bias=False")


def _rounding_zero(grad: torch.Tensor, scale: float) -> str:
    """Why a gradient that is not exactly 0 counts as 0."""
    return (f"max |g| {_g(grad.abs().max().item())}: 0 up to rounding, at most {ZERO_GRADIENT_EPS} eps x the largest "
            f"gradient entry {_g(scale)}")


# ================================================================ 1. every parameter gets a gradient
def every_parameter_gets_a_gradient(subject: ModelUnderTest) -> CheckResult:
    """backward.fills-grad: one backward of the batch loss fills .grad of every trainable parameter with finite
    values; parameters left None (unused, or cut off by .detach()/no_grad) and zero gradients (every element 0, or
    0 up to rounding by ``_zero_gradients``: a dead ReLU or clamp, a multiplication by 0) are named. Parameters
    named ``frozen`` are not required to learn. A bias that feeds a normalisation which cancels it (BatchNorm in
    train mode) has a true gradient of 0 but harms nothing: it passes, named in a note (bias=False), here and in
    check 2 alike."""
    claims = ("backward.fills-grad",)
    model = subject.model
    model.train()
    model.zero_grad(set_to_none=True)
    with _biases_before_normalisation(model) as before_norm:
        loss = subject.loss(subject.forward(), subject.targets)
    numbers = {"loss of the batch": (loss.item(), "loss units")}
    if not torch.isfinite(loss):
        return CheckResult("every-parameter-gets-a-gradient", claims, "fail",
                           f"the loss of the batch is {loss.item()} before any training: the forward or the loss "
                           f"produces non-finite values, so no gradient can be trusted", numbers)
    loss.backward()
    trainable = [(n, p) for n, p in subject.trainable() if n not in subject.frozen]
    grads = {n: p.grad for n, p in model.named_parameters()}
    zeros, scale = _zero_gradients(grads)
    none = [n for n, p in trainable if p.grad is None]
    nonfinite = [n for n, p in trainable if p.grad is not None and not bool(torch.isfinite(p.grad).all())]
    cancelled = {n: before_norm[n] for n, p in trainable if n in before_norm and p.grad is not None
                 and n not in nonfinite}
    zero = [n for n, p in trainable if n in zeros and n not in cancelled]
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    numbers["trainable parameters"] = (len(trainable), "tensors")
    numbers["with a finite non-zero gradient"] = (
        len(trainable) - len(none) - len(nonfinite) - len(zero) - len(cancelled), "tensors")
    numbers["biases cancelled by a normalisation"] = (len(cancelled), "tensors")
    problems = []
    if none:
        problems.append(f"no gradient (.grad is None: not used in the forward, or cut off by .detach() or "
                        f"torch.no_grad()): {_listing(none)}")
    if zero:
        problems.append(f"a zero gradient (every element exactly 0, or 0 up to rounding: a dead ReLU "
                        f"or clamp, a multiplication by 0, a path that does not reach the loss, a bias whose effect "
                        f"a later normalisation removes): "
                        f"{_listing(zero, lambda n: n if zeros[n] else f'{n} ({_rounding_zero(grads[n], scale)})')}")
    if nonfinite:
        problems.append(f"a non-finite gradient (NaN or inf): {_listing(nonfinite)}")
    if problems:
        bad = len(none) + len(zero) + len(nonfinite)
        return CheckResult("every-parameter-gets-a-gradient", claims, "fail",
                           f"{bad} of {len(trainable)} trainable parameters learn nothing from one batch backward: "
                           + "; ".join(problems) + ". They will not train (backward.fills-grad).", numbers)
    extra = f"; {len(frozen)} with requires_grad=False keep .grad None" if frozen else ""
    named = f"; {len(subject.frozen)} named frozen are not required to" if subject.frozen else ""
    total = flat_grad([p for _, p in trainable]).double().norm().item()
    numbers["total gradient norm"] = (total, "loss units per parameter unit")
    learning = len(trainable) - len(cancelled)
    head = (f"all {len(trainable)} trainable parameters get" if not cancelled else
            f"{learning} of {len(trainable)} trainable parameters get")
    note = _cancelled_note(cancelled) if cancelled else ""
    return CheckResult("every-parameter-gets-a-gradient", claims, "pass",
                       f"{head} a finite, non-zero gradient from one batch backward (total norm {_g(total)})"
                       f"{extra}{named}{note}.", numbers)


# ================================================================ 2. one step updates what should move
def _decay_of(opt: torch.optim.Optimizer, p: torch.Tensor) -> float:
    for group in opt.param_groups:
        if any(q is p for q in group["params"]):
            return float(group.get("weight_decay", 0.0) or 0.0)
    return 0.0


def _in_optimizer(opt: torch.optim.Optimizer, p: torch.Tensor) -> bool:
    return any(q is p for group in opt.param_groups for q in group["params"])


def one_step_updates_parameters(subject: ModelUnderTest) -> CheckResult:
    """step.updates-parameters: one optimizer step changes every trainable parameter, and leaves unchanged those
    with requires_grad=False and those named ``frozen`` -- also through weight decay, which moves a parameter
    whose gradient is zero (but not one whose .grad is None, which step() skips). A parameter the step leaves
    alone is explained by the zero test of check 1 (``_zero_gradients``); a bias that feeds a normalisation which
    cancels it passes with a note, as in check 1, whether the step moves it (by rounding noise, or Adam's
    rescaling of it) or not."""
    claims = ("step.updates-parameters",)
    model = subject.model
    model.train()
    opt = subject.make_optimizer(model.parameters())
    opt.zero_grad(set_to_none=True)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    with _biases_before_normalisation(model) as before_norm:
        loss = subject.loss(subject.forward(), subject.targets)
    loss.backward()
    grads = {n: (None if p.grad is None else p.grad.detach().clone()) for n, p in model.named_parameters()}
    zeros, scale = _zero_gradients(grads)
    opt.step()
    params = dict(model.named_parameters())
    changed = {n: not torch.equal(before[n], params[n].detach()) for n in params}
    max_change = {n: (params[n].detach() - before[n]).abs().max().item() if params[n].numel() else 0.0 for n in params}
    cancelled = {n: before_norm[n] for n, p in params.items()
                 if n in before_norm and p.requires_grad and n not in subject.frozen and grads[n] is not None
                 and bool(torch.isfinite(grads[n]).all())}
    problems = []
    stuck = [n for n, p in params.items()
             if p.requires_grad and n not in subject.frozen and n not in cancelled and not changed[n]]
    if stuck:
        def why(n: str) -> str:
            p, g = params[n], grads[n]
            if not _in_optimizer(opt, p):
                return f"{n} (not in the optimizer)"
            if g is None:
                return f"{n} (.grad is None: step() skips it)"
            if n in zeros:
                return (f"{n} (zero gradient)" if zeros[n] else
                        f"{n} ({_rounding_zero(g, scale)}: a zero gradient, the loss does not depend on it)")
            return f"{n} (gradient norm {_g(g.norm().item())}: the update rounds away, or the learning rate is 0)"
        problems.append(f"trainable but unchanged by the step: {_listing(stuck, why)}")
    moved_frozen = [n for n in subject.frozen if changed[n]]
    if moved_frozen:
        def how(n: str) -> str:
            p, g = params[n], grads[n]
            decay = _decay_of(opt, p)
            if g is not None and g.count_nonzero() == 0 and decay > 0:
                return (f"{n} (max |change| {_g(max_change[n])}; its gradient is zero but weight_decay={decay:g} "
                        f"in its optimizer group moves it: set requires_grad=False or leave it out of the optimizer)")
            if g is not None and g.count_nonzero() > 0:
                return (f"{n} (max |change| {_g(max_change[n])}; it gets a gradient and the optimizer updates it: set "
                        f"requires_grad=False or leave it out of the optimizer)")
            return f"{n} (max |change| {_g(max_change[n])}; written to outside the optimizer, e.g. in forward)"
        problems.append(f"named frozen but changed by one step: {_listing(moved_frozen, how)}")
    moved_fixed = [n for n, p in params.items() if not p.requires_grad and n not in subject.frozen and changed[n]]
    if moved_fixed:
        problems.append(f"requires_grad=False but changed (written to outside the optimizer, e.g. in forward): "
                        f"{_listing(moved_fixed)}")
    n_trainable = sum(p.requires_grad and n not in subject.frozen for n, p in params.items())
    numbers = {"trainable parameters changed by one step":
                   (sum(changed[n] for n, p in params.items() if p.requires_grad and n not in subject.frozen),
                    "tensors"),
               "trainable parameters": (n_trainable, "tensors"),
               "frozen parameters (requires_grad=False or named) left unchanged":
                   (sum(not changed[n] for n, p in params.items() if not p.requires_grad or n in subject.frozen),
                    "tensors"),
               "biases cancelled by a normalisation": (len(cancelled), "tensors")}
    optimizer = type(opt).__name__
    note = _cancelled_note(cancelled) if cancelled else ""
    if problems:
        return CheckResult("one-step-updates-parameters", claims, "fail",
                           f"one {optimizer} step does not move what it should: " + "; ".join(problems)
                           + f" (step.updates-parameters){note}.", numbers)
    kept = sum(not p.requires_grad or n in subject.frozen for n, p in params.items())
    moves = (f"changes all {n_trainable} trainable parameters" if not cancelled else
             f"changes the {n_trainable - len(cancelled)} trainable parameters that learn")
    return CheckResult("one-step-updates-parameters", claims, "pass",
                       f"one {optimizer} step {moves} and leaves the {kept} frozen ones (requires_grad=False or "
                       f"named) unchanged{note}.", numbers)


# ================================================================ 3. mean = sum / number of terms
def _reduction_in_training(subject: ModelUnderTest) -> str:
    """The reduction the subject trains with: the module's attribute, or the callable's default."""
    if isinstance(subject.loss, nn.Module):
        return subject.loss.reduction
    import inspect

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


def _expected_denominator(subject: ModelUnderTest, output: torch.Tensor, reduction: str) -> tuple[float, str]:
    """The number the mean should divide the sum by, and how it was counted."""
    if isinstance(subject.loss, nn.KLDivLoss):
        # the KL divergence of a sample is the sum over its elements, so the batch's mean divides by the batch size:
        # reduction='batchmean' does; 'mean' divides by every element (PyTorch docs; mean.denominator.kldiv)
        n = subject.batch_size
        if reduction == "batchmean":
            return float(n), f"{n} samples (reduction='batchmean' divides KLDivLoss's sum by the batch size)"
        return float(n), (f"{n} samples: the KL divergence of a sample sums over its elements, so KLDivLoss must "
                          f"divide by the batch size -- use reduction='batchmean' ('mean' divides by every element, "
                          f"mean.denominator.kldiv)")
    terms = subject.loss_fn("none")(output, subject.targets)
    live = live_terms(subject.loss_fn("none"), output, subject.targets)
    n_live, n_all = int(live.sum()), live.numel()
    weight = getattr(subject.loss, "weight", None) if subject.class_loss else None
    if weight is not None and not subject.targets.is_floating_point():
        # CrossEntropy/NLL with class weights: mean = sum_i w[y_i] l_i / sum_i w[y_i] (PyTorch docs)
        y = subject.targets.reshape(-1)[live.reshape(-1)]
        d = weight.to(torch.float64)[y].sum().item()
        return d, f"the sum of the class weights of its {n_live} counted targets, {_g(d)}"
    how = f"{n_live} loss terms"
    if n_live != n_all:
        how += (f" ({n_all} entries of reduction='none', {n_all - n_live} of them zero whatever the output: "
                f"ignored or padded positions)")
    elif terms.dim() > 1 or terms.shape[0] != subject.batch_size:
        how += f" ({'x'.join(map(str, terms.shape))} entries of reduction='none')"
    return float(n_live), how


def mean_is_sum_over_terms(subject: ModelUnderTest) -> CheckResult:
    """reduction.mean-is-sum-over-n, mean.denominator.*: the gradient of the loss with the subject's 'mean' equals
    the gradient of its 'sum' divided by the number of loss terms (batch x elements for elementwise losses,
    non-ignored positions with ignore_index, the class-weight sum with class weights; for KLDivLoss, whose per-sample
    divergence sums over the sample's elements, the batch size: reduction='batchmean').

    Compared at the model's output, in float64: every parameter's gradient is the output gradient pulled back
    through the same graph (the chain rule, linear in the output gradient), so grad(sum) = D x grad(mean) at the
    output holds for every parameter exactly when it holds there. A loss module with parameters of its own is
    compared on those too. One forward of the model, in train mode, serves both reductions."""
    claims = ("reduction.mean-is-sum-over-n", "mean.denominator.elementwise", "mean.denominator.ignore-index",
              "mean.denominator.class-weight", "mean.denominator.kldiv")
    name = "mean-is-sum-over-terms"
    reduction = _reduction_in_training(subject)
    if reduction not in ("mean", "batchmean"):
        return CheckResult(name, claims, "n/a",
                           f"the loss uses reduction={reduction!r}: it does not divide by a count, so there is no "
                           f"denominator to check (with 'sum', plain SGD steps grow with the batch size: "
                           f"sum.needs-batch-scaling)")
    if isinstance(subject.loss, nn.CTCLoss):
        return CheckResult(name, claims, "n/a",
                           "CTCLoss's 'mean' divides each sample's loss by its target length before averaging over "
                           "the batch (PyTorch docs): by design it is not the sum over a count of terms")
    subject.model.train()
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        out = subject.forward()
    s = subject.copy()
    if isinstance(s.loss, nn.Module):
        s.loss.double()
    targets = s.targets.double() if s.targets.is_floating_point() else s.targets
    s.targets = targets
    out64 = out.detach().double().requires_grad_(True)
    loss_params = list(s.loss.parameters()) if isinstance(s.loss, nn.Module) else []
    wrt = [out64] + [p for p in loss_params if p.requires_grad]
    labels = ["the model's output"] + [f"loss.{n}" for n, p in s.loss.named_parameters() if p.requires_grad] \
        if loss_params else ["the model's output"]
    mean = s.loss_fn(reduction)(out64, targets)
    total = s.loss_fn("sum")(out64, targets)
    g_mean = torch.autograd.grad(mean, wrt, retain_graph=True, allow_unused=True, materialize_grads=True)
    g_sum = torch.autograd.grad(total, wrt, allow_unused=True, materialize_grads=True)
    flat_mean = torch.cat([g.reshape(-1) for g in g_mean])
    flat_sum = torch.cat([g.reshape(-1) for g in g_sum])
    expected, how = _expected_denominator(s, out64.detach(), reduction)
    numbers = {"expected denominator (loss terms)": (expected, "terms")}
    mm = (flat_mean @ flat_mean).item()
    if mm == 0 or not math.isfinite(mm):
        return CheckResult(name, claims, "n/a",
                           f"the mean-loss gradient is {'zero' if mm == 0 else 'not finite'} at the output, so the "
                           f"ratio of sum to mean cannot be measured", numbers)
    measured = (flat_sum @ flat_mean).item() / mm  # the least-squares factor: g_sum ~ measured * g_mean
    numbers["measured denominator (grad of sum / grad of mean)"] = (measured, "terms")
    tol = accumulation(EXACT_DTYPE, max(1, out64.numel()))
    # both sides are on the scale of the sum's gradient, `expected` times the mean's: the absolute room scales with it
    ok = torch.allclose(flat_sum, flat_mean * expected, rtol=tol.rtol, atol=tol.atol * max(1.0, expected))
    if ok:
        return CheckResult(name, claims, "pass",
                           f"grad of the 'sum' loss = {_g(measured)} x grad of the '{reduction}' loss, and the batch "
                           f"has {how}: the mean divides by the number of terms.", numbers)
    wrong = _named_grads_differ(dict(zip(labels, g_sum)), {n: g * expected for n, g in zip(labels, g_mean)}, tol)
    where = f" (the gradients differ at {_listing([n for n, _ in wrong])})" if loss_params else ""
    return CheckResult(name, claims, "fail",
                       f"the '{reduction}' loss divides the sum by {_g(measured)} (grad of sum / grad of mean), but "
                       f"the batch has {how}: each term's gradient, and so every parameter's, is weighted "
                       f"{_g(expected / measured)}x what a mean over the terms gives. Divide by the number of terms "
                       f"that count (reduction.mean-is-sum-over-n, mean.denominator.*){where}.", numbers)


# ================================================================ 4. samples are independent
BATCH_COUPLING_LAYERS = (nn.modules.batchnorm._BatchNorm,)  # BatchNorm1d/2d/3d, SyncBatchNorm, LazyBatchNorm


class _Charted:
    """The model as a function of one floating tensor of the batch, for support.dependencies.

    The first floating tensor of the inputs when there is one; otherwise (token ids) the output of the first
    nn.Embedding the forward calls, which a forward hook replaces by the tensor being charted.
    """

    def __init__(self, subject: ModelUnderTest):
        self.subject = subject
        floating = [i for i, t in enumerate(batch_tensors(subject.inputs)) if t.is_floating_point()]
        self.embedding: nn.Module | None = None
        if floating:
            self.position = floating[0]
            self.start = batch_tensors(subject.inputs)[self.position]
            self.what = "its input" if isinstance(subject.inputs, torch.Tensor) else f"input {self._key()}"
            return
        self.position = None
        calls: list[tuple[str, nn.Module, torch.Tensor]] = []
        hooks = [m.register_forward_hook(lambda mod, i, o, n=n: calls.append((n, mod, o)))
                 for n, m in subject.model.named_modules() if isinstance(m, nn.Embedding)]
        try:
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                subject.forward()
        finally:
            for h in hooks:
                h.remove()
        if not calls:
            raise SpecInputError("the inputs hold no floating-point tensor and the model calls no nn.Embedding: "
                                 "there is nothing to differentiate the outputs by")
        name, self.embedding, out = calls[0]
        self.start = out.detach()
        self.what = f"the output of embedding layer {name!r} (the inputs are integer ids)"

    def _key(self):
        if isinstance(self.subject.inputs, dict):
            return repr(list(self.subject.inputs)[self.position])
        return str(self.position)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.embedding is None:
            tensors = batch_tensors(self.subject.inputs)
            tensors[self.position] = x
            inputs = self.subject.inputs
            if isinstance(inputs, dict):
                return call(self.subject.model, dict(zip(inputs, tensors)))
            return call(self.subject.model, x if isinstance(inputs, torch.Tensor) else tuple(tensors))
        first = [True]

        def replace_first(module, args, output):
            if first[0]:
                first[0] = False
                return x
            return output

        handle = self.embedding.register_forward_hook(replace_first)
        try:
            return self.subject.forward()
        finally:
            handle.remove()


def _offdiagonal(strength: torch.Tensor) -> list[tuple[int, int]]:
    n = strength.shape[0]
    return [(i, j) for i in range(n) for j in range(n) if i != j and strength[i, j] > 0]


def samples_are_independent(subject: ModelUnderTest) -> CheckResult:
    """coupling.dependencies, coupling.batchnorm: in eval mode sample i's output does not depend on sample j's
    input for any i != j (Karpathy's "backprop to chart dependencies"; the offending pairs are named). In train
    mode coupling is reported and passes only when layers that normalise over the batch (BatchNorm) explain it.
    Charted on the first ``CHART_MAX`` samples, one random probe per sample (a random probe misses a non-zero
    Jacobian block with probability 0: support.dependencies)."""
    claims = ("coupling.dependencies", "coupling.batchnorm")
    name = "samples-are-independent"
    k = min(subject.batch_size, CHART_MAX)
    sub = subject.subset(slice(0, k))
    charts = {}
    for mode in ("eval", "train"):
        sub.model.train(mode == "train")
        try:
            target = _Charted(sub)
            with _eval_backward():
                charts[mode] = dependency_matrix(target, target.start, probes=CHART_PROBES, seed=0)
        except SpecInputError as exc:
            return CheckResult(name, claims, "n/a", f"cannot chart dependencies: {exc}")
        except Exception as exc:  # the user's model: any error is reported
            return CheckResult(name, claims, "fail",
                               f"in {mode} mode the model fails on the first {k} samples of the batch "
                               f"({type(exc).__name__}: {exc}): a model that treats samples independently runs on "
                               f"any batch size")
    pairs = {mode: _offdiagonal(m) for mode, m in charts.items()}
    total = k * (k - 1)
    numbers = {"coupled pairs in eval mode": (len(pairs["eval"]), "pairs"),
               "coupled pairs in train mode": (len(pairs["train"]), "pairs"),
               "pairs charted": (total, "pairs")}
    ignored_own = [i for i in range(k) if charts["eval"][i, i] == 0]
    note = (f" (outputs of samples {_listing(ignored_own)} do not depend on their own input at all)"
            if ignored_own else "")
    fmt = lambda p: f"({p[0]}, {p[1]})"
    if pairs["eval"]:
        return CheckResult(name, claims, "fail",
                           f"in eval mode the output of sample i depends on the input of sample j for "
                           f"{len(pairs['eval'])} of {total} pairs (i, j), i != j, charted through {target.what}: "
                           f"{_listing(pairs['eval'], fmt)}. The model mixes samples of the batch: a reshape/view "
                           f"of a tensor whose batch dimension is not first (after a transpose), a reduction or "
                           f"softmax over dim 0 (coupling.dependencies).{note}", numbers)
    couplers = [n for n, m in sub.model.named_modules() if isinstance(m, BATCH_COUPLING_LAYERS)]
    if pairs["train"] and not couplers:
        return CheckResult(name, claims, "fail",
                           f"samples are independent in eval mode, but in train mode {len(pairs['train'])} of "
                           f"{total} pairs are coupled ({_listing(pairs['train'], fmt)}) and no BatchNorm layer "
                           f"explains it: something computes statistics over the batch in train mode only "
                           f"(coupling.batchnorm).{note}", numbers)
    if pairs["train"]:
        return CheckResult(name, claims, "pass",
                           f"samples are independent in eval mode (0 of {total} pairs coupled); in train mode "
                           f"{len(pairs['train'])} of {total} pairs are coupled, as BatchNorm's batch statistics "
                           f"couple them ({_listing(couplers)}; coupling.batchnorm).{note}", numbers)
    return CheckResult(name, claims, "pass",
                       f"samples are independent in eval and train mode: 0 of {total} pairs (i, j), i != j, "
                       f"coupled, charted through {target.what}.{note}", numbers)


# ================================================================ 5. per-sample gradients accumulate
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
        return call(self.model, take(self._inputs, idx))


def per_sample_gradients_add_up(subject: ModelUnderTest) -> CheckResult:
    """per-sample.backward-accumulates, per-sample.vmap: in eval mode the per-sample gradients (torch.func.vmap,
    or a loop of batches of one where vmap cannot run the model) add up to the gradient of the summed batch loss.
    Checked in float64 on the first ``PER_SAMPLE_MAX`` samples."""
    claims = ("per-sample.backward-accumulates", "per-sample.vmap")
    name = "per-sample-gradients-add-up"
    k = min(subject.batch_size, PER_SAMPLE_MAX)
    s, precision = _exact_copy(subject.subset(slice(0, k)))
    for p in s.model.parameters():  # a copy: frozen parameters join in, so every name has a gradient
        p.requires_grad_(True)
    s.model.eval()
    indexed = _Indexed(s)
    idx = torch.arange(k, device=s.targets.device)
    loss_sum = s.loss_fn("sum")
    method, why = "vmap", ""
    with _eval_backward(), warnings.catch_warnings():
        # torch.func falls back to a loop for ops without a batching rule (and says so): slower, still right
        warnings.filterwarnings("ignore", message="There is a performance drop")
        try:
            per = per_sample_grads_vmap(indexed, loss_sum, idx, s.targets)
        except Exception as exc:  # documented limits of torch.func (per-sample.vmap): fall back to the loop
            first = (str(exc).strip().splitlines() or [""])[0][:100]
            method, why = "a loop of batches of one", f" (vmap cannot run it: {type(exc).__name__}: {first})"
            try:
                per = per_sample_grads_loop(indexed, loss_sum, idx, s.targets, allow_unused=True)
            except Exception as exc2:
                return CheckResult(name, claims, "fail",
                                   f"the model fails on a batch of one sample in eval mode ({type(exc2).__name__}: "
                                   f"{exc2}): a model that treats samples independently runs on any batch size "
                                   f"(e.g. a squeeze() that drops the batch dimension of a batch of one)")
        batch = batch_grads(indexed, loss_sum, idx, s.targets, allow_unused=True)
    summed = {n: g.sum(dim=0) for n, g in per.items()}
    tol = _floating_tol(next(iter(batch.values())).dtype, k)
    wanted = {n.removeprefix("model."): n for n in batch}
    trainable = [n for n, _ in subject.trainable()]
    bad = _named_grads_differ({n: summed[wanted[n]] for n in trainable}, {n: batch[wanted[n]] for n in trainable}, tol)
    # over every trainable parameter, passing ones too: on a pass it shows how far inside the tolerance they are
    largest = max((_relative_difference(summed[wanted[n]], batch[wanted[n]], tol) for n in trainable), default=0.0)
    numbers = {"samples compared": (k, "samples"), "largest relative difference": (largest, "1")}
    if bad:
        return CheckResult(name, claims, "fail",
                           f"in eval mode the per-sample gradients of the first {k} samples ({method}{why}) do not add "
                           f"up to the gradient of their summed loss for {len(bad)} parameters: "
                           f"{_listing(bad, lambda b: f'{b[0]} (relative difference {_g(b[1])})')}. Each sample's "
                           f"loss depends on the other samples, or the model computes something else on a batch of "
                           f"one (per-sample.backward-accumulates).", numbers)
    return CheckResult(name, claims, "pass",
                       f"in eval mode the per-sample gradients of the first {k} samples ({method}{why}) add up to the "
                       f"gradient of their summed loss for all {len(trainable)} trainable parameters "
                       f"(compared in {precision}).", numbers)


# ================================================================ 6. loss at init is near ln C
def _uniform_prediction(subject: ModelUnderTest, out: torch.Tensor, n_classes: int) -> torch.Tensor:
    if isinstance(subject.loss, nn.NLLLoss):  # NLLLoss takes log-probabilities: uniform is log(1/C) everywhere
        return torch.full_like(out, -math.log(n_classes))
    return torch.zeros_like(out)  # equal logits: softmax is uniform


def _class_rows(out: torch.Tensor) -> torch.Tensor:
    """(rows, C): every sample (and position) of a (N, C, ...) output as one row of C class scores."""
    return out.movedim(1, -1).reshape(-1, out.shape[1])


def loss_at_init_is_near_log_c(subject: ModelUnderTest) -> CheckResult:
    """loss.measures-error: at initialisation a classifier's cross-entropy should be near ln C, the loss of a
    uniform prediction (log(1 + (C-1) e^-m) at margin m = 0); the logits' scale is reported. An over-confident init
    (large logits) starts at many times ln C. Fails above ``INIT_LOSS_LIMIT`` x the uniform-prediction loss."""
    claims = ("loss.measures-error",)
    name = "loss-at-init-is-near-log-c"
    if not subject.classification:
        return CheckResult(name, claims, "n/a", "the targets are values, not class indices: there is no ln C baseline")
    model = subject.model
    model.train()
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        out = subject.forward()
        c = subject.classes(out)
        loss = subject.loss(out, subject.targets).item()
        baseline = subject.loss(_uniform_prediction(subject, out, c), subject.targets).item()
    numbers = {"loss at init": (loss, "nats"), "ln C": (math.log(c), "nats"),
               "loss of a uniform prediction": (baseline, "nats")}
    if not baseline > 0 or not math.isfinite(baseline):
        return CheckResult(name, claims, "n/a", f"the loss of a uniform prediction is {baseline}: the loss is not a "
                                                f"cross-entropy over {c} classes, so ln C is no baseline", numbers)
    rows = _class_rows(out.detach().double()) if out.dim() >= 2 else out.detach().double()[:, None]
    scale = rows.std(dim=-1).mean().item() if rows.shape[-1] > 1 else float("nan")
    numbers["logit scale (std across classes, mean over samples)"] = (scale, "logit units")
    numbers["largest |logit|"] = (rows.abs().max().item(), "logit units")
    ratio = loss / baseline
    numbers["loss at init / uniform-prediction loss"] = (ratio, "1")
    base = f"ln C = ln {c} = {_g(math.log(c))}" if abs(baseline - math.log(c)) < 1e-3 * math.log(c) else \
        f"the loss of a uniform prediction, {_g(baseline)}"
    if not math.isfinite(loss) or ratio > INIT_LOSS_LIMIT:
        return CheckResult(name, claims, "fail",
                           f"the loss at initialisation is {_g(loss)} = {_g(ratio)} x {base}: the untrained model is "
                           f"confidently wrong (logits' std across classes {_g(scale)}, largest |logit| "
                           f"{_g(numbers['largest |logit|'][0])}). Logits of std s cost about ln C + s^2/2 for small s "
                           f"and grow like s for large s; initialise the last layer smaller (e.g. zeros or x0.01) so "
                           f"that training starts from an honest guess (loss.measures-error).", numbers)
    side = "below" if ratio < 1 else "above"
    return CheckResult(name, claims, "pass",
                       f"the loss at initialisation is {_g(loss)}, {_g(abs(ratio - 1) * 100)}% {side} {base} (logits' "
                       f"std across classes {_g(scale)}).", numbers)


# ================================================================ 7. no softmax before CrossEntropyLoss
def no_softmax_before_cross_entropy(subject: ModelUnderTest) -> CheckResult:
    """loss.measures-error: CrossEntropyLoss applies log_softmax itself. Outputs whose rows are probabilities
    (non-negative, summing to 1) cap the logit margin at 1, so the loss can never fall below
    log(1 + (C-1)/e); they are flagged. Rows that are log-probabilities are harmless (log_softmax is idempotent)
    and reported. For NLLLoss the rows must be log-probabilities: anything else is flagged."""
    claims = ("loss.measures-error",)
    name = "no-softmax-before-cross-entropy"
    if not subject.class_loss:
        return CheckResult(name, claims, "n/a", f"the loss is a {type(subject.loss).__name__}; the check applies to "
                                                f"CrossEntropyLoss and NLLLoss")
    model = subject.model
    model.train()
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        out = subject.forward()
    if out.dim() < 2 or subject.targets.is_floating_point():
        return CheckResult(name, claims, "n/a", "the output has no class dimension (dim 1) with class-index targets")
    rows = _class_rows(out.detach())
    c = rows.shape[1]
    # a sum of C values in [0, 1] is off by at most about C * eps (Higham, sec. 4.2); twice that, in the output dtype
    tol = 2 * c * torch.finfo(rows.dtype).eps
    probs = bool(((rows >= 0).all(dim=1) & ((rows.sum(dim=1) - 1).abs() <= tol)).all())
    log_probs = bool(((rows <= 0).all(dim=1) & (torch.logsumexp(rows, dim=1).abs() <= tol)).all())
    floor = math.log1p((c - 1) / math.e)
    numbers = {"rows that are probabilities": (float(probs), "1 = all"), "rows that are log-probabilities":
               (float(log_probs), "1 = all"), "classes": (c, "classes")}
    is_ce = isinstance(subject.loss, nn.CrossEntropyLoss)
    if is_ce and probs:
        numbers["lowest reachable loss"] = (floor, "nats")
        return CheckResult(name, claims, "fail",
                           f"the model's outputs are probabilities (every row is non-negative and sums to 1): a "
                           f"softmax before CrossEntropyLoss, which applies log_softmax again. The logit margin is "
                           f"then at most 1, so the loss can never fall below log(1 + (C-1)/e) = {_g(floor)} for C = "
                           f"{c} (ln C = {_g(math.log(c))}) and its gradients shrink: return the logits "
                           f"(loss.measures-error).",
                           numbers)
    if is_ce and log_probs:
        return CheckResult(name, claims, "pass",
                           "the model's outputs are log-probabilities (a log_softmax before CrossEntropyLoss): "
                           "harmless, since log_softmax of log-probabilities returns them unchanged, but redundant.",
                           numbers)
    if not is_ce and not log_probs:
        kind = "probabilities (a softmax where log_softmax belongs)" if probs else "not log-probabilities"
        return CheckResult(name, claims, "fail",
                           f"NLLLoss takes log-probabilities, but the model's outputs are {kind}: the loss is then "
                           f"not the cross-entropy (apply log_softmax, or return logits to CrossEntropyLoss).", numbers)
    what = "log-probabilities, as NLLLoss takes" if not is_ce else "logits (rows are neither probabilities nor " \
                                                                   "log-probabilities), as CrossEntropyLoss takes"
    return CheckResult(name, claims, "pass", f"the model's outputs are {what}.", numbers)


# ================================================================ 8. gradient norms at init
@dataclass
class LayerGradients:
    names: list[str]
    output_grad_norms: list[float]
    weight_grad_norms: list[float]
    weight_norms: list[float]


def layer_gradients(subject: ModelUnderTest) -> tuple[torch.Tensor, LayerGradients]:
    """One train-mode backward of the batch loss, with the gradient norm at the output of every layer (module with
    parameters of its own) in forward order, and the norms of its own parameters' gradients. Returns the loss."""
    model = subject.model
    model.train()
    model.zero_grad(set_to_none=True)
    calls: list[dict] = []

    def on_output(name: str, module: nn.Module):
        def hook(mod, args, output):
            t = output if isinstance(output, torch.Tensor) else next(
                (o for o in (output if isinstance(output, (tuple, list)) else ()) if isinstance(o, torch.Tensor)), None)
            if t is None or not t.requires_grad:
                return
            rec = {"name": name, "module": mod, "grad": None}
            calls.append(rec)
            t.register_hook(lambda g, rec=rec: rec.__setitem__("grad", g.detach().double().norm().item()))
        return hook

    layers = [(n or type(m).__name__, m) for n, m in model.named_modules()
              if any(True for _ in m.parameters(recurse=False))]
    hooks = [m.register_forward_hook(on_output(n, m)) for n, m in layers]
    try:
        loss = subject.loss(subject.forward(), subject.targets)
        loss.backward()
    finally:
        for h in hooks:
            h.remove()
    calls = [c for c in calls if c["grad"] is not None]
    seen: dict[str, int] = {}
    names, out_norms, w_norms, p_norms = [], [], [], []
    for c in calls:
        seen[c["name"]] = seen.get(c["name"], 0) + 1
        names.append(c["name"] if seen[c["name"]] == 1 else f"{c['name']} (call {seen[c['name']]})")
        out_norms.append(c["grad"])
        own = [p for p in c["module"].parameters(recurse=False) if p.grad is not None]
        w_norms.append(flat_grad(own).double().norm().item() if own else 0.0)
        p_norms.append(flat_params(own).double().norm().item() if own else 0.0)
    return loss, LayerGradients(names, out_norms, w_norms, p_norms)


def gradient_norms_at_init(subject: ModelUnderTest) -> CheckResult:
    """explosion.definition, explosion.cause.*, remedy.clip-norm: at init the gradients are finite; the gradient
    at each layer's output, in forward order, neither explodes nor vanishes with depth: the least-squares trend of
    its log-norm, carried over the depth of the net, changes it by less than ``SPREAD_LIMIT``; clipping the model's
    gradients to half their norm meets clip_grad_norm_'s post-condition. Per-layer norms and update/weight ratios
    of one step are reported."""
    claims = ("explosion.definition", "explosion.cause.init", "explosion.cause.depth", "remedy.clip-norm")
    name = "gradient-norms-at-init"
    monitor = GradientMonitor(subject.model)
    loss, layers = layer_gradients(subject)
    anomalies = monitor.observe(loss)
    params = [p for p in subject.model.parameters() if p.grad is not None]
    curves = {}
    numbers = {"loss at init": (loss.item(), "loss units"), "layers charted": (len(layers.names), "layers")}
    if any(a.kind in ("non-finite-loss", "non-finite-grad") for a in anomalies):
        bad = [p for a in anomalies for p in a.parameters]
        return CheckResult(name, claims, "fail",
                           f"at initialisation the loss or the gradients are not finite (loss {loss.item()}); "
                           f"parameters with NaN/inf gradients: {_listing(bad) or 'none (only their total overflows)'} "
                           f"(explosion.definition).", numbers)
    before = flat_grad(params).double()  # float64, the reference of the clip check below too
    total64 = before.norm().item()
    numbers["total gradient norm"] = (total64, "loss units per parameter unit")
    idx = list(range(len(layers.names)))
    positive = [(i, v) for i, v in zip(idx, layers.output_grad_norms) if v > 0]
    curves["gradient norm at each layer's output"] = ([float(i) for i in idx], layers.output_grad_norms)
    curves["gradient norm of each layer's parameters"] = ([float(i) for i in idx], layers.weight_grad_norms)
    trend = ""
    problems = []
    if len(positive) >= 3:
        fit = fit_log_slope([i for i, _ in positive], [v for _, v in positive])
        depth = positive[-1][0] - positive[0][0]
        spread = math.exp(-fit.slope * depth)  # the trend's factor from the last layer back to the first
        numbers["trend: gradient at first layer / at last layer"] = (spread, "1")
        numbers["trend: factor per layer toward the input"] = (math.exp(-fit.slope), "1")
        curves["fitted trend"] = ([float(i) for i, _ in positive], [math.exp(fit.predict(i)) for i, _ in positive])
        trend = (f"the trend of the output-gradient norm over {len(positive)} layers changes it {_g(spread)}x from the "
                 f"last layer to the first ({_g(math.exp(-fit.slope))}x per layer)")
        if spread > SPREAD_LIMIT or spread < 1 / SPREAD_LIMIT:
            kind = "explode" if spread > 1 else "vanish"
            first, last = layers.names[positive[0][0]], layers.names[positive[-1][0]]
            problems.append(f"gradients {kind} with depth at init: {trend} -- from {positive[-1][1]:.3g} at "
                            f"layer {last!r} to {positive[0][1]:.3g} at layer {first!r}, beyond the "
                            f"{SPREAD_LIMIT:g}x a single learning rate can serve (explosion.cause.init, "
                            f"explosion.cause.depth); use the init the layers' activation calls for (He for ReLU, "
                            f"Glorot for tanh), normalisation or residual connections")
    # clip_grad_norm_'s post-condition on this model's gradients (remedy.clip-norm): it returns the total norm and
    # scales every gradient by min(1, max_norm / (total + 1e-6)), so afterwards the norm is <= max_norm and the
    # direction is unchanged. The reference norm is taken in float64; clip_grad_norm_ sums n squares in the
    # gradients' dtype, so they may differ by the accumulation tolerance of n terms (support.tolerances).
    saved = [p.grad.detach().clone() for p in params]
    max_norm = total64 / 2
    if max_norm > 0:
        room = accumulation(params[0].grad.dtype, before.numel()).rtol
        returned = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
        after = flat_grad(params).double()
        clipped = after.norm().item()
        numbers["norm after clip_grad_norm_(max_norm = norm / 2)"] = (clipped, "loss units per parameter unit")
        cosine = (after @ before).item() / (clipped * total64)
        if clipped > max_norm * (1 + room) or cosine < 1 - room or abs(returned - total64) > room * total64:
            problems.append(f"clip_grad_norm_ does not meet its post-condition on this model's gradients: norm "
                            f"{_g(clipped)} after clipping to {_g(max_norm)} (cosine to the unclipped "
                            f"{cosine:.9f}, returned total {_g(returned)} vs {_g(total64)}; relative room "
                            f"{room:.2g}) (remedy.clip-norm)")
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
        own = list(mod.parameters(recurse=False)) if mod is not None else []
        num = math.sqrt(sum((p.detach() - weights_before[id(p)]).double().pow(2).sum().item() for p in own))
        den = math.sqrt(sum(weights_before[id(p)].double().pow(2).sum().item() for p in own))
        ratios.append(num / den if den > 0 else 0.0)
    if ratios:
        numbers["largest update/weight ratio of one step"] = (max(ratios), "1")
    if problems:
        return CheckResult(name, claims, "fail", "; ".join(problems) + ".", numbers, curves)
    shape = trend + "." if trend else f"only {len(positive)} layers: too few for a trend with depth."
    return CheckResult(name, claims, "pass",
                       f"gradients at init are finite (total norm {_g(total64)}); {shape} clip_grad_norm_ meets its "
                       f"post-condition; one step moves each layer by at most {_g(max(ratios, default=0.0))} of its "
                       f"weights.", numbers, curves)


# ================================================================ 9. it can overfit one batch
def _accuracy(subject: ModelUnderTest, out: torch.Tensor) -> tuple[int, int]:
    """(correct, counted) of argmax over dim 1 against class-index targets; ignore_index positions are not counted."""
    pred = out.argmax(dim=1) if out.dim() >= 2 else (out > 0).long()
    targets = subject.targets
    if targets.is_floating_point():  # probability targets: the most likely class
        targets = targets.argmax(dim=1)
    keep = torch.ones_like(targets, dtype=torch.bool)
    if subject.ignore_index is not None:
        keep = targets != subject.ignore_index
    return int((pred[keep] == targets[keep]).sum()), int(keep.sum())


def _fell_by(first: float, last: float) -> float:
    """The factor a loss fell by, first / last, defined for a finite positive start and a finite non-negative end:
    inf only when the final loss is exactly 0 (a loss that can reach 0, e.g. MSE fitted exactly); nan otherwise (a
    diverged run, a NaN loss, or a sign that makes the ratio meaningless)."""
    if math.isfinite(first) and math.isfinite(last) and first > 0 and last >= 0:
        return first / last if last > 0 else math.inf
    return math.nan


def can_overfit_one_batch(subject: ModelUnderTest) -> CheckResult:
    """step.updates-parameters: trained on one batch with its own optimizer, the model fits it:
    within ``OVERFIT_MAX_STEPS`` steps the loss falls ``OVERFIT_FACTOR``-fold and (for a classifier) every counted
    target is predicted right. A model, loss or optimizer that cannot fit one batch cannot learn the data set."""
    claims = ("step.updates-parameters",)
    name = "can-overfit-one-batch"
    model = subject.model
    model.train()
    opt = subject.make_optimizer(model.parameters())
    classify = subject.classification
    losses, accs = [], []
    reached = None
    for step in range(OVERFIT_MAX_STEPS):
        opt.zero_grad(set_to_none=True)
        out = subject.forward()
        loss = subject.loss(out, subject.targets)
        value = loss.item()
        losses.append(value)
        if classify:
            right, counted = _accuracy(subject, out.detach())
            accs.append(right / counted if counted else float("nan"))
        if not math.isfinite(value):
            break
        if value <= losses[0] / OVERFIT_FACTOR and (not classify or accs[-1] == 1.0):
            reached = step
            break
        loss.backward()
        opt.step()
    steps = list(range(len(losses)))
    curves = {"loss / loss at step 0": ([float(s) for s in steps], [v / losses[0] if losses[0] else float("nan")
                                                                      for v in losses])}
    if classify:
        curves["accuracy on the batch"] = ([float(s) for s in steps], accs)
    fell = _fell_by(losses[0], losses[-1])
    numbers = {"steps": (len(losses) - 1, "steps"), "loss at step 0": (losses[0], "loss units"),
               "final loss": (losses[-1], "loss units"), "loss fell by": (fell, "x")}
    acc = f" and accuracy {accs[-1]:.1%}" if classify else ""
    if classify:
        numbers["final accuracy"] = (accs[-1], "1")
    optimizer = type(opt).__name__
    if reached is not None:
        return CheckResult(name, claims, "pass",
                           f"{optimizer} fits the batch in {reached} step{'' if reached == 1 else 's'}: the loss fell "
                           f"{_g(fell)}x (from {_g(losses[0])} to {_g(losses[-1])}){acc}.", numbers, curves)
    if not math.isfinite(losses[-1]):
        why = f"the loss became {losses[-1]} at step {len(losses) - 1}: the steps overshoot (explosion.definition)"
    else:
        why = (f"after {len(losses) - 1} steps the loss fell {_g(fell)}x (from {_g(losses[0])} to {_g(losses[-1])}, "
               f"needed {OVERFIT_FACTOR:g}x){acc}")
    return CheckResult(name, claims, "fail",
                       f"{optimizer} does not fit one batch of {subject.batch_size} samples: {why}. A model that "
                       f"cannot memorise one batch cannot learn the data: check that the output depends on the input, "
                       f"that the layers train (no dead units, nothing detached or frozen by mistake) and that the "
                       f"learning rate suits the optimizer.", numbers, curves)


CHECKS = {
    "every-parameter-gets-a-gradient": every_parameter_gets_a_gradient,
    "one-step-updates-parameters": one_step_updates_parameters,
    "mean-is-sum-over-terms": mean_is_sum_over_terms,
    "samples-are-independent": samples_are_independent,
    "per-sample-gradients-add-up": per_sample_gradients_add_up,
    "loss-at-init-is-near-log-c": loss_at_init_is_near_log_c,
    "no-softmax-before-cross-entropy": no_softmax_before_cross_entropy,
    "gradient-norms-at-init": gradient_norms_at_init,
    "can-overfit-one-batch": can_overfit_one_batch,
}

__all__ = ["CHECKS", "CheckResult", "LayerGradients", "layer_gradients", "live_terms"] + [
    f.__name__ for f in CHECKS.values()]
