"""``hadpo compare BASELINE CANDIDATE``: metric deltas with paired tests, as a table and/or JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hadpo_cli.cli.common import field_default, field_help, guarded, settings_option
from hadpo_cli.console import err, print_json, print_table
from hadpo_cli.settings.compare import CompareSettings

S = CompareSettings


@guarded
def command(
    baseline: Annotated[
        Path, typer.Argument(metavar="BASELINE", help=field_help(S, "baseline"), show_default=False)
    ],
    candidate: Annotated[
        Path, typer.Argument(metavar="CANDIDATE", help=field_help(S, "candidate"), show_default=False)
    ],
    json: Annotated[bool, settings_option(S, "json", "--json")] = field_default(S, "json"),
    seed: Annotated[int, settings_option(S, "seed")] = field_default(S, "seed"),
    resamples: Annotated[int, settings_option(S, "resamples")] = field_default(S, "resamples"),
) -> None:
    """Metric deltas of CANDIDATE over BASELINE on every benchmark split both ran."""
    values = dict(locals())
    # Library modules (numpy, scipy) load here, not at import, so `hadpo --help` stays quick.
    from rich.markup import escape

    from hadpo_cli.results.compare import compare_paths, format_table

    settings = CompareSettings.build(values)
    result = compare_paths(
        settings.baseline, settings.candidate, seed=settings.seed, resamples=settings.resamples
    )
    for note in result.notes:
        err.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)
    if not result.rows:
        from hadpo_cli.errors import UserError

        raise UserError(
            f"{settings.baseline} and {settings.candidate}: no benchmark split with items in common"
        )
    print_table(
        format_table(
            result.rows,
            title=f"{settings.candidate} vs {settings.baseline} (rates in %, 95% paired-bootstrap intervals)",
        )
    )
    if settings.json:
        print_json([row.to_json() for row in result.rows])
