"""Beyond the seed: batch-loss facts practitioners trip over (the project's own claims, each with a source)."""

from support.claims.model import Claim, Part, Verdict  # noqa: F401

P = Part.BEYOND

CLAIMS: tuple[Claim, ...] = ()
