"""Errors raised by the support package for bad input."""


class SpecInputError(ValueError):
    """Bad input to a support helper: the message names the argument and what was wrong."""


class SpecTypeError(SpecInputError, TypeError):
    """Bad input type (for example a float16 tensor where float32/float64 is required)."""


def did_you_mean(value: str, known, n: int = 3) -> str:
    """ "; did you mean 'a', 'b'?" for the entries of ``known`` closest to ``value``, or "" when none is close."""
    import difflib

    close = difflib.get_close_matches(str(value), [str(k) for k in known], n=n)
    return f"; did you mean {', '.join(map(repr, close))}?" if close else ""


def where_raised(exc: BaseException) -> str:
    """ " (at file.py:12 in fn)" of the innermost frame of an exception (the line that raised), or ""."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    f = frames[-1]
    return f" (at {f.filename}:{f.lineno} in {f.name})"


def describe_error(exc: BaseException, *, first_line: bool = False) -> str:
    """ "TypeError: message (at file.py:12 in fn)"; with ``first_line`` only the message's first line (200 chars)."""
    text = str(exc).strip()
    if first_line:
        text = text.splitlines()[0][:200] if text else ""
    return f"{type(exc).__name__}: {text}{where_raised(exc)}"
