"""``hadpo demo``: the tiny model, synthetic data in the public layouts, then every command's stage.

A stage is a name and a function ``(DemoContext) -> dict of figures``. Adding a command to the
demo is one line in :data:`STAGES`; a ``"module:function"`` string keeps the stage's heavy
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
    """What a stage gets: where the model and data are, and what earlier stages produced."""

    workdir: Path
    model_dir: Path
    data: DemoPaths
    outputs: dict[str, Path] = field(default_factory=dict)  # e.g. "adapter" -> dir, for later stages

    def stage_dir(self, name: str) -> Path:
        """A fresh output directory for one stage (a rerun starts clean, so results repeat)."""
        path = self.workdir / name
        shutil.rmtree(path, ignore_errors=True)
        return path


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
# Short greedy descriptions keep the SHR stage to seconds; a few sentences are enough to judge.
SHR_MAX_NEW_TOKENS = 32


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


def eval_shr_stage(ctx: DemoContext) -> dict[str, Any]:
    """`hadpo eval shr`: the model describes the SHR images, and a local rule judge started here
    (no network, no key) labels every sentence through the real `openai` client.

    The tiny model is random and trained for seconds, so its descriptions are mostly noise and
    may hold no sentence at all, which would leave the judge idle. So the same judge also runs
    on reference descriptions with one planted hallucination per image (``--responses``), and
    the stage fails unless exactly the planted sentences come back labelled hallucination.
    """
    from hadpo_cli.evaluation import shr
    from hadpo_cli.evaluation.local_judge import RULE_JUDGE_MODEL, LocalJudgeServer
    from hadpo_cli.settings.eval_shr import EvalShrSettings

    output_dir = ctx.stage_dir("eval_shr")
    reference_dir = ctx.stage_dir("eval_shr_reference")
    common: dict[str, Any] = {
        "vg_path": ctx.data.vg,
        "shr_path": ctx.data.shr,
        "judge_model": RULE_JUDGE_MODEL,
        "retry_backoff": 0.1,
    }
    model: dict[str, Any] = {
        "model": str(ctx.outputs.get("merged", ctx.model_dir)),
        "num_beams": 1,
        "max_new_tokens": SHR_MAX_NEW_TOKENS,
    }
    if "merged" not in ctx.outputs and "adapter" in ctx.outputs:
        model["adapter"] = ctx.outputs["adapter"]
    planted = _write_reference_responses(ctx, reference_dir / "reference_responses.json")
    with LocalJudgeServer() as judge:
        common["base_url"] = judge.base_url
        described = shr.run(EvalShrSettings.build({**common, **model, "output_dir": output_dir}))
        reference = shr.run(
            EvalShrSettings.build(
                {
                    **common,
                    "responses": reference_dir / "reference_responses.json",
                    "output_dir": reference_dir,
                }
            )
        )
    for result in (described, reference):
        # The local judge never fails on purpose, so an image it did not judge is a bug to show.
        unjudged = {k: v for k, v in result.status_counts.items() if k not in (shr.JUDGED, shr.NO_SENTENCES)}
        if unjudged:
            raise RuntimeError(
                f"the local judge left images unjudged: {unjudged} (see {result.output_dir / shr.JUDGEMENT_FILE})"
            )
    found = _hallucinated_sentences(reference_dir / shr.JUDGEMENT_FILE)
    if found != planted:
        raise RuntimeError(
            f"the local judge found {found} as hallucinations in the reference descriptions, "
            f"not the planted {planted} (see {reference_dir / shr.JUDGEMENT_FILE})"
        )
    ctx.outputs["shr_metrics"] = output_dir / shr.METRICS_FILE
    metrics = described.metrics
    ratio = metrics.get("hal_sents_ratio")
    return {
        "images": metrics["num_images"],
        "sentences/image": round(metrics["sents_per_image"], 2),
        "hal_sents_ratio": None if ratio is None else round(ratio, 3),
        "requests": described.requests,
        "reference": f"{len(planted)}/{len(planted)} planted hallucinations found, {reference.requests} requests",
    }


def _write_reference_responses(ctx: DemoContext, path: Path) -> dict[str, list[str]]:
    """Each SHR image's true facts plus one sentence about a shape in a colour it does not have.

    Returns the planted sentence per image id, as the SHR sentence splitter will give it back.
    """
    from hadpo_cli.data.shr import load_shr_facts, load_shr_image_ids
    from hadpo_cli.data.synthetic import COLOURS
    from hadpo_cli.io import atomic_write_json

    facts = load_shr_facts(ctx.data.shr)
    responses: dict[str, str] = {}
    planted: dict[str, list[str]] = {}
    for image_id in load_shr_image_ids(ctx.data.shr):
        said = " ".join(facts.get(image_id, []))
        colour = next(c for c in COLOURS if c not in said.lower())  # a scene has at most 2 of the 6 colours
        sentence = f"There is also a {colour} square"
        responses[str(image_id)] = f"{said} {sentence}.".lstrip()
        planted[str(image_id)] = [sentence]
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, responses)
    return planted


def _hallucinated_sentences(judgement_file: Path) -> dict[str, list[str]]:
    from hadpo_cli.io import read_json

    images = read_json(judgement_file)["runs"][0]["images"]
    return {
        image_id: [s["sentence"] for s in image["sentences"] if s["label"] == "hallucination"]
        for image_id, image in images.items()
    }


# The demo's stages, in order. Add a command with one line here.
STAGES: list[Stage] = [
    Stage("check data", check_data_stage),
    Stage("train", train_stage),
    Stage("merge", merge_stage),
    Stage("eval pope", "hadpo_cli.evaluation.pope:demo_stage"),
    Stage("score", score_stage),
    Stage("eval shr", eval_shr_stage),
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
        for stage in STAGES:
            ctx = ctx_box[0] if ctx_box else None
            records.append(_skipped(stage) if ctx is None or not _all_ok(records) else _run_stage(stage, ctx))
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
