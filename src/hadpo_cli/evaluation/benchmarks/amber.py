"""AMBER (Wang et al., 2023): yes/no questions on existence, attributes and relations (ids 1005
onward) and image descriptions scored for hallucinated objects (ids 1 to 1004); ``hadpo eval amber``.

Scoring is the official ``inference.py``'s (:mod:`hadpo_cli.metrics.amber`). The generative part
needs spaCy's ``en_core_web_lg`` and NLTK data, which a user installs; they are loaded before any
answer is generated, so a missing one is one line and exit 2, not a lost run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from hadpo_cli.data import toy_world  # standard library only: cheap at start-up
from hadpo_cli.evaluation.benchmarks import Benchmark, ResultColumns, register
from hadpo_cli.settings.model_source import BenchmarkSettings

NAME = "amber"
RESPONSES_FILE = "responses.json"  # the official format: [{"id", "response"}, ...]


class EvalAmberSettings(BenchmarkSettings):
    """Answer AMBER's queries (or take an official responses file) and score both of its tasks."""

    responses: Path | None = Field(
        None,
        description='Score this responses file (the official list of {"id", "response"}) instead of running a model.',
    )
    amber_path: Path = Field(
        description="AMBER checkout: data/annotations.json, data/query/query_*.json, data/relation.json, "
        "data/safe_words.txt."
    )
    images: Path | None = Field(
        None, description="Folder of the AMBER images (AMBER_1.jpg, ...); needed with --model."
    )
    part: Literal["discriminative", "generative", "all"] = Field(
        "all",
        description="Which task: discriminative (yes/no, ids 1005+), generative (descriptions, 1-1004), or all.",
    )
    parser: Literal["pope", "strict", "exact"] = Field(
        "pope",
        description="How a yes/no answer is read: pope = POPE's rule; strict = first word yes/no, else "
        "unparseable; exact = only 'Yes'/'No' (the official inference.py). All three agree on answers "
        "written as 'Yes'/'No'.",
    )
    similarity_threshold: float = Field(
        0.8,
        gt=0.0,
        le=1.0,
        description="spaCy similarity above which two words match (generative; 0.8 as published).",
    )
    spacy_model: str = Field("en_core_web_lg", description="spaCy model for word similarity (generative).")

    @model_validator(mode="after")
    def _images(self) -> EvalAmberSettings:
        if self.model is not None and self.images is None:
            raise ValueError("--images is required with --model (the AMBER images are there)")
        return self


@dataclass(frozen=True)
class AmberRun:
    amber: Any  # hadpo_cli.data.amber.AmberData
    queries: list[Any]  # hadpo_cli.data.amber.Query, in file order
    tools: Any  # LanguageTools, when the generative part runs
    parse: Any  # --parser: text -> "yes" / "no" / None


class AmberTask:
    name = NAME
    responses_file = RESPONSES_FILE

    def load(self, s: EvalAmberSettings) -> AmberRun:
        from hadpo_cli.data.amber import AmberData, load_queries

        amber = AmberData.load(s.amber_path)
        queries = load_queries(s.amber_path, s.part, annotations=amber.annotations)
        tools = None
        if any(amber.annotations[q.id].is_generative for q in queries):
            # Before any generation: a missing spaCy model must not cost a run of answers.
            from hadpo_cli.metrics import amber_language

            tools = amber_language.load_language_tools(s.spacy_model)
        from hadpo_cli.metrics.amber import resolve_parser

        return AmberRun(amber, queries, tools, resolve_parser(s.parser))

    def items(self, data: AmberRun, s: EvalAmberSettings) -> list[Any]:
        from hadpo_cli.evaluation.runner import Item

        images = s.images or Path(".")
        return [Item(str(q.id), images / q.image, q.query) for q in data.queries]

    def read_responses(self, path: Path, data: AmberRun, s: EvalAmberSettings) -> dict[str, str]:
        from hadpo_cli.data.amber import read_responses

        return {str(k): v for k, v in read_responses(path, known_ids=data.amber.annotations).items()}

    def write_responses(self, path: Path, data: AmberRun, responses: dict[str, str]) -> None:
        """The official file: a yes/no answer as "Yes" or "No" (as the README asks and
        ``inference.py`` matches), read with the run's parser; an unreadable one as written."""
        from hadpo_cli.data.amber import write_responses

        written = {}
        for q in data.queries:
            text = responses[str(q.id)]
            if not data.amber.annotations[q.id].is_generative:
                answer = data.parse(text)
                text = {"yes": "Yes", "no": "No"}.get(answer or "", text)
            written[q.id] = text
        write_responses(path, written)

    def score(
        self, s: EvalAmberSettings, data: AmberRun, responses: dict[str, str], out: Path, hooks: Any
    ) -> Any:
        from hadpo_cli.evaluation.runner import Scored
        from hadpo_cli.metrics.amber import COLUMNS, aggregate, score_discriminative, score_generative

        amber = data.amber
        items, records = [], []
        for q in data.queries:
            ann = amber.annotations[q.id]
            response = responses[str(q.id)]
            if ann.is_generative:
                item = score_generative(
                    response, ann.truth, ann.hallu, association=amber.association, safe_words=amber.safe_words,
                    tools=data.tools, threshold=s.similarity_threshold, vocab=amber.vocabulary, item_id=q.id,
                )  # fmt: skip
            else:
                item = score_discriminative(q.id, ann.type, str(ann.truth), response, data.parse)
            items.append(item)
            details = {k: v for k, v in item.items() if k not in COLUMNS}
            records.append({"key": str(q.id), "image": q.image, "query": q.query, **details,
                            "columns": {c: item[c] for c in COLUMNS}})  # fmt: skip
        unparseable = sum(int(i.get("unparseable", 0)) for i in items)
        notes = (
            [f"{unparseable} yes/no answer(s) could not be read with --parser {s.parser}"]
            if unparseable
            else []
        )
        return Scored(records=records, metrics=aggregate(items), notes=notes)


TASK = AmberTask()


def run(settings: EvalAmberSettings) -> Any:
    from hadpo_cli.evaluation.runner import run_task

    return run_task(TASK, settings)


def show(result: Any, settings: EvalAmberSettings, as_json: bool) -> int | None:
    from hadpo_cli.evaluation.runner import show_result

    return show_result(result, settings, as_json, title="AMBER")


def _metric_fns() -> Any:
    from hadpo_cli.metrics.amber import METRIC_FNS

    return METRIC_FNS


def demo_stage(ctx: Any) -> dict[str, Any]:
    """AMBER on toy-world images written in its published layout. The generative part runs when
    spaCy's model and the NLTK data are installed (they are not downloaded); otherwise the stage
    says so and runs the discriminative part."""
    from hadpo_cli.errors import UserError
    from hadpo_cli.metrics import amber_language

    root = ctx.data.root / NAME  # written at setup (demo_data)
    part = "all"
    try:
        amber_language.load_language_tools()
    except UserError:
        part = "discriminative"
    result = run(
        EvalAmberSettings.build(
            {**ctx.model_source(), "amber_path": root, "images": root / "images", "part": part,
             "max_new_tokens": ctx.demo_tokens, "output_dir": ctx.stage_dir("eval_amber")}
        )
    )  # fmt: skip
    m = result.metrics
    figures: dict[str, Any] = {
        "part": part if part == "all" else "discriminative (no spaCy model: generative skipped)"
    }
    disc = m.get("discriminative", {})
    figures["accuracy"] = _rounded(disc.get("accuracy"))
    figures["f1"] = _rounded(disc.get("f1"))
    if "generative" in m:
        figures["chair"] = _rounded(m["generative"].get("chair"))
        figures["amber_score"] = _rounded(m.get("amber_score"))
    return figures


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def write_demo_data(root: Path, world: Any = toy_world, *, seed: int = 0, n_images: int = 8) -> None:
    """An AMBER checkout and image folder made of toy-world scenes: per image one description query
    (generative) and existence questions about a present and a co-occurring absent object."""
    import json
    import random

    from hadpo_cli.data.synthetic import save_image

    rng = random.Random(seed)
    data, query_dir, images = root / "data", root / "data" / "query", root / "images"
    for folder in (query_dir, images):
        folder.mkdir(parents=True, exist_ok=True)
    scenes = [world.random_scene(rng) for _ in range(n_images)]
    annotations: list[dict[str, Any]] = []
    queries: list[dict[str, Any]] = []
    for n, scene in enumerate(scenes, start=1):
        save_image(scene, images / f"AMBER_{n}.jpg")
        hallu = world.ghost_candidates(scene)[:3]
        annotations.append({"id": n, "type": "generative", "truth": scene.objects, "hallu": hallu})
        queries.append({"id": n, "image": f"AMBER_{n}.jpg", "query": "Describe this image."})
    for n, scene in enumerate(scenes, start=1):
        for obj, truth in ((scene.objects[0], "yes"), (world.ghost_candidates(scene)[0], "no")):
            item_id = len(annotations) + 1
            annotations.append({"id": item_id, "type": "discriminative-hallucination", "truth": truth})
            queries.append({"id": item_id, "image": f"AMBER_{n}.jpg", "query": world.question(obj)})
    association = {k.name: [] for k in world.KINDS}
    files = {
        data / "annotations.json": annotations,
        data / "relation.json": association,
        query_dir / "query_all.json": queries,
        query_dir / "query_generative.json": [q for q in queries if q["id"] <= n_images],
        query_dir / "query_discriminative.json": [q for q in queries if q["id"] > n_images],
    }
    for path, obj in files.items():
        path.write_text(json.dumps(obj, indent=1) + "\n", encoding="utf-8")
    (data / "safe_words.txt").write_text("background\npicture", encoding="utf-8")


register(
    Benchmark(
        name=NAME,
        summary="AMBER: yes/no questions (existence, attribute, relation) and descriptions, scored as published.",
        settings=EvalAmberSettings,
        run=run,
        show=show,
        docs="docs/eval-amber.md",
        demo_stage=demo_stage,
        demo_data=write_demo_data,
        results=ResultColumns(_metric_fns, paired_tests={"discriminative.accuracy": "correct"}),
        order=3,
    )
)
