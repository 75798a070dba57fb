"""``hadpo score ANSWERS LABELS``: POPE metrics, by question id, as a table and/or JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from hadpo_cli.cli.common import field_default, field_help, guarded, settings_option
from hadpo_cli.console import err, print_json, print_table
from hadpo_cli.settings.score import ScoreSettings

S = ScoreSettings


@guarded
def command(
    answers: Annotated[
        Path, typer.Argument(metavar="ANSWERS", help=field_help(S, "answers"), show_default=False)
    ],
    labels: Annotated[
        Path, typer.Argument(metavar="LABELS", help=field_help(S, "labels"), show_default=False)
    ],
    parser: Annotated[Literal["pope", "strict"], settings_option(S, "parser")] = field_default(S, "parser"),
    json: Annotated[bool, settings_option(S, "json", "--json")] = field_default(S, "json"),
    output: Annotated[
        Path | None, settings_option(S, "output", "--output", "-o", show_default=False)
    ] = field_default(S, "output"),
) -> None:
    """POPE metrics from an answers file and a label file."""
    values = dict(locals())  # the flags, before anything else is bound here
    # Library modules load here, not at import, so `hadpo --help` stays quick.
    from hadpo_cli.metrics.pope import format_pope_table
    from hadpo_cli.metrics.score_run import run, split_name

    settings = ScoreSettings.build(values)
    result = run(settings)
    print_table(format_pope_table({split_name(settings.labels): result}, show_unparseable=parser == "strict"))
    if settings.output is not None:
        err.print(f"wrote {settings.output}")
    if settings.json:
        print_json(result)
