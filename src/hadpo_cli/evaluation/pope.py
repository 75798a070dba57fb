"""``hadpo eval pope``: answer POPE questions with a VLM, then score them as ``hadpo score`` does.

Files, for ``--output DIR/answers.jsonl``:

* ``DIR/answers.jsonl`` (or ``DIR/answers_<split>.jsonl`` per split with ``--set all``):
  one line per question, ``question_id, image, question, answer, label``, in question_id order.
* ``DIR/answers.metrics.json``: the metrics of every split, how the run went, the settings.
* ``DIR/answers.settings.json``: the resolved settings, written before the first answer, so
  a resumed run can refuse to mix answers made with other generation settings.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hadpo_cli.console import err
from hadpo_cli.data.pope_labels import PopeLabel, join_answers, read_answers, read_pope_labels
from hadpo_cli.data.visual_genome import check_images_exist
from hadpo_cli.errors import UserError
from hadpo_cli.evaluation.eval_model import (
    LazyModel,
    after_loading,
    fingerprint,
    generation_options,
    has_results,
    refuse_other_settings,
    with_family_decoding,
)
from hadpo_cli.evaluation.generation import (
    BatchGenerator,
    Dist,
    GenerationRequest,
    GenerationResult,
    generate_all,
)
from hadpo_cli.io import atomic_write_json, atomic_write_text, check_writable
from hadpo_cli.metrics.score_run import score_pairs
from hadpo_cli.settings.eval_pope import GENERATION_FIELDS, EvalPopeSettings

KEY_FIELD = "question_id"


@dataclass(frozen=True)
class SplitPlan:
    """One label file and the answers file it gets."""

    name: str  # the table row: the POPE split, or the --labels file's stem
    labels: Path
    answers: Path


@dataclass
class PopeRun:
    """What :func:`run` did; ``summary`` is the metrics JSON document."""

    summary: dict[str, Any]
    splits: dict[str, GenerationResult]
    metrics_path: Path
    is_main: bool


# -- paths ---------------------------------------------------------------------------------------
def label_file(pope_path: Path, split: str) -> Path:
    return pope_path / "output" / "coco" / f"coco_pope_{split}.json"


def split_answers_path(output: Path, split: str) -> Path:
    """``answers.jsonl`` -> ``answers_adversarial.jsonl``, in the same folder."""
    return output.with_name(f"{output.stem}_{split}{output.suffix or '.jsonl'}")


def side_file(output: Path, kind: str) -> Path:
    """``answers.jsonl`` -> ``answers.<kind>.json`` (metrics, settings) beside it.

    Named after the answers file, so two runs writing into one folder keep their own.
    """
    return output.with_name(f"{output.stem}.{kind}.json")


def image_dir(coco_path: Path) -> Path:
    """COCO keeps the POPE images in ``val2014/``; other sets (GQA, ...) may keep them flat."""
    val = coco_path / "val2014"
    return val if val.is_dir() else coco_path


def plan_splits(settings: EvalPopeSettings) -> list[SplitPlan]:
    if settings.labels is not None:
        plans = [SplitPlan(settings.labels.stem, settings.labels, settings.output)]
    else:
        assert settings.pope_path is not None  # the settings' validator guarantees it
        names = settings.splits()
        plans = [
            SplitPlan(
                name,
                label_file(settings.pope_path, name),
                split_answers_path(settings.output, name) if len(names) > 1 else settings.output,
            )
            for name in names
        ]
    for plan in plans:
        # Appending answers to the label file would destroy the questions.
        if plan.answers.resolve() == plan.labels.resolve():
            raise UserError(f"--output: {plan.answers} is the label file itself; pick another name")
    return plans


# -- requests and records ------------------------------------------------------------------------
def pope_requests(
    labels: Sequence[PopeLabel], images: Path, prompt_suffix: str = ""
) -> list[GenerationRequest]:
    """One request per question, in question_id order (the order the answers file is written in)."""
    ordered = sorted(labels, key=_question_order)
    return [
        GenerationRequest(
            key=label.question_id,
            image=images / label.image,
            prompt=label.text + prompt_suffix,
            fields={"image": label.image, "question": label.text, "label": label.label},
        )
        for label in ordered
    ]


def _question_order(label: PopeLabel) -> tuple[int, int | str]:
    # Integer ids numerically (2 before 10); string ids after them, as strings.
    qid = label.question_id
    return (0, qid) if isinstance(qid, int) else (1, str(qid))


def pope_record(request: GenerationRequest, answer: str) -> dict[str, Any]:
    """The line POPE's evaluate.py and `hadpo score` both read: the answer next to its label."""
    fields = request.fields
    return {
        "question_id": request.key,
        "image": fields["image"],
        "question": fields["question"],
        "answer": answer,
        "label": fields["label"],
    }


# -- scoring -------------------------------------------------------------------------------------
def check_resume_settings(
    settings: EvalPopeSettings, plans: Sequence[SplitPlan], settings_path: Path
) -> None:
    """Answers already there were made with the settings recorded beside them."""
    if any(has_results(plan.answers) for plan in plans):
        refuse_other_settings(
            settings_path,
            fingerprint(settings, GENERATION_FIELDS),
            results=f"the answers beside {settings_path}",
            elsewhere="--output",
        )


def score_answers(answers: Path, labels: list[PopeLabel], labels_name: Path, parser: str) -> dict[str, Any]:
    """The metrics of an answers file, read back from disk through the code of `hadpo score`."""
    pairs = join_answers(read_answers(answers), labels, answers_name=answers, labels_name=labels_name)
    return score_pairs(pairs, parser)


# -- the run -------------------------------------------------------------------------------------
def run(
    settings: EvalPopeSettings,
    *,
    dist: Dist | None = None,
    load_generator: Callable[[], BatchGenerator] | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    show_progress: bool = True,
) -> PopeRun:
    """Answer every question not answered yet, write the answers, score them, write the metrics.

    ``dist`` defaults to the processes of ``accelerate launch`` / ``torchrun``; ``load_generator``
    replaces the model (tests, benchmarks); ``on_record`` sees each answer once it is on disk.
    """
    check_writable(settings.output, "--output")
    plans = plan_splits(settings)
    # Every label file is read and every image checked before the (slow) model load.
    labels = {plan.name: read_pope_labels(plan.labels) for plan in plans}
    if settings.responses is not None:
        return _score_responses(settings, plans[0], labels[plans[0].name])
    assert settings.coco_path is not None  # the settings' validator guarantees it with --model
    images = image_dir(settings.coco_path)
    requests = {plan.name: pope_requests(labels[plan.name], images, settings.prompt_suffix) for plan in plans}
    all_images = sorted({r.image for reqs in requests.values() for r in reqs})
    check_images_exist(all_images, what="image")
    if load_generator is None:  # the model's config (not its weights): after the cheap checks
        settings = with_family_decoding(settings, "pope")
    settings_path = side_file(settings.output, "settings")
    metrics_path = side_file(settings.output, "metrics")
    check_resume_settings(settings, plans, settings_path)

    if dist is None:
        from hadpo_cli.evaluation.generation import current_dist

        dist = current_dist()
    options = generation_options(settings)

    def write_settings() -> None:
        if dist.is_main:
            atomic_write_json(settings_path, settings.public_dict())

    # Settings go to disk once the model has loaded, before its first answer: a bad --model
    # leaves nothing behind, and a crash later leaves answers whose settings are known.
    loader = after_loading(load_generator or LazyModel(settings, dist, options), write_settings)

    results: dict[str, GenerationResult] = {}
    for plan in plans:
        if dist.is_main:
            err.print(f"[bold]{plan.name}[/]: {len(requests[plan.name])} questions -> {plan.answers}")
        results[plan.name] = generate_all(
            requests[plan.name],
            plan.answers,
            load_generator=loader,
            options=options,
            key_field=KEY_FIELD,
            make_record=pope_record,
            dist=dist,
            show_progress=show_progress,
            description=plan.name,
            on_record=on_record,
        )

    summary = {
        "splits": {
            plan.name: {
                **score_answers(plan.answers, labels[plan.name], plan.labels, settings.parser),
                "answers": str(plan.answers),
                "labels": str(plan.labels),
            }
            for plan in plans
        },
        "run": _run_figures(results, dist),
        "settings": settings.public_dict(),
    }
    write_settings()  # also when nothing was left to generate (a rerun with another --parser)
    if dist.is_main:
        atomic_write_json(metrics_path, summary)
    return PopeRun(summary=summary, splits=results, metrics_path=metrics_path, is_main=dist.is_main)


def _score_responses(settings: EvalPopeSettings, plan: SplitPlan, labels: list[PopeLabel]) -> PopeRun:
    """``--responses FILE``: the answers of one split made elsewhere, joined to the labels by
    question id, written as this command writes its own answers (so compare and report read
    them), then scored."""
    assert settings.responses is not None
    if plan.answers.resolve() == settings.responses.resolve():
        raise UserError(f"--output: {plan.answers} is the --responses file itself; pick another name")
    joined = join_answers(
        read_answers(settings.responses), labels, answers_name=settings.responses, labels_name=plan.labels
    )
    by_key = {s.label.key: s.answer.answer for s in joined}
    records = [pope_record(r, by_key[str(r.key)]) for r in pope_requests(labels, Path("."), "")]
    atomic_write_text(plan.answers, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    metrics_path = side_file(settings.output, "metrics")
    summary = {
        "splits": {
            plan.name: {
                **score_answers(plan.answers, labels, plan.labels, settings.parser),
                "answers": str(plan.answers),
                "labels": str(plan.labels),
            }
        },
        "run": {"questions": len(records), "generated": 0, "reused": len(records), "processes": 1,
                "responses": str(settings.responses)},
        "settings": settings.public_dict(),
    }  # fmt: skip
    atomic_write_json(side_file(settings.output, "settings"), settings.public_dict())
    atomic_write_json(metrics_path, summary)
    return PopeRun(summary=summary, splits={}, metrics_path=metrics_path, is_main=True)


def _run_figures(results: dict[str, GenerationResult], dist: Dist) -> dict[str, Any]:
    """How this invocation went; the seconds are the main process's, model loading apart."""
    questions = sum(r.total for r in results.values())
    generated = sum(r.generated for r in results.values())
    seconds = sum(r.seconds for r in results.values())
    return {
        "questions": questions,
        "generated": generated,
        "reused": questions - generated,
        "processes": dist.world,
        "load_seconds": round(sum(r.load_seconds for r in results.values()), 3),
        "generate_seconds": round(seconds, 3),
    }


# The demo's POPE decoding: greedy and short, to stay quick; a random model rarely stops by
# itself, and POPE reads only the first words.
DEMO_DECODING = {"num_beams": 1, "max_new_tokens": 16}


def demo_stage(ctx: Any) -> dict[str, Any]:
    """`hadpo demo`'s POPE stage (``"hadpo_cli.evaluation.pope:demo_stage"``): all three splits.

    The model is the context's (the merged model after `hadpo merge`, the base model in the
    demo's baseline pass); greedy, to stay quick. Leaves ``outputs["pope_metrics"]`` (which names each split's
    answers and label files) for the score stage.
    """
    output = ctx.stage_dir("eval_pope") / "answers.jsonl"
    values: dict[str, Any] = {
        **ctx.model_source(),
        "set": "all",
        "pope_path": ctx.data.pope,
        "coco_path": ctx.data.coco,
        "output": output,
        **DEMO_DECODING,
        "batch_size": 32,
    }
    result = run(EvalPopeSettings.build(values), show_progress=False)
    ctx.outputs["pope_metrics"] = result.metrics_path
    splits = result.summary["splits"]
    figures: dict[str, Any] = {"questions": result.summary["run"]["questions"]}
    for split in ("random", "popular"):
        figures[f"{split}_accuracy"] = _percent(splits[split]["accuracy"])
    # Adversarial is the split the paper leads with (74.50 -> 80.70 accuracy for HA-DPO).
    adversarial = splits["adversarial"]
    for key in ("accuracy", "f1", "yes_ratio"):
        figures[f"adversarial_{key}"] = _percent(adversarial[key])
    return figures


def _percent(rate: float) -> float:
    return round(100 * rate, 2)
