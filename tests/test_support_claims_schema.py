"""Tests of support.claims.schema: Claim validation, the ClaimRegistry (duplicates, lookups, unknown
ids with "did you mean" hints, by_part), Part's properties and the stored source text."""

import pytest

from support.claims import (
    REGISTRY,
    Claim,
    ClaimRegistry,
    Part,
    UnknownClaimError,
    Verdict,
    bullets,
    source_text,
    text,
)
from support.claims.schema import has_chinese
from support.errors import SpecInputError


def _claim(
    id="reduction.mean-is-sum-over-n",
    part=Part.BATCH_LOSS,
    quotes=("a quoted sentence",),
    statement="what is true",
    verdict=Verdict.CONFIRMED,
    sources=(),
    **extra,
):
    return Claim(id=id, part=part, quotes=quotes, statement=statement, verdict=verdict, sources=sources, **extra)


def _beyond(id="beyond.fact", sources=("PyTorch docs",), quotes=()):
    return _claim(id=id, part=Part.BEYOND, quotes=quotes, sources=sources)


# ---------------------------------------------------------------- Claim construction
@pytest.mark.parametrize(
    "bad_id",
    ["Reduction.mean", "reduction..mean", "reduction.mean_", ".reduction", "reduction.", "a b", "-x", "x-", "", 3],
)
def test_claim_rejects_malformed_ids(bad_id):
    with pytest.raises(SpecInputError, match="is not a dotted lower-case id"):
        _claim(id=bad_id)


@pytest.mark.parametrize("good_id", ["x", "reduction.options", "a-b.c-d.e1", "part2.sum-vs-mean.lr-scaling"])
def test_claim_accepts_dotted_lower_case_ids(good_id):
    assert _claim(id=good_id).id == good_id


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(quotes=()), r"comes from the source \(part 1\) but quotes nothing"),
        (dict(part=Part.EXPLOSION, quotes=()), r"\(part 2\) but quotes nothing"),
        (dict(quotes="a bare string"), "quotes must be a tuple of non-empty strings"),
        (dict(quotes=("ok", "  ")), "quotes must be a tuple of non-empty strings"),
        (dict(quotes=("ok", 3)), "quotes must be a tuple of non-empty strings"),
        (dict(part=5), "part must be a Part"),
        (dict(verdict="confirmed"), "verdict must be a Verdict"),
        (dict(statement="   "), "statement is empty"),
    ],
)
def test_claim_construction_errors(kwargs, match):
    with pytest.raises(SpecInputError, match=match):
        _claim(**kwargs)


def test_beyond_claim_with_quotes_is_rejected():
    with pytest.raises(SpecInputError, match=r"not in the source \(Part.BEYOND\) but has quotes"):
        _beyond(quotes=("a seed sentence",))


def test_beyond_claim_without_sources_is_rejected():
    with pytest.raises(SpecInputError, match="needs at least one reference in sources"):
        _beyond(sources=())


def test_valid_beyond_claim_is_accepted():
    claim = _beyond()
    assert claim.part is Part.BEYOND and claim.quotes == () and claim.sources == ("PyTorch docs",)


def test_claim_is_frozen():
    claim = _claim()
    with pytest.raises(AttributeError):
        claim.id = "other"  # type: ignore[misc]


# ---------------------------------------------------------------- Part
def test_part_numbers_titles_folders_and_source_membership():
    assert [p.number for p in Part] == [1, 2, 3, 4, 5]
    assert [p.in_source for p in Part] == [True, True, True, True, False]
    assert [p.folder[:6] for p in Part] == [f"part{n}_" for n in range(1, 6)]
    assert Part.BATCH_LOSS.title.startswith("Computing a batch loss")


# ---------------------------------------------------------------- bullets, short answers, questions
def test_bullets_splits_on_dashes_and_joins_continuation_lines():
    block = """
        - one point,
          on two lines.
        - 两行的
          中文。
    """
    assert bullets(block) == ("one point, on two lines.", "两行的中文。")


@pytest.mark.parametrize(
    "block, match", [("no dash", "needs every bullet to start with '- '"), ("  ", "no bullet"), (3, "takes a string")]
)
def test_bullets_rejects_text_that_is_not_a_bullet_list(block, match):
    with pytest.raises(SpecInputError, match=match):
        bullets(block)


def test_a_statement_is_a_tuple_of_bullets_and_a_string_is_one_bullet():
    assert _claim(statement="one paragraph").statement == ("one paragraph",)
    assert _claim(statement=("a.", "b.")).statement == ("a.", "b.")
    assert _claim(statement=("a.", "b."), statement_zh=("甲。", "乙。")).statement_zh == ("甲。", "乙。")


QA = dict(
    short_answer="Yes, when the batch is not empty.",
    short_answer_zh="是的,只要 batch 不为空。",
    questions=("Does it hold?",),
    questions_zh=("成立吗?",),
)


def test_a_claim_with_a_short_answer_and_questions_in_both_languages_is_accepted():
    claim = _claim(**QA)
    assert claim.questions == ("Does it hold?",) and claim.short_answer_zh == "是的,只要 batch 不为空。"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(statement=("a.", "b."), statement_zh=("甲。",)), "statement_zh has 1 bullets for the 2 of statement"),
        (dict(statement=("- a.",)), "without its '- ' marker"),
        (dict(statement=("a.\nb.",)), "is one line"),
        (dict(statement=("a.", " ")), "has an empty bullet"),
        (dict(statement=["a."]), "must be a tuple of bullets"),
        ({**QA, "short_answer_zh": ""}, "short_answer_zh is empty"),
        ({**QA, "short_answer": ""}, "short_answer is empty"),
        ({**QA, "short_answer": "word " * 41}, "has 41 words; keep it to 40"),
        ({**QA, "short_answer_zh": "是" * 121}, "has 121 characters; keep it to 120"),
        ({**QA, "short_answer_zh": "yes, in English"}, "must be written in Chinese"),
        ({**QA, "questions": ("Does it hold",)}, "ending in a question mark"),
        ({**QA, "questions": ("Does it?", "Does it?"), "questions_zh": ("吗?", "呢?")}, "asks a question twice"),
        ({**QA, "questions_zh": ()}, "0 questions_zh for 1 questions"),
        ({**QA, "questions_zh": ("Does it hold?",)}, "questions_zh must be written in Chinese"),
        ({**QA, "questions": "Does it hold?"}, "questions must be a tuple"),
        (dict(questions=("Does it hold?",), questions_zh=("成立吗?",)), "give short_answer and short_answer_zh"),
    ],
)
def test_statement_short_answer_and_question_errors_name_the_problem(kwargs, match):
    with pytest.raises(SpecInputError, match=match):
        _claim(**kwargs)


def test_registry_rejects_a_question_asked_by_two_claims():
    with pytest.raises(SpecInputError, match="asked by claims 'a' and 'b'; a question has one answer"):
        ClaimRegistry([_claim(id="a", **QA), _claim(id="b", **QA)])


# ---------------------------------------------------------------- ClaimRegistry
def test_registry_rejects_duplicate_ids():
    with pytest.raises(SpecInputError, match="claim id 'a.b' is registered twice"):
        ClaimRegistry([_claim(id="a.b"), _claim(id="c"), _claim(id="a.b", statement="again")])


def test_registry_rejects_non_claims():
    with pytest.raises(SpecInputError, match="registry entries must be Claim objects"):
        ClaimRegistry([_claim(id="a"), "b"])


def test_registry_keeps_order_length_and_lookup():
    claims = [_claim(id="z.last"), _claim(id="a.first"), _beyond(id="m.mid")]
    reg = ClaimRegistry(claims)
    assert list(reg) == ["z.last", "a.first", "m.mid"]  # insertion (seed) order, not sorted
    assert len(reg) == 3
    assert reg["a.first"] is claims[1]
    assert "m.mid" in reg and "nope" not in reg
    assert reg.get("nope") is None
    assert reg.by_part(Part.BEYOND) == [claims[2]]
    assert reg.by_part(Part.EXPLOSION) == []


def test_unknown_id_near_miss_gets_did_you_mean_hint():
    reg = ClaimRegistry([_claim(id="reduction.mean-is-sum-over-n"), _claim(id="backward.fills-grad")])
    with pytest.raises(
        UnknownClaimError,
        match=r"unknown claim id 'reduction\.mean-is-sum-over-m'; "
        r"did you mean 'reduction\.mean-is-sum-over-n'\?",
    ) as info:
        reg["reduction.mean-is-sum-over-m"]
    assert info.value.claim_id == "reduction.mean-is-sum-over-m"


def test_unknown_id_far_from_all_has_no_hint():
    reg = ClaimRegistry([_claim(id="reduction.options")])
    with pytest.raises(UnknownClaimError) as info:
        reg["zzz"]
    assert str(info.value) == "unknown claim id 'zzz'"  # KeyError would have wrapped it in quotes


@pytest.mark.parametrize("bad_key", [["a", "list"], None, 3])
def test_unknown_or_unhashable_key_is_an_unknown_claim_error(bad_key):
    reg = ClaimRegistry([_claim(id="a")])
    with pytest.raises(UnknownClaimError, match="unknown claim id"):
        reg[bad_key]


def test_unknown_claim_error_is_spec_input_error_and_key_error():
    assert issubclass(UnknownClaimError, SpecInputError) and issubclass(UnknownClaimError, KeyError)


# ---------------------------------------------------------------- the shipped registry and seed
def test_shipped_registry_lookups():
    assert len(REGISTRY) > 0
    first = next(iter(REGISTRY))
    assert REGISTRY[first].id == first
    with pytest.raises(UnknownClaimError, match="did you mean 'reduction.options'"):
        REGISTRY["reduction.option"]


def test_source_text_is_the_stored_document():
    source = source_text()
    assert isinstance(source, str) and "reduction" in source  # the source is about the loss's reduction argument


@pytest.mark.parametrize(
    "sources",
    ["https://pytorch.org/docs", ("ok", ""), ("ok", None), None],
    ids=["a-string", "an-empty-entry", "a-none-entry", "none"],
)
def test_sources_must_be_a_tuple_of_non_empty_strings(sources):
    with pytest.raises(SpecInputError, match="sources must be a tuple of non-empty strings"):
        _beyond(sources=sources)


# ---------------------------------------------------------------- text(), gloss, related
def test_chinese_is_text_with_a_han_character():
    assert has_chinese("学习率 0.05") and has_chinese("损失")
    # full-width punctuation, CJK symbols or a copy of the English are not written Chinese
    assert not has_chinese("(0.05)。,") and not has_chinese("learning rate 0.05") and not has_chinese("")


def test_text_joins_english_lines_with_spaces_and_chinese_lines_without():
    assert (
        text("""
        one two
        three
    """)
        == "one two three"
    )
    assert (
        text("""
        梯度
        爆炸 and
        损失
    """)
        == "梯度爆炸 and 损失"
    )
    assert (
        text("""
        中文 reduction='mean'
        是默认值
    """)
        == "中文 reduction='mean' 是默认值"
    )  # only CJK on both sides of the break joins without a space


def test_text_is_one_paragraph():
    with pytest.raises(SpecInputError, match="one paragraph"):
        text("""
            first

            second
        """)
    with pytest.raises(SpecInputError, match="takes a string"):
        text(None)


def test_gloss_gives_one_line_per_quote():
    assert _claim(gloss=("the quote in English",)).gloss == ("the quote in English",)
    with pytest.raises(SpecInputError, match="2 glosses for 1 quotes"):
        _claim(gloss=("one", "two"))


def test_related_ids_must_name_registered_claims_and_links_go_both_ways():
    reg = ClaimRegistry([_claim(id="a.one", related=("b.two",)), _claim(id="b.two"), _claim(id="c.three")])
    assert reg.related_to("a.one") == ["b.two"] and reg.related_to("b.two") == ["a.one"]
    assert reg.related_to("c.three") == []
    with pytest.raises(SpecInputError, match="related to unknown claim id 'b.tow'; did you mean 'b.two'"):
        ClaimRegistry([_claim(id="a.one", related=("b.tow",)), _claim(id="b.two")])
    with pytest.raises(SpecInputError, match="names itself as related"):
        _claim(id="a.one", related=("a.one",))
