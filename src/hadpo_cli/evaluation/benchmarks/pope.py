"""POPE (Li et al., 2023): yes/no questions about objects in COCO images; ``hadpo eval pope``.

The pipeline is :mod:`hadpo_cli.evaluation.pope`; scoring is that of ``hadpo score``.
"""

from __future__ import annotations

from typing import Any

from hadpo_cli.evaluation.benchmarks import Benchmark, register
from hadpo_cli.settings.eval_pope import EvalPopeSettings


def run(settings: EvalPopeSettings) -> Any:
    from hadpo_cli.evaluation.pope import run as run_pope

    return run_pope(settings)


def show(result: Any, settings: EvalPopeSettings, as_json: bool) -> None:
    from hadpo_cli.console import err, print_json, print_table
    from hadpo_cli.metrics.pope import format_pope_table

    if not result.is_main:
        return  # one table and one JSON document per run, not one per process
    print_table(format_pope_table(result.summary["splits"], show_unparseable=settings.parser == "strict"))
    figures = result.summary["run"]
    err.print(
        f"{figures['generated']} answered now, {figures['reused']} reused; metrics in {result.metrics_path}"
    )
    if as_json:
        print_json(result.summary)


def demo_stage(ctx: Any) -> dict[str, Any]:
    from hadpo_cli.evaluation.pope import demo_stage as stage

    return stage(ctx)


register(
    Benchmark(
        name="pope",
        summary="Answer POPE questions, then score them.",
        settings=EvalPopeSettings,
        run=run,
        show=show,
        docs="docs/eval-pope.md",
        demo_stage=demo_stage,
        demo_baseline=True,
        order=0,
    )
)
