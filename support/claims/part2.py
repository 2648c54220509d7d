"""Part 2 of the seed: gradient explosion, its causes and remedies."""

from support.claims.model import Claim, Part, Verdict  # noqa: F401

P = Part.EXPLOSION

CLAIMS: tuple[Claim, ...] = ()
