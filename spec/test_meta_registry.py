"""Checks of the suite itself (test262-style lint): the registry is faithful to the seed, every claim is
tested, and every claim module quotes the seed and names its claim."""

import ast
from pathlib import Path

import pytest

from support.claims import REGISTRY, Part, seed_text
from support.claims.model import SEED_FILE

pytestmark = pytest.mark.meta
SPEC_DIR = Path(__file__).parent
SHARED_SEED = SPEC_DIR.parent.parent / "shared" / "seed" / SEED_FILE


@pytest.mark.parametrize("claim_id", [c.id for c in REGISTRY.values() if c.part.in_seed])
def test_every_quote_is_verbatim_in_the_seed(claim_id):
    text = seed_text()
    for quote in REGISTRY[claim_id].quotes:
        assert quote in text, f"{claim_id}: quote not found verbatim in the seed: {quote!r}"


@pytest.mark.skipif(not SHARED_SEED.exists(), reason=f"no shared seed beside the checkout at {SHARED_SEED}")
def test_stored_seed_is_a_faithful_copy_of_the_shared_seed():
    assert seed_text() == SHARED_SEED.read_text(encoding="utf-8")


def test_every_registered_claim_has_a_test(claim_coverage):
    assert not claim_coverage.uncovered, (
        f"registered claims without any test (coverage from {claim_coverage.source}): {claim_coverage.uncovered}"
    )


def test_every_seed_part_has_claims_in_registry_order():
    parts = [c.part.number for c in REGISTRY.values()]
    assert parts == sorted(parts), "the registry lists claims in the seed's order, part by part"


def _module_claims(tree: ast.Module) -> list[str]:
    """Claim ids of a module-level ``pytestmark = pytest.mark.claim("<id>")`` (or a list of them)."""
    ids = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "pytestmark" for t in node.targets):
            for call in ast.walk(node.value):
                if (isinstance(call, ast.Call) and getattr(call.func, "attr", None) == "claim"
                        and call.args and isinstance(call.args[0], ast.Constant)):
                    ids.append(call.args[0].value)
    return ids


CLAIM_MODULES = sorted(p for p in SPEC_DIR.rglob("test_*.py") if _module_claims(ast.parse(p.read_text("utf-8"))))


@pytest.mark.parametrize("path", CLAIM_MODULES, ids=lambda p: str(p.relative_to(SPEC_DIR)))
def test_claim_module_docstring_names_its_claim_and_quotes_the_seed(path):
    tree = ast.parse(path.read_text("utf-8"))
    doc = ast.get_docstring(tree) or ""
    for claim_id in _module_claims(tree):
        claim = REGISTRY[claim_id]
        assert claim_id in doc, f"{path.name}: the docstring should name its claim id {claim_id!r}"
        if claim.part is not Part.BEYOND:
            assert any(q in doc for q in claim.quotes), f"{path.name}: the docstring should quote the seed for {claim_id}"
        assert "What is true" in doc, f"{path.name}: the docstring should say in plain English what is true"


@pytest.mark.parametrize("claim_id", list(REGISTRY))
def test_every_claim_states_the_truth_in_chinese_too(claim_id):
    claim = REGISTRY[claim_id]
    # (an empty English statement cannot be registered: Claim rejects it.) Written Chinese, not a copy of the English: it must contain CJK characters
    assert any("\u4e00" <= ch <= "\u9fff" for ch in claim.statement_zh), f"{claim_id}: no Chinese statement"
