"""The claim registry: every claim the specification makes, in the seed's order.

Look a claim up with ``REGISTRY["reduction.mean-is-sum-over-n"]``; an unknown id raises
``UnknownClaimError`` naming it (and close matches). Tests tie themselves to a claim with
``@pytest.mark.claim("<id>")``; find a claim's tests with ``grep -rn '"<id>"' spec``.
"""

from support.claims import beyond, part1, part2, part3, part4
from support.claims.model import (
    Claim,
    ClaimRegistry,
    Part,
    UnknownClaimError,
    Verdict,
    seed_text,
)

REGISTRY = ClaimRegistry(part1.CLAIMS + part2.CLAIMS + part3.CLAIMS + part4.CLAIMS + beyond.CLAIMS)

__all__ = ["Claim", "ClaimRegistry", "Part", "REGISTRY", "UnknownClaimError", "Verdict", "seed_text"]
