"""Checks of the suite itself (test262-style lint, one rule per test): the registry is faithful to the source, every
claim is tested and answers its questions in both languages, and every claim module sits where its id says, names its
claim, quotes the source and carries the registry's statement bullets word for word."""

import ast
import functools
import re
from pathlib import Path

import pytest

from support.claims import PART_MODULES, REGISTRY, module_file, source_text
from support.claims.schema import SOURCE_SHA256, has_chinese, source_sha256

pytestmark = pytest.mark.meta
SPEC_DIR = Path(__file__).parent
CLAIM_IDS = list(REGISTRY)


def _module_claims(tree: ast.Module) -> list[str]:
    """Claim ids of a module-level ``pytestmark = pytest.mark.claim("<id>")`` (or a list of them)."""
    ids = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "pytestmark" for t in node.targets):
            for call in ast.walk(node.value):
                if (
                    isinstance(call, ast.Call)
                    and getattr(call.func, "attr", None) == "claim"
                    and call.args
                    and isinstance(call.args[0], ast.Constant)
                ):
                    ids.append(call.args[0].value)
    return ids


@functools.cache  # every module is read by several rules
def _parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text("utf-8"))


def _claim_module(claim_id: str) -> Path:
    return SPEC_DIR / REGISTRY[claim_id].part.folder / module_file(claim_id)


def _normalized(text: str) -> str:
    return " ".join(text.split())


def _what_is_true(doc: str) -> tuple[str, list[str]] | None:
    """(verdict, bullets) of the docstring's "What is true (<verdict>):" block: the lines after it up to a blank line,
    one bullet per line starting with "- " (continuation lines indented); a block without bullets is one bullet."""
    match = re.search(r"^What is true \((confirmed|qualified|refuted)\):(.*?)(?:\n\s*\n|\Z)", doc, flags=re.M | re.S)
    if not match:
        return None
    items: list[list[str]] = []
    for line in match.group(2).strip("\n").splitlines():
        if line.startswith("- ") or not items:
            items.append([line.removeprefix("- ")])
        else:
            items[-1].append(line)
    return match.group(1), [_normalized(" ".join(item)) for item in items]


# ---------------------------------------------------------------- the registry and the source
def test_the_stored_source_is_the_published_document():
    assert source_sha256() == SOURCE_SHA256, "support/source/ no longer holds the source document byte for byte"


@pytest.mark.parametrize("claim_id", [c.id for c in REGISTRY.values() if c.part.in_source])
def test_every_quote_is_verbatim_in_the_source(claim_id):
    text = source_text()
    for quote in REGISTRY[claim_id].quotes:
        assert quote in text, f"{claim_id}: quote not found verbatim in the source: {quote!r}"


def test_every_source_part_has_claims_in_registry_order():
    parts = [c.part.number for c in REGISTRY.values()]
    assert parts == sorted(parts), "the registry lists claims in the source's order, part by part"


@pytest.mark.parametrize("module", PART_MODULES, ids=lambda m: m.__name__.rpartition(".")[2])
def test_each_registry_module_is_named_after_its_spec_folder_and_holds_that_part(module):
    name = module.__name__.rpartition(".")[2]
    parts = {c.part for c in module.CLAIMS}
    assert len(parts) == 1, f"{name} mixes parts {sorted(p.number for p in parts)}"
    (part,) = parts
    assert name == part.folder, f"{name} holds part {part.number}, whose folder is {part.folder}"
    assert (SPEC_DIR / part.folder).is_dir(), f"spec/{part.folder}/ is missing"


@pytest.mark.parametrize("claim_id", CLAIM_IDS)
def test_every_claim_states_the_truth_in_chinese_too(claim_id):
    claim = REGISTRY[claim_id]
    # (an empty English statement cannot be registered: Claim rejects it.) Written Chinese, not a copy of the
    # English: it must contain Han characters
    assert len(claim.statement_zh) == len(claim.statement), f"{claim_id}: one Chinese bullet per English one"
    for bullet in claim.statement_zh:
        assert has_chinese(bullet), f"{claim_id}: a bullet not in Chinese: {bullet!r}"


@pytest.mark.parametrize("claim_id", CLAIM_IDS)
def test_every_claim_gives_a_short_answer_and_the_questions_it_answers_in_both_languages(claim_id):
    claim = REGISTRY[claim_id]
    # (Claim checks their form: one line, length, question marks, one Chinese question per English one)
    assert claim.short_answer and claim.short_answer_zh, f"{claim_id}: no short answer (short_answer, _zh)"
    assert claim.questions, f"{claim_id}: names no question it answers (questions, questions_zh)"


def test_the_question_index_holds_at_least_45_questions_in_each_language():
    assert sum(len(c.questions) for c in REGISTRY.values()) >= 45
    assert sum(len(c.questions_zh) for c in REGISTRY.values()) >= 45


@pytest.mark.parametrize("claim_id", CLAIM_IDS)
def test_every_claim_says_what_to_do_and_glosses_its_quotes(claim_id):
    claim = REGISTRY[claim_id]
    assert claim.in_practice.strip(), f"{claim_id}: no 'in practice' advice"
    assert has_chinese(claim.in_practice_zh), f"{claim_id}: no Chinese advice"
    assert len(claim.gloss) == len(claim.quotes), f"{claim_id}: one English gloss per quote"
    assert REGISTRY.related_to(claim_id), f"{claim_id}: links to no related claim (and none links to it)"


# ---------------------------------------------------------------- coverage and file names
def test_every_registered_claim_has_a_test(claim_coverage):
    assert not claim_coverage.uncovered, (
        f"registered claims without any test (coverage from {claim_coverage.source}): {claim_coverage.uncovered}"
    )


@pytest.mark.parametrize("claim_id", CLAIM_IDS)
def test_every_claim_has_its_module_where_its_id_says(claim_id):
    path = _claim_module(claim_id)
    assert path.is_file(), f"{claim_id}: expected its tests in {path.relative_to(SPEC_DIR.parent)}"
    assert claim_id in _module_claims(_parsed(path)), (
        f"{path.name}: its module-level pytestmark should be pytest.mark.claim({claim_id!r})"
    )


CLAIM_MODULES = sorted(p for p in SPEC_DIR.rglob("test_*.py") if _module_claims(_parsed(p)))


@pytest.mark.parametrize("path", CLAIM_MODULES, ids=lambda p: str(p.relative_to(SPEC_DIR)))
def test_a_claim_module_is_named_after_its_first_claim(path):
    first = _module_claims(_parsed(path))[0]
    assert path == _claim_module(first), f"{path.relative_to(SPEC_DIR)} tests {first!r}: move or rename it"


# ---------------------------------------------------------------- docstrings
@pytest.mark.parametrize("claim_id", CLAIM_IDS)
def test_the_module_docstring_names_the_claim_and_quotes_the_source(claim_id):
    doc = ast.get_docstring(_parsed(_claim_module(claim_id))) or ""
    claim = REGISTRY[claim_id]
    assert doc.splitlines()[:1] == [claim_id], f"{claim_id}: the docstring's first line should be the claim id"
    for quote in claim.quotes:
        assert quote in doc, f"{claim_id}: the docstring should quote the source: {quote!r}"


@pytest.mark.parametrize("claim_id", CLAIM_IDS)
def test_the_module_docstring_carries_the_registry_statement_verbatim(claim_id):
    doc = ast.get_docstring(_parsed(_claim_module(claim_id))) or ""
    claim = REGISTRY[claim_id]
    found = _what_is_true(doc)
    assert found, f"{claim_id}: the docstring needs a block 'What is true ({claim.verdict.value}):' with its bullets"
    verdict, bullets = found
    assert verdict == claim.verdict.value, f"{claim_id}: docstring says {verdict}, the registry {claim.verdict.value}"
    expected = [_normalized(b) for b in claim.statement]
    differ = [(i + 1, got, want) for i, (got, want) in enumerate(zip(bullets, expected)) if got != want]
    assert len(bullets) == len(expected) and not differ, (
        f"{claim_id}: the 'What is true' bullets differ from the registry statement ({len(bullets)} bullets in the "
        f"docstring, {len(expected)} in the registry)\n"
        + "\n".join(f"bullet {i}:\n docstring: {got}\n registry:  {want}" for i, got, want in differ)
    )
    assert re.search(r"^Why:\s+\S", doc, flags=re.M), f"{claim_id}: the docstring should go on with 'Why: ...'"


def test_the_what_is_true_reader_finds_the_bullets():
    doc = "x.y\n\nSource: 「q」\n\nWhat is true (refuted):\n- one\n  two lines.\n- three.\n\nWhy: because."
    assert _what_is_true(doc) == ("refuted", ["one two lines.", "three."])
    assert _what_is_true("What is true (confirmed): one\nparagraph.\n\nWhy: x") == ("confirmed", ["one paragraph."])
    assert _what_is_true("What is true: no verdict") is None
