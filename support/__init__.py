"""Support package of the PyTorch training specification.

Helpers beside the tests: seeded models and data, gradient and metric helpers, the tolerance
policy, hypothesis strategies, the claim registry and the pytest plugin. Every public helper
checks its input and raises ``SpecInputError`` (a ``ValueError``/``TypeError``) naming the problem.
"""

from support.errors import SpecInputError

__all__ = ["SpecInputError"]
