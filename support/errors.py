"""Errors raised by the support package for bad input."""


class SpecInputError(ValueError):
    """Bad input to a support helper: the message names the argument and what was wrong."""


class SpecTypeError(SpecInputError, TypeError):
    """Bad input type (for example a float16 tensor where float32/float64 is required)."""
