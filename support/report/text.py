"""The report's own words in each language (the claims' words live in the registry)."""

from __future__ import annotations

from support.claims.model import Part, Verdict

LANGS = ("en", "zh")

TEXT = {
    "en": {
        "title": "The source, verified",
        "intro": "Each claim of the source document, the verdict the evidence supports, and the evidence measured in "
                 "this run. A claim shows its verdict only when every test that checks it passed in this run.",
        "date": "date", "torch": "torch", "devices": "devices", "python": "python", "profile": "hypothesis profile",
        "claims_by_verdict": "claims by verdict", "tests_by_outcome": "claim tests by outcome",
        "outcomes": {"passed": "passed", "failed": "failed", "skipped": "skipped"},
        "registered": "registered", "none_ran": "(none ran)",
        "claims_by_status": "claims by status in this run",
        "source": "Source", "true": "What is true", "verdict": "Verdict", "tests": "Tests",
        "figures": "Measured figures", "sources": "Sources", "plots": "Plots",
        "benchmark": "Benchmark (measured outside the test run)", "figure": "figure", "value": "value", "unit": "unit",
        "note": "note",
        "status": {"supported": "supported by this run", "failing": "NOT supported by this run: a test failed",
                   "not run": "NOT checked by this run: its tests were not run"},
        "verdicts": {Verdict.CONFIRMED: "confirmed", Verdict.QUALIFIED: "qualified", Verdict.REFUTED: "refuted"},
        "part": "Part",
    },
    "zh": {
        "title": "原文逐条验证",
        "intro": "原文的每条论断、证据支持的结论,以及本次运行实测的证据。只有当检验某条论断的所有测试在本次运行中全部通过时,才显示其结论。",
        "date": "日期", "torch": "torch 版本", "devices": "设备", "python": "python 版本", "profile": "hypothesis 配置",
        "claims_by_verdict": "按结论统计的论断数", "tests_by_outcome": "检验论断的测试按结果统计",
        "outcomes": {"passed": "通过", "failed": "失败", "skipped": "跳过"},
        "registered": "登记的结论", "none_ran": "(没有运行)",
        "claims_by_status": "本次运行中论断的状态",
        "source": "原文", "true": "实际情况", "verdict": "结论", "tests": "测试", "figures": "实测数据",
        "sources": "来源", "plots": "图", "benchmark": "基准测试(在测试运行之外测量)", "figure": "指标", "value": "数值",
        "unit": "单位", "note": "说明",
        "status": {"supported": "本次运行支持该结论", "failing": "本次运行不支持该结论:有测试失败",
                   "not run": "本次运行未检验:相关测试没有运行"},
        "verdicts": {Verdict.CONFIRMED: "成立", Verdict.QUALIFIED: "有条件成立", Verdict.REFUTED: "不成立"},
        "part": "第",
    },
}

PART_TITLES_ZH = {
    Part.BATCH_LOSS: "Torch 建模计算一个 batch loss 如何进行反向传播",
    Part.EXPLOSION: "反向传播中的梯度爆炸, batch 数据中 Loss 求和求平均处理",
    Part.LOSS_AND_GRADIENT: "损失值大小与梯度的关系",
    Part.ACCURACY_AND_LOSS: "准确度与损失值的关系",
    Part.BEYOND: "文档之外:实践中容易出错的 batch 损失细节",
}


def part_heading(part: Part, lang: str) -> str:
    """"Part 1: <title>" in English, "第 1 部分:<title>" in Chinese; the part beyond the source is numbered too."""
    if lang == "zh":
        return f"第 {part.number} 部分:{PART_TITLES_ZH[part]}"
    return f"Part {part.number}: {part.title}"
