"""The claim registry: every claim the specification makes, in the source's order.

One module per spec folder (``support/claims/part1_batch_loss.py`` lists the claims tested in
``spec/part1_batch_loss/``). Look a claim up with ``REGISTRY["reduction.mean-is-sum-over-n"]``; an unknown id raises
``UnknownClaimError`` naming it (and close matches). Tests tie themselves to a claim with
``@pytest.mark.claim("<id>")``; find a claim's tests with ``grep -rn '"<id>"' spec`` or run them with
``pytest spec --claim <id>``.
"""

from support.claims import (
    part1_batch_loss,
    part2_explosion,
    part3_loss_and_gradient,
    part4_accuracy_and_loss,
    part5_beyond_the_source,
)
from support.claims.schema import (
    Claim,
    ClaimRegistry,
    Part,
    UnknownClaimError,
    Verdict,
    bullets,
    module_file,
    source_text,
    text,
)

PART_MODULES = (
    part1_batch_loss,
    part2_explosion,
    part3_loss_and_gradient,
    part4_accuracy_and_loss,
    part5_beyond_the_source,
)
REGISTRY = ClaimRegistry(claim for module in PART_MODULES for claim in module.CLAIMS)

__all__ = [
    "PART_MODULES",
    "REGISTRY",
    "Claim",
    "ClaimRegistry",
    "Part",
    "UnknownClaimError",
    "Verdict",
    "bullets",
    "module_file",
    "source_text",
    "text",
]
