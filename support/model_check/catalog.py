"""The catalog of the model checks: one torch-free entry per check, the one place a check is defined.

Each entry says what a check is called (in English and Chinese), which claims of the spec it applies, which numbers
it reports (with their Chinese names and units) and which curves it draws. The order of ``CATALOG`` is the order in
which checks run and are reported. The check itself lives in ``support/model_check/checks/<id>.py`` and its test in
``spec/part6_your_model/test_<id>.py`` (the id with dashes as underscores); a meta-test keeps the three in step.

Nothing here imports torch: the plugin reads titles and order in the controller of an xdist run, and the report
reads them when it renders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from support.errors import SpecInputError, did_you_mean

ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Number:
    """A number a check reports: its English name (the key of ``CheckResult.numbers``), Chinese name and unit."""

    name: str
    zh: str
    unit: str


@dataclass(frozen=True)
class CheckInfo:
    """One check: ``id`` (as its module is named), ``title``/``title_zh``, the ``claims`` it applies, the
    ``numbers`` it may report and the ``curves`` it may return ({English name: Chinese name})."""

    id: str
    title: str
    title_zh: str
    claims: tuple[str, ...]
    numbers: tuple[Number, ...] = ()
    curves: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not ID_PATTERN.match(self.id):
            raise SpecInputError(f"check id {self.id!r} must be lower-case words joined by dashes")
        if not self.claims:
            raise SpecInputError(f"check {self.id!r} applies no claim")
        names = [n.name for n in self.numbers]
        if len(set(names)) != len(names):
            raise SpecInputError(f"check {self.id!r} declares a number twice")

    @property
    def module(self) -> str:
        """The name of its module in support/model_check/checks/ (and, with ``test_``, of its spec module)."""
        return self.id.replace("-", "_")

    def number(self, name: str) -> Number:
        """The declared number ``name``; an undeclared one raises SpecInputError with close matches."""
        for n in self.numbers:
            if n.name == name:
                return n
        raise SpecInputError(
            f"check {self.id!r} reports no number {name!r}"
            f"{did_you_mean(name, [n.name for n in self.numbers])}; declare it in "
            f"support/model_check/catalog.py"
        )

    def curve_zh(self, name: str) -> str:
        if name not in self.curves:
            raise SpecInputError(
                f"check {self.id!r} draws no curve {name!r}{did_you_mean(name, list(self.curves))}; "
                f"declare it in support/model_check/catalog.py"
            )
        return self.curves[name]


def _n(name: str, zh: str, unit: str) -> Number:
    return Number(name, zh, unit)


LOSS = _n("loss of the batch", "该 batch 的损失", "loss units")
TRAINABLE = _n("trainable parameters", "可训练参数", "tensors")
NO_EFFECT = _n("parameters the loss does not depend on", "损失不依赖的参数", "tensors")
BLOCKED = _n("parameters with zero gradient at init only", "仅在初始化时梯度为零的参数", "tensors")
TOTAL_NORM = _n("total gradient norm", "总梯度范数", "loss units per parameter unit")

CATALOG: tuple[CheckInfo, ...] = (
    CheckInfo(
        id="every-parameter-gets-a-gradient",
        title="every trainable parameter gets a finite gradient from one batch backward",
        title_zh="每个可训练参数都能从一次 batch 反向传播中得到有限的梯度",
        claims=("backward.fills-grad",),
        numbers=(
            LOSS,
            TRAINABLE,
            _n("with a finite non-zero gradient", "梯度有限且非零的参数", "tensors"),
            NO_EFFECT,
            BLOCKED,
            TOTAL_NORM,
        ),
    ),
    CheckInfo(
        id="one-step-updates-parameters",
        title="one optimizer step changes every trainable parameter and nothing frozen",
        title_zh="一次优化器更新改变每个可训练参数,且不改变任何被冻结的参数",
        claims=("step.updates-parameters",),
        numbers=(
            TRAINABLE,
            _n("trainable parameters changed by one step", "一步之后发生变化的可训练参数", "tensors"),
            _n(
                "frozen parameters (requires_grad=False or named) left unchanged",
                "保持不变的冻结参数(requires_grad=False 或被指名冻结的)",
                "tensors",
            ),
            NO_EFFECT,
            BLOCKED,
        ),
    ),
    CheckInfo(
        id="mean-is-sum-over-terms",
        title="the mean loss divides the summed loss by the number of loss terms",
        title_zh="mean 损失等于 sum 损失除以损失项的个数",
        claims=(
            "reduction.mean-is-sum-over-n",
            "mean.denominator.elementwise",
            "mean.denominator.ignore-index",
            "mean.denominator.class-weight",
            "mean.denominator.kldiv",
        ),
        numbers=(
            _n("expected denominator (loss terms)", "预期的分母(损失项数)", "terms"),
            _n("measured denominator (grad of sum / grad of mean)", "测得的分母(sum 的梯度 / mean 的梯度)", "terms"),
        ),
    ),
    CheckInfo(
        id="samples-are-independent",
        title="samples of a batch are independent: output i does not depend on input j",
        title_zh="batch 中的样本相互独立:输出 i 不依赖于输入 j",
        claims=("coupling.dependencies", "coupling.batchnorm"),
        numbers=(
            _n("coupled pairs in eval mode", "eval 模式下相互耦合的样本对", "pairs"),
            _n("coupled pairs in train mode", "train 模式下相互耦合的样本对", "pairs"),
            _n("pairs charted", "依赖图中检查的样本对", "pairs"),
        ),
    ),
    CheckInfo(
        id="per-sample-gradients-add-up",
        title="per-sample gradients add up to the batch gradient",
        title_zh="逐样本梯度之和等于 batch 梯度",
        claims=("per-sample.backward-accumulates", "per-sample.vmap"),
        numbers=(
            _n("samples compared", "比较的样本数", "samples"),
            _n("largest relative difference", "最大相对差异", "1"),
        ),
    ),
    CheckInfo(
        id="loss-at-init-is-near-log-c",
        title="a classifier's loss at initialisation is near ln C",
        title_zh="分类模型初始化时的损失接近 ln C",
        claims=("loss.at-init", "loss.measures-error"),
        numbers=(
            _n("loss at init", "初始化时的损失", "nats"),
            _n("ln C", "ln C(C 为类别数)", "nats"),
            _n("loss of a uniform prediction", "均匀预测的损失", "nats"),
            _n(
                "logit scale (std across classes, mean over samples)",
                "logit 尺度(各类别间的标准差,对样本取平均)",
                "logit units",
            ),
            _n("largest |logit|", "最大的 |logit|", "logit units"),
            _n("loss at init / uniform-prediction loss", "初始化时的损失 / 均匀预测的损失", "1"),
        ),
    ),
    CheckInfo(
        id="no-softmax-before-cross-entropy",
        title="no softmax before CrossEntropyLoss",
        title_zh="CrossEntropyLoss 之前没有 softmax",
        claims=("loss.measures-error",),
        numbers=(
            _n("rows that are probabilities", "构成概率分布的行", "1 = all"),
            _n("rows that are log-probabilities", "构成对数概率的行", "1 = all"),
            _n("classes", "类别数", "classes"),
            _n("lowest reachable loss", "可达到的最低损失", "nats"),
        ),
    ),
    CheckInfo(
        id="gradient-norms-at-init",
        title="gradients at init are finite and neither explode nor vanish with depth",
        title_zh="初始化时梯度有限,且不随深度爆炸或消失",
        claims=("explosion.definition", "explosion.cause.init", "explosion.cause.depth", "remedy.clip-norm"),
        numbers=(
            _n("loss at init", "初始化时的损失", "loss units"),
            _n("layers charted", "统计的层数", "layers"),
            TOTAL_NORM,
            _n("trend: gradient at first layer / at last layer", "趋势:第一层的梯度 / 最后一层的梯度", "1"),
            _n("trend: factor per layer toward the input", "趋势:朝输入方向每层的倍数", "1"),
            _n(
                "norm after clip_grad_norm_(max_norm = norm / 2)",
                "clip_grad_norm_(max_norm = norm / 2) 之后的范数",
                "loss units per parameter unit",
            ),
            _n("largest update/weight ratio of one step", "一步更新中最大的 update/weight 比值", "1"),
        ),
        curves={
            "gradient norm at each layer's output": "每层输出处的梯度范数",
            "gradient norm of each layer's parameters": "每层参数的梯度范数",
            "fitted trend": "拟合的趋势",
        },
    ),
    CheckInfo(
        id="can-overfit-one-batch",
        title="the model can overfit one batch",
        title_zh="模型能过拟合一个 batch",
        claims=("step.updates-parameters",),
        numbers=(
            _n("steps", "步数", "steps"),
            _n("loss at step 0", "第 0 步的损失", "loss units"),
            _n("final loss", "最终损失", "loss units"),
            _n("lowest reachable loss", "可达到的最低损失", "loss units"),
            _n("gap to the lowest loss fell by", "与最低损失之差下降的倍数", "x"),
            _n("final accuracy", "最终准确率", "1"),
            _n("learning rate", "学习率", "lr"),
        ),
        curves={"loss / loss at step 0": "损失 / 第 0 步的损失", "accuracy on the batch": "该 batch 上的准确率"},
    ),
)

CHECK_IDS: tuple[str, ...] = tuple(c.id for c in CATALOG)
_BY_ID = {c.id: c for c in CATALOG}
if len(_BY_ID) != len(CATALOG):
    raise SpecInputError("support.model_check.catalog: a check id is listed twice")


def info(check_id: str) -> CheckInfo:
    """The catalog entry of ``check_id``; an unknown id raises SpecInputError with close matches."""
    try:
        return _BY_ID[check_id]
    except (KeyError, TypeError):
        raise SpecInputError(
            f"unknown model check {check_id!r}{did_you_mean(str(check_id), CHECK_IDS)}; the "
            f"checks are {', '.join(CHECK_IDS)}"
        ) from None


__all__ = ["CATALOG", "CHECK_IDS", "CheckInfo", "Number", "info"]
