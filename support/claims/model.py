"""The shape of one claim in the registry, and the registry itself."""

from __future__ import annotations

import difflib
import enum
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Iterable, Iterator, Mapping

from support.errors import SpecInputError

SEED_FILE = "000_ebcd7417c5df6ce4.txt"
ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*(?:\.[a-z0-9]+(?:-[a-z0-9]+)*)*$")


class Verdict(enum.Enum):
    """What the literature and PyTorch's behaviour say about a claim as the seed states it."""

    CONFIRMED = "confirmed"  # true as stated
    QUALIFIED = "qualified"  # true only under conditions the tests state and show
    REFUTED = "refuted"  # false as stated; the tests pass by showing what holds instead


class Part(enum.Enum):
    """Where a claim comes from: the seed's four parts, or the project's own additions."""

    BATCH_LOSS = (1, "Computing a batch loss and backpropagating it")
    EXPLOSION = (2, "Gradient explosion; summing or averaging the batch loss")
    LOSS_AND_GRADIENT = (3, "Loss magnitude and gradient magnitude")
    ACCURACY_AND_LOSS = (4, "Accuracy and loss")
    BEYOND = (5, "Beyond the document: batch-loss facts practitioners trip over")

    @property
    def number(self) -> int:
        return self.value[0]

    @property
    def title(self) -> str:
        return self.value[1]

    @property
    def in_seed(self) -> bool:
        return self is not Part.BEYOND


@dataclass(frozen=True)
class Claim:
    """One atomic claim.

    ``quotes`` are the seed's original sentences, verbatim (a meta-test checks each is a substring of
    the stored seed). ``statement`` says in plain English what is actually true; ``verdict`` grades the
    seed's wording against it.
    """

    id: str
    part: Part
    quotes: tuple[str, ...]
    statement: str
    verdict: Verdict
    sources: tuple[str, ...] = field(default=())
    statement_zh: str = ""  # the statement of what is true, written in Chinese for the document's readers

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not ID_PATTERN.match(self.id):
            raise SpecInputError(
                f"claim id {self.id!r} is not a dotted lower-case id such as 'reduction.mean-is-sum-over-n'"
            )
        if not isinstance(self.part, Part):
            raise SpecInputError(f"claim {self.id!r}: part must be a Part, got {self.part!r}")
        if not isinstance(self.verdict, Verdict):
            raise SpecInputError(f"claim {self.id!r}: verdict must be a Verdict, got {self.verdict!r}")
        if isinstance(self.quotes, str) or not all(isinstance(q, str) and q.strip() for q in self.quotes):
            raise SpecInputError(f"claim {self.id!r}: quotes must be a tuple of non-empty strings")
        if not isinstance(self.sources, tuple) or not all(isinstance(src, str) and src.strip() for src in self.sources):
            raise SpecInputError(f"claim {self.id!r}: sources must be a tuple of non-empty strings")
        if self.part.in_seed and not self.quotes:
            raise SpecInputError(f"claim {self.id!r} comes from the seed (part {self.part.number}) but quotes nothing")
        if not self.part.in_seed and self.quotes:
            raise SpecInputError(f"claim {self.id!r} is not in the seed (Part.BEYOND) but has seed quotes")
        if not self.part.in_seed and not self.sources:
            raise SpecInputError(f"claim {self.id!r} is not in the seed, so it needs at least one source")
        if not isinstance(self.statement, str) or not self.statement.strip():
            raise SpecInputError(f"claim {self.id!r}: statement is empty")
        if not isinstance(self.statement_zh, str):
            raise SpecInputError(f"claim {self.id!r}: statement_zh must be a string")


class UnknownClaimError(SpecInputError, KeyError):
    """A claim id that the registry does not hold."""

    def __init__(self, claim_id: object, known: Iterable[str]):
        close = difflib.get_close_matches(str(claim_id), list(known), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        self.claim_id = claim_id
        super().__init__(f"unknown claim id {claim_id!r}{hint}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0]


class ClaimRegistry(Mapping[str, Claim]):
    """Every claim by id, in the seed's order. Duplicate ids are an error."""

    def __init__(self, claims: Iterable[Claim]):
        self._claims: dict[str, Claim] = {}
        for c in claims:
            if not isinstance(c, Claim):
                raise SpecInputError(f"registry entries must be Claim objects, got {c!r}")
            if c.id in self._claims:
                raise SpecInputError(f"claim id {c.id!r} is registered twice")
            self._claims[c.id] = c

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


def seed_text() -> str:
    """The source document as stored in this package (a copy of ``shared/seed``)."""
    return resources.files("support.seed").joinpath(SEED_FILE).read_text(encoding="utf-8")
