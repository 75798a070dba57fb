"""Benchmarks as plug-ins: each module here registers one :class:`Benchmark`, and that makes
``hadpo eval <name>`` exist (flags, help and ``--config`` from its settings model) and adds its
stage to ``hadpo demo``. Adding a benchmark is one module here plus its docs page; see
docs/benchmarks-contract.md.

Modules are imported when the CLI starts, so they import only settings and the standard library
at top level; everything heavy (torch, the judge client, numpy) loads inside ``run``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RunFn = Callable[[Any], Any]  # settings -> what the run produced
ShowFn = Callable[[Any, Any, bool], "int | None"]  # (result, settings, --json) -> exit status
DemoStageFn = Callable[[Any], dict[str, Any]]  # demo context -> the figures of its row


@dataclass(frozen=True)
class ResultColumns:
    """How `hadpo compare` and `hadpo report` read a run's ``records.jsonl`` (one line per item with
    numeric ``columns``): the metrics as functions of those columns, the same ones ``metrics.json``
    was computed with."""

    metric_fns: Callable[[], Mapping[str, Any]]  # name -> fn(columns, axis); imported lazily (numpy)
    values: tuple[str, ...] = ()  # metrics (or dotted groups) shown as they are; others are rates in [0, 1]

    def is_value(self, metric: str) -> bool:
        return any(metric == v or metric.startswith(v + ".") for v in self.values)

    paired_tests: Mapping[str, str] = field(default_factory=dict)  # metric -> 0/1 column for McNemar


@dataclass(frozen=True)
class Benchmark:
    name: str
    summary: str  # the one line `hadpo eval --help` shows
    settings: type  # a GenerationSettings subclass: its fields are the command's flags
    run: RunFn
    show: ShowFn
    docs: str  # its page under docs/
    demo_stage: DemoStageFn | None = None
    # Writes its demo data (in its published layout) into the folder given, at the demo's setup:
    # data/<name>/, so that `hadpo demo --setup-only` leaves every benchmark's files too.
    demo_data: Callable[[Path], None] | None = None
    demo_baseline: bool = False  # the demo also runs it on the base model, to show training's effect
    results: ResultColumns | None = None  # None: the benchmark registers its own result reader
    order: int = 100  # where it stands in `hadpo eval --help` and the demo (POPE 0, SHR 1, ...)

    def command(self) -> Callable[..., Any]:
        from hadpo_cli.cli.settings_command import settings_command

        def run_and_show(settings: Any, as_json: bool) -> int | None:
            return self.show(self.run(settings), settings, as_json)

        return settings_command(self.settings, run_and_show, doc=self.settings.__doc__)


_REGISTRY: dict[str, Benchmark] = {}
_loaded = False


def register(benchmark: Benchmark) -> Benchmark:
    if benchmark.name in _REGISTRY:
        raise ValueError(f"benchmark {benchmark.name!r} is registered twice")
    _REGISTRY[benchmark.name] = benchmark
    return benchmark


def benchmarks() -> dict[str, Benchmark]:
    """Every registered benchmark, in their ``order`` (POPE first)."""
    global _loaded
    if not _loaded:
        from hadpo_cli.evaluation import benchmarks as package
        from hadpo_cli.plugins import import_all

        import_all(package.__name__, package.__path__)
        _loaded = True
    return dict(sorted(_REGISTRY.items(), key=lambda kv: (kv[1].order, kv[0])))


def get(name: str) -> Benchmark:
    return benchmarks()[name]
