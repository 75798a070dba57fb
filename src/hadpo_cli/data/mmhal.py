"""MMHal-Bench records: ``response_template.json`` and the same file with model answers filled in.

The published file (``Shengcao1006/MMHal-Bench`` on the Hugging Face Hub) is one JSON list of 96
records with ``question_type``, ``question_topic``, ``image_id``, ``image_src``, ``image_content``
(a list of labels), ``question``, ``gt_answer`` and ``model_answer`` (empty until a model
answers; the published ``get_response.py`` sets it on every record and writes the list back).
Its ``images/`` folder holds each image under the last part of the record's ``image_src`` URL.

Records are numbered from 0 in file order; errors name the file and that number.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hadpo_cli.errors import UserError
from hadpo_cli.io import read_json
from hadpo_cli.metrics.mmhal import QUESTION_TYPES

_TEXT_FIELDS = ("question_topic", "image_src", "question", "gt_answer")


@dataclass(frozen=True)
class MMHalItem:
    index: int  # position in the file, from 0
    question_type: str
    question_topic: str
    image_id: str
    image_src: str
    image_content: list[str]
    question: str
    gt_answer: str
    model_answer: str | None  # None: absent, null, or only whitespace


def load_mmhal(path: Path, *, need_answers: bool) -> list[MMHalItem]:
    """Every record of an MMHal-Bench file, checked; ``need_answers``: each must carry a model answer."""
    return _load(Path(path), need_answers=need_answers)[1]


def _load(path: Path, *, need_answers: bool) -> tuple[list[Any], list[MMHalItem]]:
    data = read_json(path)
    if not isinstance(data, list):
        raise UserError(f"{path}: expected a JSON list of MMHal-Bench records, got {type(data).__name__}")
    if not data:
        raise UserError(f"{path}: holds no records")
    items = [_item(path, i, rec, need_answers) for i, rec in enumerate(data)]
    if need_answers and not any((item.model_answer or "").strip() for item in items):
        # Every answer blank: this is the template, not a model's answers; judging it would rate
        # 96 empty answers and report a figure about nothing.
        raise UserError(f"{path}: every model_answer is empty; score a file with the answers filled in")
    return data, items


def _item(path: Path, i: int, rec: Any, need_answers: bool) -> MMHalItem:
    place = f"{path}: record {i}"
    if not isinstance(rec, dict):
        raise UserError(f"{place}: expected a JSON object, got {type(rec).__name__}")
    for key in ("question_type", "image_id", "image_content", *_TEXT_FIELDS):
        if key not in rec:
            raise UserError(f"{place}: missing field {key!r}")
    qtype = rec["question_type"]
    if qtype not in QUESTION_TYPES:
        raise UserError(
            f"{place}: unknown question_type {qtype!r} (expected one of {', '.join(QUESTION_TYPES)})"
        )
    for key in _TEXT_FIELDS:
        if not isinstance(rec[key], str):
            raise UserError(f"{place}: {key} must be a string, got {type(rec[key]).__name__}")
    image_id = rec["image_id"]
    if isinstance(image_id, bool) or not isinstance(image_id, str | int):
        raise UserError(f"{place}: image_id must be a string, got {type(image_id).__name__}")
    content = rec["image_content"]
    if not isinstance(content, list) or not all(isinstance(x, str) for x in content):
        raise UserError(f"{place}: image_content must be a list of strings")
    if not _image_name(rec["image_src"]):
        raise UserError(f"{place}: image_src {rec['image_src']!r} names no file")
    answer = rec.get("model_answer")
    if answer is not None and not isinstance(answer, str):
        raise UserError(f"{place}: model_answer must be a string, got {type(answer).__name__}")
    if need_answers and answer is None:
        raise UserError(f"{place}: has no model_answer; score a file with the answers filled in")
    if not need_answers and answer is not None and not answer.strip():
        answer = None  # the template ships it empty
    return MMHalItem(
        index=i,
        question_type=qtype,
        question_topic=rec["question_topic"],
        image_id=str(image_id),
        image_src=rec["image_src"],
        image_content=list(content),
        question=rec["question"],
        gt_answer=rec["gt_answer"],
        model_answer=answer,
    )


def _image_name(image_src: str) -> str:
    # urlsplit drops "?query" and "#fragment"; a bare relative path comes through as its path.
    # Not PurePosixPath(...).name: that would take "dir" from ".../dir/", which names no file.
    return urlsplit(image_src.strip()).path.rsplit("/", 1)[-1]


def image_path(item: MMHalItem, images_dir: Path) -> Path:
    """``images_dir / <last part of image_src's URL path>``, query string dropped (no %-decoding)."""
    return Path(images_dir) / _image_name(item.image_src)


def with_answers(
    path_or_records: str | Path | Sequence[Mapping[str, Any]], answers: Mapping[int, str]
) -> list[dict]:
    """The records with ``model_answer`` set from ``answers`` (record index -> answer).

    Every other key and the key order are kept (a ``model_answer`` already there keeps its place;
    a new one goes last, as ``get_response.py`` adds it), so the file written scores as the
    published ones do. Records not in ``answers`` are copied unchanged. The input is not modified.
    """
    if isinstance(path_or_records, str | Path):
        records: Sequence[Any] = _load(Path(path_or_records), need_answers=False)[0]
    else:
        records = path_or_records
    bad = sorted(i for i in answers if not 0 <= i < len(records))
    if bad:
        raise ValueError(f"answers for records {bad[:5]} but there are {len(records)} records")
    out = []
    for i, rec in enumerate(records):
        new = copy.deepcopy(dict(rec))
        if i in answers:
            if not isinstance(answers[i], str):
                raise ValueError(f"answer for record {i} must be a string, got {type(answers[i]).__name__}")
            new["model_answer"] = answers[i]
        out.append(new)
    return out
