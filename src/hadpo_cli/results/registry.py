"""What a benchmark tells `compare` and `report`: where its results are, its per-item columns,
its metrics as functions of those columns, and (optionally) how to show its items.

A benchmark module builds one :class:`Benchmark` and calls :func:`register`; modules in
:mod:`hadpo_cli.results.benchmarks` are found by name at first use, so compare and report
code never lists benchmarks.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from hadpo_cli.errors import UserError
from hadpo_cli.metrics.paired import MetricFn


@dataclass(frozen=True)
class Metric:
    name: str
    fn: MetricFn
    # "rate": a fraction in [0, 1], shown as a percentage; "value": shown as it is.
    kind: Literal["rate", "value"] = "rate"
    # A 0/1 column whose paired change McNemar's exact test judges (POPE's "correct" for
    # accuracy); None where no paired test applies and only the bootstrap interval is given.
    paired_test: str | None = None


@dataclass
class EvalResult:
    """One benchmark split of one run, item by item."""

    benchmark: str
    split: str
    source: Path  # the file the result was read from (named in messages)
    keys: list[str]  # item ids (question_id, image_id), unique, in file order
    columns: dict[str, np.ndarray]  # per-item numbers, aligned with keys
    records: list[dict[str, Any]]  # per-item details for inspection, aligned with keys
    settings: dict[str, Any] = field(default_factory=dict)
    identity: tuple[Any, ...] = ()  # two results with the same identity are the same data

    def subset(self, index: np.ndarray) -> dict[str, np.ndarray]:
        return {name: col[index] for name, col in self.columns.items()}

    def metric_values(self) -> dict[str, float | None]:
        """Every metric of the benchmark over all items."""
        bench = get(self.benchmark)
        out = {}
        with np.errstate(invalid="ignore", divide="ignore"):
            for m in bench.metrics:
                value = float(m.fn(self.columns, -1)) if self.keys else float("nan")
                out[m.name] = value if np.isfinite(value) else None
        return out


# (candidate result, baseline result or None, thumbnail maker) -> an HTML fragment
Inspector = Callable[[EvalResult, "EvalResult | None", Any], str]


@dataclass(frozen=True)
class Benchmark:
    name: str
    metrics: tuple[Metric, ...]
    # Every result of this benchmark in one file, or under one folder; [] when there is none.
    find: Callable[[Path], list[EvalResult]]
    inspect: Inspector | None = None
    inspect_title: str = ""


_REGISTRY: dict[str, Benchmark] = {}
_loaded = False


def register(benchmark: Benchmark) -> Benchmark:
    if benchmark.name in _REGISTRY:
        raise ValueError(f"benchmark {benchmark.name!r} is registered twice")
    _REGISTRY[benchmark.name] = benchmark
    return benchmark


def benchmarks() -> dict[str, Benchmark]:
    """Every registered benchmark, importing the modules of the benchmarks package once."""
    global _loaded
    if not _loaded:
        from hadpo_cli.plugins import import_all
        from hadpo_cli.results import benchmarks as package

        import_all(package.__name__, package.__path__)
        _loaded = True
    return _REGISTRY


def get(name: str) -> Benchmark:
    return benchmarks()[name]


# -- finding files -------------------------------------------------------------------------------
def walk(path: Path, match: Callable[[Path], bool]) -> Iterator[Path]:
    """Files under ``path`` (or ``path`` itself) that ``match``, in sorted order.

    Hidden folders (locks, partial writes) and Trainer ``checkpoint-*`` folders are skipped:
    neither holds an evaluation.
    """
    if path.is_file():
        if match(path):
            yield path
        return
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not d.startswith("checkpoint-"))
        for name in sorted(files):
            candidate = Path(root) / name
            if match(candidate):
                yield candidate


def find_results(path: Path) -> list[EvalResult]:
    """Every evaluation result in a file or under a folder, any benchmark; duplicates dropped."""
    if not path.exists():
        raise UserError(f"{path}: not found")
    out: list[EvalResult] = []
    seen: set[tuple[Any, ...]] = set()
    for bench in benchmarks().values():
        for result in bench.find(path):
            ident = (result.benchmark, result.split, *result.identity)
            if result.identity and ident in seen:
                continue  # e.g. `hadpo score --output` re-scoring an eval's answers file
            seen.add(ident)
            out.append(result)
    return out


def resolve_recorded(recorded: str | Path, beside: Path) -> Path:
    """A path a result file recorded (maybe relative to where the run was started): the same
    file name beside ``beside`` first, since result folders get moved and copied; else as
    recorded."""
    recorded = Path(recorded)
    near = beside / recorded.name
    if near.is_file():
        return near
    return recorded
