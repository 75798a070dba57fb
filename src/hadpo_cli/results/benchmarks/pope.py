"""POPE results: ``answers*.jsonl`` + ``answers.metrics.json`` from `hadpo eval pope`, and the
metrics JSON of `hadpo score --output`.

Every answer is parsed again with the parser the run recorded, so the figures here are those
of the metrics file (tested), and any subset of questions can be scored the same way.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from hadpo_cli.errors import UserError, where
from hadpo_cli.io import read_json, read_jsonl, require_dict
from hadpo_cli.metrics.paired import col_mean, ratio_of_sums
from hadpo_cli.metrics.pope import PARSERS
from hadpo_cli.results.registry import Benchmark, EvalResult, Metric, register, resolve_recorded, walk

NAME = "pope"


# sklearn's zero_division=0, as `hadpo score` reports an empty class.
def _accuracy(c, axis):  # noqa: ANN001, ANN202
    return col_mean(c, "correct", axis)


def _precision(c, axis):  # noqa: ANN001, ANN202
    return ratio_of_sums(c, "tp", "yes", axis, empty=0.0)


def _recall(c, axis):  # noqa: ANN001, ANN202
    return ratio_of_sums(c, "tp", "label_yes", axis, empty=0.0)


def _f1(c, axis):  # noqa: ANN001, ANN202
    # 2PR / (P + R) = 2 TP / (predicted yes + labelled yes): one ratio, so it resamples exactly.
    top = 2 * np.sum(c["tp"], axis=axis)
    bottom = np.sum(c["yes"], axis=axis) + np.sum(c["label_yes"], axis=axis)
    return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1), 0.0)


def _yes_ratio(c, axis):  # noqa: ANN001, ANN202
    return col_mean(c, "yes", axis)


METRICS = (
    Metric("accuracy", _accuracy, paired_test="correct"),
    Metric("precision", _precision),
    Metric("recall", _recall),
    Metric("f1", _f1),
    # McNemar on "said yes": a paired test of whether the share of yes answers moved.
    Metric("yes_ratio", _yes_ratio, paired_test="yes"),
)

_SPLIT_PREFIX = "coco_pope_"


def split_key(name: str) -> str:
    """``coco_pope_adversarial`` (a --labels file's stem, `hadpo score`) -> ``adversarial``, so a
    run made with --set and one made with --labels meet on the same split."""
    return name[len(_SPLIT_PREFIX) :] if name.startswith(_SPLIT_PREFIX) else name


def find(path: Path) -> list[EvalResult]:
    if path.is_file() and path.suffix == ".jsonl":
        # An answers file named directly: the split of its metrics file that it holds.
        metrics = path.with_name(f"{path.stem}.metrics.json")
        if not metrics.is_file():
            metrics = next(path.parent.glob("*.metrics.json"), metrics)
        if not metrics.is_file():
            return []
        return [r for r in find(metrics) if r.identity[0] == str(path.resolve())]
    out = []
    for file in walk(path, lambda p: p.name.endswith(".metrics.json")):
        doc = read_json(file)
        if not isinstance(doc, dict):
            continue
        if isinstance(doc.get("splits"), dict):  # hadpo eval pope
            settings = doc.get("settings") if isinstance(doc.get("settings"), dict) else {}
            for name, split in doc["splits"].items():
                if isinstance(split, dict) and "answers" in split:
                    out.append(_read_split(file, split_key(name), split, settings))
        elif "accuracy" in doc and isinstance(doc.get("settings"), dict) and "answers" in doc["settings"]:
            settings = doc["settings"]  # hadpo score --output
            split = {"answers": settings["answers"], "labels": settings.get("labels"), **doc}
            out.append(
                _read_split(
                    file, split_key(Path(str(settings.get("labels", "labels"))).stem), split, settings
                )
            )
    return out


def _read_split(metrics_file: Path, split: str, info: dict[str, Any], settings: dict[str, Any]) -> EvalResult:
    answers = resolve_recorded(info["answers"], metrics_file.parent)
    if not answers.is_file():
        raise UserError(f"{metrics_file}: its answers file {info['answers']} is not there (nor beside it)")
    parser_name = str(info.get("parser", settings.get("parser", "pope")))
    if parser_name not in PARSERS:
        raise UserError(f"{metrics_file}: unknown parser {parser_name!r}")
    parse = PARSERS[parser_name]
    labels = _labels_if_needed(answers, info, metrics_file)
    keys: list[str] = []
    records: list[dict[str, Any]] = []
    seen: set[str] = set()
    for line, raw in read_jsonl(answers):
        obj = require_dict(raw, answers, line)
        if "question_id" not in obj:
            raise UserError(f"{where(answers, line)}: missing field 'question_id'")
        key = str(obj["question_id"])
        if key in seen:
            raise UserError(f"{where(answers, line)}: question_id {obj['question_id']!r} appears twice")
        seen.add(key)
        text = obj.get("answer", obj.get("text"))
        label = obj.get("label", labels.get(key, {}).get("label"))
        if not isinstance(text, str) or label not in ("yes", "no"):
            what = "answer" if not isinstance(text, str) else "yes/no label"
            raise UserError(f"{where(answers, line)}: question {key} has no {what}")
        question = obj.get("question", labels.get(key, {}).get("text", ""))
        image = obj.get("image", labels.get(key, {}).get("image", ""))
        keys.append(key)
        records.append(
            {
                "question_id": obj["question_id"],
                "image": image,
                "question": question,
                "answer": text,
                "label": label,
                "pred": parse(text),
            }
        )
    preds = [r["pred"] for r in records]
    gold = [r["label"] for r in records]
    yes = np.array([p == "yes" for p in preds], dtype=float)
    label_yes = np.array([g == "yes" for g in gold], dtype=float)
    columns = {
        "correct": np.array([p == g for p, g in zip(preds, gold, strict=True)], dtype=float),
        "yes": yes,
        "label_yes": label_yes,
        "tp": yes * label_yes,
    }
    return EvalResult(
        benchmark=NAME,
        split=split,
        source=metrics_file,
        keys=keys,
        columns=columns,
        records=records,
        settings=settings,
        identity=(str(answers.resolve()), parser_name),
    )


def _labels_if_needed(answers: Path, info: dict[str, Any], metrics_file: Path) -> dict[str, dict[str, Any]]:
    """Label lines by question id, only when the answers file does not carry its labels
    (answers written by other tools, scored with `hadpo score`)."""
    first = read_jsonl(answers)[0][1]
    if isinstance(first, dict) and "label" in first:
        return {}
    if not info.get("labels"):
        raise UserError(f"{answers}: answers carry no labels and {metrics_file} names no label file")
    labels = Path(str(info["labels"]))
    return {str(obj.get("question_id")): obj for _, obj in read_jsonl(labels) if isinstance(obj, dict)}


# -- inspection ----------------------------------------------------------------------------------
_OBJECT = re.compile(r"is there an? (.+?) in the (?:image|picture|photo)", re.IGNORECASE)


def question_object(question: str) -> str:
    """``Is there a dining table in the image?`` -> ``dining table`` (POPE's one template)."""
    match = _OBJECT.search(question)
    return match.group(1).strip().lower() if match else "(other questions)"


def image_folder(settings: dict[str, Any]) -> Path | None:
    coco = settings.get("coco_path")
    if not coco:
        return None
    from hadpo_cli.evaluation.pope import image_dir

    return image_dir(Path(coco))


def inspect(result: EvalResult, baseline: EvalResult | None, thumbs: Any) -> str:
    from hadpo_cli.report.html import pope_wrong_answers

    wrong = [r for r in result.records if r["pred"] != r["label"]]
    base = {}
    if baseline is not None:
        base = dict(zip(baseline.keys, baseline.records, strict=True))
    groups: dict[str, list[dict[str, Any]]] = {}
    folder = image_folder(result.settings)
    for rec in wrong:
        key = str(rec["question_id"])
        base_rec = base.get(key)
        groups.setdefault(question_object(rec["question"]), []).append(
            {
                **rec,
                "path": (folder / rec["image"]) if folder is not None and rec["image"] else None,
                "baseline_pred": None if base_rec is None else (base_rec["pred"] or "unparseable"),
                "baseline_right": None if base_rec is None else base_rec["pred"] == base_rec["label"],
            }
        )
    return pope_wrong_answers(result, groups, len(result.records), thumbs)


register(
    Benchmark(
        name=NAME,
        metrics=METRICS,
        find=find,
        inspect=inspect,
        inspect_title="POPE: questions answered wrong, by object",
    )
)
