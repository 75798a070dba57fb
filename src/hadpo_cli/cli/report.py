"""``hadpo report PATH... --output report.html``: one self-contained HTML page."""

from __future__ import annotations

from hadpo_cli.cli.settings_command import settings_command
from hadpo_cli.settings.compare import ReportSettings


def show(settings: ReportSettings, as_json: bool) -> None:
    # matplotlib, PIL and scipy load here, so `hadpo --help` stays quick.
    from hadpo_cli.console import err, print_json
    from hadpo_cli.report.build import run

    summary = run(settings)
    err.print(
        f"wrote {settings.output} ({summary['bytes'] / 1e6:.1f} MB): {summary['training_runs']} training run(s), "
        f"{summary['results']} evaluation result(s), {summary['thumbnails']} thumbnail(s)"
    )
    if as_json:
        print_json(summary)


command = settings_command(ReportSettings, show, config=False)
