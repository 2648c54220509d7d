"""Part 4 of the seed: accuracy and loss."""

from support.claims.model import Claim, Part, Verdict  # noqa: F401

P = Part.ACCURACY_AND_LOSS

CLAIMS: tuple[Claim, ...] = ()
