"""AMBER (Wang et al. 2023): per-item scoring and the corpus metrics, following the official
``inference.py`` of junyangwang0410/AMBER. Pure: the language tools (spaCy, NLTK) come in as a
:class:`LanguageTools` object (the real one is :func:`hadpo_cli.metrics.amber_language.load_language_tools`).

Discriminative task (ids >= 1005, truth "yes"/"no"). The positive class is **"no"** (the
hallucination): accuracy = correct / all; precision = (truth no and answered no) / answered no;
recall = (truth no and answered no) / truth no; F1 of the "no" class. Per dimension the same over
that dimension's questions; "attribute" pools state, number and action. The official code sends
every non-generative type that is not existence/state/number/action to relation, so both
``discriminative-relation`` and plain ``relation`` (689 questions in the released file) are
relation here.

Generative task (ids 1..1004, ``truth`` and ``hallu`` object lists), per response, exactly the
official loop, quirks included:

* nouns: NLTK tokens tagged NN*, WordNet-lemmatised (no lower-casing: "Dog" opening a sentence is
  not "dog"), kept only when they are in the vocabulary of ``relation.json`` (every key and every
  associated word);
* safe words = the associations of each truth object, then the truth objects; hallucination
  words (ha words) = the associations of each hallu object, then the hallu objects. A match marks
  the *object's* slot: the object an association word was listed under, or the object itself.
  Only the first matching entry in that order is marked, so an object listed twice in ``truth``
  can never be covered twice;
* for each kept noun: a global safe word (``safe_words.txt``) is skipped, but still counts as a
  noun (CHAIR's denominator); an exact safe word marks cover and ends the noun; an exact ha word
  marks cog (and the noun goes on); then the first ha word with similarity > threshold marks cog;
  then the first safe word with similarity > threshold marks cover and the noun is not
  hallucinated; otherwise it is;
* CHAIR = hallucinated nouns / kept nouns; Cover = covered truth objects / truth objects;
  Hal = share of responses with a hallucinated noun; Cog = marked hallu objects / hallu objects
  (all sums over the corpus). The official ``lst[-0:]`` on an empty truth or hallu list is the
  whole list, but that list is empty then too, so such an object list adds 0 to both sums; so here.

AMBER score = (1 - CHAIR + F1) / 2 (the paper's (100 - CHAIR + F1) / 2, as a fraction), with F1
of the whole discriminative task.

Differences from the official script, by design:

* Answers: the official code counts a discriminative answer only when it is exactly ``"Yes"`` or
  ``"No"``. Here an answer is first read by a yes/no parser (:data:`hadpo_cli.metrics.pope.PARSERS`:
  "pope" or "strict", or :func:`parse_exact`, which is the official rule). "Yes" and "No" score
  exactly as official under every parser; other answers ("Yes.", "yes, there is") count as the
  parser reads them; an answer the parser cannot read (``None``) is wrong and not an answered "no".
* Arithmetic: the official counters start at 0.001 (``metrics.txt``) so nothing divides by zero,
  and the printed F1 is computed from precision and recall already rounded to 0.1 points, plus an
  epsilon in the denominator (1e-4; 1e-3 for existence). Here every figure is an exact fraction,
  F1 = 2 * hits / (answered no + truth no), which equals 2PR / (P + R) whenever both are defined.
  On the released data this moves printed figures by at most about 0.1 point.
* Undefined figures: a zero denominator gives ``None`` (official: 0.0 through the 0.001
  counters). F1 is ``None`` only when there is neither a truth "no" nor an answered "no"; with no
  hit it is 0, as the official script prints.
* An unknown annotation type is an error here (official: counted as relation).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from hadpo_cli.metrics.paired import Columns, MetricFn
from hadpo_cli.metrics.pope import PARSERS, YesNo

GENERATIVE = "generative"
DISCRIMINATIVE = "discriminative"

DIMENSIONS = ("existence", "state", "number", "action", "relation")
ATTRIBUTE = ("state", "number", "action")
# Dimensions as reported: the five, plus attribute pooled, in the official print order.
REPORTED_DIMENSIONS = ("existence", "attribute", "state", "number", "action", "relation")
DISCRIMINATIVE_KEYS = ("accuracy", "precision", "recall", "f1")
GENERATIVE_KEYS = ("chair", "cover", "hal", "cog")

DEFAULT_THRESHOLD = 0.8  # inference.py --similarity_score

_TYPE_DIMENSION = {
    "discriminative-hallucination": "existence",
    "discriminative-attribute-state": "state",
    "discriminative-attribute-number": "number",
    "discriminative-attribute-action": "action",
    "discriminative-relation": "relation",
    "relation": "relation",  # the released annotations spell 689 relation questions this way
}
ANNOTATION_TYPES = (GENERATIVE, *_TYPE_DIMENSION)

# Per-item numeric columns, every item carries all of them (0 for the other task), so one set
# of columns over a whole run serves every metric and the paired bootstrap.
DISCRIMINATIVE_COLUMNS = (
    "is_discriminative",
    "correct",
    "truth_no",
    "answered_no",
    "no_hit",
    "unparseable",
    *(f"is_{dim}" for dim in DIMENSIONS),
)
GENERATIVE_COLUMNS = (
    "is_generative",
    "chair_score",
    "chair_num",
    "cover_score",
    "cover_num",
    "cog_score",
    "cog_num",
    "hal",
)
COLUMNS = DISCRIMINATIVE_COLUMNS + GENERATIVE_COLUMNS


@runtime_checkable
class LanguageTools(Protocol):
    """What the generative scoring needs from spaCy and NLTK."""

    def nouns(self, text: str) -> list[str]:
        """Lemmatised nouns of ``text`` in order, repeats kept (NLTK tokens tagged NN*)."""
        ...

    def similarity(self, a: str, b: str) -> float:
        """Word-vector similarity of two words (spaCy ``nlp(a).similarity(nlp(b))``)."""
        ...


# -- discriminative ------------------------------------------------------------------------------
def dimension_of(type_str: str) -> str:
    """The dimension of a discriminative annotation type: one of :data:`DIMENSIONS`."""
    try:
        return _TYPE_DIMENSION[type_str]
    except KeyError:
        if type_str == GENERATIVE:
            raise ValueError("a generative item has no discriminative dimension") from None
        raise ValueError(f"unknown AMBER annotation type {type_str!r}") from None


def parse_exact(text: str) -> YesNo | None:
    """The official rule: exactly ``"Yes"`` or ``"No"``, anything else is neither."""
    return "yes" if text == "Yes" else "no" if text == "No" else None


Parser = Callable[[str], "YesNo | None"]


def resolve_parser(parser: str | Parser) -> Parser:
    """A parser by name (one of POPE's, or "exact"), or the function given."""
    if callable(parser):
        return parser
    if parser == "exact":
        return parse_exact
    try:
        return PARSERS[parser]
    except KeyError:
        raise ValueError(f"unknown parser {parser!r}; one of {sorted([*PARSERS, 'exact'])}") from None


def score_discriminative(
    item_id: int, type_str: str, truth: str, response: str, parser: str | Parser = "strict"
) -> dict[str, Any]:
    """One yes/no question: the parsed answer and the per-item counts.

    ``parser``: a name in :data:`~hadpo_cli.metrics.pope.PARSERS` (or ``"exact"``), or a
    function text -> "yes"/"no"/None.
    """
    if truth not in ("yes", "no"):
        raise ValueError(f"item {item_id}: truth must be 'yes' or 'no', got {truth!r}")
    dimension = dimension_of(type_str)
    answer = resolve_parser(parser)(response)
    if answer not in ("yes", "no", None):
        raise ValueError(f"item {item_id}: parser returned {answer!r}, expected 'yes', 'no' or None")
    truth_no = int(truth == "no")
    answered_no = int(answer == "no")
    out: dict[str, Any] = {
        "id": item_id,
        "task": DISCRIMINATIVE,
        "type": type_str,
        "dimension": dimension,
        "truth": truth,
        "response": response,
        "answer": answer,
    }
    out.update({col: 0 for col in COLUMNS})
    out.update(
        is_discriminative=1,
        correct=int(answer == truth),
        truth_no=truth_no,
        answered_no=answered_no,
        no_hit=truth_no * answered_no,
        unparseable=int(answer is None),
    )
    out[f"is_{dimension}"] = 1
    return out


# -- generative ----------------------------------------------------------------------------------
def vocabulary(association: Mapping[str, Sequence[str]]) -> frozenset[str]:
    """Every word of ``relation.json``: the keys and every word listed under them."""
    words = set(association)
    for listed in association.values():
        words.update(listed)
    return frozenset(words)


def _entries(objects: Sequence[str], association: Mapping[str, Sequence[str]]) -> list[tuple[str, int]]:
    """(word, object slot) in the official order: every object's associations, then the objects."""
    out = []
    for slot, obj in enumerate(objects):
        if obj not in association:
            raise ValueError(f"object {obj!r} is not a key of the association (relation.json)")
        out.extend((word, slot) for word in association[obj])
    out.extend((obj, slot) for slot, obj in enumerate(objects))
    return out


def score_generative(
    response: str,
    truth: Sequence[str],
    hallu: Sequence[str],
    *,
    association: Mapping[str, Sequence[str]],
    safe_words: Collection[str],
    tools: LanguageTools,
    threshold: float = DEFAULT_THRESHOLD,
    vocab: Collection[str] | None = None,
    item_id: int | None = None,
) -> dict[str, Any]:
    """One description: the official per-response counts, and the words behind them.

    ``safe_words`` is the global list (``safe_words.txt``); ``vocab`` the vocabulary of
    ``association`` when the caller has it already (see :func:`vocabulary`).
    """
    vocab = vocabulary(association) if vocab is None else vocab
    safe = _entries(truth, association)
    ha = _entries(hallu, association)
    covered = [False] * len(truth)
    cog = [False] * len(hallu)

    def first_exact(noun: str, entries: list[tuple[str, int]]) -> int | None:
        return next((slot for word, slot in entries if word == noun), None)

    def first_similar(noun: str, entries: list[tuple[str, int]]) -> int | None:
        return next((slot for word, slot in entries if tools.similarity(noun, word) > threshold), None)

    nouns = [noun for noun in tools.nouns(response) if noun in vocab]
    hallucinated: list[str] = []
    globally_safe: list[str] = []
    for noun in nouns:
        if noun in safe_words:
            globally_safe.append(noun)
            continue
        slot = first_exact(noun, safe)
        if slot is not None:
            covered[slot] = True
            continue
        slot = first_exact(noun, ha)
        if slot is not None:
            cog[slot] = True  # and the noun goes on to the similarity checks
        slot = first_similar(noun, ha)
        if slot is not None:
            cog[slot] = True
        slot = first_similar(noun, safe)
        if slot is not None:
            covered[slot] = True
            continue
        hallucinated.append(noun)

    out: dict[str, Any] = {"id": item_id, "task": GENERATIVE, "response": response}
    out.update({col: 0 for col in COLUMNS})
    out.update(
        is_generative=1,
        chair_score=len(hallucinated),
        chair_num=len(nouns),
        cover_score=sum(covered),
        cover_num=len(truth),
        cog_score=sum(cog),
        cog_num=len(hallu),
        hal=int(bool(hallucinated)),
        nouns=nouns,
        hallucinated=hallucinated,
        globally_safe=globally_safe,
        covered=[obj for obj, hit in zip(truth, covered, strict=True) if hit],
        cog=[obj for obj, hit in zip(hallu, cog, strict=True) if hit],
    )
    return out


# -- corpus metrics over per-item columns --------------------------------------------------------
def _masked_sum(c: Columns, name: str, mask: np.ndarray | None, axis: int) -> np.ndarray:
    values = np.asarray(c[name], dtype=float)
    return np.sum(values if mask is None else values * mask, axis=axis)


def _ratio(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """``top / bottom``; NaN (undefined) where ``bottom`` is 0."""
    top, bottom = np.asarray(top, dtype=float), np.asarray(bottom, dtype=float)
    return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1), np.nan)


def _mask(c: Columns, dims: Sequence[str]) -> np.ndarray:
    mask = np.asarray(c[f"is_{dims[0]}"], dtype=float)
    for dim in dims[1:]:
        mask = mask + np.asarray(c[f"is_{dim}"], dtype=float)
    return mask


def _discriminative_fns(dims: Sequence[str] | None) -> dict[str, MetricFn]:
    """accuracy/precision/recall/F1 over the questions of ``dims`` (all questions for None)."""

    def sums(c: Columns, axis: int, num: str, den: str) -> tuple[np.ndarray, np.ndarray]:
        mask = None if dims is None else _mask(c, dims)
        return _masked_sum(c, num, mask, axis), _masked_sum(c, den, mask, axis)

    def accuracy(c: Columns, axis: int) -> np.ndarray:
        return _ratio(*sums(c, axis, "correct", "is_discriminative"))

    def precision(c: Columns, axis: int) -> np.ndarray:
        return _ratio(*sums(c, axis, "no_hit", "answered_no"))

    def recall(c: Columns, axis: int) -> np.ndarray:
        return _ratio(*sums(c, axis, "no_hit", "truth_no"))

    def f1(c: Columns, axis: int) -> np.ndarray:
        # 2PR / (P + R) = 2 hits / (answered no + truth no): one ratio, so it resamples exactly.
        hits, answered = sums(c, axis, "no_hit", "answered_no")
        _, truth_no = sums(c, axis, "no_hit", "truth_no")
        return _ratio(2 * hits, answered + truth_no)

    return {"accuracy": accuracy, "precision": precision, "recall": recall, "f1": f1}


def _generative_fns() -> dict[str, MetricFn]:
    def ratio(num: str, den: str) -> MetricFn:
        def fn(c: Columns, axis: int) -> np.ndarray:
            return _ratio(_masked_sum(c, num, None, axis), _masked_sum(c, den, None, axis))

        return fn

    return {
        "chair": ratio("chair_score", "chair_num"),
        "cover": ratio("cover_score", "cover_num"),
        "hal": ratio("hal", "is_generative"),
        "cog": ratio("cog_score", "cog_num"),
    }


def _build_metric_fns() -> dict[str, MetricFn]:
    fns: dict[str, MetricFn] = {}
    for key, fn in _discriminative_fns(None).items():
        fns[f"{DISCRIMINATIVE}.{key}"] = fn
    for dim in REPORTED_DIMENSIONS:
        dims = ATTRIBUTE if dim == "attribute" else (dim,)
        for key, fn in _discriminative_fns(dims).items():
            fns[f"{DISCRIMINATIVE}.{dim}.{key}"] = fn
    for key, fn in _generative_fns().items():
        fns[f"{GENERATIVE}.{key}"] = fn
    chair, f1 = fns[f"{GENERATIVE}.chair"], fns[f"{DISCRIMINATIVE}.f1"]

    def amber_score(c: Columns, axis: int) -> np.ndarray:
        return (1 - chair(c, axis) + f1(c, axis)) / 2  # NaN if either is undefined

    fns["amber_score"] = amber_score
    return fns


# Every AMBER figure as metric(columns, axis) -> array, columns from :func:`item_columns`.
METRIC_FNS: dict[str, MetricFn] = _build_metric_fns()


def item_columns(items: Iterable[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """The numeric columns of scored items (any mix of the two tasks), items along axis 0."""
    rows = list(items)
    return {col: np.array([row.get(col, 0) for row in rows], dtype=float) for col in COLUMNS}


def _value(x: np.ndarray) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def aggregate(items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The metrics.json figures of scored items, fractions in [0, 1] (``None`` where undefined).

    A task with no item is absent; ``amber_score`` only when both tasks ran.
    """
    cols = item_columns(items)
    values = {name: _value(fn(cols, 0)) for name, fn in METRIC_FNS.items()}
    out: dict[str, Any] = {}
    num_questions = int(cols["is_discriminative"].sum())
    num_responses = int(cols["is_generative"].sum())
    if num_questions:
        part: dict[str, Any] = {key: values[f"{DISCRIMINATIVE}.{key}"] for key in DISCRIMINATIVE_KEYS}
        for dim in REPORTED_DIMENSIONS:
            part[dim] = {key: values[f"{DISCRIMINATIVE}.{dim}.{key}"] for key in DISCRIMINATIVE_KEYS}
        part["num_questions"] = num_questions
        out[DISCRIMINATIVE] = part
    if num_responses:
        out[GENERATIVE] = {key: values[f"{GENERATIVE}.{key}"] for key in GENERATIVE_KEYS}
        out[GENERATIVE]["num_responses"] = num_responses
    if num_questions and num_responses:
        out["amber_score"] = values["amber_score"]
    return out
