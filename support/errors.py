"""Errors raised by the support package for bad input."""


class SpecInputError(ValueError):
    """Bad input to a support helper: the message names the argument and what was wrong."""


class SpecTypeError(SpecInputError, TypeError):
    """Bad input type (for example a float16 tensor where float32/float64 is required)."""


def did_you_mean(value: str, known, n: int = 3) -> str:
    """"; did you mean 'a', 'b'?" for the entries of ``known`` closest to ``value``, or "" when none is close."""
    import difflib

    close = difflib.get_close_matches(str(value), [str(k) for k in known], n=n)
    return f"; did you mean {', '.join(map(repr, close))}?" if close else ""
