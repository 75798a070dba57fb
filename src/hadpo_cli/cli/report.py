"""``hadpo report PATH... --output report.html``: one self-contained HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hadpo_cli.cli.common import field_default, field_help, guarded, settings_option
from hadpo_cli.console import err
from hadpo_cli.settings.compare import ReportSettings

S = ReportSettings


@guarded
def command(
    paths: Annotated[
        list[Path], typer.Argument(metavar="PATH", help=field_help(S, "paths"), show_default=False)
    ],
    output: Annotated[Path, settings_option(S, "output", "--output", "-o")] = field_default(S, "output"),
    baseline: Annotated[
        Path | None, settings_option(S, "baseline", "--baseline", show_default=False)
    ] = field_default(S, "baseline"),
    seed: Annotated[int, settings_option(S, "seed")] = field_default(S, "seed"),
    resamples: Annotated[int, settings_option(S, "resamples")] = field_default(S, "resamples"),
) -> None:
    """Training curves, metric tables and charts, compare deltas, and the items still wrong."""
    values = dict(locals())
    # matplotlib, PIL and scipy load here, so `hadpo --help` stays quick.
    from hadpo_cli.report.build import run

    settings = ReportSettings.build(values)
    summary = run(settings)
    err.print(
        f"wrote {settings.output} ({summary['bytes'] / 1e6:.1f} MB): {summary['training_runs']} training run(s), "
        f"{summary['results']} evaluation result(s), {summary['thumbnails']} thumbnail(s)"
    )
