"""``hadpo demo``: the tiny model, synthetic data in the public layouts, then every command's stage.

A stage is a name and a function ``(DemoContext) -> dict of figures``. Adding a command to the
demo is one line in :func:`stages` (a benchmark brings its own stage); a ``"module:function"`` string keeps the stage's heavy
imports out of this module until it runs.
"""

from __future__ import annotations

import importlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hadpo_cli.errors import UserError

if TYPE_CHECKING:
    from hadpo_cli.data.synthetic import DemoPaths
    from hadpo_cli.settings.demo import DemoSettings

MARKER = ".hadpo-demo"
DEMO_SEED = 0


@dataclass
class DemoContext:
    """What a stage gets: where the model and data are, the toy world they show, and what earlier
    stages produced."""

    workdir: Path
    model_dir: Path
    data: DemoPaths
    outputs: dict[str, Path] = field(default_factory=dict)  # e.g. "adapter" -> dir, for later stages
    _judge: Any = None
    # New tokens of the demo's descriptions and open answers: a few sentences, seconds on a CPU.
    demo_tokens: int = 32

    @property
    def world(self) -> Any:
        from hadpo_cli.data import toy_world

        return toy_world

    def stage_dir(self, name: str) -> Path:
        """A fresh output directory for one stage (a rerun starts clean, so results repeat)."""
        path = self.workdir / name
        shutil.rmtree(path, ignore_errors=True)
        return path

    def data_dir(self, name: str) -> Path:
        """A fresh folder under ``data/`` for one benchmark's demo data (written by its stage)."""
        path = self.data.root / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def model_source(self) -> dict[str, Any]:
        """The model a later stage evaluates: the merged model when there is one (what a user
        evaluates after `hadpo merge`), else the tiny model with the trained adapter, else the
        bare tiny model."""
        if "merged" in self.outputs:
            return {"model": str(self.outputs["merged"])}
        if "adapter" in self.outputs:
            return {"model": str(self.model_dir), "adapter": self.outputs["adapter"]}
        return {"model": str(self.model_dir)}

    def judge_url(self) -> str:
        """``--base-url`` of a local rule judge (no network, no key), started on first use and
        shared by every judged stage; :meth:`close` stops it."""
        if self._judge is None:
            from hadpo_cli.testing.local_judge import LocalJudgeServer

            self._judge = LocalJudgeServer().start()
        return str(self._judge.base_url)

    def close(self) -> None:
        if self._judge is not None:
            self._judge.stop()
            self._judge = None


StageFn = Callable[[DemoContext], dict[str, Any]]


@dataclass(frozen=True)
class Stage:
    name: str
    run: StageFn | str  # a callable, or "package.module:function" imported when the stage runs

    def resolve(self) -> StageFn:
        if callable(self.run):
            return self.run
        module, _, attr = self.run.partition(":")
        return getattr(importlib.import_module(module), attr)


def check_data_stage(ctx: DemoContext) -> dict[str, Any]:
    """Read the training data the way `hadpo train` does, validation included."""
    from hadpo_cli.data.preference import load_preference_pairs

    pairs = load_preference_pairs(ctx.data.pope_data, ctx.data.desc_data, ctx.data.vg, seed=DEMO_SEED)
    n_pope = sum(p.source == "pope" for p in pairs)
    return {"pairs": len(pairs), "pope": n_pope, "desc": len(pairs) - n_pope}


def train_stage(ctx: DemoContext) -> dict[str, Any]:
    """A short, high-learning-rate run: enough steps for the loss to move, seconds on a CPU."""
    from hadpo_cli.settings.train import TrainSettings
    from hadpo_cli.training.run import run_train

    output_dir = ctx.stage_dir("train")
    settings = TrainSettings.build(
        {
            "model": str(ctx.model_dir),
            "pope_data": ctx.data.pope_data,
            "desc_data": ctx.data.desc_data,
            "vg_path": ctx.data.vg,
            "output_dir": output_dir,
            "lora_r": 8,
            "learning_rate": 1e-2,
            "lr_scheduler_type": "constant",
            "max_steps": 16,
            "per_device_train_batch_size": 4,
            "gradient_accumulation_steps": 1,
            "logging_steps": 1,
            "save_steps": 1000,
            "seed": DEMO_SEED,
        }
    )
    result = run_train(settings)
    ctx.outputs["adapter"] = result.output_dir
    logs = [h for h in result.log_history if "loss" in h]
    figures: dict[str, Any] = {"steps": result.global_step}
    if logs:
        figures["loss"] = f"{logs[0]['loss']:.3f} -> {logs[-1]['loss']:.3f}"
        if "rewards/accuracies" in logs[-1]:
            figures["reward acc"] = round(float(logs[-1]["rewards/accuracies"]), 3)
    return figures


def merge_stage(ctx: DemoContext) -> dict[str, Any]:
    """Fold the trained adapter into the tiny model, with the logit check."""
    from hadpo_cli.models.merging import run_merge
    from hadpo_cli.settings.merge import MergeSettings

    output = ctx.stage_dir("merge")
    report = run_merge(MergeSettings(adapter=ctx.outputs["adapter"], base=str(ctx.model_dir), output=output))
    ctx.outputs["merged"] = output
    verification = report.get("verification") or {}
    return {"max |logit diff|": f"{verification.get('max_abs_diff', float('nan')):.2e}"}


# The POPE split whose answers the score stage re-scores: the one the paper leads with.
SCORE_SPLIT = "adversarial"


def score_stage(ctx: DemoContext) -> dict[str, Any]:
    """`hadpo score` on one answers file that eval pope wrote, against its label file: the
    numbers must come out the same from the files alone, or the two commands disagree."""
    from hadpo_cli.io import read_json
    from hadpo_cli.metrics.pope import COUNT_KEYS, RATE_KEYS
    from hadpo_cli.metrics.score_run import run as run_score
    from hadpo_cli.settings.score import ScoreSettings

    evaluated = read_json(ctx.outputs["pope_metrics"])["splits"][SCORE_SPLIT]
    output = ctx.stage_dir("score") / f"{SCORE_SPLIT}.metrics.json"
    settings = ScoreSettings.build(
        {
            "answers": Path(evaluated["answers"]),
            "labels": Path(evaluated["labels"]),
            "parser": evaluated["parser"],
            "output": output,
        }
    )
    scored = run_score(settings)
    differ = [key for key in (*RATE_KEYS, *COUNT_KEYS) if scored[key] != evaluated[key]]
    if differ:
        shown = ", ".join(f"{k} {scored[k]} vs {evaluated[k]}" for k in differ)
        raise RuntimeError(f"`hadpo score` disagrees with `hadpo eval pope` on {SCORE_SPLIT}: {shown}")
    return {
        "split": SCORE_SPLIT,
        "questions": scored["n"],
        "f1": round(100 * scored["f1"], 2),
        "same as eval pope": "yes",
    }


def stages() -> list[Stage]:
    """The demo's stages, in order: one per registered benchmark between training and the report.
    Add a command with one line here; a benchmark brings its own stage."""
    from hadpo_cli.evaluation.benchmarks import benchmarks

    evals = [Stage(f"eval {b.name}", b.demo_stage) for b in benchmarks().values() if b.demo_stage is not None]
    return [
        Stage("check data", check_data_stage),
        Stage("train", train_stage),
        Stage("merge", merge_stage),
        *evals,
        Stage("score", score_stage),
        Stage("report", "hadpo_cli.report.build:demo_stage"),
    ]


def run(settings: DemoSettings) -> dict[str, Any]:
    """One family's demo in ``--workdir``, or with ``--family all`` every registered family's in
    ``--workdir/<family>``, one summary each."""
    from hadpo_cli.models import families

    if settings.family != "all":
        return run_demo(settings.workdir, settings.setup_only, family=settings.family)
    claim_workdir(settings.workdir)
    started = time.perf_counter()
    runs = [run_demo(settings.workdir / name, settings.setup_only, family=name) for name in families.names()]
    return {
        "ok": all(r["ok"] for r in runs),
        "workdir": str(settings.workdir),
        "families": runs,
        "seconds": round(time.perf_counter() - started, 2),
    }


def run_demo(workdir: Path, setup_only: bool, *, family: str = "instructblip") -> dict[str, Any]:
    """Write the family's tiny model and the data under ``workdir``, run the stages, print and
    return a summary."""
    workdir = Path(workdir)
    claim_workdir(workdir)
    started = time.perf_counter()
    ctx_box: list[DemoContext] = []
    records = [_run_stage(Stage("setup", lambda _: _setup(workdir, ctx_box, family)), None)]
    if not setup_only:
        try:
            for stage in stages():
                ctx = ctx_box[0] if ctx_box else None
                records.append(
                    _skipped(stage) if ctx is None or not _all_ok(records) else _run_stage(stage, ctx)
                )
        finally:
            if ctx_box:
                ctx_box[0].close()
    summary = {
        "ok": _all_ok(records),
        "family": family,
        "workdir": str(workdir),
        "model": str(workdir / "model"),
        "data": ctx_box[0].data.as_dict() if ctx_box else None,
        "outputs": {k: str(v) for k, v in ctx_box[0].outputs.items()} if ctx_box else {},
        "stages": records,
        "seconds": round(time.perf_counter() - started, 2),
    }
    print_summary(summary)
    return summary


def claim_workdir(workdir: Path) -> None:
    """Refuse a non-empty directory the demo did not make: later runs replace what is inside."""
    marker = workdir / MARKER
    if workdir.exists():
        if not workdir.is_dir():
            raise UserError(f"{workdir}: exists and is not a directory (--workdir)")
        if not marker.exists() and any(workdir.iterdir()):
            raise UserError(
                f"{workdir}: not empty and not made by `hadpo demo`; give a new or empty --workdir "
                "(the demo replaces its model/, data/ and stage folders on every run)"
            )
    workdir.mkdir(parents=True, exist_ok=True)
    marker.write_text("This directory was written by `hadpo demo`; its contents are replaced on every run.\n")


def _write_tiny_model(out_dir: Path, family: str) -> Path:
    from hadpo_cli.models import families

    # The family's factory imports torch and transformers inside itself, when it runs.
    return families.by_name(family).save_tiny(out_dir, seed=DEMO_SEED)


def _setup(workdir: Path, ctx_box: list[DemoContext], family: str) -> dict[str, Any]:
    from hadpo_cli.data.synthetic import demo_paths, write_demo_data
    from hadpo_cli.io import atomic_dir
    from hadpo_cli.models import families

    # Built in temporary siblings and renamed into place, so an interrupted run never leaves
    # a half-written model or dataset for the next run to trip over.
    with atomic_dir(workdir / "model", overwrite=True) as tmp:
        _write_tiny_model(tmp, family)
    with atomic_dir(workdir / "data", overwrite=True) as tmp:
        write_demo_data(tmp, seed=DEMO_SEED)
    data = demo_paths(workdir / "data")
    ctx_box.append(DemoContext(workdir=workdir, model_dir=workdir / "model", data=data))
    n_images = sum(1 for _ in data.vg_images.glob("*.jpg")) + sum(1 for _ in data.coco_images.glob("*.jpg"))
    return {"images": n_images, "model": f"tiny {families.by_name(family).display_name}"}


def _run_stage(stage: Stage, ctx: DemoContext | None) -> dict[str, Any]:
    start = time.perf_counter()
    record: dict[str, Any] = {"name": stage.name}
    try:
        figures = stage.resolve()(ctx)  # type: ignore[arg-type]
        record.update(status="ok", figures=figures)
    except Exception as exc:
        # One failing stage must not hide the others' results; HADPO_DEBUG gives the traceback.
        if os.environ.get("HADPO_DEBUG"):
            raise
        message = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
        record.update(status="failed", figures={}, error=message)
    record["seconds"] = round(time.perf_counter() - start, 2)
    return record


def _skipped(stage: Stage) -> dict[str, Any]:
    return {"name": stage.name, "status": "skipped", "figures": {}, "seconds": 0.0}


def _all_ok(records: list[dict[str, Any]]) -> bool:
    return all(r["status"] == "ok" for r in records)


def print_summary(summary: dict[str, Any]) -> None:
    """A table of stages on stderr (stdout is kept for --json)."""
    from rich.table import Table

    from hadpo_cli.console import err

    style = {"ok": "green", "failed": "bold red", "skipped": "dim"}
    table = Table(title=f"hadpo demo ({summary.get('family', '')})", title_justify="left")
    table.add_column("stage")
    table.add_column("status")
    table.add_column("seconds", justify="right")
    table.add_column("figures")
    for record in summary["stages"]:
        figures = ", ".join(f"{k} {v}" for k, v in record["figures"].items())
        if "error" in record:
            figures = record["error"]
        status = record["status"]
        table.add_row(record["name"], f"[{style[status]}]{status}[/]", f"{record['seconds']:.2f}", figures)
    err.print(table)
    err.print(f"workdir: {summary['workdir']}  (model/, data/ and one folder per stage)")
