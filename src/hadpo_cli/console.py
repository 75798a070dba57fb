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


def flatten(metrics: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """``{"a": {"b": 1}}`` -> ``[("a.b", 1)]``: nested metrics as table rows."""
    rows: list[tuple[str, Any]] = []
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += flatten(value, f"{name}.")
        else:
            rows.append((name, value))
    return rows


def format_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def print_metrics(title: str, metrics: dict[str, Any], *, skip: tuple[str, ...] = ("usage",)) -> None:
    """A two-column table of ``metrics`` (nested keys dotted) on stderr; ``None`` shows as ``-``."""
    from rich.table import Table

    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in flatten({k: v for k, v in metrics.items() if k not in skip}):
        table.add_row(key, format_value(value))
    print_table(table)


def judge_progress_bar(*, enabled: bool, what: str = "judging") -> Any:
    """A context manager yielding an ``on_progress(progress)`` callback that drives a rich bar on
    stderr (asked/total, in flight, retries); silent when stderr is not a terminal."""
    from contextlib import contextmanager

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    @contextmanager
    def bar() -> Any:
        progress = Progress(
            TextColumn(what),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} asked"),
            TextColumn("in flight {task.fields[in_flight]}"),
            TextColumn("retries {task.fields[retries]}"),
            TimeElapsedColumn(),
            console=err,
            disable=not enabled or not err.is_terminal,
            transient=False,
        )
        task = None

        def on_progress(p: Any) -> None:
            nonlocal task
            if task is None:
                task = progress.add_task(what, total=p.total, in_flight=0, retries=0)
            progress.update(task, total=p.total, completed=p.done, in_flight=p.in_flight, retries=p.retries)

        with progress:
            yield on_progress

    return bar()
