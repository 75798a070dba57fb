"""Assemble the report: find the runs under every PATH, then one section each for training,
evaluation (with compare deltas against ``--baseline``) and inspection."""

from __future__ import annotations

import os
from collections import defaultdict
from html import escape
from pathlib import Path
from typing import Any

from hadpo_cli.errors import UserError
from hadpo_cli.io import atomic_write_text
from hadpo_cli.report import html, plots
from hadpo_cli.report.training import TrainingRun, find_training_runs
from hadpo_cli.results.compare import compare_pair, figure_cells, fmt_value, load_side
from hadpo_cli.results.registry import EvalResult, find_results, get
from hadpo_cli.settings.compare import ReportSettings


def display(path: Path) -> str:
    """A path as short as it can be said: relative to here when inside, else absolute."""
    rel = os.path.relpath(path)
    return rel if not rel.startswith("..") else str(path.resolve())


def run_label(result: EvalResult) -> str:
    return display(result.source.parent)


def run(settings: ReportSettings) -> dict[str, Any]:
    from hadpo_cli.io import check_writable

    check_writable(settings.output, "--output")
    training: list[TrainingRun] = []
    results: list[EvalResult] = []
    for path in settings.paths:
        if not path.exists():
            raise UserError(f"{path}: not found")
        found_training = find_training_runs(path)
        found_results = find_results(path)
        if not found_training and not found_results:
            raise UserError(f"{path}: no training run (trainer_state.json) or evaluation result found")
        training.extend(found_training)
        results.extend(found_results)
    baseline: dict[tuple[str, str], EvalResult] = {}
    if settings.baseline is not None:
        baseline = load_side(settings.baseline, "--baseline")
    base_ids = {(r.benchmark, r.split, *r.identity) for r in baseline.values()}
    candidates = [r for r in results if (r.benchmark, r.split, *r.identity) not in base_ids]

    thumbs = html.Thumbnails()
    sections: list[str] = []
    nav: list[tuple[str, str]] = []
    if training:
        sections.append(training_section(training))
        nav.append(("training", "Training"))
    if results or baseline:
        sections.append(evaluation_section(candidates, baseline))
        nav.append(("evaluation", "Evaluation"))
    if baseline and candidates:
        sections.append(compare_section(candidates, baseline, settings))
        nav.append(("compare", "Compare"))
    inspection = inspection_section(candidates or list(baseline.values()), baseline, thumbs)
    if inspection:
        sections.append(inspection)
        nav.append(("inspection", "Inspection"))
    page = html.page("hadpo report", nav, sections, thumbs)
    atomic_write_text(settings.output, page)
    return {
        "output": str(settings.output),
        "bytes": len(page.encode("utf-8")),
        "training_runs": len(training),
        "results": len(candidates) + len(baseline),
        "thumbnails": len(thumbs),
    }


def training_section(runs: list[TrainingRun]) -> str:
    labels = [display(r.folder) for r in runs]
    parts = ['<section id="training"><h2>Training</h2>', plots.training_curves(runs, labels)]
    rows = []
    for run, label in zip(runs, labels, strict=True):
        last = run.logs[-1] if run.logs else {}
        rows.append(
            [
                escape(label),
                str(run.global_step),
                *(_fmt(last.get(k)) for k in ("loss", "rewards/margins", "rewards/accuracies")),
            ]
        )
    parts.append("<h3>Last logged step</h3>")
    parts.append(html.table(("run", "steps", "loss", "reward margin", "reward accuracy"), rows))
    parts.append("<h3>Settings</h3>")
    parts.extend(
        html.settings_block(label, run.settings or {"settings": "not found"})
        for run, label in zip(runs, labels, strict=True)
    )
    parts.append("</section>")
    return "".join(parts)


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else "-"


def evaluation_section(candidates: list[EvalResult], baseline: dict[tuple[str, str], EvalResult]) -> str:
    groups: dict[tuple[str, str], list[tuple[str, EvalResult]]] = defaultdict(list)
    for key, r in baseline.items():
        groups[key].append((f"{run_label(r)} (baseline)", r))
    for r in candidates:
        groups[(r.benchmark, r.split)].append((run_label(r), r))
    parts = ['<section id="evaluation"><h2>Evaluation</h2>']
    for (bench_name, split), entries in sorted(groups.items()):
        bench = get(bench_name)
        values = [r.metric_values() for _, r in entries]
        metrics = [m for m in bench.metrics if any(v[m.name] is not None for v in values)]
        parts.append(f"<h3>{escape(bench_name)} / {escape(split)}</h3>")
        rows = [
            [escape(label), str(len(r.keys)), *(fmt_value(v[m.name], m.kind) for m in metrics)]
            for (label, r), v in zip(entries, values, strict=True)
        ]
        headers = ["run", "items", *(m.name + (" (%)" if m.kind == "rate" else "") for m in metrics)]
        parts.append(html.table(headers, rows))
        rates = [m for m in metrics if m.kind == "rate"]
        if rates:
            bars = [[None if v[m.name] is None else 100 * v[m.name] for m in rates] for v in values]
            parts.append(plots.metric_bars([m.name for m in rates], [label for label, _ in entries], bars))
    parts.append("</section>")
    return "".join(parts)


def compare_section(
    candidates: list[EvalResult], baseline: dict[tuple[str, str], EvalResult], settings: ReportSettings
) -> str:
    parts = [
        '<section id="compare"><h2>Compare with the baseline</h2>',
        f'<p class="muted">Over the items both sides answered; 95% paired-bootstrap intervals '
        f"({settings.resamples} resamples, seed {settings.seed}); p from McNemar's exact test where it applies. "
        "Rates in %, deltas in points.</p>",
    ]
    for cand in candidates:
        base = baseline.get((cand.benchmark, cand.split))
        if base is None:
            continue
        rows, notes = compare_pair(base, cand, seed=settings.seed, resamples=settings.resamples)
        parts.append(
            f"<h3>{escape(cand.benchmark)} / {escape(cand.split)}: {escape(run_label(cand))} vs {escape(run_label(base))}</h3>"
        )
        parts.extend(f'<p class="muted">note: {escape(n)}</p>' for n in notes)
        if not rows:
            continue
        bench = get(cand.benchmark)
        kinds = {m.name: m.kind for m in bench.metrics}
        table_rows = []
        for row in rows:
            kind = kinds[row.metric]
            verdict = {True: '<span class="yes">yes</span>', False: "no", None: "-"}[row.beyond_chance]
            table_rows.append([escape(row.metric), *figure_cells(row, kind), verdict])
        parts.append(
            html.table(
                ("metric", "baseline", "candidate", "delta", "95% CI", "p", "n", "beyond chance"), table_rows
            )
        )
        plotted = [
            r for r in rows if kinds[r.metric] == "rate" and r.ci_low is not None and r.delta is not None
        ]
        if plotted:
            parts.append(
                plots.delta_intervals(
                    [r.metric for r in plotted],
                    [100 * r.delta for r in plotted],
                    [100 * r.ci_low for r in plotted],
                    [100 * r.ci_high for r in plotted],
                )
            )
    parts.append("</section>")
    return "".join(parts)


def inspection_section(
    results: list[EvalResult], baseline: dict[tuple[str, str], EvalResult], thumbs: html.Thumbnails
) -> str:
    parts = []
    for r in sorted(results, key=lambda r: (r.benchmark, r.split, str(r.source))):
        bench = get(r.benchmark)
        if bench.inspect is None:
            continue
        base = baseline.get((r.benchmark, r.split))
        if base is r:
            base = None
        parts.append(
            f'<div class="inspect" data-benchmark="{escape(r.benchmark)}">'
            f"<h3>{escape(bench.inspect_title)} ({escape(r.split)}, {escape(run_label(r))})</h3>"
            f"{bench.inspect(r, base, thumbs)}</div>"
        )
    if not parts:
        return ""
    return '<section id="inspection"><h2>Inspection</h2>' + "".join(parts) + "</section>"


def demo_stage(ctx: Any) -> dict[str, Any]:
    """`hadpo demo`'s last stage: ``report.html`` covers the training run and every evaluation of the
    trained model, with the base model's evaluations (``base/``) as the baseline."""
    from hadpo_cli.demo import BASE_DIR, DEMO_RESAMPLES

    evals = sorted(p for p in ctx.workdir.glob("eval_*") if p.is_dir())
    output = ctx.workdir / "report.html"
    summary = run(
        ReportSettings(
            paths=[ctx.workdir / "train", *evals], output=output, baseline=ctx.workdir / BASE_DIR,
            resamples=DEMO_RESAMPLES,
        )
    )  # fmt: skip
    ctx.outputs["report"] = output
    return {
        "file": str(output),
        "MB": round(summary["bytes"] / 1e6, 2),
        "results": summary["results"],
        "thumbnails": summary["thumbnails"],
        "baseline": "base model",
    }
