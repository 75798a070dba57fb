"""``hadpo demo``: flags -> DemoSettings -> demo.run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hadpo_cli.cli.common import field_default as d
from hadpo_cli.cli.common import field_help as h
from hadpo_cli.cli.common import guarded
from hadpo_cli.settings.demo import DemoSettings as D


@guarded
def command(
    workdir: Annotated[Path, typer.Option("--workdir", help=h(D, "workdir"))] = d(D, "workdir"),
    family: Annotated[str, typer.Option("--family", help=h(D, "family"))] = d(D, "family"),
    setup_only: Annotated[bool, typer.Option("--setup-only", help=h(D, "setup_only"))] = d(D, "setup_only"),
    json_out: Annotated[bool, typer.Option("--json", help=h(D, "json"))] = d(D, "json"),
) -> None:
    """Run every stage on a tiny built-in model and synthetic data (offline)."""
    settings = D.build({"workdir": workdir, "family": family, "setup_only": setup_only, "json": json_out})

    # Imported here so `hadpo --help` does not pay for the demo's imports.
    from hadpo_cli.console import print_json
    from hadpo_cli.demo import run

    summary = run(settings)
    if settings.json:
        print_json(summary)
    if not summary["ok"]:
        # A stage failed (already shown in the table): not a usage error, so status 1, not 2.
        raise typer.Exit(1)
