"""MMHal-Bench (Sun et al., 2023): 96 open questions over 8 types, each answer rated 0-6 by an LLM
judge against the image's labels and a human answer; ``hadpo eval mmhal``.

Rating parse and metrics: :mod:`hadpo_cli.metrics.mmhal`. The judge goes through the shared judge
layer (concurrency, retries, the cache, token usage); a reply without exactly one ``Rating: N``
is asked again, then the item is counted as unrated (the published script would score it 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from hadpo_cli.data import toy_world  # standard library only: cheap at start-up
from hadpo_cli.evaluation.benchmarks import Benchmark, ResultColumns, register
from hadpo_cli.settings.judge import JudgeSettings
from hadpo_cli.settings.model_source import BenchmarkSettings

NAME = "mmhal"
TEMPLATE_FILE = "response_template.json"
RESPONSES_FILE = "response_template.json"  # the published file with model_answer filled in
CACHE_FILE = "judge_cache.jsonl"
REASK_NOTE = (
    "\n\nYour previous reply could not be used: {problem}. Reply again, and end with exactly one line "
    '"Rating: N" where N is a whole number from 0 to 6.'
)


class EvalMMHalSettings(BenchmarkSettings, JudgeSettings):
    """Answer MMHal-Bench's questions (or take an answered response_template.json) and have a judge
    rate each answer 0-6."""

    extra_judge_fields: ClassVar[tuple[str, ...]] = ("judge_prompt",)

    responses: Path | None = Field(
        None,
        description="Score this response_template.json with model_answer filled in, instead of running a model.",
    )
    mmhal_path: Path = Field(description="MMHal-Bench dir: response_template.json and images/.")
    images: Path | None = Field(None, description="Folder of the images (default: <mmhal-path>/images).")
    judge_prompt: Path | None = Field(
        None,
        description="Judge prompt file: {image_content}, {question}, {gt_answer}, {response}, or the "
        "published eval_gpt4.py template with its four {} as it is. Default: hadpo's own prompt.",
    )
    no_judge: bool = Field(
        False, description="Only generate the answers (judge them later with --responses)."
    )


@dataclass(frozen=True)
class MMHalData:
    items: list[Any]  # hadpo_cli.data.mmhal.MMHalItem, in file order
    template_file: Path
    prompt: str  # the judge prompt template


def default_prompt() -> str:
    from importlib.resources import files

    return files("hadpo_cli.judging").joinpath("prompts", "mmhal.txt").read_text(encoding="utf-8")


class MMHalTask:
    name = NAME
    responses_file = RESPONSES_FILE

    def load(self, s: EvalMMHalSettings) -> MMHalData:
        from hadpo_cli.data.mmhal import load_mmhal
        from hadpo_cli.io import open_text
        from hadpo_cli.metrics.mmhal import check_template

        template_file = s.mmhal_path / TEMPLATE_FILE
        items = load_mmhal(template_file, need_answers=False)
        prompt = default_prompt()
        if s.judge_prompt is not None:
            with open_text(s.judge_prompt) as fh:
                prompt = fh.read()
            check_template(prompt, s.judge_prompt)
        return MMHalData(items, template_file, prompt)

    def items(self, data: MMHalData, s: EvalMMHalSettings) -> list[Any]:
        from hadpo_cli.data.mmhal import image_path
        from hadpo_cli.evaluation.runner import Item

        images = s.images or s.mmhal_path / "images"
        return [Item(str(i.index), image_path(i, images), i.question) for i in data.items]

    def read_responses(self, path: Path, data: MMHalData, s: EvalMMHalSettings) -> dict[str, str]:
        from hadpo_cli.data.mmhal import load_mmhal
        from hadpo_cli.errors import UserError

        answered = load_mmhal(path, need_answers=True)
        if len(answered) != len(data.items):
            raise UserError(
                f"{path}: {len(answered)} records, but {data.template_file} has {len(data.items)}"
            )
        for mine, theirs in zip(data.items, answered, strict=True):
            if mine.question != theirs.question or mine.image_src != theirs.image_src:
                raise UserError(
                    f"{path}: record {theirs.index} asks another question than {data.template_file} "
                    "(the records must be in the template's order)"
                )
        return {str(i.index): i.model_answer or "" for i in answered}

    def write_responses(self, path: Path, data: MMHalData, responses: dict[str, str]) -> None:
        from hadpo_cli.data.mmhal import with_answers
        from hadpo_cli.io import atomic_write_json

        answers = {i.index: responses[str(i.index)] for i in data.items}
        atomic_write_json(path, with_answers(data.template_file, answers))

    def score(
        self, s: EvalMMHalSettings, data: MMHalData, responses: dict[str, str], out: Path, hooks: Any
    ) -> Any:
        from hadpo_cli.evaluation.runner import Scored
        from hadpo_cli.metrics.mmhal import aggregate, item_row

        if s.no_judge:
            records = [
                {"key": str(i.index), "question_type": i.question_type, "question": i.question,
                 "answer": responses[str(i.index)], "rating": None, "status": "not judged",
                 "columns": item_row(i.question_type, None)}
                for i in data.items
            ]  # fmt: skip
            return Scored(
                records=records,
                metrics={"num_questions": len(records), "judged": False},
                notes=[f"not judged (--no-judge): the answers are in {out / RESPONSES_FILE}"],
            )
        outcomes, usage = _judge(s, data, responses, out, hooks)
        records, rated = [], []
        for item, outcome in zip(data.items, outcomes, strict=True):
            rating = outcome.value if outcome.status == "judged" else None
            rated.append((item.question_type, rating))
            records.append(
                {"key": str(item.index), "question_type": item.question_type, "question": item.question,
                 "gt_answer": item.gt_answer, "answer": responses[str(item.index)], "rating": rating,
                 "status": outcome.status, "reply": outcome.reply, "error": outcome.error,
                 "columns": item_row(item.question_type, rating)}
            )  # fmt: skip
        unrated = sum(1 for _, r in rated if r is None)
        empty = sum(1 for i in data.items if not responses[str(i.index)].strip())
        notes = [f"{empty} answer(s) are empty; they were rated like any other"] if empty else []
        return Scored(records=records, metrics=aggregate(rated), usage=usage, unfinished=unrated, notes=notes)


def _judge(s: EvalMMHalSettings, data: MMHalData, responses: dict[str, str], out: Path, hooks: Any) -> Any:
    from hadpo_cli.judging.session import JudgeRequest, run_judged
    from hadpo_cli.metrics.mmhal import parse_rating, render_prompt

    requests = [
        JudgeRequest(item=str(i.index), prompt=render_prompt(data.prompt, i, responses[str(i.index)]))
        for i in data.items
    ]

    async def work(session: Any) -> Any:
        return await session.ask_all(
            requests,
            lambda request, reply: parse_rating(reply),
            lambda request, prompt, problem: prompt + REASK_NOTE.format(problem=problem),
        )

    judged = run_judged(
        s.judge_config(), out / CACHE_FILE, s.judge_options(), work,
        backend_factory=hooks.backend_factory, on_progress=hooks.on_progress,
    )  # fmt: skip
    return judged.value, judged.usage


TASK = MMHalTask()


def run(settings: EvalMMHalSettings, **kw: Any) -> Any:
    from hadpo_cli.console import judge_progress_bar
    from hadpo_cli.evaluation.runner import JudgeHooks, run_task

    with judge_progress_bar(enabled=not settings.no_judge) as on_progress:
        return run_task(TASK, settings, hooks=JudgeHooks(on_progress=on_progress), **kw)


def show(result: Any, settings: EvalMMHalSettings, as_json: bool) -> int | None:
    from hadpo_cli.evaluation.runner import show_result

    return show_result(result, settings, as_json, title="MMHal-Bench")


def _metric_fns() -> Any:
    from hadpo_cli.metrics.mmhal import METRIC_FNS

    return METRIC_FNS


def demo_stage(ctx: Any) -> dict[str, Any]:
    """MMHal-Bench on toy-world images, rated by the local rule judge (no network, no key)."""
    from hadpo_cli.testing.local_judge import RULE_JUDGE_MODEL

    root = ctx.data.root / NAME  # written at setup (demo_data)
    result = run(
        EvalMMHalSettings.build(
            {**ctx.model_source(), "mmhal_path": root, "max_new_tokens": ctx.demo_tokens,
             "output_dir": ctx.stage_dir("eval_mmhal"), "base_url": ctx.judge_url(),
             "judge_model": RULE_JUDGE_MODEL, "retry_backoff": 0.1}
        )
    )  # fmt: skip
    m = result.metrics
    if m["unrated"]:
        raise RuntimeError(f"the local judge left {m['unrated']} answers unrated (see {result.output_dir})")
    return {
        "questions": m["num_questions"],
        "average_score": None if m["average_score"] is None else round(m["average_score"], 2),
        "hallucination_rate": None if m["hallucination_rate"] is None else round(m["hallucination_rate"], 3),
        "requests": m["usage"]["requests"],
        "tokens": m["usage"]["prompt_tokens"] + m["usage"]["completion_tokens"],
    }


def write_demo_data(root: Path, world: Any = toy_world, *, seed: int = 0) -> None:
    """A response_template.json of toy-world questions, one per question type, and their images."""
    import json
    import random

    from hadpo_cli.data.synthetic import save_image
    from hadpo_cli.metrics.mmhal import QUESTION_TYPES

    rng = random.Random(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    records = []
    for n, qtype in enumerate(QUESTION_TYPES):
        scene = world.random_scene(rng)
        name = f"toy_{n}.jpg"
        save_image(scene, root / "images" / name)
        listed = world.join([world.a(o) for o in scene.objects])
        ghost = world.ghost_candidates(scene)[0]
        question, answer = {
            "adversarial": (
                f"What colour is the {ghost} in the image?",
                f"There is no {ghost} in the image.",
            ),
            "counting": ("How many objects are in the image?", f"There are {len(scene.things)}: {listed}."),
            "relation": (f"What is next to the {scene.objects[0]}?", f"The image shows {listed}."),
        }.get(
            qtype,
            (
                "What can you see in this image?",
                f"The image shows {listed} on a plain {world.BACKGROUND} background.",
            ),
        )
        records.append(
            {"question_type": qtype, "question_topic": scene.group, "image_id": f"toy{n}",
             "image_src": f"https://example.invalid/mmhal/{name}", "image_content": scene.objects,
             "question": question, "gt_answer": answer, "model_answer": ""}
        )  # fmt: skip
    (root / TEMPLATE_FILE).write_text(json.dumps(records, indent=1) + "\n", encoding="utf-8")


register(
    Benchmark(
        name=NAME,
        summary="MMHal-Bench: open questions rated 0-6 by an LLM judge (average score, hallucination rate).",
        settings=EvalMMHalSettings,
        run=run,
        show=show,
        docs="docs/eval-mmhal.md",
        demo_stage=demo_stage,
        demo_data=write_demo_data,
        results=ResultColumns(
            _metric_fns,
            values=("average_score", "per_type"),
            paired_tests={"hallucination_rate": "hallucination"},
        ),
        order=4,
    )
)
