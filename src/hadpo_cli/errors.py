"""The one exception type for mistakes a user can make, and how it reaches the terminal."""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix (bad file, bad flag, missing image).

    The CLI prints it as one ``error: ...`` line and exits with status 2, no traceback.
    """

    exit_code = 2


def first_few(items: list[object], at_most: int = 5) -> str:
    """``a, b, c (and 7 more)``: how every "N of M are missing" error names what is missing."""
    shown = ", ".join(str(i) for i in items[:at_most])
    return shown + (f" (and {len(items) - at_most} more)" if len(items) > at_most else "")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (library errors can run to pages)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def where(path: object, line: int | None = None) -> str:
    """``file`` or ``file:line``, the prefix every data error starts with."""
    return f"{path}:{line}" if line is not None else str(path)
