"""SHR judging: sentences, prompts, a concurrent cached judge, reply parsing, outputs and metrics.

Flow of :func:`run`: read and check every input (nothing is written if one is bad), get the
responses (a file, or the describing step), split sentences, then ask the judge about each
(image, run) with at most ``concurrency`` requests in flight. Each reply is appended to
``OUT/judge_cache.jsonl`` the moment it arrives, so a rerun after a crash or kill -9 asks only
for what is missing. ``judgement.json``, ``metrics.json`` and ``settings.json`` are written
atomically at the end.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hadpo_cli.data.shr import load_responses, load_shr_facts, load_shr_image_ids, require_responses
from hadpo_cli.data.visual_genome import VGImage, check_images_exist, load_vg_images, load_vg_regions
from hadpo_cli.errors import UserError, first_few
from hadpo_cli.evaluation.shr_prompt import (
    build_prompt,
    format_facts,
    format_regions,
    format_sentences,
    load_template,
    reask_prompt,
)
from hadpo_cli.io import atomic_write_json
from hadpo_cli.judging.backends import BackendFactory
from hadpo_cli.judging.session import (
    FAILED,
    JUDGED,
    MALFORMED,
    JudgeProgress,
    JudgeRequest,
    JudgeSession,
    Outcome,
    run_judged,
)
from hadpo_cli.metrics.shr import (
    LABELS,
    RunCounts,
    combine_runs,
    count_run,
    repetition_metrics,
    run_metrics,
    split_sentences,
)
from hadpo_cli.settings.eval_shr import EvalShrSettings

CACHE_FILE = "judge_cache.jsonl"
RESPONSES_FILE = "responses.json"
JUDGEMENT_FILE = "judgement.json"
METRICS_FILE = "metrics.json"
SETTINGS_FILE = "settings.json"

# Status of one (image, run): how far the judge got (judged, malformed, failed, or nothing to ask).
NO_SENTENCES = "no sentences"
__all__ = ["FAILED", "JUDGED", "MALFORMED", "NO_SENTENCES"]


# ---------------------------------------------------------------- reply parsing


class MalformedJudgement(ValueError):
    """The reply does not give exactly one label per sentence; the message says why."""


_HEADER_RE = re.compile(r"^[\s*#>_]*judge?ments?[\s*_]*:?[\s*_]*", re.IGNORECASE)
_NUMBERED_RE = re.compile(r"^[\s*#>_-]*(\d+)\s*[.):]\s*(.*)$")
_LABEL_RE = re.compile(
    r"^[\s*_\"'\[]*(hallucination|correct|cannot judge)[\s*_\"'\]]*(?:[:\-\u2013\u2014]\s*)?(.*)$",
    re.IGNORECASE,
)


def parse_judgement(reply: str, n_sentences: int) -> list[tuple[str, str]]:
    """``[(label, reason), ...]``, one per sentence in order, or :class:`MalformedJudgement`.

    Lines before a ``Judgement:`` header and unnumbered lines after it (commentary) are
    ignored; numbered lines must cover 1..n exactly once, each with one of the three labels.
    """
    lines = reply.splitlines()
    for i, line in enumerate(lines):
        match = _HEADER_RE.match(line)
        if match:
            lines = [line[match.end() :], *lines[i + 1 :]]
            break
    found: dict[int, tuple[str, str]] = {}
    for line in lines:
        numbered = _NUMBERED_RE.match(line)
        if not numbered:
            continue
        number = int(numbered.group(1))
        labelled = _LABEL_RE.match(numbered.group(2))
        if not labelled:
            raise MalformedJudgement(f"line {number} has no hallucination/correct/cannot judge label")
        if number < 1 or number > n_sentences:
            raise MalformedJudgement(f"it numbers a sentence {number}, but there are {n_sentences}")
        if number in found:
            raise MalformedJudgement(f"it labels sentence {number} twice")
        found[number] = (labelled.group(1).lower(), labelled.group(2).strip())
    if len(found) != n_sentences:
        raise MalformedJudgement(f"it labels {len(found)} of {n_sentences} sentences")
    return [found[i] for i in range(1, n_sentences + 1)]


# ---------------------------------------------------------------- inputs


@dataclass(frozen=True)
class ShrItem:
    """One image to judge: its response, the sentences of it, and the judge prompt."""

    image_id: int
    response: str
    sentences: list[str]
    prompt: str | None


@dataclass(frozen=True)
class ShrInputs:
    image_ids: list[int]
    facts: dict[int, list[str]]
    vg_images: dict[int, VGImage]
    regions: dict[int, list[Any]]
    template: str


def load_inputs(s: EvalShrSettings) -> ShrInputs:
    """Read and check everything a run needs, so a bad input fails before anything is written."""
    image_ids = load_shr_image_ids(s.shr_path)
    judging = not s.no_judge
    template = load_template(s.judge_prompt) if judging else ""
    facts = load_shr_facts(s.shr_path) if judging else {}
    vg_images: dict[int, VGImage] = {}
    regions: dict[int, list[Any]] = {}
    if s.vg_path is not None and (judging or s.model is not None):
        vg_images = load_vg_images(s.vg_path)
        _require_ids(image_ids, vg_images, f"{Path(s.vg_path) / 'image_data.json'}: no entry for")
    if judging:
        assert s.vg_path is not None  # the settings check guarantees it
        regions = load_vg_regions(s.vg_path, set(image_ids))
        _require_ids(image_ids, regions, f"{Path(s.vg_path) / 'region_descriptions.json'}: no regions for")
        bad = [i for i in image_ids if vg_images[i].width <= 0 or vg_images[i].height <= 0]
        if bad:
            raise UserError(
                f"{Path(s.vg_path) / 'image_data.json'}: image {bad[0]} has no positive width/height"
            )
    return ShrInputs(image_ids, facts, vg_images, regions, template)


def _require_ids(image_ids: Sequence[int], present: dict[int, Any], prefix: str) -> None:
    missing = [i for i in image_ids if i not in present]
    if missing:
        raise UserError(f"{prefix} {len(missing)} SHR image(s): {first_few(missing)}")


def get_responses(s: EvalShrSettings, inputs: ShrInputs) -> tuple[dict[int, str], EvalShrSettings]:
    """Responses from ``--responses``, or from the describing step with ``--model``; and the
    settings with the decoding the model's family published filled in where they were unset."""
    if s.responses is not None:
        responses = load_responses(s.responses)
        require_responses(responses, inputs.image_ids, s.responses)
        return responses, s
    images = [inputs.vg_images[i] for i in inputs.image_ids]
    check_images_exist([im.path for im in images], what="SHR image")
    from hadpo_cli.evaluation.eval_model import with_family_decoding
    from hadpo_cli.evaluation.shr_describe import describe_images  # loads torch; only with --model

    s = with_family_decoding(s, "shr")  # reads the model's config: after the cheap checks
    described = describe_images(s, images, Path(s.output_dir) / RESPONSES_FILE)
    responses = {int(k): v for k, v in described.items()}
    require_responses(responses, inputs.image_ids, Path(s.output_dir) / RESPONSES_FILE)
    return responses, s


def build_items(inputs: ShrInputs, responses: dict[int, str], *, with_prompts: bool) -> list[ShrItem]:
    items = []
    for image_id in inputs.image_ids:
        response = responses[image_id]
        sentences = split_sentences(response)
        prompt = None
        if with_prompts and sentences:
            im = inputs.vg_images[image_id]
            prompt = build_prompt(
                inputs.template,
                regions=format_regions(inputs.regions[image_id], im.width, im.height),
                facts=format_facts(inputs.facts.get(image_id, [])),
                sentences=format_sentences(sentences),
            )
        items.append(ShrItem(image_id, response, sentences, prompt))
    return items


# ---------------------------------------------------------------- judging


@dataclass
class ImageJudgement:
    """What one judge run said about one image."""

    status: str
    labels: list[tuple[str | None, str | None]]  # (label, reason) per sentence; None when unjudged
    raw_reply: str | None = None
    replies: int = 0
    error: str | None = None

    @classmethod
    def of(cls, outcome: Outcome[list[tuple[str, str]]], n_sentences: int) -> ImageJudgement:
        if outcome.status == JUDGED:
            assert outcome.value is not None
            labels: list[tuple[str | None, str | None]] = list(outcome.value)
        else:
            labels = [(None, None)] * n_sentences
        return cls(outcome.status, labels, outcome.reply, outcome.replies, outcome.error)

    def to_json(self, item: ShrItem) -> dict[str, Any]:
        return {
            "status": self.status,
            "response": item.response,
            "sentences": [
                {"sentence": sent, "label": label, "reason": reason}
                for sent, (label, reason) in zip(item.sentences, self.labels, strict=True)
            ],
            "raw_reply": self.raw_reply,
            "replies": self.replies,
            "error": self.error,
        }


def judge_items(
    s: EvalShrSettings,
    items: Sequence[ShrItem],
    cache_path: Path,
    *,
    backend_factory: BackendFactory | None = None,
    on_progress: Callable[[JudgeProgress], None] | None = None,
) -> tuple[list[dict[int, ImageJudgement]], dict[str, Any]]:
    """Judgements per run (``[run][image_id]``) through the judge layer, and the usage."""
    to_ask = [item for item in items if item.prompt is not None]
    by_item = {str(item.image_id): item for item in to_ask}
    requests = [
        JudgeRequest(item=str(item.image_id), prompt=item.prompt or "", run=run)
        for run in range(1, s.judge_runs + 1)
        for item in to_ask
    ]

    def parse(request: JudgeRequest, reply: str) -> list[tuple[str, str]]:
        return parse_judgement(reply, len(by_item[request.item].sentences))

    def reask(request: JudgeRequest, prompt: str, problem: str) -> str:
        return reask_prompt(prompt, problem, len(by_item[request.item].sentences))

    async def work(session: JudgeSession) -> list[Outcome[list[tuple[str, str]]]]:
        return await session.ask_all(requests, parse, reask)

    judged = run_judged(
        s.judge_config(), cache_path, s.judge_options(), work,
        backend_factory=backend_factory, on_progress=on_progress,
    )  # fmt: skip
    runs: list[dict[int, ImageJudgement]] = [
        {item.image_id: ImageJudgement(NO_SENTENCES, []) for item in items if item.prompt is None}
        for _ in range(s.judge_runs)
    ]
    for request, outcome in zip(requests, judged.value, strict=True):
        item = by_item[request.item]
        runs[request.run - 1][item.image_id] = ImageJudgement.of(outcome, len(item.sentences))
    return runs, judged.usage


# ---------------------------------------------------------------- metrics and outputs


def counts_for_run(items: Sequence[ShrItem], run: dict[int, ImageJudgement]) -> RunCounts:
    return count_run(
        [(sent, label) for sent, (label, _) in zip(item.sentences, run[item.image_id].labels, strict=True)]
        for item in items
    )


def compute_metrics(
    items: Sequence[ShrItem], runs: Sequence[dict[int, ImageJudgement]] | None
) -> dict[str, Any]:
    """``metrics.json``: repetition always; hallucination figures when there are judge runs."""
    repetition = repetition_metrics([item.response for item in items])
    if runs is None:
        return {"num_images": len(items), **repetition}
    return {**combine_runs([counts_for_run(items, r) for r in runs]), **repetition}


def judgement_document(
    items: Sequence[ShrItem], runs: Sequence[dict[int, ImageJudgement]], judge_model: str
) -> dict[str, Any]:
    return {
        "judge_model": judge_model,
        "labels": list(LABELS),
        "runs": [
            {
                "run": k,
                "metrics": run_metrics(counts_for_run(items, run)),
                "images": {str(item.image_id): run[item.image_id].to_json(item) for item in items},
            }
            for k, run in enumerate(runs, start=1)
        ],
    }


@dataclass
class ShrResult:
    metrics: dict[str, Any]
    output_dir: Path
    status_counts: dict[str, int] = field(default_factory=dict)
    usage: dict[str, Any] | None = None  # the judge's requests, tokens and cost (judged runs)
    helper_process: bool = False  # a non-main process of a multi-process describe

    @property
    def requests(self) -> int:
        return int(self.usage["requests"]) if self.usage else 0

    @property
    def cached_replies(self) -> int:
        return int(self.usage["cached_replies"]) if self.usage else 0


def _main_process() -> bool:
    from hadpo_cli.evaluation.generation import current_dist  # torch is loaded already: we described

    return current_dist().is_main


def run(
    s: EvalShrSettings,
    *,
    backend_factory: BackendFactory | None = None,
    on_progress: Callable[[JudgeProgress], None] | None = None,
) -> ShrResult:
    """The whole stage; ``backend_factory`` swaps the judge backend (tests, other clients)."""
    from hadpo_cli.io import check_writable

    check_writable(s.output_dir, "--output-dir", is_dir=True)
    inputs = load_inputs(s)
    responses, s = get_responses(s, inputs)
    out = Path(s.output_dir)
    if s.model is not None and not _main_process():
        # Under torchrun / accelerate launch every process helps describe; only one judges.
        return ShrResult(metrics={}, output_dir=out, helper_process=True)
    items = build_items(inputs, responses, with_prompts=not s.no_judge)
    result = ShrResult(metrics={}, output_dir=out)
    runs = None
    if not s.no_judge:
        runs, result.usage = judge_items(
            s, items, out / CACHE_FILE, backend_factory=backend_factory, on_progress=on_progress
        )
        for r in runs:
            for j in r.values():
                result.status_counts[j.status] = result.status_counts.get(j.status, 0) + 1
        atomic_write_json(out / JUDGEMENT_FILE, judgement_document(items, runs, s.judge_model))
    result.metrics = compute_metrics(items, runs)
    if result.usage is not None:
        result.metrics["usage"] = result.usage
    atomic_write_json(out / METRICS_FILE, result.metrics)
    atomic_write_json(out / SETTINGS_FILE, s.public_dict())
    return result
