"""POPE label files and model answer files, and joining the two by ``question_id``.

POPE's own ``evaluate.py`` paired answers with labels by line position, which silently
gives wrong numbers as soon as a multi-GPU run writes answers out of order. Here every
answer is matched by id, and anything that does not match one-to-one is an error naming
the file, the line and the id.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hadpo_cli.errors import UserError, where
from hadpo_cli.io import display_name, read_jsonl, require_dict, require_field

# Label files write ints, some answer writers write str(id): "1" and 1 must meet.
QuestionKey = str

LABEL_VALUES = ("yes", "no")


@dataclass(frozen=True)
class PopeLabel:
    """One POPE question with its gold answer; ``line`` is where it sits in the label file."""

    question_id: Any
    image: str
    text: str
    label: str
    line: int

    @property
    def key(self) -> QuestionKey:
        return str(self.question_id)


@dataclass(frozen=True)
class ModelAnswer:
    """One model answer; ``line`` is where it sits in the answers file."""

    question_id: Any
    answer: str
    line: int

    @property
    def key(self) -> QuestionKey:
        return str(self.question_id)


@dataclass(frozen=True)
class Scored:
    """A label and the answer given to it, joined by question id."""

    label: PopeLabel
    answer: ModelAnswer


def read_pope_labels(path: str | Path) -> list[PopeLabel]:
    """Read a POPE label file (JSON Lines despite its ``.json`` suffix), in file order."""
    name = display_name(path)
    out: list[PopeLabel] = []
    for line, raw in read_jsonl(path):
        obj = require_dict(raw, path, line)
        qid = _question_id(obj, path, line)
        label = require_field(obj, "label", path, line, qid)
        if label not in LABEL_VALUES:
            raise UserError(f"{where(name, line)}: label must be 'yes' or 'no', got {label!r} (id {qid})")
        out.append(
            PopeLabel(
                question_id=qid,
                image=_string_field(obj, "image", path, line, qid),
                text=_string_field(obj, "text", path, line, qid),
                label=label,
                line=line,
            )
        )
    _refuse_duplicates(out, name)
    return out


def read_answers(path: str | Path) -> list[ModelAnswer]:
    """Read model answers: ``question_id`` plus ``answer`` (or LLaVA's ``text``); ``-`` is stdin."""
    name = display_name(path)
    out: list[ModelAnswer] = []
    for line, raw in read_jsonl(path):
        obj = require_dict(raw, path, line)
        qid = _question_id(obj, path, line)
        # `answer` wins: a LLaVA-style file may carry both, with `text` the same string.
        field = "answer" if "answer" in obj else "text" if "text" in obj else None
        if field is None:
            raise UserError(f"{where(name, line)}: missing field 'answer' (or 'text') (id {qid})")
        out.append(ModelAnswer(question_id=qid, answer=_string_field(obj, field, path, line, qid), line=line))
    _refuse_duplicates(out, name)
    return out


def join_answers(
    answers: Sequence[ModelAnswer],
    labels: Sequence[PopeLabel],
    *,
    answers_name: str | Path = "answers",
    labels_name: str | Path = "labels",
) -> list[Scored]:
    """Pair every label with its answer by question id, in label-file order.

    Both sides must match one-to-one: an extra answer or a missing one is an error that
    names the file, the line and the id (the first such, counting the rest).
    """
    answers_name, labels_name = display_name(answers_name), display_name(labels_name)
    by_key = {answer.key: answer for answer in answers}
    label_keys = {label.key for label in labels}

    extra = [answer for answer in answers if answer.key not in label_keys]
    if extra:
        first = extra[0]
        raise UserError(
            f"{where(answers_name, first.line)}: question_id {first.question_id!r} is not in {labels_name}"
            + _and_more(len(extra))
        )
    missing = [label for label in labels if label.key not in by_key]
    if missing:
        first = missing[0]
        raise UserError(
            f"{where(labels_name, first.line)}: question_id {first.question_id!r} has no answer in {answers_name}"
            + _and_more(len(missing))
        )
    return [Scored(label=label, answer=by_key[label.key]) for label in labels]


def _question_id(obj: dict, path: str | Path, line: int) -> Any:
    qid = require_field(obj, "question_id", path, line)
    # bool is an int subclass, and floats would make 1 and 1.0 distinct keys: refuse both.
    if isinstance(qid, bool) or not isinstance(qid, (int, str)) or qid == "":
        raise UserError(
            f"{where(display_name(path), line)}: question_id must be an integer or a non-empty string, got {qid!r}"
        )
    return qid


def _string_field(obj: dict, key: str, path: str | Path, line: int, qid: Any) -> str:
    value = require_field(obj, key, path, line, qid)
    if not isinstance(value, str):
        raise UserError(
            f"{where(display_name(path), line)}: field {key!r} must be a string, got {type(value).__name__} (id {qid})"
        )
    return value


def _refuse_duplicates(records: Iterable[PopeLabel | ModelAnswer], name: str) -> None:
    first_line: dict[QuestionKey, int] = {}
    for record in records:
        if record.key in first_line:
            raise UserError(
                f"{where(name, record.line)}: duplicate question_id {record.question_id!r}"
                f" (first on line {first_line[record.key]})"
            )
        first_line[record.key] = record.line


def _and_more(count: int) -> str:
    return f" (and {count - 1} more)" if count > 1 else ""
