"""``hadpo compare BASELINE CANDIDATE``: metric deltas with paired tests, as a table and/or JSON."""

from __future__ import annotations

from hadpo_cli.cli.settings_command import settings_command
from hadpo_cli.settings.compare import CompareSettings


def show(settings: CompareSettings, as_json: bool) -> None:
    # Library modules (numpy, scipy) load here, not at import, so `hadpo --help` stays quick.
    from rich.markup import escape

    from hadpo_cli.console import err, print_json, print_table
    from hadpo_cli.errors import UserError
    from hadpo_cli.results.compare import compare_paths, format_table

    result = compare_paths(
        settings.baseline, settings.candidate, seed=settings.seed, resamples=settings.resamples
    )
    for note in result.notes:
        err.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)
    if not result.rows:
        raise UserError(
            f"{settings.baseline} and {settings.candidate}: no benchmark split with items in common"
        )
    print_table(
        format_table(
            result.rows,
            title=f"{settings.candidate} vs {settings.baseline} (rates in %, 95% paired-bootstrap intervals)",
        )
    )
    if as_json:
        print_json([row.to_json() for row in result.rows])


command = settings_command(CompareSettings, show, config=False)
