"""`hadpo eval shr`: describe SHR images (or take a responses file), judge each sentence, score."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from hadpo_cli.cli.common import field_default, guarded, merge_with_config, settings_option
from hadpo_cli.console import err, print_json, print_table
from hadpo_cli.settings.eval_shr import EvalShrSettings

S = EvalShrSettings


_opt = functools.partial(settings_option, S)


@guarded
def command(
    ctx: typer.Context,
    model: Annotated[str | None, _opt("model")] = None,
    adapter: Annotated[Path | None, _opt("adapter")] = None,
    llm_model: Annotated[Path | None, _opt("llm_model")] = None,
    dtype: Annotated[str, _opt("dtype")] = field_default(S, "dtype"),
    precision: Annotated[str, _opt("precision")] = field_default(S, "precision"),
    responses: Annotated[Path | None, _opt("responses")] = None,
    vg_path: Annotated[Path | None, _opt("vg_path")] = None,
    shr_path: Annotated[Path | None, _opt("shr_path")] = None,
    output_dir: Annotated[Path | None, _opt("output_dir", "--output-dir", "-o")] = None,
    num_beams: Annotated[int | None, _opt("num_beams")] = None,
    max_new_tokens: Annotated[int | None, _opt("max_new_tokens")] = None,
    repetition_penalty: Annotated[float | None, _opt("repetition_penalty")] = None,
    batch_size: Annotated[int, _opt("batch_size")] = field_default(S, "batch_size"),
    no_judge: Annotated[bool, _opt("no_judge", "--no-judge")] = field_default(S, "no_judge"),
    judge_model: Annotated[str, _opt("judge_model")] = field_default(S, "judge_model"),
    api_key: Annotated[
        str | None,
        _opt("api_key", envvar="OPENAI_API_KEY", show_envvar=False, show_default=False),
    ] = None,
    base_url: Annotated[str | None, _opt("base_url", envvar="OPENAI_BASE_URL", show_envvar=False)] = None,
    temperature: Annotated[float, _opt("temperature")] = field_default(S, "temperature"),
    judge_max_tokens: Annotated[int, _opt("judge_max_tokens")] = field_default(S, "judge_max_tokens"),
    judge_prompt: Annotated[Path | None, _opt("judge_prompt")] = None,
    judge_runs: Annotated[int, _opt("judge_runs")] = field_default(S, "judge_runs"),
    concurrency: Annotated[int, _opt("concurrency", "--concurrency", "-j")] = field_default(S, "concurrency"),
    max_retries: Annotated[int, _opt("max_retries")] = field_default(S, "max_retries"),
    retry_backoff: Annotated[float, _opt("retry_backoff")] = field_default(S, "retry_backoff"),
    request_timeout: Annotated[float, _opt("request_timeout")] = field_default(S, "request_timeout"),
    max_reasks: Annotated[int, _opt("max_reasks")] = field_default(S, "max_reasks"),
    config: Annotated[
        Path | None,
        typer.Option("--config", help="YAML file of settings; flags given on the command line win."),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print metrics.json to stdout (the table still goes to stderr).")
    ] = False,
) -> None:
    """Describe SHR images (--model) or take --responses FILE, judge every sentence, write metrics."""
    values = {k: v for k, v in ctx.params.items() if k not in ("json_output",)}
    # Unset optional flags stay out, so the settings' own checks name what is missing.
    values = {k: v for k, v in values.items() if v is not None}
    merged, sources = merge_with_config(ctx, values, config)
    settings = EvalShrSettings.build(merged, sources=sources)

    from hadpo_cli.evaluation import shr  # after validation: --help and flag errors stay fast

    with _progress_bar(enabled=not settings.no_judge) as on_progress:
        result = shr.run(settings, on_progress=on_progress)
    if result.helper_process:
        return  # another process of a multi-process describe: the main one reports
    _print_table(result.metrics)
    _print_summary(result, settings)
    if json_output:
        print_json(result.metrics)
    if _unjudged_images(result):
        # Everything is written and the metrics count the gap, but a script (or `&& next step`)
        # must not mistake a partly judged run for a complete one.
        raise typer.Exit(1)


def _unjudged_images(result: Any) -> int:
    return int(result.status_counts.get("failed", 0) + result.status_counts.get("malformed", 0))


@contextmanager
def _progress_bar(*, enabled: bool) -> Iterator[Any]:
    """A rich progress bar on stderr (judged/total, in flight, retries); silent when not a terminal."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("judging"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} judged"),
        TextColumn("in flight {task.fields[in_flight]}"),
        TextColumn("retries {task.fields[retries]}"),
        TimeElapsedColumn(),
        console=err,
        disable=not enabled or not err.is_terminal,
        transient=False,
    )
    task = None

    def on_progress(p: Any) -> None:
        nonlocal task
        if task is None:
            task = progress.add_task("judging", total=p.total, in_flight=0, retries=0)
        progress.update(task, completed=p.done, in_flight=p.in_flight, retries=p.retries)

    with progress:
        yield on_progress


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _print_table(metrics: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title="SHR", show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        table.add_row(key, _fmt(value))
    print_table(table)


def _print_summary(result: Any, settings: EvalShrSettings) -> None:
    if settings.no_judge:
        err.print(f"wrote {result.output_dir}/metrics.json (repetition only: --no-judge)")
        return
    counts = ", ".join(f"{n} {status}" for status, n in sorted(result.status_counts.items()))
    err.print(
        f"judge: {result.requests} requests sent, {result.cached_replies} cached replies reused; {counts or 'nothing'}"
    )
    failed = _unjudged_images(result)
    if failed:
        err.print(
            f"[yellow]warning:[/] {failed} image judgement(s) unjudged "
            f"({result.metrics.get('unjudged_sentences')} sentences; see judgement.json). "
            "Rerun to retry failed requests; raise --max-reasks to ask again about malformed replies. "
            "Exit status 1."
        )
    err.print(f"wrote {result.output_dir}/judgement.json, metrics.json, settings.json")
