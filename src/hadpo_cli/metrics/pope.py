"""POPE: turning a free-text answer into yes/no, and the five numbers the papers report.

Two parsers:

* :func:`parse_pope` is POPE's own ``evaluate.py`` rule, kept byte-for-byte so that numbers
  stay comparable with published tables, odd cases included (``"NO"`` counts as yes).
* :func:`parse_strict` reads only the first word and says so when it cannot tell
  (``None``), instead of silently counting the answer as yes.

An unparseable answer is its own class in :func:`pope_metrics`: it is never a correct
answer (it lowers accuracy and, on a "yes" question, recall), but it is neither a yes nor a
no prediction, so it does not enter TP/FP/TN/FN, precision or the yes-ratio. Hence
``tp + fp + tn + fn + unparseable == n``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from rich import box
from rich.table import Table

YesNo = Literal["yes", "no"]

# The keys every scoring result carries, in the order tables and JSON show them.
RATE_KEYS = ("accuracy", "precision", "recall", "f1", "yes_ratio")
COUNT_KEYS = ("tp", "fp", "tn", "fn", "n", "unparseable")
METRIC_KEYS = RATE_KEYS + COUNT_KEYS

# POPE compares whole space-separated pieces against exactly these strings.
_POPE_NEGATIONS = frozenset({"No", "not", "no"})

# First word: skip leading spaces/punctuation, take a run of letters that ends at a
# non-word character (so "Yes123" or "Nope" are not read as yes/no).
_FIRST_WORD = re.compile(r"^[\W_]*([^\W\d_]+)(?!\w)")

# Stands in for ``None`` inside scikit-learn, which needs labels of one type.
_UNPARSEABLE = "unparseable"


def parse_pope(text: str) -> YesNo:
    """POPE ``evaluate.py``: first sentence, commas deleted, split on ``' '``; any No/not/no -> no.

    Deliberately literal: only single spaces separate words and case matters, so ``"NO"``
    and ``"No!"`` are yes, exactly as in the published evaluations.
    """
    first_sentence = text.split(".", 1)[0]
    pieces = first_sentence.replace(",", "").split(" ")
    return "no" if any(piece in _POPE_NEGATIONS for piece in pieces) else "yes"


def parse_strict(text: str) -> YesNo | None:
    """Yes/no from the first word, case and punctuation ignored; ``None`` for anything else."""
    match = _FIRST_WORD.match(text)
    if match is None:
        return None
    word = match.group(1).casefold()
    if word == "yes":
        return "yes"
    if word == "no":
        return "no"
    return None


PARSERS = {"pope": parse_pope, "strict": parse_strict}


def pope_metrics(preds: Sequence[str | None], labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, precision, recall, F1 (positive class "yes"), yes-ratio and the counts.

    ``preds`` holds "yes", "no" or ``None`` (unparseable); ``labels`` holds "yes"/"no".
    Rates are fractions in [0, 1]; a zero denominator gives 0.0.
    """
    if len(preds) != len(labels):
        raise ValueError(f"{len(preds)} predictions but {len(labels)} labels")
    _check_values(labels, ("yes", "no"), "label")
    _check_values(preds, ("yes", "no", None), "prediction")
    n = len(labels)
    if n == 0:
        return {key: 0.0 for key in RATE_KEYS} | {key: 0 for key in COUNT_KEYS}

    # Imported here: scikit-learn takes most of a second to load, and `--help` must not.
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_score, recall_score

    y_true = list(labels)
    y_pred = [_UNPARSEABLE if p is None else p for p in preds]
    classes = ["no", "yes", _UNPARSEABLE]
    matrix = confusion_matrix(y_true, y_pred, labels=classes)
    # average=None with labels=["yes"]: the yes-class score even when a third class
    # (unparseable) is present, which average="binary" refuses.
    per_yes = {"labels": ["yes"], "average": None, "zero_division": 0}
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision": float(precision_score(y_true, y_pred, **per_yes)[0]),
        "recall": float(recall_score(y_true, y_pred, **per_yes)[0]),
        "f1": float(f1_score(y_true, y_pred, **per_yes)[0]),
        "yes_ratio": y_pred.count("yes") / n,
        "tp": int(matrix[1, 1]),
        "fp": int(matrix[0, 1]),
        "tn": int(matrix[0, 0]),
        "fn": int(matrix[1, 0]),
        "n": n,
        "unparseable": int(matrix[:, 2].sum()),
    }


def _check_values(values: Sequence[str | None], allowed: tuple[str | None, ...], what: str) -> None:
    for value in values:
        if value not in allowed:
            raise ValueError(f"{what} must be one of {allowed}, got {value!r}")


def format_pope_table(
    rows: Mapping[str, Mapping[str, Any]], *, title: str | None = None, show_unparseable: bool | None = None
) -> Table:
    """One row per split; rates as percentages with two decimals, as the POPE tables print them.

    The Unparseable column appears when asked, or by default when any row has one.
    """
    if show_unparseable is None:
        show_unparseable = any(row.get("unparseable", 0) for row in rows.values())
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False)
    table.add_column("Split", no_wrap=True)
    for header in ("Accuracy", "Precision", "Recall", "F1", "Yes-ratio"):
        table.add_column(header, justify="right", no_wrap=True)
    count_keys = ["tp", "fp", "tn", "fn", "n"] + (["unparseable"] if show_unparseable else [])
    for key in count_keys:
        header = "Unparseable" if key == "unparseable" else key.upper()
        table.add_column(header, justify="right", no_wrap=True)
    for name, row in rows.items():
        rates = [f"{100 * float(row[key]):.2f}" for key in RATE_KEYS]
        counts = [str(int(row.get(key, 0))) for key in count_keys]
        table.add_row(name, *rates, *counts)
    return table
