"""`hadpo eval pope` (not built yet)."""

from __future__ import annotations

from hadpo_cli.cli.common import not_built


def command() -> None:
    """Not built yet: exits with status 2."""
    not_built("eval pope")
