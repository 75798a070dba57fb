"""The ``hadpo pairs`` pipeline (see docs/pairs.md).

1. Describe: the model describes each image (one of the four published description phrasings,
   drawn per image with ``--seed``), through the shared engine: batched, split across processes,
   resumed after a kill. ``OUT/descriptions.json`` holds ``{"<image_id>": "<text>"}``.
2. Detect and correct: the judge gets the image's Visual Genome annotations and the numbered
   sentences, marks each hallucinated sentence and writes a corrected description.
3. Rewrite: the corrected (chosen) and the original (rejected) description are each rewritten
   ``--rewrites`` times by the judge with the same instructions, the chosen ones kept faithful, the
   rejected ones keeping their errors, so that style does not tell them apart.
4. Yes/no pairs from the objects found hallucinated (and, marked ``correct``, those named rightly).
5. ``desc_data.json``, ``pope_data.json``, ``pairs_report.json``, ``settings.json``, atomically.

Every judge request goes through the judge layer: its reply is cached the moment it arrives, so a
rerun after a kill asks only for what is missing and pays for nothing twice. A reply that is not
the JSON asked for is asked again (``--max-reasks``); an image whose requests still fail is
skipped, counted in the report, and never written half-done.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hadpo_cli.errors import UserError, first_few
from hadpo_cli.io import atomic_write_json, check_writable
from hadpo_cli.settings.pairs import PairsSettings

DESCRIPTIONS_FILE = "descriptions.json"
CACHE_FILE = "judge_cache.jsonl"
DESC_DATA, POPE_DATA = "desc_data.json", "pope_data.json"
REPORT_FILE = "pairs_report.json"
SETTINGS_FILE = "settings.json"
DETAILS_FILE = "judgements.jsonl"  # per image: the detection, the rewrites, what became of it

# What became of one image.
PAIRED, CLEAN, EMPTY, MALFORMED, FAILED = (
    "paired",
    "no hallucination",
    "empty description",
    "malformed",
    "failed",
)


@dataclass
class ImageResult:
    image_id: int
    status: str
    description: str
    detection: Any = None  # replies.Detection
    chosen_rewrites: list[str] = field(default_factory=list)
    rejected_rewrites: list[str] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "image_id": self.image_id,
            "status": self.status,
            "description": self.description,
            "detection": None if self.detection is None else self.detection.to_json(),
            "chosen_rewrites": self.chosen_rewrites,
            "rejected_rewrites": self.rejected_rewrites,
            "error": self.error,
        }


@dataclass
class PairsResult:
    report: dict[str, Any]
    output_dir: Path
    helper_process: bool = False

    @property
    def skipped(self) -> int:
        return int(self.report.get("skipped", {}).get("total", 0))


# -- images ----------------------------------------------------------------------------------------
def select_images(s: PairsSettings, known: set[int], descriptions: dict[int, str] | None) -> list[int]:
    from hadpo_cli.data.image_ids import draw, read_image_ids

    excluded = set(read_image_ids(s.exclude_ids)) if s.exclude_ids is not None else set()
    if s.image_ids is not None:
        ids = read_image_ids(s.image_ids)
        clash = [i for i in ids if i in excluded]
        if clash:
            raise UserError(
                f"{s.image_ids}: {len(clash)} image(s) are also in --exclude-ids: {first_few(clash)}"
            )
    elif descriptions is not None and "num_images" not in s.model_fields_set:
        ids = sorted(i for i in descriptions if i not in excluded)
    else:
        pool = (set(descriptions) if descriptions is not None else known) - excluded
        source = s.descriptions if descriptions is not None else s.vg_path / "image_data.json"
        ids = draw(pool, s.num_images, s.seed, what=f"{source} (less --exclude-ids)")
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise UserError(
            f"{len(unknown)} image id(s) are not in {s.vg_path / 'image_data.json'}: {first_few(unknown)}"
        )
    if descriptions is not None:
        missing = [i for i in ids if i not in descriptions]
        if missing:
            raise UserError(
                f"{s.descriptions}: no description of {len(missing)} image(s): {first_few(missing)}"
            )
    if not ids:
        raise UserError("no images left to describe (all excluded?)")
    return ids


def prompt_for(image_id: int, seed: int) -> str:
    """The published phrasing an image is described with, the same for every run with this seed."""
    from hadpo_cli.data.preference import DESC_PROMPTS

    return random.Random(f"{seed}:{image_id}").choice(DESC_PROMPTS)


# -- step 1 ------------------------------------------------------------------------------------------
def describe(
    s: PairsSettings, ids: list[int], images: dict[int, Any], out: Path, **kw: Any
) -> tuple[dict[int, str] | None, int]:
    """Descriptions of ``ids`` (None on a helper process of a multi-process run), and how many were
    generated now (the rest were on disk already)."""
    from hadpo_cli.evaluation.runner import Item, generate

    items = [Item(str(i), images[i].path, prompt_for(i, s.seed)) for i in ids]
    texts, generated, is_main = generate("pairs", items, s, out, **kw)
    if not is_main:
        return None, generated
    described = {int(k): v for k, v in texts.items()}
    atomic_write_json(out / DESCRIPTIONS_FILE, {str(i): described[i] for i in ids})
    return described, generated


def read_descriptions(path: Path) -> dict[int, str]:
    from hadpo_cli.data.shr import load_responses

    return load_responses(path)


# -- steps 2 and 3 -----------------------------------------------------------------------------------
async def judge_image(
    session: Any,
    image_id: int,
    description: str,
    annotations: str,
    s: PairsSettings,
    templates: dict[str, str],
) -> ImageResult:
    from hadpo_cli.judging.session import JUDGED, JudgeRequest, gather_or_cancel
    from hadpo_cli.metrics.shr import split_sentences
    from hadpo_cli.pairs import prompts
    from hadpo_cli.pairs.replies import parse_detection, parse_rewrite

    sentences = split_sentences(description)
    if not sentences:
        session.progress.done += 1  # its detection was expected, but there is nothing to ask
        session.progress.update(session.progress)
        return ImageResult(image_id, EMPTY, description)
    detect = JudgeRequest(
        item=f"{image_id}:detect", prompt=prompts.detect_prompt(templates["detect"], annotations, sentences)
    )
    found = await session.ask(
        detect, lambda reply: parse_detection(reply, len(sentences), description), prompts.reask
    )
    if found.status != JUDGED:
        return ImageResult(image_id, found.status, description, error=found.error)
    detection = found.value
    if not detection.hallucinated:
        return ImageResult(image_id, CLEAN, description, detection)
    sides = [("chosen", detection.corrected, True), ("rejected", description, False)]
    requests = [
        (
            side,
            JudgeRequest(
                item=f"{image_id}:rewrite-{side}-{k}",
                prompt=prompts.rewrite_prompt(templates["rewrite"], text, faithful=faithful, variant=k),
            ),
        )  # fmt: skip
        for side, text, faithful in sides
        for k in range(1, s.rewrites + 1)
    ]
    session.expect(len(requests))
    outcomes = await gather_or_cancel([session.ask(r, parse_rewrite, prompts.reask) for _, r in requests])
    result = ImageResult(image_id, PAIRED, description, detection)
    for (side, _), outcome in zip(requests, outcomes, strict=True):
        if outcome.status != JUDGED:
            # Never half-written: an image whose rewrites are not all there gives no pair at all.
            return ImageResult(image_id, outcome.status, description, detection, error=outcome.error)
        (result.chosen_rewrites if side == "chosen" else result.rejected_rewrites).append(outcome.value)
    return result


def judge_all(
    s: PairsSettings,
    ids: list[int],
    descriptions: dict[int, str],
    annotations: dict[int, str],
    out: Path,
    *,
    backend_factory: Any = None,
    on_progress: Callable[[Any], None] | None = None,
) -> tuple[list[ImageResult], dict[str, Any]]:
    from hadpo_cli.judging.session import gather_or_cancel, run_judged
    from hadpo_cli.pairs import prompts

    templates = {
        "detect": prompts.load_template(s.detect_prompt, "detect", prompts.DETECT_PLACEHOLDERS),
        "rewrite": prompts.load_template(s.rewrite_prompt, "rewrite", prompts.REWRITE_PLACEHOLDERS),
    }

    async def work(session: Any) -> list[ImageResult]:
        session.expect(len(ids))  # one detection each; the rewrites are added as they are found needed
        return await gather_or_cancel(
            [judge_image(session, i, descriptions[i], annotations[i], s, templates) for i in ids]
        )

    judged = run_judged(
        s.judge_config(), out / CACHE_FILE, s.judge_options(), work,
        backend_factory=backend_factory, on_progress=on_progress,
    )  # fmt: skip
    return judged.value, judged.usage


# -- step 5 ------------------------------------------------------------------------------------------
def report(
    results: list[ImageResult],
    pope: list[dict[str, Any]],
    usage: dict[str, Any] | None,
    described: int,
    n_images: int,
) -> dict[str, Any]:
    """The counts of ``pairs_report.json``; ``pope`` is what pope_data.json holds."""
    count = {
        status: sum(1 for r in results if r.status == status)
        for status in (PAIRED, CLEAN, EMPTY, MALFORMED, FAILED)
    }
    return {
        "images": n_images,
        "described_now": described,
        "with_hallucination": count[PAIRED],
        "without_hallucination": count[CLEAN],
        "empty_descriptions": count[EMPTY],
        "skipped": {
            "malformed": count[MALFORMED],
            "failed": count[FAILED],
            "total": count[MALFORMED] + count[FAILED],
        },
        "desc_pairs": count[PAIRED],
        "pope_pairs": len(pope),
        "pope_pairs_hallucinated": sum(1 for p in pope if not p["correct"]),
        "pope_pairs_correct": sum(1 for p in pope if p["correct"]),
        "judge": usage,
    }


def pope_data(results: list[ImageResult]) -> list[dict[str, Any]]:
    """The yes/no pairs of every image, as pope_data.json holds them."""
    return [item for r in results for item in _pope(r)]


def _pope(result: ImageResult) -> list[dict[str, Any]]:
    """Yes/no pairs of one image: from a paired image its hallucinated objects and those it named
    rightly; from an image without a hallucination only the latter (``"correct": true``), as the
    released data keeps what the model got right. Skipped images give none."""
    from hadpo_cli.pairs.build import pope_items

    if result.status == PAIRED:
        return pope_items(result.image_id, result.detection)
    if result.status == CLEAN:
        return [item for item in pope_items(result.image_id, result.detection) if item["correct"]]
    return []


def write_outputs(out: Path, results: list[ImageResult], pope: list[dict[str, Any]]) -> None:
    from hadpo_cli.io import atomic_write_text
    from hadpo_cli.pairs.build import desc_item

    paired = [r for r in results if r.status == PAIRED]
    desc = [
        desc_item(r.image_id, r.description, r.detection, r.chosen_rewrites, r.rejected_rewrites)
        for r in paired
    ]
    atomic_write_json(out / DESC_DATA, desc)
    atomic_write_json(out / POPE_DATA, pope)
    atomic_write_text(
        out / DETAILS_FILE, "".join(json.dumps(r.to_json(), ensure_ascii=False) + "\n" for r in results)
    )


def _stopped_after_descriptions(out: Path) -> bool:
    try:
        recorded = json.loads((out / REPORT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(recorded, dict) and "stopped_after" in recorded


# -- the run -----------------------------------------------------------------------------------------
def run(
    s: PairsSettings,
    *,
    dist: Any = None,
    load_generator: Any = None,
    backend_factory: Any = None,
    on_progress: Callable[[Any], None] | None = None,
    show_progress: bool = True,
) -> PairsResult:
    from hadpo_cli.data.vg_annotations import format_annotations, load_vg_annotations
    from hadpo_cli.data.visual_genome import load_vg_images
    from hadpo_cli.evaluation.runner import check_finished_run

    out = Path(s.output_dir)
    check_writable(out, "--output-dir", is_dir=True)
    images = load_vg_images(s.vg_path)
    given = read_descriptions(s.descriptions) if s.descriptions is not None else None
    ids = select_images(s, set(images), given)
    if given is None:
        from hadpo_cli.data.visual_genome import check_images_exist

        check_images_exist([images[i].path for i in ids], what="VG image")
        if load_generator is None:  # the model's config (not its weights): after the cheap checks
            from hadpo_cli.evaluation.eval_model import with_family_decoding

            s = with_family_decoding(s, "shr")
    # After the decoding is resolved: settings.json records the resolved values. A --no-judge run
    # stopped after step 1 on purpose: the same command without --no-judge goes on from there.
    if s.no_judge or not _stopped_after_descriptions(out):
        check_finished_run(out, s, finished=REPORT_FILE)
    annotations: dict[int, str] = {}
    if not s.no_judge:
        # Every input read and checked before the model loads or a request is paid for.
        from hadpo_cli.pairs import prompts

        prompts.load_template(s.detect_prompt, "detect", prompts.DETECT_PLACEHOLDERS)
        prompts.load_template(s.rewrite_prompt, "rewrite", prompts.REWRITE_PLACEHOLDERS)
        for image_id, ann in load_vg_annotations(s.vg_path, ids).items():
            annotations[image_id] = format_annotations(ann, images[image_id].width, images[image_id].height)
    described_now = 0
    if given is not None:
        descriptions = {i: given[i] for i in ids}
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out / DESCRIPTIONS_FILE, {str(i): descriptions[i] for i in ids})
    else:
        got, described_now = describe(
            s, ids, images, out, dist=dist, load_generator=load_generator, show_progress=show_progress
        )
        if got is None:
            return PairsResult(report={}, output_dir=out, helper_process=True)
        descriptions = got
    if s.no_judge:
        summary = report([], [], None, described_now, len(ids))
        summary["stopped_after"] = "descriptions (--no-judge)"
    else:
        results, usage = judge_all(
            s, ids, descriptions, annotations, out, backend_factory=backend_factory, on_progress=on_progress
        )
        pope = pope_data(results)
        write_outputs(out, results, pope)
        summary = report(results, pope, usage, described_now, len(ids))
    atomic_write_json(out / SETTINGS_FILE, s.public_dict())
    atomic_write_json(out / REPORT_FILE, summary)
    return PairsResult(report=summary, output_dir=out)
