"""The old name of ``support._arguments``, kept while support/distributed.py imports it; remove with that import."""

from support._arguments import *  # noqa: F403
from support._arguments import integer


def positive_int(name: str, value: object, *, minimum: int = 1) -> int:
    """The old signature: ``integer(name, value, at_least=minimum)``."""
    return integer(name, value, at_least=minimum)
