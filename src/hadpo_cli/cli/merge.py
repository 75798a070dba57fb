"""``hadpo merge``: flags -> MergeSettings -> models.merging.run_merge."""

from __future__ import annotations

from typing import Any

from hadpo_cli.cli.settings_command import settings_command
from hadpo_cli.settings.merge import MergeSettings


def show(settings: MergeSettings, as_json: bool) -> None:
    # Library modules load here, not at import, so `hadpo --help` stays quick.
    from hadpo_cli.console import err, print_json
    from hadpo_cli.models.merging import run_merge

    summary = run_merge(settings)
    err.print(describe(summary))
    if as_json:
        print_json(summary)


def describe(summary: dict[str, Any]) -> str:
    what = "vision-language model" if summary["written"] == "vlm" else "language model"
    line = (
        f"merged {summary['adapter']} ({summary['adapter_layout']} layout) -> {what} in {summary['output']}"
    )
    line += f" ({summary['dtype']})"
    check = summary["verification"]
    if check is None:
        return line + "; not verified (--no-verify)"
    return (
        line + f"; verified: largest logit difference {check['max_abs_diff']:.3g} "
        f"(tolerance {check['tolerance']:.3g}; the adapter itself moves logits by up to {check['adapter_effect']:.3g})"
    )


command = settings_command(MergeSettings, show)
