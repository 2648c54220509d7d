"""Check: samples of a batch are independent: output i does not depend on input j (coupling.dependencies,
coupling.batchnorm).

In eval mode sample i's output must not depend on sample j's input for any i != j (Karpathy's "backprop to chart
dependencies"; the offending pairs are named). In train mode coupling is reported and passes only when layers that
normalise over the batch (BatchNorm) explain it. Charted on the first ``CHART_MAX`` samples, one random probe per
sample (a random probe misses a non-zero Jacobian block with probability 0: support.dependencies). Integer inputs
(token ids) are charted through the output of the first ``nn.Embedding`` the forward calls.
"""

from __future__ import annotations

import torch
from torch import nn

from support.dependencies import dependency_matrix
from support.errors import SpecInputError
from support.model_check.batch import batch_tensors, outputs
from support.model_check.catalog import info
from support.model_check.checks._numerics import check_seed, eval_backward, listing, listing_zh, same_randomness
from support.model_check.checks.result import CheckResult, Recorder, Text
from support.model_check.subject import ModelUnderTest

INFO = info("samples-are-independent")
CHART_MAX = 4  # samples charted (4 x 3 ordered pairs): the cost grows as the square of this
CHART_PROBES = 1  # a random probe misses a non-zero Jacobian block with probability 0 (support.dependencies)
BATCH_COUPLING_LAYERS = (nn.modules.batchnorm._BatchNorm,)  # BatchNorm1d/2d/3d, SyncBatchNorm, LazyBatchNorm


class _Charted:
    """The model as a function of one floating tensor of the batch, for support.dependencies.

    The first floating tensor of the inputs when there is one; otherwise (token ids) the output of the first
    nn.Embedding (or nn.EmbeddingBag) the forward calls, which a forward hook replaces by the tensor being charted.
    """

    def __init__(self, subject: ModelUnderTest):
        self.subject = subject
        floating = [i for i, t in enumerate(batch_tensors(subject.inputs)) if t.is_floating_point()]
        self.embedding: nn.Module | None = None
        if floating:
            self.position = floating[0]
            self.start = batch_tensors(subject.inputs)[self.position]
            key = repr(list(subject.inputs)[self.position]) if isinstance(subject.inputs, dict) else str(self.position)
            self.what = (
                ("its input", "它的输入")
                if isinstance(subject.inputs, torch.Tensor)
                else (f"input {key}", f"输入 {key}")
            )
            return
        self.position = None
        calls: list[tuple[str, nn.Module, torch.Tensor]] = []
        hooks = [
            m.register_forward_hook(lambda mod, i, o, n=n: calls.append((n, mod, o)))
            for n, m in subject.model.named_modules()
            if isinstance(m, (nn.Embedding, nn.EmbeddingBag))
        ]
        try:
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                subject.forward()
        finally:
            for h in hooks:
                h.remove()
        if not calls:
            raise SpecInputError(
                "the inputs hold no floating-point tensor and the model calls no nn.Embedding or "
                "nn.EmbeddingBag: there is nothing to differentiate the outputs by"
            )
        name, self.embedding, out = calls[0]
        self.start = out.detach()
        self.what = (
            f"the output of embedding layer {name!r} (the inputs are integer ids)",
            f"嵌入层 {name!r} 的输出(输入是整数 id)",
        )

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.embedding is None:
            tensors = batch_tensors(self.subject.inputs)
            tensors[self.position] = x
            inputs = self.subject.inputs
            if isinstance(inputs, dict):
                return outputs(self.subject.model, dict(zip(inputs, tensors)))
            return outputs(self.subject.model, x if isinstance(inputs, torch.Tensor) else tuple(tensors))
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
    rec = Recorder(INFO)
    seed = check_seed(INFO.id)
    k = min(subject.batch_size, CHART_MAX)
    sub = subject.subset(slice(0, k))
    charts = {}
    for mode in ("eval", "train"):
        sub.model.train(mode == "train")
        try:
            with torch.no_grad(), same_randomness(seed):
                sub.forward()
        except Exception as exc:  # the user's model fails on a smaller batch
            return rec.failed(
                Text(
                    f"in {mode} mode the model fails on the first {k} samples of the batch ({type(exc).__name__}: "
                    f"{exc}): a model that treats samples independently runs on any batch size (coupling.dependencies)",
                    f"在 {mode} 模式下,模型在该 batch 的前 {k} 个样本上出错({type(exc).__name__}: {exc}):独立处理样本的"
                    f"模型在任何 batch 大小上都能运行(coupling.dependencies)",
                )
            )
        try:
            target = _Charted(sub)
            with eval_backward(), same_randomness(seed):
                charts[mode] = dependency_matrix(target, target.start, probes=CHART_PROBES, seed=0)
        except SpecInputError as exc:
            return rec.not_applicable(Text(f"cannot chart dependencies: {exc}", f"无法绘制依赖关系:{exc}"))
    pairs = {mode: _offdiagonal(m) for mode, m in charts.items()}
    total = k * (k - 1)
    rec.number("coupled pairs in eval mode", len(pairs["eval"]))
    rec.number("coupled pairs in train mode", len(pairs["train"]))
    rec.number("pairs charted", total)
    ignored_own = [i for i in range(k) if charts["eval"][i, i] == 0]
    note = (
        Text(
            f" (outputs of samples {listing(ignored_own)} do not depend on their own input at all)",
            f"(样本 {listing_zh(ignored_own)} 的输出完全不依赖于它们自己的输入)",
        )
        if ignored_own
        else Text("", "")
    )
    fmt = lambda p: f"({p[0]}, {p[1]})"
    if pairs["eval"]:
        n = len(pairs["eval"])
        return rec.failed(
            Text(
                f"in eval mode the output of sample i depends on the input of sample j for {n} of {total} pairs (i, j), "
                f"i != j, charted through {target.what[0]}: {listing(pairs['eval'], fmt)}. The model mixes samples of "
                f"the batch: a reshape/view of a tensor whose batch dimension is not first (after a transpose), a "
                f"reduction or softmax over dim 0, or inputs whose dim 0 is not the batch (a sequence-first RNN given "
                f"(T, N, ...)) (coupling.dependencies).",
                f"在 eval 模式下,对 {total} 个样本对 (i, j)(i != j)中的 {n} 个,样本 i 的输出依赖于样本 j 的输入(通过"
                f"{target.what[1]}绘制):{listing_zh(pairs['eval'], fmt)}。模型把 batch 中的样本混在了一起:对 batch 维"
                f"不在第一位的张量(transpose 之后)做 reshape/view、在 dim 0 上做归约或 softmax,或输入的 dim 0 不是 batch"
                f"(按 (T, N, ...) 传给序列优先的 RNN)(coupling.dependencies)。",
            )
            + note
        )
    couplers = [n for n, m in sub.model.named_modules() if isinstance(m, BATCH_COUPLING_LAYERS)]
    if pairs["train"] and not couplers:
        n = len(pairs["train"])
        return rec.failed(
            Text(
                f"samples are independent in eval mode, but in train mode {n} of {total} pairs are coupled "
                f"({listing(pairs['train'], fmt)}) and no BatchNorm layer explains it: something computes statistics "
                f"over the batch in train mode only (coupling.batchnorm).",
                f"样本在 eval 模式下相互独立,但在 train 模式下 {total} 个样本对中有 {n} 个相互耦合"
                f"({listing_zh(pairs['train'], fmt)}),而没有 BatchNorm 层可以解释:有东西只在 train 模式下对 batch 计算"
                f"统计量(coupling.batchnorm)。",
            )
            + note
        )
    if pairs["train"]:
        n = len(pairs["train"])
        return rec.passed(
            Text(
                f"samples are independent in eval mode (0 of {total} pairs coupled); in train mode {n} of {total} pairs "
                f"are coupled, as BatchNorm's batch statistics couple them ({listing(couplers)}; coupling.batchnorm).",
                f"样本在 eval 模式下相互独立({total} 个样本对中 0 个耦合);在 train 模式下 {total} 个中有 {n} 个耦合,"
                f"这是 BatchNorm 的 batch 统计量造成的({listing_zh(couplers)};coupling.batchnorm)。",
            )
            + note
        )
    return rec.passed(
        Text(
            f"samples are independent in eval and train mode: 0 of {total} pairs (i, j), i != j, coupled, charted through "
            f"{target.what[0]} (coupling.dependencies).",
            f"样本在 eval 和 train 模式下都相互独立:{total} 个样本对 (i, j)(i != j)中 0 个耦合,通过{target.what[1]}绘制"
            f"(coupling.dependencies)。",
        )
        + note
    )
