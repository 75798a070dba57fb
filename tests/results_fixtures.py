"""Evaluation outputs in the formats `hadpo eval pope` / `hadpo eval shr` write, made with the
tool's own record and metrics writers (no model), for the compare and report tests."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image
from typer.testing import CliRunner

from hadpo_cli.__main__ import app
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


# -- a baseline, a candidate and a training run, and the report of them ----------------------------
SHR_RESPONSES = {1: "A dog runs. A cat sleeps. A kite flies.", 2: "A red car. A man."}
BASE_LABELS = {1: ["hallucination", "correct", "hallucination"], 2: ["hallucination", "correct"]}
CAND_LABELS = {1: ["correct", "correct", "hallucination"], 2: ["correct", "cannot judge"]}


def write_training_run(folder, steps=8):
    folder.mkdir(parents=True)
    logs = [
        {
            "step": i,
            "loss": 0.69 - 0.03 * i,
            "rewards/margins": 0.02 * i,
            "rewards/accuracies": min(1.0, 0.5 + 0.06 * i),
            "logps/chosen": -40.0 + i,
            "logps/rejected": -40.0 - i,
            "learning_rate": 0.01,
        }
        for i in range(1, steps + 1)
    ]
    state = {"global_step": steps, "log_history": [*logs, {"step": steps, "train_runtime": 1.0}]}
    (folder / "trainer_state.json").write_text(json.dumps(state))
    (folder / "settings.json").write_text(json.dumps({"model": "tiny", "beta": 0.1, "learning_rate": 0.01}))
    return folder


def make_outputs(root):
    """A baseline and a candidate (POPE + SHR each), and one training run, as the tools write them."""
    labels = write_pope_labels(root / "data" / "coco_pope_adversarial.json", 40)
    coco = write_coco_images(root / "data" / "coco", 20)
    vg = write_vg_images(root / "data" / "vg", [1, 2])
    write_pope_run(root / "base" / "pope", labels, wrong=set(range(9)), coco=coco)
    # Questions 6 and 7 share image 3, question 22 is image 11: two thumbnails for three cards.
    write_pope_run(root / "cand" / "pope", labels, wrong={6, 7, 22}, coco=coco)
    write_shr_run(root / "base" / "shr", SHR_RESPONSES, BASE_LABELS, vg=vg)
    write_shr_run(root / "cand" / "shr", SHR_RESPONSES, CAND_LABELS, vg=vg)
    write_training_run(root / "train")
    return root


def build(root, *extra):
    out = root / "report.html"
    args = [
        "report",
        str(root / "train"),
        str(root / "cand"),
        "--output",
        str(out),
        "--resamples",
        "200",
        *extra,
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8"), result
