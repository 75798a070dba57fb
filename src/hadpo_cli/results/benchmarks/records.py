"""Results of every benchmark that writes the shared shape (``metrics.json`` naming the benchmark,
``records.jsonl`` with each item's numeric ``columns``, ``settings.json``): CHAIR, AMBER,
MMHal-Bench and any benchmark added later. The metrics are the benchmark's own functions of the
columns (its ``ResultColumns``), the ones its ``metrics.json`` was computed with, so a reader
here is registered for each such benchmark and none is written by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from hadpo_cli.errors import UserError, where
from hadpo_cli.io import read_json, read_jsonl, require_dict
from hadpo_cli.results.registry import Benchmark, EvalResult, Metric, register, walk

SPLIT = "all"  # one item set per run; compare pairs two runs on the items both hold
METRICS_FILE, RECORDS_FILE, SETTINGS_FILE = "metrics.json", "records.jsonl", "settings.json"


def finder(name: str) -> Callable[[Path], list[EvalResult]]:
    def find(path: Path) -> list[EvalResult]:
        if path.is_file() and path.name in (RECORDS_FILE, SETTINGS_FILE):
            path = path.parent / METRICS_FILE  # one file of an output folder named: the folder is the run
        out = []
        for file in walk(path, lambda p: p.name == METRICS_FILE):
            doc = read_json(file)
            if (
                isinstance(doc, dict)
                and doc.get("benchmark") == name
                and (file.parent / RECORDS_FILE).is_file()
            ):
                out.append(read_run(name, file))
        return out

    return find


def read_run(name: str, metrics_file: Path) -> EvalResult:
    records_file = metrics_file.parent / RECORDS_FILE
    keys: list[str] = []
    records: list[dict[str, Any]] = []
    columns: dict[str, list[float]] = {}
    for line, raw in read_jsonl(records_file):
        rec = require_dict(raw, records_file, line)
        cols = rec.get("columns")
        if "key" not in rec or not isinstance(cols, dict):
            raise UserError(
                f"{where(records_file, line)}: not a record of `hadpo eval {name}` (no key/columns)"
            )
        if keys and set(cols) != set(columns):
            raise UserError(f"{where(records_file, line)}: its columns differ from the first record's")
        keys.append(str(rec["key"]))
        records.append(rec)
        for col, value in cols.items():
            columns.setdefault(col, []).append(float(value))
    settings_file = metrics_file.parent / SETTINGS_FILE
    settings = read_json(settings_file) if settings_file.is_file() else {}
    return EvalResult(
        benchmark=name,
        split=SPLIT,
        source=metrics_file,
        keys=keys,
        columns={col: np.asarray(values, dtype=float) for col, values in columns.items()},
        records=records,
        settings=settings if isinstance(settings, dict) else {},
        identity=(str(records_file.resolve()),),
    )


def _register_all() -> None:
    from hadpo_cli.evaluation.benchmarks import benchmarks

    for bench in benchmarks().values():
        spec = bench.results
        if spec is None:
            continue
        metrics = tuple(
            Metric(
                name,
                fn,
                kind="value" if spec.is_value(name) else "rate",
                paired_test=spec.paired_tests.get(name),
            )
            for name, fn in spec.metric_fns().items()
        )
        register(Benchmark(name=bench.name, metrics=metrics, find=finder(bench.name)))


_register_all()
