"""The notes checks 1 and 2 give, alike, on parameters whose zero gradient is harmless (``_zero_gradients``)."""

from __future__ import annotations

from support.model_check.checks._numerics import listing, listing_zh
from support.model_check.checks._zero_gradients import Diagnosis, Kind
from support.model_check.checks.result import Text


def harmless(found: dict[str, Diagnosis], by_kind: dict[Kind, list[str]]) -> list[Text]:
    """A note per harmless kind: parameters the loss does not depend on, parameters zero at init only."""
    notes = []
    none = by_kind.get(Kind.NO_EFFECT, [])
    if none:
        draws = max(found[n].draws for n in none)
        when = (
            ("at init and after one step", "初始化时和一步之后都如此")
            if draws == 1
            else (
                f"at init and after one step, under each of {draws} random draws of the forward's dropout or "
                f"stochastic depth",
                f"初始化时和一步之后都如此,在前向计算的 dropout 或随机深度的 {draws} 次随机抽取下均如此",
            )
        )
        learn = (
            ("they never learn", "它们永远学不到东西")
            if draws == 1
            else ("they do not learn in those draws", "在这些抽取下它们学不到东西")
        )
        notes.append(
            Text(
                f"Note: the loss does not depend on {len(none)} parameter(s) -- shifting them leaves it unchanged, "
                f"{when[0]}: {listing(none)}. Harmless, but {learn[0]}: a bias that a following normalisation subtracts "
                f"again (create that layer with bias=False), the key bias of attention (softmax ignores a constant added "
                f"to every score), or a part of the model whose effect is discarded (backward.fills-grad).",
                f"注意:损失不依赖于 {len(none)} 个参数——平移它们不会改变损失({when[1]}):{listing_zh(none)}。这无害,但"
                f"{learn[1]}:例如被其后的归一化层再次减去的偏置(创建该层时用 bias=False)、注意力的 key 偏置(softmax 对所有"
                f"分数加上同一常数不变),或效果被模型丢弃的部分(backward.fills-grad)。",
            )
        )
    blocked = by_kind.get(Kind.ZERO_AT_INIT, [])
    if blocked:
        notes.append(
            Text(
                f"Note: {len(blocked)} parameter(s) have a zero gradient at init only: a parameter initialised to 0 "
                f"blocks their path (e.g. the last norm or layer of a residual branch: zero_init_last, "
                f"zero_init_residual), and after one optimizer step their gradient is non-zero: {listing(blocked)} "
                f"(step.updates-parameters).",
                f"注意:{len(blocked)} 个参数只在初始化时梯度为零:一个初始化为 0 的参数挡住了它们的路径(例如残差分支的最后一个"
                f"归一化层或线性层:zero_init_last、zero_init_residual),一次优化器更新之后它们的梯度就不为零:"
                f"{listing_zh(blocked)}(step.updates-parameters)。",
            )
        )
    return notes


def skipped_at_random(names: list[str]) -> list[Text]:
    """A note on parameters whose .grad was None under the check's random draw but not under another: a layer that
    LayerDrop or stochastic depth skips at random."""
    if not names:
        return []
    return [
        Text(
            f"Note: {len(names)} parameter(s) got no gradient under this random draw of the forward but do under another "
            f"(a layer skipped at random: LayerDrop, batch-wise stochastic depth): {listing(names)} (backward.fills-grad).",
            f"注意:{len(names)} 个参数在这次前向随机抽取下没有梯度,但在另一次抽取下有(被随机跳过的层:LayerDrop、按 batch 的"
            f"随机深度):{listing_zh(names)}(backward.fills-grad)。",
        )
    ]
