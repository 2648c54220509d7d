"""The report's data: what each claim's tests did in one run, built from plain records (no pytest here).

``build_report(registry, records, environment, benchmarks)`` returns the dict that ``results.json`` holds and
the Markdown and plots are rendered from.

Records of model checks (spec/part6_your_model: ``TestRecord.check`` set) apply claims to a model rather than
test them on PyTorch: a check that fails on a model says something about the model, not about the claim. They are
kept out of the claims' tests and counts and go to ``data["your_model"]`` (``build_your_model``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from support import _arguments
from support.claims.schema import ClaimRegistry, Verdict
from support.errors import SpecInputError
from support.model_check.catalog import CHECK_IDS
from support.report.questions import module_path

STATUS_ORDER = ("supported", "failing", "not run")
OUTCOMES = ("passed", "failed", "skipped")


@dataclass
class TestRecord:
    """One test of a run: the claims it checks, its outcome and what it measured."""

    __test__ = False  # not a pytest test class, whatever its name

    nodeid: str
    claims: list[str] = field(default_factory=list)
    outcome: str = "passed"  # passed | failed | skipped
    message: str = ""
    duration: float = 0.0
    figures: list[dict] = field(default_factory=list)
    series: list[dict] = field(default_factory=list)
    # a model check (spec/part6_your_model): {"id", "title", "subject", "device"}, and what the check returned:
    # {"outcome", "message", "message_zh", "note", "note_zh"} (support.pytest_plugin.your_model.record_check)
    check: dict | None = None
    check_result: dict | None = None

    def __post_init__(self) -> None:
        _arguments.one_of(f"test {self.nodeid!r}: outcome", self.outcome, OUTCOMES)
        if isinstance(self.claims, str) or not all(isinstance(c, str) for c in self.claims):
            raise SpecInputError(f"test {self.nodeid!r}: claims must be a list of claim ids, got {self.claims!r}")


def first_lines(text: str, n: int = 6) -> str:
    """The first ``n`` lines of a failure that say what went wrong (pytest's "E " lines when there are any)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("E ")]
    return "\n".join((errors or lines)[:n])


def load_benchmarks(directory: Path, root: Path) -> list[dict]:
    """Benchmark results (JSON written by the scripts in bench/, outside the test run) that name a claim.

    ``file`` in each result is its path relative to ``root``. A file that cannot be read raises SpecInputError.
    """
    directory, root = Path(directory), Path(root)
    results = []
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise SpecInputError(f"benchmark result {path} cannot be read: {exc}") from None
        if isinstance(data, dict) and isinstance(data.get("claim"), str) and isinstance(data.get("rows"), list):
            results.append(dict(data, file=path.relative_to(root).as_posix()))
    return results


def build_report(
    registry: ClaimRegistry, records: list[TestRecord], environment: dict, benchmarks: list[dict] = ()
) -> dict:
    """Every registered claim in order with its status in this run (supported only when every test of it that
    ran passed and at least one did), its tests, figures, series and benchmarks; plus counts and the environment."""
    checks = [r for r in records if r.check]
    records = [r for r in records if not r.check]
    by_claim: dict[str, list[TestRecord]] = defaultdict(list)
    for rec in sorted(records, key=lambda r: r.nodeid):
        for claim_id in rec.claims:
            registry[claim_id]  # an id the registry does not know raises, naming close matches
            by_claim[claim_id].append(rec)
    claims = []
    for claim in registry.values():
        recs = by_claim.get(claim.id, [])
        outcomes = [r.outcome for r in recs]
        if "failed" in outcomes:
            status = "failing"
        elif "passed" in outcomes:
            status = "supported"
        else:
            status = "not run"
        claims.append(
            {
                "id": claim.id,
                "part": claim.part.number,
                "module": module_path(claim),
                "short_answer": claim.short_answer,
                "short_answer_zh": claim.short_answer_zh,
                "questions": list(claim.questions),
                "questions_zh": list(claim.questions_zh),
                "quotes": list(claim.quotes),
                "gloss": list(claim.gloss),
                "statement": list(claim.statement),
                "statement_zh": list(claim.statement_zh),
                "in_practice": claim.in_practice,
                "in_practice_zh": claim.in_practice_zh,
                "related": registry.related_to(claim.id),
                "verdict": claim.verdict.value,
                "status": status,
                "sources": list(claim.sources),
                "tests": [
                    {"nodeid": r.nodeid, "outcome": r.outcome, "message": r.message, "duration_s": round(r.duration, 3)}
                    for r in recs
                ],
                "figures": [dict(f, test=r.nodeid) for r in recs for f in r.figures],
                "series": [dict(s, test=r.nodeid) for r in recs for s in r.series],
                "benchmarks": [b for b in benchmarks if b.get("claim") == claim.id],
            }
        )
    test_counts = defaultdict(int)
    for rec in records:
        test_counts[rec.outcome] += 1
    ran = [c for c in claims if c["status"] != "not run"]
    data = {
        "meta": dict(environment),
        "counts": {
            "claims_checked": len(ran),
            "claims_registered": len(claims),
            "checked_by_verdict": {v.value: sum(c["verdict"] == v.value for c in ran) for v in Verdict},
            "claims_by_verdict": {v.value: sum(c["verdict"] == v.value for c in claims) for v in Verdict},
            "claims_by_status": {s: sum(c["status"] == s for c in claims) for s in STATUS_ORDER},
            "tests_by_outcome": {k: test_counts[k] for k in OUTCOMES},
        },
        "claims": claims,
    }
    if checks:
        data["your_model"] = build_your_model(checks)
    return data


CHECK_FIELDS = ("id", "title", "subject", "device")


def build_your_model(records: list[TestRecord]) -> dict:
    """The "Your model" section: every check (in the catalog's order, then by id), the claims it applies, and its
    result on each subject and device: outcome, the check's message and note in English and Chinese (the failure's
    first lines when the check returned nothing), figures and series."""
    by_check: dict[str, list[TestRecord]] = defaultdict(list)
    for rec in records:
        missing = [k for k in CHECK_FIELDS if k not in rec.check]
        if missing:
            raise SpecInputError(f"test {rec.nodeid!r}: its check record lacks {missing}")
        by_check[rec.check["id"]].append(rec)
    rank = {check_id: i for i, check_id in enumerate(CHECK_IDS)}
    subjects = sorted({r.check["subject"] for r in records})
    checks = []
    for check_id in sorted(by_check, key=lambda c: (rank.get(c, len(rank)), c)):
        recs = sorted(by_check[check_id], key=lambda r: (r.check["subject"], r.check["device"]))
        checks.append(
            {
                "id": check_id,
                "title": recs[0].check["title"],
                "claims": sorted({c for r in recs for c in r.claims}),
                "results": [
                    {
                        "subject": r.check["subject"],
                        "device": r.check["device"],
                        "nodeid": r.nodeid,
                        "outcome": r.outcome,
                        "check_outcome": (r.check_result or {}).get("outcome", ""),
                        "message": (r.check_result or {}).get("message") or r.message,
                        "message_zh": (r.check_result or {}).get("message_zh") or r.message,
                        "note": (r.check_result or {}).get("note", ""),
                        "note_zh": (r.check_result or {}).get("note_zh", ""),
                        "duration_s": round(r.duration, 3),
                    }
                    for r in recs
                ],
                "figures": [dict(f, subject=r.check["subject"], test=r.nodeid) for r in recs for f in r.figures],
                "series": [dict(s, subject=r.check["subject"], test=r.nodeid) for r in recs for s in r.series],
            }
        )
    counts = defaultdict(int)
    for rec in records:
        counts[rec.outcome] += 1
    references = all(r.check.get("reference", False) for r in records)
    return {
        "subjects": subjects,
        "references": references,
        "checks": checks,
        "counts": {k: counts[k] for k in OUTCOMES},
    }
