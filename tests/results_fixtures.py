"""Evaluation outputs in the formats `hadpo eval pope` / `hadpo eval shr` write, made with the
tool's own record and metrics writers (no model), for the compare and report tests."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from hadpo_cli.data.pope_labels import read_pope_labels
from hadpo_cli.evaluation import shr
from hadpo_cli.evaluation.pope import pope_record, pope_requests, score_answers, side_file
from hadpo_cli.io import atomic_write_json
from hadpo_cli.metrics.shr import split_sentences

OBJECTS = ("dog", "cat", "dining table", "car")


def write_pope_labels(path: Path, n: int) -> Path:
    """n questions, alternating yes/no labels, one image per two questions."""
    rows = [
        {
            "question_id": i,
            "image": f"COCO_val2014_{i // 2:012d}.jpg",
            "text": f"Is there a {OBJECTS[i % len(OBJECTS)]} in the image?",
            "label": "yes" if i % 2 == 0 else "no",
        }
        for i in range(n)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_coco_images(folder: Path, n_images: int) -> Path:
    (folder / "val2014").mkdir(parents=True, exist_ok=True)
    for i in range(n_images):
        Image.new("RGB", (64, 48), (40 * i % 255, 90, 160)).save(
            folder / "val2014" / f"COCO_val2014_{i:012d}.jpg"
        )
    return folder


def write_pope_run(
    out: Path, labels_file: Path, wrong: set[int], *, split: str = "adversarial",
    skip: set[int] = frozenset(), coco: Path | None = None,
) -> Path:  # fmt: skip
    """An `eval pope` output: answers.jsonl (question_id order) and answers.metrics.json.

    Question ids in ``wrong`` get the wrong answer, ids in ``skip`` are not asked at all.
    """
    labels = [lab for lab in read_pope_labels(labels_file) if lab.question_id not in skip]
    requests = pope_requests(labels, coco or Path("coco"))
    answers = out / "answers.jsonl"
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    for req in requests:
        right = req.fields["label"]
        said = right if req.key not in wrong else ("no" if right == "yes" else "yes")
        text = "Yes, there is." if said == "yes" else "No, there is not."
        lines.append(json.dumps(pope_record(req, text)) + "\n")
    answers.write_text("".join(lines), encoding="utf-8")
    metrics = score_answers(answers, labels, labels_file, "pope")
    settings = {"model": "m", "set": split, "coco_path": str(coco) if coco else None, "parser": "pope"}
    summary = {
        "splits": {split: {**metrics, "answers": str(answers), "labels": str(labels_file)}},
        "run": {"questions": len(requests)},
        "settings": settings,
    }
    atomic_write_json(side_file(answers, "metrics"), summary)
    atomic_write_json(side_file(answers, "settings"), settings)
    return out


def write_vg_images(folder: Path, image_ids: list[int]) -> Path:
    """A Visual Genome folder as the SHR reader finds images: image_data.json and the files."""
    (folder / "VG_100K").mkdir(parents=True, exist_ok=True)
    index = []
    for i in image_ids:
        Image.new("RGB", (80, 60), (200, 30 * i % 255, 60)).save(folder / "VG_100K" / f"{i}.jpg")
        index.append(
            {"image_id": i, "url": f"https://cs.stanford.edu/VG_100K/{i}.jpg", "width": 80, "height": 60}
        )
    (folder / "image_data.json").write_text(json.dumps(index), encoding="utf-8")
    return folder


def write_shr_run(
    out: Path,
    responses: dict[int, str],
    labels: dict[int, list[str]],
    *,
    runs: int = 1,
    vg: Path | None = None,
) -> Path:
    """An `eval shr` output through the module's own writers: judgement.json, metrics.json,
    settings.json. ``labels[image_id]`` gives one label per sentence (the same in every run)."""
    items = [
        shr.ShrItem(image_id, text, split_sentences(text), "prompt") for image_id, text in responses.items()
    ]
    judged = [
        {
            item.image_id: shr.ImageJudgement(
                shr.JUDGED,
                [(lab, f"because {k}") for k, lab in enumerate(labels[item.image_id])],
                "reply",
                1,
            )
            for item in items
        }
        for _ in range(runs)
    ]
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / shr.JUDGEMENT_FILE, shr.judgement_document(items, judged, "rule-judge"))
    atomic_write_json(out / shr.METRICS_FILE, shr.compute_metrics(items, judged))
    atomic_write_json(
        out / shr.SETTINGS_FILE, {"judge_model": "rule-judge", "vg_path": str(vg) if vg else None}
    )
    return out
