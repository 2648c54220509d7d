"""The old name of ``support._arguments``, kept while support/distributed.py imports it; remove with that import."""

from support._arguments import *  # noqa: F403
