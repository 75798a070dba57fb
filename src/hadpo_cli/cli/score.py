"""``hadpo score ANSWERS LABELS``: POPE metrics, by question id, as a table and/or JSON."""

from __future__ import annotations

from hadpo_cli.cli.settings_command import settings_command
from hadpo_cli.settings.score import ScoreSettings


def show(settings: ScoreSettings, as_json: bool) -> None:
    # Library modules load here, not at import, so `hadpo --help` stays quick.
    from hadpo_cli.console import err, print_json, print_table
    from hadpo_cli.metrics.pope import format_pope_table
    from hadpo_cli.metrics.score_run import run, split_name

    result = run(settings)
    table = format_pope_table(
        {split_name(settings.labels): result}, show_unparseable=settings.parser == "strict"
    )
    print_table(table)
    if settings.output is not None:
        err.print(f"wrote {settings.output}")
    if as_json:
        print_json(result)


command = settings_command(ScoreSettings, show, config=False)
