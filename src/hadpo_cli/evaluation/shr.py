"""SHR judging: sentences, prompts, a concurrent cached judge, reply parsing, outputs and metrics.

Flow of :func:`run`: read and check every input (nothing is written if one is bad), get the
responses (a file, or the describing step), split sentences, then ask the judge about each
(image, run) with at most ``concurrency`` requests in flight. Each reply is appended to
``OUT/judge_cache.jsonl`` the moment it arrives, so a rerun after a crash or kill -9 asks only
for what is missing. ``judgement.json``, ``metrics.json`` and ``settings.json`` are written
atomically at the end.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hadpo_cli.data.shr import load_responses, load_shr_facts, load_shr_image_ids, require_responses
from hadpo_cli.data.visual_genome import VGImage, check_images_exist, load_vg_images, load_vg_regions
from hadpo_cli.errors import UserError, first_few
from hadpo_cli.evaluation.judge import Judge, JudgeConfig, JudgeUnavailable
from hadpo_cli.evaluation.shr_prompt import (
    build_prompt,
    format_facts,
    format_regions,
    format_sentences,
    load_template,
    reask_prompt,
)
from hadpo_cli.io import JsonlAppender, atomic_write_json, iter_appended_jsonl
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

# Status of one (image, run): how far the judge got.
JUDGED, MALFORMED, FAILED, NO_SENTENCES = "judged", "malformed", "failed", "no sentences"


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


# ---------------------------------------------------------------- the cache


def cache_key(
    *, judge_model: str, temperature: float, max_tokens: int, run: int, attempt: int, prompt: str
) -> str:
    """Everything that shapes the reply. The run index keeps K independent runs apart, and the
    attempt keeps re-asks apart (two re-asks may send the same text)."""
    blob = json.dumps(
        {
            "judge_model": judge_model,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "run": run,
            "attempt": attempt,
            "prompt": prompt,
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class JudgeCache:
    """Judge replies by key, appended to a JSON Lines file as they arrive (a torn last line is cut)."""

    def __init__(self, path: Path):
        self.path = path
        self._replies: dict[str, str] = {}
        fix = "move the judge cache aside to judge again"
        for line, rec in iter_appended_jsonl(path, fix=fix):
            if (
                not isinstance(rec, dict)
                or not isinstance(rec.get("key"), str)
                or not isinstance(rec.get("reply"), str)
            ):
                raise UserError(f"{path}:{line}: not a judge cache record; {fix}")
            self._replies[rec["key"]] = rec["reply"]
        self._appender: JsonlAppender | None = None

    def __len__(self) -> int:
        return len(self._replies)

    def get(self, key: str) -> str | None:
        return self._replies.get(key)

    def put(self, key: str, reply: str, **context: Any) -> None:
        if self._appender is None:  # opened on first write, so a rerun that is all hits writes nothing
            self._appender = JsonlAppender(self.path)
        self._appender.write({"key": key, **context, "reply": reply})
        self._replies[key] = reply

    def close(self) -> None:
        if self._appender is not None:
            self._appender.close()


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


def _no_update(progress: JudgeProgress) -> None:
    return None


@dataclass
class JudgeProgress:
    """Counters the progress bar shows; ``update`` is called whenever one changes."""

    total: int
    done: int = 0
    in_flight: int = 0
    judge: Judge | None = None
    update: Callable[[JudgeProgress], None] = _no_update

    @property
    def retries(self) -> int:
        return int(getattr(self.judge, "retries", 0))


@dataclass(frozen=True)
class JudgeOptions:
    judge_model: str
    temperature: float
    max_tokens: int
    concurrency: int
    judge_runs: int
    max_reasks: int


async def judge_item(
    item: ShrItem, run: int, judge: Judge, cache: JudgeCache, opts: JudgeOptions,
    slots: asyncio.Semaphore, progress: JudgeProgress,
) -> ImageJudgement:  # fmt: skip
    """Judge one image once: ask, parse, ask again on a malformed reply (bounded)."""
    n = len(item.sentences)
    unjudged: list[tuple[str | None, str | None]] = [(None, None)] * n
    if item.prompt is None:
        return ImageJudgement(NO_SENTENCES, [])
    prompt, reply, problem = item.prompt, None, None
    for attempt in range(opts.max_reasks + 1):
        key = cache_key(
            judge_model=opts.judge_model, temperature=opts.temperature, max_tokens=opts.max_tokens,
            run=run, attempt=attempt, prompt=prompt,
        )  # fmt: skip
        reply = cache.get(key)
        if reply is None:
            async with slots:
                progress.in_flight += 1
                progress.update(progress)
                try:
                    reply = await judge.judge(prompt)
                except JudgeUnavailable as exc:
                    # Not cached: a rerun tries again, which is what a user wants after an outage.
                    return ImageJudgement(FAILED, unjudged, None, attempt, str(exc))
                finally:
                    progress.in_flight -= 1
            cache.put(key, reply, image_id=item.image_id, run=run, attempt=attempt)
        try:
            labels = parse_judgement(reply, n)
        except MalformedJudgement as exc:
            problem = str(exc)
            # The note changes the prompt, so a deterministic judge can answer differently
            # and the re-ask gets its own cache entry.
            prompt = reask_prompt(item.prompt, problem, n)
            continue
        return ImageJudgement(JUDGED, list(labels), reply, attempt + 1)
    return ImageJudgement(
        MALFORMED, unjudged, reply, opts.max_reasks + 1, f"reply could not be parsed: {problem}"
    )


async def judge_all(
    items: Sequence[ShrItem], judge: Judge, cache: JudgeCache, opts: JudgeOptions,
    progress: JudgeProgress | None = None,
) -> list[dict[int, ImageJudgement]]:  # fmt: skip
    """Judgements per run (``[run][image_id]``), with at most ``opts.concurrency`` requests in flight."""
    slots = asyncio.Semaphore(opts.concurrency)
    progress = progress or JudgeProgress(total=len(items) * opts.judge_runs)

    async def one(item: ShrItem, run: int) -> tuple[int, int, ImageJudgement]:
        result = await judge_item(item, run, judge, cache, opts, slots, progress)
        progress.done += 1
        progress.update(progress)
        return run, item.image_id, result

    tasks = [asyncio.ensure_future(one(item, run)) for run in range(1, opts.judge_runs + 1) for item in items]
    try:
        done = await asyncio.gather(*tasks)
    except BaseException:
        # A fatal error (bad key) or Ctrl-C: stop the other requests; what arrived is cached.
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    runs: list[dict[int, ImageJudgement]] = [{} for _ in range(opts.judge_runs)]
    for run, image_id, result in done:
        runs[run - 1][image_id] = result
    return runs


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
    requests: int = 0
    cached_replies: int = 0
    status_counts: dict[str, int] = field(default_factory=dict)
    helper_process: bool = False  # a non-main process of a multi-process describe


def judge_config(s: EvalShrSettings) -> JudgeConfig:
    # A local OpenAI-compatible server needs no key, but the client insists on one.
    key = s.api_key.get_secret_value() if s.api_key is not None else "EMPTY"
    return JudgeConfig(
        model=s.judge_model, api_key=key, base_url=s.base_url, temperature=s.temperature,
        max_tokens=s.judge_max_tokens, timeout_s=s.request_timeout, max_retries=s.max_retries,
        backoff_s=s.retry_backoff,
    )  # fmt: skip


def judge_options(s: EvalShrSettings) -> JudgeOptions:
    return JudgeOptions(
        judge_model=s.judge_model, temperature=s.temperature, max_tokens=s.judge_max_tokens,
        concurrency=s.concurrency, judge_runs=s.judge_runs, max_reasks=s.max_reasks,
    )  # fmt: skip


JudgeFactory = Callable[[EvalShrSettings], Judge]


def _openai_judge(s: EvalShrSettings) -> Judge:
    from hadpo_cli.evaluation.judge import OpenAIJudge

    return OpenAIJudge(judge_config(s))


async def _judge_with(
    s: EvalShrSettings, items: Sequence[ShrItem], cache: JudgeCache, factory: JudgeFactory,
    progress: JudgeProgress,
) -> tuple[list[dict[int, ImageJudgement]], int]:  # fmt: skip
    judge = factory(s)  # inside the loop: the async HTTP client belongs to it
    progress.judge = judge
    try:
        runs = await judge_all(items, judge, cache, judge_options(s), progress)
    finally:
        aclose = getattr(judge, "aclose", None)
        if aclose is not None:
            await aclose()
    return runs, int(getattr(judge, "requests", 0))


def _main_process() -> bool:
    from hadpo_cli.evaluation.generation import current_dist  # torch is loaded already: we described

    return current_dist().is_main


def run(
    s: EvalShrSettings,
    *,
    judge_factory: JudgeFactory | None = None,
    on_progress: Callable[[JudgeProgress], None] | None = None,
) -> ShrResult:
    """The whole stage; ``judge_factory`` swaps the OpenAI judge (tests, other backends)."""
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
        out.mkdir(parents=True, exist_ok=True)
        cache = JudgeCache(out / CACHE_FILE)
        result.cached_replies = len(cache)
        progress = JudgeProgress(total=len(items) * s.judge_runs)
        if on_progress is not None:
            progress.update = on_progress
        try:
            runs, result.requests = asyncio.run(
                _judge_with(s, items, cache, judge_factory or _openai_judge, progress)
            )
        finally:
            cache.close()
        for r in runs:
            for j in r.values():
                result.status_counts[j.status] = result.status_counts.get(j.status, 0) + 1
        atomic_write_json(out / JUDGEMENT_FILE, judgement_document(items, runs, s.judge_model))
    result.metrics = compute_metrics(items, runs)
    atomic_write_json(out / METRICS_FILE, result.metrics)
    atomic_write_json(out / SETTINGS_FILE, s.public_dict())
    return result
