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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hadpo_cli.errors import UserError

if TYPE_CHECKING:
    from hadpo_cli.data.synthetic import DemoPaths
    from hadpo_cli.settings.demo import DemoSettings

MARKER = ".hadpo-demo"
DEMO_SEED = 0
BASE_DIR = "base"  # the base model's evaluations, the baseline of compare and report
# Images of each kind (Visual Genome, COCO): pairs of enough images that training generalises, and
# enough POPE questions (about 600 a split) for a paired test to tell a real change from chance.
DEMO_IMAGES = 150


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
    baseline: bool = False  # a stage run in as_baseline() evaluates the base model, into base/<stage>
    base_outputs: dict[str, Path] = field(default_factory=dict)
    effect: dict[str, Any] | None = None  # what training changed (the compare stage)

    @property
    def world(self) -> Any:
        from hadpo_cli.data import toy_world

        return toy_world

    def stage_dir(self, name: str) -> Path:
        """A fresh output directory for one stage (a rerun starts clean, so results repeat); in
        :meth:`as_baseline` mode ``base/<name>``."""
        path = (self.workdir / BASE_DIR / name) if self.baseline else self.workdir / name
        shutil.rmtree(path, ignore_errors=True)
        return path

    @contextmanager
    def as_baseline(self) -> Iterator[None]:
        """Run a stage on the base model: its output folder is under ``base/`` and what it records goes
        to :attr:`base_outputs`, so the trained model's run of the same stage keeps its own."""
        self.baseline = True
        self.outputs, self.base_outputs = self.base_outputs, self.outputs
        try:
            yield
        finally:
            self.baseline = False
            self.outputs, self.base_outputs = self.base_outputs, self.outputs

    def model_source(self) -> dict[str, Any]:
        """The model a later stage evaluates: the merged model when there is one (what a user
        evaluates after `hadpo merge`), else the tiny model with the trained adapter, else the
        bare tiny model."""
        if self.baseline:
            return {"model": str(self.model_dir)}
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
    """HA-DPO on the toy world's pairs: a short run (seconds on a CPU) with a learning rate suited to
    the tiny model, LoRA on its language model as in the recipe."""
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
            **DEMO_LORA,
            "learning_rate": 3e-3,
            # The chosen answer's NLL beside the DPO term: with it the tiny model keeps saying yes to
            # the objects that are there while it learns to stop seeing the ones that are not.
            "sft_weight": 0.5,
            "lr_scheduler_type": "constant",
            "max_steps": TRAIN_STEPS,
            "per_device_train_batch_size": 8,
            "gradient_accumulation_steps": 1,
            "logging_steps": 5,
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


TRAIN_STEPS = 80
# One LoRA scale for every family (alpha / r = 2): the families' recipes pair r 64 / 128 with
# alpha 16 / 256, which at r 8 would scale LLaVA's update 32 times and wreck its tiny model.
DEMO_LORA = {"lora_r": 8, "lora_alpha": 16.0}


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
    """The demo's stages, in order. The benchmarks that show the effect (POPE, SHR) run on the base
    model first; after training every registered benchmark runs on the trained model. Add a command
    with one line here; a benchmark brings its own stage."""
    from hadpo_cli.evaluation.benchmarks import benchmarks

    staged = [b for b in benchmarks().values() if b.demo_stage is not None]
    before = [
        Stage(f"eval {b.name} (base model)", _on_base_model(b.demo_stage)) for b in staged if b.demo_baseline
    ]
    return [
        Stage("check data", check_data_stage),
        *before,
        Stage("train", train_stage),
        Stage("merge", merge_stage),
        *(Stage(f"eval {b.name}", b.demo_stage) for b in staged),
        Stage("pairs", "hadpo_cli.pairs.demo:demo_stage"),
        Stage("score", score_stage),
        Stage("compare", compare_stage),
        Stage("report", "hadpo_cli.report.build:demo_stage"),
    ]


def _on_base_model(stage: Callable[[DemoContext], dict[str, Any]]) -> StageFn:
    def run(ctx: DemoContext) -> dict[str, Any]:
        with ctx.as_baseline():
            return stage(ctx)

    return run


# The split the effect is read on: where the base model hallucinates (co-occurring objects).
EFFECT_SPLIT = "adversarial"


def compare_stage(ctx: DemoContext) -> dict[str, Any]:
    """`hadpo compare` of the base and the trained model on POPE and SHR: the effect of HA-DPO,
    with McNemar's exact test on the answers that changed."""
    from hadpo_cli.results.compare import compare_paths

    rows = []
    for base in sorted((ctx.workdir / BASE_DIR).iterdir()):
        rows += compare_paths(base, ctx.workdir / base.name, seed=DEMO_SEED, resamples=DEMO_RESAMPLES).rows
    by = {(r.benchmark, r.split, r.metric): r for r in rows}
    f1, yes, accuracy = (by[("pope", EFFECT_SPLIT, m)] for m in ("f1", "yes_ratio", "accuracy"))
    ctx.effect = {
        "split": EFFECT_SPLIT,
        "f1_before": f1.baseline,
        "f1_after": f1.candidate,
        "yes_ratio_before": yes.baseline,
        "yes_ratio_after": yes.candidate,
        "accuracy_before": accuracy.baseline,
        "accuracy_after": accuracy.candidate,
        "p_value": accuracy.p_value,
    }
    shr = by.get(("shr", "val", "hal_sents_ratio"))
    figures = {
        f"{EFFECT_SPLIT} f1": f"{100 * f1.baseline:.1f} -> {100 * f1.candidate:.1f}",
        f"{EFFECT_SPLIT} yes_ratio": f"{100 * yes.baseline:.1f} -> {100 * yes.candidate:.1f}",
        "McNemar p": f"{accuracy.p_value:.2g}",
    }
    if shr is not None and shr.baseline is not None and shr.candidate is not None:
        figures["SHR hal_sents_ratio"] = f"{shr.baseline:.3f} -> {shr.candidate:.3f}"
    return figures


# Enough resamples for a stable 95 % interval of the demo's few hundred items, in a second (compare
# and report).
DEMO_RESAMPLES = 1000


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
        "effect": ctx_box[0].effect if ctx_box else None,
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
    """The demo's base model: the family's tiny model taught to see the toy world and to hallucinate
    co-occurring objects (models/toy_pretraining.py), saved with ``save_pretrained``."""
    from hadpo_cli.models import families
    from hadpo_cli.models.toy_pretraining import build_base_model

    model, processor = build_base_model(families.by_name(family), seed=DEMO_SEED)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir


def _setup(workdir: Path, ctx_box: list[DemoContext], family: str) -> dict[str, Any]:
    from hadpo_cli.data.synthetic import demo_paths, write_demo_data
    from hadpo_cli.evaluation.benchmarks import benchmarks
    from hadpo_cli.io import atomic_dir
    from hadpo_cli.models import families

    # Built in temporary siblings and renamed into place, so an interrupted run never leaves
    # a half-written model or dataset for the next run to trip over.
    with atomic_dir(workdir / "model", overwrite=True) as tmp:
        _write_tiny_model(tmp, family)
    with atomic_dir(workdir / "data", overwrite=True) as tmp:
        write_demo_data(tmp, n_images=DEMO_IMAGES, seed=DEMO_SEED)
        for benchmark in benchmarks().values():  # what the shared data does not cover (AMBER, MMHal)
            if benchmark.demo_data is not None:
                (tmp / benchmark.name).mkdir()
                benchmark.demo_data(tmp / benchmark.name)
    data = demo_paths(workdir / "data")
    ctx_box.append(DemoContext(workdir=workdir, model_dir=workdir / "model", data=data))
    n_images = sum(1 for _ in data.vg_images.glob("*.jpg")) + sum(1 for _ in data.coco_images.glob("*.jpg"))
    return {
        "images": n_images,
        "model": f"tiny {families.by_name(family).display_name}, taught the toy world",
    }


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
