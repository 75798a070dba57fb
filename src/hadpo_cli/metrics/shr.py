"""SHR metrics as pure functions, following the published HA-DPO protocol (``shr_utils.py``).

Definitions kept from the protocol, so numbers stay comparable with the paper:

* sentences: the response split on ``.``, each trimmed; empty pieces and repeats (a sentence
  equal to, or a substring of, an earlier kept one) are dropped;
* words: a sentence split on single spaces (``str.split(" ")``);
* n-gram repetition: ``.``, ``:``, ``?``, ``,`` and newlines removed, words split on any
  whitespace, then distinct n-grams / all n-grams per response, averaged over responses;
* hallucination ratios count ``cannot judge`` in the denominator; unjudged sentences are
  left out of the ratios (and reported separately, never dropped silently).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

HALLUCINATION = "hallucination"
CORRECT = "correct"
CANNOT_JUDGE = "cannot judge"
LABELS = (HALLUCINATION, CORRECT, CANNOT_JUDGE)

NGRAM_ORDERS = (1, 2, 3, 4)
_REPETITION_STRIP = (".", ":", "\n", "?", ",")


def split_sentences(response: str) -> list[str]:
    """Sentences of a response, trimmed, with empties and repeats dropped (published protocol)."""
    kept: list[str] = []
    for piece in response.split("."):
        sentence = piece.strip()
        if not sentence:
            continue
        # `in` on strings is substring containment: "a cat" is a repeat of "there is a cat".
        if any(sentence in earlier for earlier in kept):
            continue
        kept.append(sentence)
    return kept


def count_words(sentence: str) -> int:
    """Words as the protocol counts them: split on single spaces, so double spaces count extra."""
    return len(sentence.split(" "))


def distinct_ngram_ratio(response: str, n: int) -> float:
    """Distinct n-grams / all n-grams of one response; 1.0 when it has fewer than ``n`` words.

    The published code divides by zero there; a response too short to hold an n-gram
    repeats nothing, so it scores as fully distinct.
    """
    if n < 1:
        raise ValueError(f"n-gram order must be >= 1, got {n}")
    text = response
    for ch in _REPETITION_STRIP:
        text = text.replace(ch, "")
    words = text.split()
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 1.0
    return len(set(grams)) / len(grams)


def repetition_metrics(responses: Sequence[str]) -> dict[str, float | None]:
    """``gram-N-repetition`` for N = 1..4, averaged over responses (None when there are none)."""
    out: dict[str, float | None] = {}
    for n in NGRAM_ORDERS:
        ratios = [distinct_ngram_ratio(r, n) for r in responses]
        out[f"gram-{n}-repetition"] = sum(ratios) / len(ratios) if ratios else None
    return out


@dataclass(frozen=True)
class RunCounts:
    """Sentence and word counts of one judge run over every image."""

    images: int
    sentences: int
    words: int
    judged_sentences: int
    judged_words: int
    hal_sentences: int
    hal_words: int
    unjudged_sentences: int


def count_run(images: Iterable[Sequence[tuple[str, str | None]]]) -> RunCounts:
    """Count one run; each image is a list of ``(sentence, label or None when unjudged)``.

    Labels outside :data:`LABELS` count as unjudged, as the protocol skips them.
    """
    n_images = sentences = words = judged = judged_w = hal = hal_w = unjudged = 0
    for labelled in images:
        n_images += 1
        for sentence, label in labelled:
            w = count_words(sentence)
            sentences += 1
            words += w
            if label not in LABELS:
                unjudged += 1
                continue
            judged += 1
            judged_w += w
            if label == HALLUCINATION:
                hal += 1
                hal_w += w
    return RunCounts(n_images, sentences, words, judged, judged_w, hal, hal_w, unjudged)


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _hal_per_image(hal: int, c: RunCounts, images: int) -> float | None:
    """Hallucinated sentences (or words) per image; None when there were sentences but none was
    judged: 0.0 would read as "no hallucination" over a run that judged nothing."""
    if c.sentences and not c.judged_sentences:
        return None
    return _ratio(hal, images)


def run_metrics(c: RunCounts) -> dict[str, float | int | None]:
    """The per-run metrics of the protocol's ``get_metric`` (unrounded)."""
    return {
        "hal_sents_ratio": _ratio(c.hal_sentences, c.judged_sentences),
        "hal_words_ratio": _ratio(c.hal_words, c.judged_words),
        "num_images": c.images,
        "sents_per_image": _ratio(c.sentences, c.images),
        "words_per_image": _ratio(c.words, c.images),
        "hal_sents_per_image": _hal_per_image(c.hal_sentences, c, c.images),
        "hal_words_per_image": _hal_per_image(c.hal_words, c, c.images),
        "unjudged_sentences": c.unjudged_sentences,
    }


def combine_runs(runs: Sequence[RunCounts]) -> dict[str, float | int | None]:
    """Headline metrics over K judge runs.

    ``mean_hal_ratio`` is the mean of the per-run sentence ratios (as published); the other
    ratios pool the counts of all runs, per-image figures are means over runs, and
    ``unjudged_sentences`` sums the sentence judgements that are missing across runs.
    With one run, ``mean_hal_ratio == hal_sents_ratio``.
    """
    if not runs:
        raise ValueError("combine_runs needs at least one run")
    k = len(runs)
    per_run = [_ratio(r.hal_sentences, r.judged_sentences) for r in runs]
    known = [r for r in per_run if r is not None]
    images = runs[0].images
    total = RunCounts(*(sum(getattr(r, f) for r in runs) for f in RunCounts.__dataclass_fields__))
    return {
        "mean_hal_ratio": sum(known) / len(known) if known else None,
        "hal_sents_ratio": _ratio(total.hal_sentences, total.judged_sentences),
        "hal_words_ratio": _ratio(total.hal_words, total.judged_words),
        "num_images": images,
        "sents_per_image": _ratio(total.sentences, images * k),
        "words_per_image": _ratio(total.words, images * k),
        "hal_sents_per_image": _hal_per_image(total.hal_sentences, total, images * k),
        "hal_words_per_image": _hal_per_image(total.hal_words, total, images * k),
        "unjudged_sentences": total.unjudged_sentences,
    }
