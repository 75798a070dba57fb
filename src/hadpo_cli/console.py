"""Human output goes to stderr so that stdout stays clean for ``--json`` pipelines."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

err = Console(stderr=True, highlight=False)


def print_table(table: Any, console: Console = err) -> None:
    """Print ``table`` without squeezing its numbers when the output is a file or a pipe.

    Rich assumes 80 columns off a terminal and would cut "85.80" to "85…"; a log file has
    no such limit, so widen the console for this one table. A terminal keeps its width.
    """
    from rich.measure import Measurement

    if console.is_terminal:
        console.print(table)
        return
    needed = Measurement.get(console, console.options.update(width=10_000), table).maximum
    old_width = console.width
    console.width = max(old_width, needed)
    try:
        console.print(table)
    finally:
        console.width = old_width


def print_json(obj: Any) -> None:
    """One JSON document on stdout, newline-terminated."""
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()
