"""The report's own words in each language (the claims' words live in the registry)."""

from __future__ import annotations

from support.claims.schema import Part, Verdict

LANGS = ("en", "zh")

TEXT = {
    "en": {
        "title": "The source, verified",
        "intro": "Each claim of the source document, the verdict the evidence supports, and the evidence measured in "
        "this run. A claim shows its verdict only when every test that checks it passed in this run.",
        "date": "date",
        "torch": "torch",
        "devices": "devices",
        "python": "python",
        "profile": "hypothesis profile",
        "claims_by_verdict": "claims by verdict",
        "tests_by_outcome": "claim tests by outcome",
        "outcomes": {"passed": "passed", "failed": "failed", "skipped": "skipped"},
        "registered": "registered",
        "none_ran": "(none ran)",
        "claims_by_status": "claims by status in this run",
        "source": "Source",
        "true": "What is true",
        "verdict": "Verdict",
        "tests": "Tests",
        "figures": "Measured figures",
        "sources": "Sources",
        "plots": "Plots",
        "benchmark": "Benchmark (measured outside the test run)",
        "figure": "figure",
        "value": "value",
        "unit": "unit",
        "note": "note",
        "status": {
            "supported": "supported by this run",
            "failing": "NOT supported by this run: a test failed",
            "not run": "NOT checked by this run: its tests were not run",
        },
        "verdicts": {Verdict.CONFIRMED: "confirmed", Verdict.QUALIFIED: "qualified", Verdict.REFUTED: "refuted"},
        "part": "Part",
        "contents": "Contents",
        "in_practice": "In practice",
        "related": "Related claims",
        "gloss": "In English",
        "figure_caption": "Figure",
        "x_axis": "x",
        "y_axis": "y",
        "checked": "claims checked in this run",
        "of_registered": "of {n} registered",
        "dimensionless": "1 (dimensionless)",
        "your_model": "Your model",
        "your_model_intro": "The checks of spec/part6_your_model apply the claims above to a model: its own batch, "
        "loss and optimizer (`pytest spec/part6_your_model --model=PACKAGE.MODULE:FACTORY`). A "
        "failing check says what is wrong with the model, in its parameter, sample and layer "
        "names; it does not count against the claim it applies.",
        "subjects": "Models checked",
        "references_note": "the suite's reference models; no --model was given",
        "check": "check",
        "model_column": "model",
        "applies": "Applies",
        "model_outcomes": {
            "passed": "pass",
            "failed": "FAIL",
            "skipped": "n/a",
            "n/a": "n/a",
            "could not run": "could not run",
        },
        "checks_by_outcome": "checks by outcome",
        "measured_on": "measured on",
        "answer": "Short answer",
        "short_answer": "short answer",
        "question": "question",
        "claim": "claim",
        "test": "test",
        "questions_title": "Questions this report answers",
        "questions_intro": "Each question is answered by a claim below: its short answer here, its bullets, verdict "
        "and evidence under the claim, and its tests in the module linked.",
    },
    "zh": {
        "title": "原文逐条验证",
        "intro": "原文的每条论断、证据支持的结论,以及本次运行实测的证据。只有当检验某条论断的所有测试在本次运行中全部通过时,才显示其结论。",
        "date": "日期",
        "torch": "torch 版本",
        "devices": "设备",
        "python": "python 版本",
        "profile": "hypothesis 配置",
        "claims_by_verdict": "按结论统计的论断数",
        "tests_by_outcome": "检验论断的测试按结果统计",
        "outcomes": {"passed": "通过", "failed": "失败", "skipped": "跳过"},
        "registered": "登记的结论",
        "none_ran": "(没有运行)",
        "claims_by_status": "本次运行中论断的状态",
        "source": "原文",
        "true": "实际情况",
        "verdict": "结论",
        "tests": "测试",
        "figures": "实测数据",
        "sources": "来源",
        "plots": "图",
        "benchmark": "基准测试(在测试运行之外测量)",
        "figure": "指标",
        "value": "数值",
        "unit": "单位",
        "note": "说明",
        "status": {
            "supported": "本次运行支持该结论",
            "failing": "本次运行不支持该结论:有测试失败",
            "not run": "本次运行未检验:相关测试没有运行",
        },
        "verdicts": {Verdict.CONFIRMED: "成立", Verdict.QUALIFIED: "有条件成立", Verdict.REFUTED: "不成立"},
        "part": "第",
        "contents": "目录",
        "in_practice": "实践建议",
        "related": "相关论断",
        "gloss": "英文释义",
        "figure_caption": "图",
        "x_axis": "横轴",
        "y_axis": "纵轴",
        "checked": "本次运行检验的论断",
        "of_registered": "共登记 {n} 条",
        "dimensionless": "1(无量纲)",
        "your_model": "你的模型",
        "your_model_intro": "spec/part6_your_model 中的检查把上面的论断应用到一个模型上:使用它自己的 batch、"
        "损失函数和优化器(`pytest spec/part6_your_model --model=包.模块:工厂函数`)。"
        "检查失败说明的是模型的问题,会指出具体的参数名、样本对和层名;"
        "它不计入所应用论断的结论。",
        "subjects": "被检查的模型",
        "references_note": "本套件的参考模型;未指定 --model",
        "check": "检查",
        "model_column": "模型",
        "applies": "应用的论断",
        "model_outcomes": {
            "passed": "通过",
            "failed": "失败",
            "skipped": "不适用",
            "n/a": "不适用",
            "could not run": "无法运行",
        },
        "checks_by_outcome": "检查按结果统计",
        "measured_on": "测量对象",
        "answer": "简短回答",
        "short_answer": "简短回答",
        "question": "问题",
        "claim": "论断",
        "test": "测试",
        "questions_title": "本报告回答的问题",
        "questions_intro": "每个问题都由下面的一条论断回答:这里是它的简短回答,论断之下有要点、结论和证据,测试在所链接的模块中。",
    },
}

# Units of the measured figures in Chinese (the units the spec records; anything else is shown as recorded)
UNITS_ZH = {
    "1/layer": "1/层",
    "nats": "奈特",
    "nat": "奈特",
    "gradient norm": "梯度范数",
    "1/step": "1/步",
    "step": "步",
    "steps": "步",
    "runs": "次运行",
    "lr": "学习率",
    "samples": "个样本",
    "gradient units": "梯度单位",
    "nodes": "个节点",
    "passes": "次",
    "1/lr": "1/学习率",
    "parameter norm": "参数范数",
    "x Glorot std": "倍 Glorot 标准差",
    "gradient": "梯度",
    "output units": "输出单位",
    "parameter units": "参数单位",
    "squared target units": "目标单位的平方",
    "b": "b",
    "pairs": "对",
    "terms": "项",
    "parameters": "个参数",
    "seconds": "秒",
    "s": "秒",
    "layers": "层",
    # the units of the model checks' numbers (support.model_check.checks; record_check refuses any other)
    "loss units": "损失单位",
    "tensors": "个张量",
    "logit units": "logit 单位",
    "1 = all": "1 = 全部",
    "classes": "个类别",
    "loss units per parameter unit": "损失单位/参数单位",
    "x": "倍",
}


def unit_text(unit: str, lang: str) -> str:
    """A figure's unit for the report: "1" says it is dimensionless; Chinese units from ``UNITS_ZH``."""
    if unit == "1":
        return TEXT[lang]["dimensionless"]
    return UNITS_ZH.get(unit, unit) if lang == "zh" else unit


PART_TITLES_ZH = {
    Part.BATCH_LOSS: "计算 batch 损失并反向传播",
    Part.EXPLOSION: "反向传播中的梯度爆炸,batch 数据中 Loss 求和求平均处理",
    Part.LOSS_AND_GRADIENT: "损失值大小与梯度的关系",
    Part.ACCURACY_AND_LOSS: "准确率与损失值的关系",
    Part.BEYOND: "文档之外:实践中容易出错的 batch 损失细节",
}


def part_heading(part: Part, lang: str) -> str:
    """ "Part 1: <title>" in English, "第 1 部分:<title>" in Chinese; the part beyond the source is numbered too."""
    if lang == "zh":
        return f"第 {part.number} 部分:{PART_TITLES_ZH[part]}"
    return f"Part {part.number}: {part.title}"
