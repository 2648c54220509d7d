"""Part 3 of the seed: loss magnitude, gradient magnitude and the update rule."""

from support.claims.model import Claim, Part, Verdict  # noqa: F401

P = Part.LOSS_AND_GRADIENT

CLAIMS: tuple[Claim, ...] = ()
