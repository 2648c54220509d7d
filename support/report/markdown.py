"""The report as Markdown: a table of contents, the question index (every claim's questions with its short answer,
linked to the claim and its test module), then the source's claims in order, each with its short answer, verdict,
what is true (bullets), quotes (and an English gloss of each), what to do about it, related claims, tests, figures,
benchmarks, plots with captions and sources; then the "Your model" section when model checks ran.

Every claim has an explicit anchor (``<a id="<claim id>">``), so links such as ``README.md#reduction.options`` work
whatever a Markdown renderer does to headings.
"""

from __future__ import annotations

from support import _arguments
from support.claims.schema import ClaimRegistry, Part, Verdict
from support.report.questions import module_path, question_index
from support.report.text import LANGS, TEXT, part_heading, unit_text

YOUR_MODEL_ANCHOR = "your-model"
QUESTIONS_ANCHOR = "questions"


def fmt(value) -> str:
    """A measured number for a table: 4 significant digits, scientific outside [1e-3, 1e5)."""
    if isinstance(value, str):
        return value
    if value == 0 or 1e-3 <= abs(value) < 1e5:
        return f"{value:.4g}"
    return f"{value:.3e}"


def cell(text) -> str:
    """Text for a Markdown table cell: a '|' (as in a norm, ||g||) would end the cell, so it is escaped."""
    return str(text).replace("|", "\\|")


def group_by_function(tests: list[dict]) -> list[tuple[str, list[dict]]]:
    """Parametrized cases of one test function together, in node-id order."""
    groups: dict[str, list[dict]] = {}
    for test in tests:
        groups.setdefault(test["nodeid"].split("[", 1)[0], []).append(test)
    return sorted(groups.items())


def anchor(claim_id: str) -> str:
    return f'<a id="{claim_id}"></a>'


def _in_lang(item: dict, key: str, lang: str) -> str:
    """``item[key]`` in the report's language: the ``<key>_zh`` field in the Chinese edition when there is one."""
    if lang == "zh" and item.get(f"{key}_zh"):
        return item[f"{key}_zh"]
    return item.get(key, "")


def _statement(claim: dict, lang: str) -> list[str]:
    """The statement's bullets in the report's language (a string, as older results hold, is one bullet)."""
    bullets = _in_lang(claim, "statement", lang)
    return [bullets] if isinstance(bullets, str) else list(bullets)


def _status_word(claim: dict, t: dict) -> str:
    verdict = t["verdicts"][Verdict(claim["verdict"])]
    return verdict if claim["status"] == "supported" else f"{verdict}, {t['status'][claim['status']]}"


def render_contents(data: dict, registry: ClaimRegistry, lang: str) -> list[str]:
    t = TEXT[lang]
    out = [f"## {t['contents']}", ""]
    if any(registry[c["id"]].questions for c in data["claims"]):
        out.append(f"- **[{t['questions_title']}](#{QUESTIONS_ANCHOR})**")
    for part in Part:
        claims = [c for c in data["claims"] if registry[c["id"]].part is part]
        if not claims:
            continue
        out.append(f"- **{part_heading(part, lang)}**")
        out += [f"  - [`{c['id']}`](#{c['id']}): {_status_word(c, t)}" for c in claims]
    if data.get("your_model"):
        out.append(f"- **[{t['your_model']}](#{YOUR_MODEL_ANCHOR})**")
    return out + [""]


def render_questions(data: dict, registry: ClaimRegistry, lang: str, root_link: str | None) -> list[str]:
    """The question index of the claims in this report: claims linked within the report, test modules through
    ``root_link`` (the project root relative to the report; None shows their paths without links)."""
    t = TEXT[lang]
    claims = [registry[c["id"]] for c in data["claims"]]
    if not any(c.questions for c in claims):
        return []

    def test_href(claim):
        return f"{root_link.rstrip('/')}/{module_path(claim)}" if root_link else None

    lines = question_index(claims, lang, claim_href=lambda claim_id: f"#{claim_id}", test_href=test_href)
    return [f'<a id="{QUESTIONS_ANCHOR}"></a>', f"## {t['questions_title']}", "", t["questions_intro"], ""] + lines


def render_claim(c: dict, lang: str) -> list[str]:
    """One claim: its short answer and verdict, what is true, the source's words, advice and related claims, then
    what this run measured (tests, figures, benchmarks, plots) and the sources."""
    return (
        _render_answer(c, lang)
        + _render_source_and_advice(c, lang)
        + _render_tests(c, lang)
        + _render_figures(c, lang)
        + _render_benchmarks(c, lang)
        + render_plot_images(c.get("plots", []), lang)
        + ([f"**{TEXT[lang]['sources']}:** " + "; ".join(c["sources"]), ""] if c["sources"] else [])
    )


def _render_answer(c: dict, lang: str) -> list[str]:
    t = TEXT[lang]
    out = [anchor(c["id"]), f"### `{c['id']}`", ""]
    if _in_lang(c, "short_answer", lang):
        out += [f"**{t['answer']}:** {_in_lang(c, 'short_answer', lang)}", ""]
    verdict = t["verdicts"][Verdict(c["verdict"])]
    if c["status"] == "supported":
        out += [f"**{t['verdict']}: {verdict}** ({t['status']['supported']})", ""]
    else:
        out += [f"**{t['verdict']}: {t['status'][c['status']]}** ({t['registered']}: {verdict})", ""]
    return out + [f"**{t['true']}:**", ""] + [f"- {b}" for b in _statement(c, lang)] + [""]


def _render_source_and_advice(c: dict, lang: str) -> list[str]:
    t = TEXT[lang]
    out = []
    glosses = c.get("gloss") or []
    for i, quote in enumerate(c["quotes"]):
        out.append(f"> {t['source']}:「{quote}」")
        if lang == "en" and i < len(glosses):
            out += [">", f"> *{t['gloss']}: {glosses[i]}*"]
        out.append("")
    if c.get("in_practice"):
        out += [f"**{t['in_practice']}:** {_in_lang(c, 'in_practice', lang)}", ""]
    if c.get("related"):
        out += [f"**{t['related']}:** " + ", ".join(f"[`{r}`](#{r})" for r in c["related"]), ""]
    return out


def _render_tests(c: dict, lang: str) -> list[str]:
    """The claim's tests, grouped by test function, with the first lines of any failure."""
    t = TEXT[lang]
    out = [f"**{t['tests']}:**", ""]
    if not c["tests"]:
        out += [f"- {t['none_ran']}", ""]
    for base, tests in group_by_function(c["tests"]):
        tally = ", ".join(
            f"{sum(x['outcome'] == o for x in tests)} {t['outcomes'][o]}"
            for o in ("passed", "failed", "skipped")
            if any(x["outcome"] == o for x in tests)
        )
        out.append(f"- `{base}`: {tally}")
        for test in tests:
            if test["outcome"] != "passed" and test["message"]:
                body = "\n".join("    " + ln for ln in test["message"].splitlines())
                out.append(f"  - `{test['nodeid']}` {t['outcomes'][test['outcome']]}:\n\n    ```\n{body}\n    ```")
    return out + [""]


def _render_figures(c: dict, lang: str) -> list[str]:
    """The measured numbers, with a "measured on" column where any of them says what it was measured on."""
    if not c["figures"]:
        return []
    t = TEXT[lang]
    on = any(f.get("measured_on") for f in c["figures"])
    header = [t["figure"], t["value"], t["unit"]] + ([t["measured_on"]] if on else []) + [t["note"]]
    out = [f"**{t['figures']}:**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for f in c["figures"]:
        row = [cell(_in_lang(f, "name", lang)), fmt(f["value"]), cell(unit_text(f["unit"], lang))]
        row += [cell(_in_lang(f, "measured_on", lang))] if on else []
        out.append("| " + " | ".join(row + [cell(_in_lang(f, "note", lang))]) + " |")
    return out + [""]


def _render_benchmarks(c: dict, lang: str) -> list[str]:
    t = TEXT[lang]
    out = []
    for b in c.get("benchmarks", []):
        out += [
            f"**{t['benchmark']}:** {_in_lang(b, 'title', lang)} ({b.get('device')}, {b.get('machine')}, torch "
            f"{b.get('torch')}, {b.get('date')}; `{b.get('command')}`, {b['file']})",
            "",
        ]
        if b["rows"]:
            cols = list(b["rows"][0])
            out += ["| " + " | ".join(cell(col) for col in cols) + " |", "|" + "---|" * len(cols)]
            out += [
                "| " + " | ".join(fmt(r[k]) if isinstance(r[k], float) else cell(r[k]) for k in cols) + " |"
                for r in b["rows"]
            ]
            out.append("")
    return out


def render_plot_images(plots: list[dict], lang: str) -> list[str]:
    """Each figure with a caption that names it and its axes (with their units) in the report's language."""
    t = TEXT[lang]
    out = []
    for p in plots:
        zh = p.get("zh") or {}
        title = zh.get("plot", p["title"]) if lang == "zh" else p["title"]
        x_label = zh.get("x_label", p.get("x_label", "")) if lang == "zh" else p.get("x_label", "")
        y_label = zh.get("y_label", p.get("y_label", "")) if lang == "zh" else p.get("y_label", "")
        if lang == "zh":
            caption = f"{t['figure_caption']}:{title}。{t['x_axis']}:{x_label};{t['y_axis']}:{y_label}。"
        else:
            caption = f"{t['figure_caption']}: {title}. {t['x_axis']}: {x_label}; {t['y_axis']}: {y_label}."
        out += [f"![{title}]({p['file']})", "", f"*{caption}*", ""]
    return out


def render_markdown(data: dict, registry: ClaimRegistry, lang: str, root_link: str | None = None) -> str:
    """The report's README.md. ``root_link``: the project root relative to the report's folder, for links to the
    test modules (None: the modules are named without links)."""
    t = TEXT[_arguments.one_of("lang", lang, LANGS)]
    meta, counts = data["meta"], data["counts"]
    out = [f"# {t['title']}", "", t["intro"], ""]
    out += [
        f"- {t['date']}: {meta['date']}",
        f"- {t['torch']}: {meta['torch']}",
        f"- {t['devices']}: {', '.join(meta['devices'])}",
        f"- {t['python']}: {meta['python']}",
        f"- {t['profile']}: {meta['hypothesis_profile']}",
        f"- {t['checked']}: {counts['claims_checked']} ("
        + t["of_registered"].format(n=counts["claims_registered"])
        + ")",
        f"- {t['claims_by_verdict']}: "
        + ", ".join(f"{t['verdicts'][Verdict(k)]} {v}" for k, v in counts["claims_by_verdict"].items()),
        f"- {t['claims_by_status']}: "
        + ", ".join(f"{t['status'][k]} {v}" for k, v in counts["claims_by_status"].items()),
        f"- {t['tests_by_outcome']}: "
        + ", ".join(f"{t['outcomes'][k]} {v}" for k, v in counts["tests_by_outcome"].items()),
    ]
    if data.get("your_model"):
        section = data["your_model"]
        out.append(f"- [{t['your_model']}](#{YOUR_MODEL_ANCHOR}): " + ", ".join(f"`{s}`" for s in section["subjects"]))
    out.append("")
    out += render_contents(data, registry, lang)
    out += render_questions(data, registry, lang, root_link)
    current_part = None
    for c in data["claims"]:
        part = registry[c["id"]].part
        if part is not current_part:
            current_part = part
            out += [f"## {part_heading(part, lang)}", ""]
        out += render_claim(c, lang)
    if data.get("your_model"):
        out += render_your_model(data["your_model"], lang)
    return "\n".join(out).rstrip() + "\n"


def _check_title(check: dict, lang: str) -> str:
    if lang == "zh":
        from support.model_check.catalog import CHECK_IDS, info

        return info(check["id"]).title_zh if check["id"] in CHECK_IDS else check["title"]
    return check["title"]


def _outcome_word(result: dict, words: dict) -> str:
    """pass / FAIL / n/a / could not run: the check's own outcome where the test was skipped for it."""
    own = result.get("check_outcome", "")
    return words[own] if result["outcome"] == "skipped" and own in words else words[result["outcome"]]


def render_your_model(section: dict, lang: str) -> list[str]:
    """The "Your model" section: a table of every check's verdict per model, then each check with the claims it
    applies, its message on each model, its measured figures and its plots."""
    t = TEXT[lang]
    word = t["model_outcomes"]
    subjects = section["subjects"]
    note = f" ({t['references_note']})" if section.get("references") else ""
    out = [
        f'<a id="{YOUR_MODEL_ANCHOR}"></a>',
        f"## {t['your_model']}",
        "",
        t["your_model_intro"],
        "",
        f"- {t['subjects']}: " + ", ".join(f"`{s}`" for s in subjects) + note,
        f"- {t['checks_by_outcome']}: " + ", ".join(f"{word[k]} {v}" for k, v in section["counts"].items()),
        "",
        f"| {t['check']} | " + " | ".join(f"`{s}`" for s in subjects) + " |",
        "|---|" + "---|" * len(subjects),
    ]
    for check in section["checks"]:
        cells = []
        for s in subjects:
            cells.append(" / ".join(_outcome_word(r, word) for r in check["results"] if r["subject"] == s) or "-")
        out.append(f"| {_check_title(check, lang)} | " + " | ".join(cells) + " |")
    out.append("")
    for check in section["checks"]:
        out += [
            f"### {_check_title(check, lang)}",
            "",
            f"**{t['applies']}:** " + ", ".join(f"[`{c}`](#{c})" for c in check["claims"]),
            "",
        ]
        for r in check["results"]:
            device = "" if r["device"] == "cpu" else f" ({r['device']})"
            key = "_zh" if lang == "zh" else ""
            message = " ".join((r.get(f"message{key}") or r["message"]).split())
            remark = " ".join((r.get(f"note{key}") or "").split())
            out.append(
                f"- `{r['subject']}`{device}: **{_outcome_word(r, word)}**"
                + (f" -- {message}" if message else "")
                + (f" {remark}" if remark else "")
            )
        out.append("")
        if check["figures"]:
            out += [f"| {t['figure']} | {t['model_column']} | {t['value']} | {t['unit']} |", "|---|---|---|---|"]
            for f in check["figures"]:
                out.append(
                    f"| {cell(_in_lang(f, 'name', lang))} | `{f['subject']}` | {fmt(f['value'])} | "
                    f"{cell(unit_text(f['unit'], lang))} |"
                )
            out.append("")
        out += render_plot_images(check.get("plots", []), lang)
    return out
