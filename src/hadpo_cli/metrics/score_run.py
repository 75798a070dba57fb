"""``hadpo score``: read answers and labels, join them by id, parse, score, write the JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hadpo_cli.data.pope_labels import Scored, join_answers, read_answers, read_pope_labels
from hadpo_cli.errors import UserError
from hadpo_cli.io import STDIN, atomic_write_json, check_writable
from hadpo_cli.metrics.pope import PARSERS, pope_metrics
from hadpo_cli.settings.score import ScoreSettings


def run(settings: ScoreSettings) -> dict[str, Any]:
    """Score one POPE split; returns the metrics (plus the settings that produced them).

    With ``settings.output`` the same dictionary is written there atomically: either the
    whole file appears or nothing does.
    """
    # Labels first: a wrong label path is the cheaper mistake to report, and it does not
    # consume stdin when the answers come from a pipe.
    if settings.output is not None:
        check_writable(settings.output, "--output")
    if str(settings.answers) != STDIN and Path(settings.answers).resolve() == Path(settings.labels).resolve():
        raise UserError(f"{settings.answers}: given as both the answers and the labels file")
    labels = read_pope_labels(settings.labels)
    answers = read_answers(settings.answers)
    pairs = join_answers(answers, labels, answers_name=settings.answers, labels_name=settings.labels)
    result = score_pairs(pairs, settings.parser)
    result["settings"] = settings.public_dict()
    if settings.output is not None:
        atomic_write_json(settings.output, result)
    return result


def score_pairs(pairs: list[Scored], parser: str) -> dict[str, Any]:
    """The metrics of joined answer/label pairs under one parser ("pope" or "strict")."""
    parse = PARSERS[parser]
    preds = [parse(pair.answer.answer) for pair in pairs]
    labels = [pair.label.label for pair in pairs]
    return {**pope_metrics(preds, labels), "parser": parser}


def split_name(labels: Path) -> str:
    """The row name in the table: ``coco_pope_adversarial.json`` -> ``coco_pope_adversarial``."""
    return "labels" if str(labels) == STDIN else labels.stem
