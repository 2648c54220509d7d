"""The question index: every claim's questions with its short answer, a link to the claim in the claims report and
a link to its test module, part by part, in English or Chinese. The claims report shows it (``markdown.py``), and
README.md holds it between markers (``support.report.readme``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from support import _arguments
from support.claims.schema import Claim, Part, module_file
from support.report.text import TEXT, part_heading


def module_path(claim: Claim) -> str:
    """The claim's test module, relative to the project root: ``spec/<part folder>/test_<id>.py``."""
    return f"spec/{claim.part.folder}/{module_file(claim.id)}"


def _cell(text: str) -> str:
    """Text for a Markdown table cell: a '|' (as in a norm, ||g||) would end the cell."""
    return text.replace("|", "\\|")


def question_index(
    claims: Iterable[Claim], lang: str, *, claim_href: Callable[[str], str], test_href: Callable[[Claim], str | None]
) -> list[str]:
    """Markdown lines: per part, a table with one row per claim -- its questions, its short answer, a link to the
    claim (``claim_href(id)``) and to its test module (``test_href(claim)``; None shows the path without a link).
    Claims without questions are left out."""
    _arguments.one_of("question index language", lang, tuple(TEXT))
    t = TEXT[lang]
    zh = lang == "zh"
    out: list[str] = []
    by_part: dict[Part, list[Claim]] = {}
    for claim in claims:
        if claim.questions:
            by_part.setdefault(claim.part, []).append(claim)
    for part, members in by_part.items():
        out += [
            f"**{part_heading(part, lang)}**",
            "",
            f"| {t['question']} | {t['short_answer']} | {t['claim']} | {t['test']} |",
            "|---|---|---|---|",
        ]
        for claim in members:
            questions = "<br>".join(_cell(q) for q in (claim.questions_zh if zh else claim.questions))
            answer = _cell(claim.short_answer_zh if zh else claim.short_answer)
            href = test_href(claim)
            path = module_path(claim)
            test = f"[`{path.rpartition('/')[2]}`]({href})" if href else f"`{path}`"
            out.append(f"| {questions} | {answer} | [`{claim.id}`]({claim_href(claim.id)}) | {test} |")
        out.append("")
    return out
