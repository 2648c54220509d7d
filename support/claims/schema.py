"""The shape of one claim in the registry, and the registry itself.

A claim reads like front matter: its id, where it comes from (``part``), the ``verdict`` first, its short answer
(``short_answer``, ``short_answer_zh``) and the questions people ask that it answers (``questions``,
``questions_zh``), then the source's sentences (``quotes``, with an English ``gloss`` of each), what is actually
true as short bullets (``statement``, ``statement_zh``), what to do about it in training code (``in_practice``,
``in_practice_zh``), the claims it depends on or qualifies (``related``) and the references behind it
(``sources``). Bullets are written through ``bullets()``, other long texts as indented paragraphs through
``text()``.
"""

from __future__ import annotations

import enum
import hashlib
import re
import textwrap
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources

from support.errors import SpecInputError, did_you_mean

SOURCE_FILE = "000_ebcd7417c5df6ce4.txt"
# SHA-256 of the source document as published: the stored copy is the source of truth of every quote, and any edit
# to it (an editor's "fix" of its punctuation, a re-encoding) would silently change what the quotes are checked against
SOURCE_SHA256 = "ec8101d59c6a0000c17b7c5e3c6e9d5f97c57a41f105cae672ed6354630878c9"
ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*(?:\.[a-z0-9]+(?:-[a-z0-9]+)*)*$")
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")
_HAN = re.compile(r"[\u4e00-\u9fff]")  # written Chinese, not only full-width punctuation


def is_cjk(ch: str) -> bool:
    """A Chinese character or CJK/full-width punctuation: text joins such lines without a space."""
    return bool(_CJK.match(ch))


def has_chinese(value: str) -> bool:
    """Whether ``value`` is written in Chinese: it holds a Han character (full-width punctuation or a copy of the
    English alone is not Chinese). The registry, the figures and the registry's lint all ask it this way."""
    return bool(_HAN.search(value))


def text(paragraph: str) -> str:
    """One paragraph from an indented, line-wrapped triple-quoted string.

    Lines are stripped and joined with a space, except where both the end of one line and the start of the next are
    Chinese characters or punctuation (Chinese is written without spaces). Blank lines are not allowed: a claim's
    texts are single paragraphs.
    """
    if not isinstance(paragraph, str):
        raise SpecInputError(f"text() takes a string, got {type(paragraph).__name__}")
    lines = [ln.strip() for ln in textwrap.dedent(paragraph).strip().splitlines()]
    if any(not ln for ln in lines):
        raise SpecInputError(f"text() makes one paragraph; remove the blank line in {paragraph[:60]!r}...")
    out = lines[0] if lines else ""
    for ln in lines[1:]:
        out += ("" if is_cjk(out[-1]) and is_cjk(ln[0]) else " ") + ln
    return out


def bullets(block: str) -> tuple[str, ...]:
    """Short bullets from an indented triple-quoted string: each bullet starts with "- " on a line of its own, and
    its continuation lines are joined as ``text()`` joins a paragraph.

    ``bullets("- one point,\\n  on two lines.\\n- another.")`` is ``("one point, on two lines.", "another.")``.
    """
    if not isinstance(block, str):
        raise SpecInputError(f"bullets() takes a string, got {type(block).__name__}")
    items: list[list[str]] = []
    for line in textwrap.dedent(block).strip().splitlines():
        if line.startswith("- "):
            items.append([line[2:]])
        elif not items:
            raise SpecInputError(f"bullets() needs every bullet to start with '- '; got {line.strip()[:60]!r}")
        else:
            items[-1].append(line)
    if not items:
        raise SpecInputError("bullets() got no bullet")
    return tuple(text("\n".join(item)) for item in items)


# A short answer is read at a glance: yes/no and the key condition
SHORT_ANSWER_MAX_WORDS = 40  # English words
SHORT_ANSWER_MAX_CHARS_ZH = 120  # characters: Chinese, punctuation and the formulas in them


def _question_mark(question: str) -> bool:
    return question.rstrip().endswith(("?", "\uff1f"))


class Verdict(enum.Enum):
    """What the literature and PyTorch's behaviour say about a claim as the source states it."""

    CONFIRMED = "confirmed"  # true as stated
    QUALIFIED = "qualified"  # true only under conditions the tests state and show
    REFUTED = "refuted"  # false as stated; the tests pass by showing what holds instead


class Part(enum.Enum):
    """Where a claim comes from: the source's four parts, or the project's own additions (part 5)."""

    BATCH_LOSS = (1, "Computing a batch loss and backpropagating it", "part1_batch_loss")
    EXPLOSION = (2, "Gradient explosion; summing or averaging the batch loss", "part2_explosion")
    LOSS_AND_GRADIENT = (3, "Loss magnitude and gradient magnitude", "part3_loss_and_gradient")
    ACCURACY_AND_LOSS = (4, "Accuracy and loss", "part4_accuracy_and_loss")
    BEYOND = (5, "Beyond the source: batch-loss facts practitioners trip over", "part5_beyond_the_source")

    @property
    def number(self) -> int:
        return self.value[0]

    @property
    def title(self) -> str:
        return self.value[1]

    @property
    def folder(self) -> str:
        """The name of the part's spec folder and of its registry module (``support/claims/<folder>.py``)."""
        return self.value[2]

    @property
    def in_source(self) -> bool:
        return self is not Part.BEYOND


def module_file(claim_id: str) -> str:
    """The test module of a claim: ``test_`` + the id with dots and dashes as underscores."""
    return "test_" + re.sub(r"[.-]", "_", claim_id) + ".py"


@dataclass(frozen=True)
class Claim:
    """One atomic claim.

    ``quotes`` are the source's original sentences, verbatim (a meta-test checks each is a substring of the stored
    source), and ``gloss`` gives one English line per quote. ``statement`` says in plain English what is actually
    true, as a tuple of short bullets (a string is taken as one bullet; the test module's docstring carries them
    word for word, and its "Why" the derivations); ``statement_zh`` says the same in Chinese, bullet for bullet.
    ``verdict`` grades the source's wording against the statement. ``short_answer`` answers at a glance (yes/no and
    the key condition, at most 40 words; ``short_answer_zh`` at most 120 characters), and ``questions`` /
    ``questions_zh`` are the questions it answers, in the words people search with, one Chinese question per English
    one. ``in_practice`` is one line of advice for training code; ``related`` names the claims it depends on or
    qualifies.
    """

    id: str
    part: Part
    verdict: Verdict
    quotes: tuple[str, ...]
    statement: tuple[str, ...]
    statement_zh: tuple[str, ...] = ()  # the same bullets, written in Chinese for the document's readers
    gloss: tuple[str, ...] = ()
    in_practice: str = ""
    in_practice_zh: str = ""
    related: tuple[str, ...] = ()
    sources: tuple[str, ...] = field(default=())
    short_answer: str = ""
    short_answer_zh: str = ""
    questions: tuple[str, ...] = ()
    questions_zh: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not ID_PATTERN.match(self.id):
            raise SpecInputError(
                f"claim id {self.id!r} is not a dotted lower-case id such as 'reduction.mean-is-sum-over-n'"
            )
        if not isinstance(self.part, Part):
            raise SpecInputError(f"claim {self.id!r}: part must be a Part, got {self.part!r}")
        if not isinstance(self.verdict, Verdict):
            raise SpecInputError(f"claim {self.id!r}: verdict must be a Verdict, got {self.verdict!r}")
        for name in ("quotes", "gloss", "related", "sources"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or not all(isinstance(v, str) and v.strip() for v in value):
                raise SpecInputError(f"claim {self.id!r}: {name} must be a tuple of non-empty strings, got {value!r}")
        if self.part.in_source and not self.quotes:
            raise SpecInputError(
                f"claim {self.id!r} comes from the source (part {self.part.number}) but quotes nothing"
            )
        if not self.part.in_source and self.quotes:
            raise SpecInputError(f"claim {self.id!r} is not in the source (Part.BEYOND) but has quotes")
        if not self.part.in_source and not self.sources:
            raise SpecInputError(
                f"claim {self.id!r} is not in the source, so it needs at least one reference in sources"
            )
        if self.gloss and len(self.gloss) != len(self.quotes):
            raise SpecInputError(
                f"claim {self.id!r}: {len(self.gloss)} glosses for {len(self.quotes)} quotes; "
                f"give one English line per quote"
            )
        for name in ("statement", "statement_zh"):
            value = getattr(self, name)
            if isinstance(value, str):  # one bullet
                object.__setattr__(self, name, (value,) if value.strip() or name == "statement" else ())
        for name in ("statement", "statement_zh"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or not all(isinstance(v, str) for v in value):
                raise SpecInputError(f"claim {self.id!r}: {name} must be a tuple of bullets (strings), got {value!r}")
            if name == "statement" and not any(b.strip() for b in value):
                raise SpecInputError(f"claim {self.id!r}: statement is empty")
            for bullet in value:
                if not bullet.strip():
                    raise SpecInputError(f"claim {self.id!r}: {name} has an empty bullet")
                if "\n" in bullet or bullet.lstrip().startswith("- "):
                    raise SpecInputError(
                        f"claim {self.id!r}: a bullet of {name} is one line without its '- ' "
                        f"marker (write them with bullets()): {bullet[:60]!r}"
                    )
        if self.statement_zh and len(self.statement_zh) != len(self.statement):
            raise SpecInputError(
                f"claim {self.id!r}: statement_zh has {len(self.statement_zh)} bullets for the "
                f"{len(self.statement)} of statement; write one Chinese bullet per English one"
            )
        for name in ("in_practice", "in_practice_zh", "short_answer", "short_answer_zh"):
            if not isinstance(getattr(self, name), str):
                raise SpecInputError(f"claim {self.id!r}: {name} must be a string")
        self._check_short_answer()
        self._check_questions()
        if self.id in self.related:
            raise SpecInputError(f"claim {self.id!r} names itself as related")

    def _check_short_answer(self) -> None:
        en, zh = self.short_answer.strip(), self.short_answer_zh.strip()
        if bool(en) != bool(zh):
            missing = "short_answer_zh" if en else "short_answer"
            raise SpecInputError(f"claim {self.id!r}: a short answer is given in both languages; {missing} is empty")
        if "\n" in en or "\n" in zh:
            raise SpecInputError(f"claim {self.id!r}: a short answer is one line")
        if len(en.split()) > SHORT_ANSWER_MAX_WORDS:
            raise SpecInputError(
                f"claim {self.id!r}: short_answer has {len(en.split())} words; keep it to "
                f"{SHORT_ANSWER_MAX_WORDS} (yes/no and the key condition)"
            )
        if zh and not has_chinese(zh):
            raise SpecInputError(f"claim {self.id!r}: short_answer_zh must be written in Chinese, got {zh[:40]!r}")
        if len(zh) > SHORT_ANSWER_MAX_CHARS_ZH:
            raise SpecInputError(
                f"claim {self.id!r}: short_answer_zh has {len(zh)} characters; keep it to {SHORT_ANSWER_MAX_CHARS_ZH}"
            )

    def _check_questions(self) -> None:
        for name in ("questions", "questions_zh"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or not all(isinstance(v, str) and v.strip() for v in value):
                raise SpecInputError(f"claim {self.id!r}: {name} must be a tuple of non-empty strings, got {value!r}")
            for q in value:
                if "\n" in q or not _question_mark(q):
                    raise SpecInputError(
                        f"claim {self.id!r}: {name} holds questions, one line each ending in a "
                        f"question mark: {q[:60]!r}"
                    )
            if len(set(value)) != len(value):
                raise SpecInputError(f"claim {self.id!r}: {name} asks a question twice")
        if len(self.questions_zh) != len(self.questions):
            raise SpecInputError(
                f"claim {self.id!r}: {len(self.questions_zh)} questions_zh for {len(self.questions)} "
                f"questions; give one Chinese question per English one"
            )
        if not all(has_chinese(q) for q in self.questions_zh):
            raise SpecInputError(f"claim {self.id!r}: questions_zh must be written in Chinese")
        if self.questions and not self.short_answer.strip():
            raise SpecInputError(
                f"claim {self.id!r}: its questions are shown with its short answer; give "
                f"short_answer and short_answer_zh"
            )


class UnknownClaimError(SpecInputError, KeyError):
    """A claim id that the registry does not hold."""

    def __init__(self, claim_id: object, known: Iterable[str]):
        self.claim_id = claim_id
        super().__init__(f"unknown claim id {claim_id!r}{did_you_mean(str(claim_id), known)}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0]


class ClaimRegistry(Mapping[str, Claim]):
    """Every claim by id, in the source's order. Duplicate ids and related ids that name no claim are errors."""

    def __init__(self, claims: Iterable[Claim]):
        self._claims: dict[str, Claim] = {}
        for c in claims:
            if not isinstance(c, Claim):
                raise SpecInputError(f"registry entries must be Claim objects, got {c!r}")
            if c.id in self._claims:
                raise SpecInputError(f"claim id {c.id!r} is registered twice")
            self._claims[c.id] = c
        for c in self._claims.values():
            for other in c.related:
                if other not in self._claims:
                    raise SpecInputError(f"claim {c.id!r} is related to {UnknownClaimError(other, self._claims)}")
        asked: dict[str, str] = {}
        for c in self._claims.values():
            for q in c.questions + c.questions_zh:
                if q in asked:
                    raise SpecInputError(
                        f"the question {q!r} is asked by claims {asked[q]!r} and {c.id!r}; a question has one answer"
                    )
                asked[q] = c.id

    def __getitem__(self, claim_id: str) -> Claim:
        try:
            return self._claims[claim_id]
        except (KeyError, TypeError):
            raise UnknownClaimError(claim_id, self._claims) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._claims)

    def __len__(self) -> int:
        return len(self._claims)

    def by_part(self, part: Part) -> list[Claim]:
        return [c for c in self._claims.values() if c.part is part]

    def related_to(self, claim_id: str) -> list[str]:
        """The claims linked with ``claim_id`` in either direction (it names them, or they name it), in registry
        order."""
        own = set(self[claim_id].related)
        return [c.id for c in self._claims.values() if c.id != claim_id and (c.id in own or claim_id in c.related)]


def source_text() -> str:
    """The source document, as stored in this package (``support/source/``)."""
    return resources.files("support.source").joinpath(SOURCE_FILE).read_text(encoding="utf-8")


def source_sha256() -> str:
    return hashlib.sha256(resources.files("support.source").joinpath(SOURCE_FILE).read_bytes()).hexdigest()
