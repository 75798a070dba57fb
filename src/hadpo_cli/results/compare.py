"""`hadpo compare`: pair two sides' results by benchmark, split and item id, then test the deltas.

Items are matched by their ids only, never by position; an item one side lacks is named in a
note and left out of both sides. All figures of a pair (baseline, candidate, delta, interval,
p-value) are over the shared items.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hadpo_cli.errors import UserError, first_few
from hadpo_cli.metrics import DEFAULT_RESAMPLES
from hadpo_cli.metrics.paired import mcnemar_exact, paired_bootstrap
from hadpo_cli.results.registry import EvalResult, find_results, get

ROW_KEYS = (
    "benchmark",
    "split",
    "metric",
    "baseline",
    "candidate",
    "delta",
    "ci_low",
    "ci_high",
    "p_value",
    "n",
)
ALPHA = 0.05


@dataclass(frozen=True)
class Row:
    benchmark: str
    split: str
    metric: str
    baseline: float | None
    candidate: float | None
    delta: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    n: int

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @property
    def beyond_chance(self) -> bool | None:
        """The paired test's verdict where there is one, else whether the interval excludes 0."""
        if self.p_value is not None:
            return self.p_value < ALPHA
        if self.ci_low is None or self.ci_high is None:
            return None
        return self.ci_low > 0 or self.ci_high < 0


@dataclass
class Comparison:
    rows: list[Row]
    notes: list[str]  # what was left out, and why


def index_by_split(results: list[EvalResult], side: str, path: Path) -> dict[tuple[str, str], EvalResult]:
    out: dict[tuple[str, str], EvalResult] = {}
    for r in results:
        key = (r.benchmark, r.split)
        if key in out:
            raise UserError(
                f"{side} {path}: two {r.benchmark}/{r.split} results ({out[key].source} and {r.source}); "
                "give the folder of one run"
            )
        out[key] = r
    return out


def load_side(path: Path, side: str) -> dict[tuple[str, str], EvalResult]:
    results = find_results(path)
    if not results:
        raise UserError(
            f"{side} {path}: no hadpo evaluation results found (answers.metrics.json, judgement.json, ...)"
        )
    return index_by_split(results, side, path)


def compare_paths(
    baseline: Path, candidate: Path, *, seed: int = 0, resamples: int = DEFAULT_RESAMPLES
) -> Comparison:
    return compare_results(
        load_side(baseline, "baseline"), load_side(candidate, "candidate"), seed=seed, resamples=resamples
    )


def compare_results(
    baseline: dict[tuple[str, str], EvalResult],
    candidate: dict[tuple[str, str], EvalResult],
    *,
    seed: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
) -> Comparison:
    rows: list[Row] = []
    notes: list[str] = []
    for key in sorted(set(baseline) - set(candidate)):
        notes.append(f"{key[0]}/{key[1]}: only the baseline ran it ({baseline[key].source}); left out")
    for key in sorted(set(candidate) - set(baseline)):
        notes.append(f"{key[0]}/{key[1]}: only the candidate ran it ({candidate[key].source}); left out")
    for key in sorted(set(baseline) & set(candidate)):
        pair_rows, pair_notes = compare_pair(baseline[key], candidate[key], seed=seed, resamples=resamples)
        rows.extend(pair_rows)
        notes.extend(pair_notes)
    return Comparison(rows, notes)


def compare_pair(
    base: EvalResult, cand: EvalResult, *, seed: int = 0, resamples: int = DEFAULT_RESAMPLES
) -> tuple[list[Row], list[str]]:
    """The rows of one benchmark split; items only one side has are named in the notes."""
    label = f"{base.benchmark}/{base.split}"
    notes = []
    cand_pos = {k: i for i, k in enumerate(cand.keys)}
    shared = [k for k in base.keys if k in cand_pos]
    base_set = set(base.keys)
    for side, result, missing in (
        ("baseline", base, [k for k in base.keys if k not in cand_pos]),
        ("candidate", cand, [k for k in cand.keys if k not in base_set]),
    ):
        if missing:
            notes.append(
                f"{label}: {len(missing)} item(s) only in the {side} ({result.source}), left out: {first_few(missing)}"
            )
    if not shared:
        notes.append(f"{label}: no item in common between {base.source} and {cand.source}; not compared")
        return [], notes
    base_pos = {k: i for i, k in enumerate(base.keys)}
    bi = np.array([base_pos[k] for k in shared])
    ci = np.array([cand_pos[k] for k in shared])
    b_cols, c_cols = base.subset(bi), cand.subset(ci)
    bench = get(base.benchmark)
    metrics = {m.name: m.fn for m in bench.metrics}
    intervals = paired_bootstrap(b_cols, c_cols, metrics, n_resamples=resamples, seed=seed)
    rows = []
    for m in bench.metrics:
        with np.errstate(invalid="ignore", divide="ignore"):
            b_val, c_val = _num(m.fn(b_cols, -1)), _num(m.fn(c_cols, -1))
        if b_val is None and c_val is None:
            continue  # e.g. hallucination ratios of two --no-judge runs
        iv = intervals[m.name]
        p = None
        if m.paired_test is not None:
            p = mcnemar_exact(b_cols[m.paired_test] > 0, c_cols[m.paired_test] > 0)
        rows.append(
            Row(base.benchmark, base.split, m.name, b_val, c_val, iv.delta, iv.low, iv.high, p, len(shared))
        )
    return rows, notes


def _num(x: object) -> float | None:
    value = float(x)  # type: ignore[arg-type]
    return value if np.isfinite(value) else None


# -- the table -----------------------------------------------------------------------------------
def format_table(rows: list[Row], *, title: str | None = None):  # noqa: ANN201
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False)
    for header in ("Benchmark", "Split", "Metric"):
        table.add_column(header, no_wrap=True)
    for header in ("Baseline", "Candidate", "Delta", "95% CI", "p", "n", "Beyond chance"):
        table.add_column(header, justify="right", no_wrap=True)
    for row in rows:
        kind = metric_kind(row.benchmark, row.metric)
        verdict = {True: "yes", False: "no", None: "-"}[row.beyond_chance]
        table.add_row(row.benchmark, row.split, row.metric, *figure_cells(row, kind), verdict)
    return table


def figure_cells(row: Any, kind: str) -> list[str]:
    """Baseline, candidate, delta, interval, p and n of a compare row, as the table and the
    report show them (one formatting for both)."""
    return [
        fmt_value(row.baseline, kind),
        fmt_value(row.candidate, kind),
        fmt_value(row.delta, kind, signed=True),
        fmt_interval(row.ci_low, row.ci_high, kind),
        "-" if row.p_value is None else f"{row.p_value:.3g}",
        str(row.n),
    ]


def metric_kind(benchmark: str, metric: str) -> str:
    return next((m.kind for m in get(benchmark).metrics if m.name == metric), "value")


def fmt_value(value: float | None, kind: str, *, signed: bool = False) -> str:
    """Rates as percentages with two decimals (as the POPE tables print them)."""
    if value is None:
        return "-"
    shown = 100 * value if kind == "rate" else value
    return f"{shown:+.2f}" if signed else f"{shown:.2f}"


def fmt_interval(low: float | None, high: float | None, kind: str) -> str:
    if low is None or high is None:
        return "-"
    return f"[{fmt_value(low, kind, signed=True)}, {fmt_value(high, kind, signed=True)}]"
