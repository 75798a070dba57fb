"""CHAIR (Rohrbach et al., 2018): describe COCO images, count the objects named that are not there;
``hadpo eval chair``. Word rules: :mod:`hadpo_cli.metrics.chair` (the canonical ``utils/chair.py``).

The image set is explicit: ``--image-ids FILE``, the images of a ``--responses`` file, or
``--num-images N --seed S`` drawn from the annotation file's images, written to ``image_ids.json``
beside the results so the draw can be reused and cited.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from hadpo_cli.evaluation.benchmarks import Benchmark, ResultColumns, register
from hadpo_cli.settings.model_source import BenchmarkSettings

NAME = "chair"
PROMPT = "Please describe this image in detail."
RESPONSES_FILE = "captions.jsonl"
IMAGE_IDS_FILE = "image_ids.json"


class EvalChairSettings(BenchmarkSettings):
    """Describe COCO images (or take a captions file) and compute CHAIRs, CHAIRi and recall."""

    responses: Path | None = Field(
        None,
        description='Score this captions file (JSON Lines of {"image_id", "caption"}) instead of running a model.',
    )
    coco_path: Path | None = Field(
        None, description="COCO 2014 dir: images are <coco-path>/val2014/<file_name> (needed with --model)."
    )
    annotations: Path = Field(
        description="Dir of the COCO 2014 annotations: instances_val2014.json and captions_val2014.json "
        "(train2014's too, if there)."
    )
    image_ids: Path | None = Field(
        None, description="The images to describe: a JSON list of COCO image ids, or one id per line."
    )
    num_images: int = Field(500, ge=1, description="Images drawn at random when --image-ids is not given.")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Seed of that draw (written to image_ids.json).")
    prompt: str = Field(PROMPT, description="The instruction given with each image.")

    @model_validator(mode="after")
    def _images(self) -> EvalChairSettings:
        if self.model is not None and self.coco_path is None:
            raise ValueError("--coco-path is required with --model (the images are there)")
        return self


@dataclass(frozen=True)
class ChairData:
    image_ids: list[int]
    files: dict[int, str]  # image id -> file name
    truth: dict[int, set[str]]  # image id -> ground-truth COCO categories
    images: Path  # the folder holding the files
    responses: dict[str, str] | None  # the --responses captions, read once
    drawn: bool  # the ids were drawn (written to image_ids.json)


def read_captions(path: Path) -> dict[str, str]:
    """``{"image_id", "caption"}`` per line (``text`` or ``answer`` accepted, as other tools write)."""
    from hadpo_cli.errors import UserError, where
    from hadpo_cli.io import iter_jsonl, require_dict

    out: dict[str, str] = {}
    for line, obj in iter_jsonl(path):
        rec = require_dict(obj, path, line)
        if "image_id" not in rec:
            raise UserError(f"{where(path, line)}: missing field 'image_id'")
        caption = next((rec[k] for k in ("caption", "text", "answer") if k in rec), None)
        if not isinstance(caption, str):
            raise UserError(f"{where(path, line)}: no 'caption' string (image {rec['image_id']})")
        try:
            key = str(int(rec["image_id"]))
        except (TypeError, ValueError):
            raise UserError(
                f"{where(path, line)}: image_id must be an integer, got {rec['image_id']!r}"
            ) from None
        if key in out:
            raise UserError(f"{where(path, line)}: image {key} has a second caption")
        out[key] = caption
    if not out:
        raise UserError(f"{path}: holds no captions")
    return out


class ChairTask:
    name = NAME
    responses_file = RESPONSES_FILE

    def load(self, s: EvalChairSettings) -> ChairData:
        from hadpo_cli.data.coco_annotations import coco_image_files, load_coco_ground_truth
        from hadpo_cli.data.image_ids import draw, read_image_ids
        from hadpo_cli.errors import UserError, first_few

        files = coco_image_files(s.annotations)
        responses = read_captions(s.responses) if s.responses is not None else None
        drawn = False
        if s.image_ids is not None:
            ids = read_image_ids(s.image_ids)
        elif responses is not None:
            ids = sorted(int(k) for k in responses)
        else:
            ids = draw(files, s.num_images, s.seed, what=str(s.annotations))
            drawn = True
        unknown = [i for i in ids if i not in files]
        if unknown:
            raise UserError(f"{len(unknown)} image id(s) are not in {s.annotations}: {first_few(unknown)}")
        images = Path(".")
        if s.coco_path is not None:
            images = s.coco_path / "val2014" if (s.coco_path / "val2014").is_dir() else s.coco_path
        truth = load_coco_ground_truth(s.annotations, ids)
        return ChairData(ids, files, truth, images, responses, drawn)

    def items(self, data: ChairData, s: EvalChairSettings) -> list[Any]:
        from hadpo_cli.evaluation.runner import Item

        return [Item(str(i), data.images / data.files[i], s.prompt) for i in data.image_ids]

    def read_responses(self, path: Path, data: ChairData, s: EvalChairSettings) -> dict[str, str]:
        assert data.responses is not None
        return data.responses

    def write_responses(self, path: Path, data: ChairData, responses: dict[str, str]) -> None:
        import json

        from hadpo_cli.io import atomic_write_text

        lines = (
            json.dumps({"image_id": i, "caption": responses[str(i)]}, ensure_ascii=False)
            for i in data.image_ids
        )
        atomic_write_text(path, "".join(line + "\n" for line in lines))

    def score(
        self, s: EvalChairSettings, data: ChairData, responses: dict[str, str], out: Path, hooks: Any
    ) -> Any:
        from hadpo_cli.evaluation.runner import Scored
        from hadpo_cli.io import atomic_write_json
        from hadpo_cli.metrics.chair import aggregate, vocabulary

        words = vocabulary()
        scores, records = [], []
        for image_id in data.image_ids:
            caption = responses[str(image_id)]
            score = words.score_caption(caption, data.truth[image_id])
            scores.append(score)
            records.append(
                {
                    "key": str(image_id),
                    "image_id": image_id,
                    "image": data.files[image_id],
                    "caption": caption,
                    "mentioned": score.mentioned,
                    "hallucinated": [node for _, node in score.hallucinated],
                    "ground_truth": score.ground_truth,
                    "recalled": score.recalled,
                    "columns": score.columns(),
                }
            )
        notes = []
        if data.drawn:
            atomic_write_json(out / IMAGE_IDS_FILE, data.image_ids)
            notes.append(
                f"{len(data.image_ids)} images drawn with --seed {s.seed}; the list is in {out / IMAGE_IDS_FILE}"
            )
        empty = sum(1 for i in data.image_ids if not responses[str(i)].strip())
        if empty:
            notes.append(f"{empty} caption(s) are empty (they mention no object)")
        return Scored(records=records, metrics=aggregate(scores), notes=notes)


TASK = ChairTask()


def run(settings: EvalChairSettings) -> Any:
    from hadpo_cli.evaluation.runner import run_task

    return run_task(TASK, settings)


def show(result: Any, settings: EvalChairSettings, as_json: bool) -> int | None:
    from hadpo_cli.evaluation.runner import show_result

    return show_result(result, settings, as_json, title="CHAIR")


def _metric_fns() -> Any:
    from hadpo_cli.metrics.chair import METRIC_FNS

    return METRIC_FNS


def demo_stage(ctx: Any) -> dict[str, Any]:
    """CHAIR on the demo's COCO images (the toy world's objects are COCO categories)."""
    output = ctx.stage_dir("eval_chair")
    result = run(
        EvalChairSettings.build(
            {
                **ctx.model_source(),
                "coco_path": ctx.data.coco,
                "annotations": ctx.data.coco_annotations,
                "num_images": 12,
                "max_new_tokens": ctx.demo_tokens,
                "output_dir": output,
            }
        )
    )
    m = result.metrics
    return {
        "captions": m["num_captions"],
        "chair_s": _rounded(m["chair_s"]),
        "chair_i": _rounded(m["chair_i"]),
        "recall": _rounded(m["recall"]),
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


register(
    Benchmark(
        name=NAME,
        summary="Describe COCO images and count hallucinated objects (CHAIRs, CHAIRi).",
        settings=EvalChairSettings,
        run=run,
        show=show,
        docs="docs/eval-chair.md",
        demo_stage=demo_stage,
        results=ResultColumns(
            _metric_fns, values=("avg_length",), paired_tests={"chair_s": "hallucinated_caption"}
        ),
        order=2,
    )
)
