"""``hadpo demo``: flags -> DemoSettings -> demo.run."""

from __future__ import annotations

from hadpo_cli.cli.settings_command import settings_command
from hadpo_cli.settings.demo import DemoSettings


def show(settings: DemoSettings, as_json: bool) -> int:
    # Imported here so `hadpo --help` does not pay for the demo's imports.
    from hadpo_cli.console import print_json
    from hadpo_cli.demo import run

    summary = run(settings)
    if as_json:
        print_json(summary)
    # A stage failed (already shown in the table): not a usage error, so status 1, not 2.
    return 0 if summary["ok"] else 1


command = settings_command(DemoSettings, show, config=False)
