"""The report as Markdown: the source's claims in order, each with quote, what is true, verdict, tests, figures,
benchmarks, plots and sources."""

from __future__ import annotations

from support.claims.model import ClaimRegistry, Verdict
from support.report.text import CHECK_TITLES_ZH, TEXT, part_heading


def fmt(value) -> str:
    """A measured number for a table: 4 significant digits, scientific outside [1e-3, 1e5)."""
    if isinstance(value, str):
        return value
    if value == 0 or 1e-3 <= abs(value) < 1e5:
        return f"{value:.4g}"
    return f"{value:.3e}"


def group_by_function(tests: list[dict]) -> list[tuple[str, list[dict]]]:
    """Parametrized cases of one test function together, in node-id order."""
    groups: dict[str, list[dict]] = {}
    for test in tests:
        groups.setdefault(test["nodeid"].split("[", 1)[0], []).append(test)
    return sorted(groups.items())


def render_markdown(data: dict, registry: ClaimRegistry, lang: str) -> str:
    t = TEXT[lang]
    meta, counts = data["meta"], data["counts"]
    out = [f"# {t['title']}", "", t["intro"], ""]
    out += [
        f"- {t['date']}: {meta['date']}",
        f"- {t['torch']}: {meta['torch']}",
        f"- {t['devices']}: {', '.join(meta['devices'])}",
        f"- {t['python']}: {meta['python']}",
        f"- {t['profile']}: {meta['hypothesis_profile']}",
        f"- {t['claims_by_verdict']}: " + ", ".join(
            f"{t['verdicts'][Verdict(k)]} {v}" for k, v in counts["claims_by_verdict"].items()),
        f"- {t['claims_by_status']}: " + ", ".join(f"{t['status'][k]} {v}" for k, v in counts["claims_by_status"].items()),
        f"- {t['tests_by_outcome']}: " + ", ".join(f"{t['outcomes'][k]} {v}" for k, v in counts["tests_by_outcome"].items()),
        "",
    ]
    current_part = None
    for c in data["claims"]:
        part = registry[c["id"]].part
        if part is not current_part:
            current_part = part
            out += [f"## {part_heading(part, lang)}", ""]
        out += [f"### `{c['id']}`", ""]
        for q in c["quotes"]:
            out += [f"> {t['source']}:「{q}」", ""]
        statement = c["statement_zh"] if lang == "zh" and c["statement_zh"] else c["statement"]
        out += [f"**{t['true']}:** {statement}", ""]
        verdict = t["verdicts"][Verdict(c["verdict"])]
        if c["status"] == "supported":
            out += [f"**{t['verdict']}: {verdict}** ({t['status']['supported']})", ""]
        else:
            out += [f"**{t['verdict']}: {t['status'][c['status']]}** ({t['registered']}: {verdict})", ""]
        out += [f"**{t['tests']}:**", ""]
        if not c["tests"]:
            out += [f"- {t['none_ran']}", ""]
        for base, tests in group_by_function(c["tests"]):
            tally = ", ".join(f"{sum(x['outcome'] == o for x in tests)} {t['outcomes'][o]}"
                              for o in ("passed", "failed", "skipped") if any(x["outcome"] == o for x in tests))
            out.append(f"- `{base}`: {tally}")
            for test in tests:
                if test["outcome"] != "passed" and test["message"]:
                    body = "\n".join("    " + ln for ln in test["message"].splitlines())
                    out.append(f"  - `{test['nodeid']}` {t['outcomes'][test['outcome']]}:\n\n    ```\n{body}\n    ```")
        out.append("")
        if c["figures"]:
            out += [f"**{t['figures']}:**", "", f"| {t['figure']} | {t['value']} | {t['unit']} | {t['note']} |",
                    "|---|---|---|---|"]
            for f in c["figures"]:
                out.append(f"| {f['name']} | {fmt(f['value'])} | {f['unit']} | {f.get('note', '')} |")
            out.append("")
        for b in c.get("benchmarks", []):
            out += [f"**{t['benchmark']}:** {b.get('title', '')} ({b.get('device')}, {b.get('machine')}, torch "
                    f"{b.get('torch')}, {b.get('date')}; `{b.get('command')}`, {b['file']})", ""]
            if b["rows"]:
                cols = list(b["rows"][0])
                out += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
                out += ["| " + " | ".join(fmt(r[k]) if isinstance(r[k], float) else str(r[k]) for k in cols) + " |"
                        for r in b["rows"]]
                out.append("")
        for p in c.get("plots", []):
            out += [f"![{p['title']}]({p['file']})", ""]
        if c["sources"]:
            out += [f"**{t['sources']}:** " + "; ".join(c["sources"]), ""]
    if data.get("your_model"):
        out += render_your_model(data["your_model"], lang)
    return "\n".join(out).rstrip() + "\n"


def _check_title(check: dict, lang: str) -> str:
    return CHECK_TITLES_ZH.get(check["id"], check["title"]) if lang == "zh" else check["title"]


def render_your_model(section: dict, lang: str) -> list[str]:
    """The "Your model" section: a table of every check's verdict per model, then each check with the claims it
    applies, its message on each model, its measured figures and its plots."""
    t = TEXT[lang]
    word = t["model_outcomes"]
    subjects = section["subjects"]
    note = f" ({t['references_note']})" if section.get("references") else ""
    out = [f"## {t['your_model']}", "", t["your_model_intro"], "",
           f"- {t['subjects']}: " + ", ".join(f"`{s}`" for s in subjects) + note,
           f"- {t['checks_by_outcome']}: " + ", ".join(f"{word[k]} {v}" for k, v in section["counts"].items()), "",
           f"| {t['check']} | " + " | ".join(f"`{s}`" for s in subjects) + " |",
           "|---|" + "---|" * len(subjects)]
    for check in section["checks"]:
        cells = []
        for s in subjects:
            outcomes = [r["outcome"] for r in check["results"] if r["subject"] == s]
            cells.append(" / ".join(word[o] for o in outcomes) or "-")
        out.append(f"| {_check_title(check, lang)} | " + " | ".join(cells) + " |")
    out.append("")
    for check in section["checks"]:
        out += [f"### {_check_title(check, lang)}", "",
                f"**{t['applies']}:** " + ", ".join(f"`{c}`" for c in check["claims"]), ""]
        for r in check["results"]:
            device = "" if r["device"] == "cpu" else f" ({r['device']})"
            message = " ".join(r["message"].split())
            out.append(f"- `{r['subject']}`{device}: **{word[r['outcome']]}**" + (f" -- {message}" if message else ""))
        out.append("")
        if check["figures"]:
            out += [f"| {t['figure']} | `model` | {t['value']} | {t['unit']} |", "|---|---|---|---|"]
            for f in check["figures"]:
                out.append(f"| {f['name']} | `{f['subject']}` | {fmt(f['value'])} | {f['unit']} |")
            out.append("")
        for p in check.get("plots", []):
            out += [f"![{p['title']}]({p['file']})", ""]
    return out
