"""``hadpo merge``: flags -> MergeSettings -> models.merging.run_merge."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hadpo_cli.cli.common import field_default as d
from hadpo_cli.cli.common import field_help as h
from hadpo_cli.cli.common import guarded
from hadpo_cli.settings.merge import MergeDType
from hadpo_cli.settings.merge import MergeSettings as M


@guarded
def command(
    adapter: Annotated[Path, typer.Option(help=h(M, "adapter"), show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help=h(M, "output"), show_default=False)],
    base: Annotated[str, typer.Option(help=h(M, "base"))] = d(M, "base"),
    llm_only: Annotated[bool, typer.Option("--llm-only", help=h(M, "llm_only"))] = d(M, "llm_only"),
    verify: Annotated[bool, typer.Option("--verify/--no-verify", help=h(M, "verify"))] = d(M, "verify"),
    overwrite: Annotated[bool, typer.Option("--overwrite", help=h(M, "overwrite"))] = d(M, "overwrite"),
    dtype: Annotated[MergeDType, typer.Option(help=h(M, "dtype"))] = d(M, "dtype"),
    json_out: Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.")] = False,
) -> None:
    """Fold a LoRA adapter into the model (whole VLM, or --llm-only the language model)."""
    settings = M.build(
        {
            "adapter": adapter,
            "base": base,
            "output": output,
            "llm_only": llm_only,
            "verify": verify,
            "overwrite": overwrite,
            "dtype": dtype,
        }
    )
    # Library modules load here, not at import, so `hadpo --help` stays quick.
    from hadpo_cli.console import err, print_json
    from hadpo_cli.models.merging import run_merge

    summary = run_merge(settings)
    err.print(describe(summary))
    if json_out:
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
