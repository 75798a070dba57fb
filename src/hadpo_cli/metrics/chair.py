"""CHAIR object-hallucination scores of image captions (pure: no I/O, no model).

CHAIR is the protocol of Rohrbach et al. 2018, "Object Hallucination in Image Captioning",
as implemented in ``utils/chair.py`` of github.com/LisaAnne/Hallucination (the canonical
code). A caption's *mentions* are the words that name one of the 80 COCO categories; each
counts as its category (its "node word"), with repetition:

1. the caption is lowercased and tokenised;
2. every token is singularised;
3. two-token phrases are merged left to right ("hot dog", "teddy bear", "traffic light";
   "baby elephant" -> "elephant" and "passenger train" -> "train", so neither is a person;
   "bow tie" -> "tie"; "toilet seat" -> "toilet"), see :mod:`hadpo_cli.metrics.chair_words`;
4. if both "toilet" and "seat" remain, every "seat" is dropped (a toilet seat is no chair);
5. the words in the synonym table are kept and mapped to their category.

An image's ground truth is the set of categories of its COCO instance annotations plus those
mentioned (by the same steps) in its reference captions. A mention is *hallucinated* when its
category is not in the ground truth. Over a corpus of captions:

* CHAIRs = captions with at least one hallucinated mention / captions;
* CHAIRi = hallucinated mentions / all mentions (sums over all captions);
* recall = distinct ground-truth categories mentioned / ground-truth categories, each summed
  over captions (the addition of github.com/Maxlinn/CHAIR-metric-standalone, not in the
  canonical code);
* average length = words per caption, where words are whitespace-separated tokens
  (``len(caption.split())``).

All four are fractions (not percentages) and ``None`` where the denominator is 0 (no caption,
no mention, no ground-truth object); the canonical code divides by zero there.

Where this differs from the canonical code, on purpose:

* **Tokenisation** is one regular expression (:func:`tokenize`) instead of
  ``nltk.word_tokenize``, so no NLTK data is downloaded. On ordinary English it splits text as
  NLTK's word tokenizer does (checked against NLTK 3.9): words, with hyphenated and
  slash-joined words kept whole (``hot-dog`` and ``cat/dog`` are one token that names no
  object, as in NLTK); punctuation split off, one character a token (``...`` and ``--`` one
  token each; a comma or colon between digits kept: ``1,000``, ``10:30``); the clitics
  ``'s``, ``'re``, ``'ve``, ``'ll``, ``'m``, ``'d`` and ``n't`` split off (``dog's`` ->
  ``dog 's``, ``don't`` -> ``do n't``); ``cannot``, ``gonna``, ``gotta``, ``wanna``,
  ``gimme``, ``lemme`` split in two. It differs in: (a) NLTK splits a period off a word only
  at the end of a sentence found by its Punkt model, so the period of an abbreviation
  (``mr.``, ``u.s.``) stays on the word there and is split off here; (b) typographic quotes are split off like ASCII ones and the
  apostrophe ``’`` is read as ``'`` (``dog’s`` -> ``dog 's``, ``“cat”`` -> ``“ cat ”``), as
  current NLTK does but not the Treebank tokenizer of the 2018 NLTK releases the canonical
  code ran on, which kept ``dog’s`` and ``“cat”`` whole and so missed those objects (current
  NLTK gives ``dog ’ s``: one token more); (c) NLTK rewrites a double quote as a
  two-character quote token. Only (b) can change which objects are found; (a) and (c) can
  only shift token positions (:attr:`Mention.index`).
* **Singularisation** uses the ``inflect`` package (``singular_noun``; a word it returns
  ``False`` for is already singular) instead of ``pattern.en.singularize``, which is
  unmaintained and over-singularises (``glass`` -> ``glas``, hence the canonical
  ``wine glas`` entry, kept here anyway). A word of the synonym table is never singularised
  into a word outside it, and two plural forms inflect misses are completed the way
  pattern.en does (``grandchildren`` -> ``grandchild``, ``mouses`` -> ``mouse``). Run over
  pattern.en's own English lexicon (78,000 words) and the plural forms of every table word,
  the two pipelines give different words of the table on these words only, each counted here
  and not by the canonical code:

  - ``bus``, ``minibus``, ``airbus``: pattern.en gives ``bu``, ``minibu``, ``airbu``, so the
    canonical code never counts a bus named in the singular (``buses`` it does count);
  - ``ties`` (pattern.en: ``ty``), ``canoes`` (``cano``), ``magpies`` (``magpy``),
    ``thieves`` (``thieve``), and ``collies``, ``doggies`` (left plural by pattern.en) are
    tie, boat, bird, person and dog here.

  ``glass`` stays ``glass`` here (pattern.en: ``glas``), so ``wine glass`` is matched
  directly rather than through ``wine glas``: the same result.
* **Token positions** (:attr:`Mention.index`) are the positions in :func:`tokenize`'s output
  of a mention's first token. The canonical ``hallucination_idxs`` come out shifted for
  mentions after a dropped "seat" (its list of positions is not filtered with the words); the
  scores are unaffected.

Kept from the canonical code, though they look like slips, because results depend on them:
``motor bike`` and ``cheesecake`` (a leading space in the table) and ``iPhone`` (a capital)
never match; ``motor bike`` is still merged into one word, so neither "motor" nor "bike"
counts. ``stove top oven`` has three tokens and never merges (``stove`` and ``oven`` each
count as oven). ``sports ball`` and ``tennis racket`` never merge, as the first word is
singularised to ``sport`` / ``tenni`` first; ``ball`` and ``racket`` alone count as the same
categories. ``train track`` and ``home plate`` merge into words outside the table, so they
name no train and no plate. ``bow`` is a tie and ``orange`` a fruit, whatever the caption
meant.

Per-caption numbers are plain columns (:meth:`CaptionScore.columns`) and the corpus metrics
are functions of those columns (:data:`METRIC_FNS`), the form `hadpo compare` resamples for
paired bootstrap intervals; :func:`aggregate` evaluates the same functions once.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hadpo_cli.metrics.chair_words import SYNONYMS, double_word_table
from hadpo_cli.metrics.paired import col_mean, ratio_of_sums

# -- tokenisation ----------------------------------------------------------------------------------
_CLITICS = r"(?:s|m|d|ll|re|ve)"
# Characters NLTK splits off a word (and the apostrophe, period, comma and colon, which it splits
# only in some places, handled below). Hyphens, slashes, "+", "=", "_" and the like stay inside.
_SPLIT = "\\s.,:;@#$%&?!()\\[\\]{}<>\"*`'\u2018\u2019\u201c\u201d\u00ab\u00bb-"
_CHAR = rf"(?:[^{_SPLIT}]|-(?!-))"  # a hyphen, unless it starts "--"
_TOKEN = re.compile(
    rf"""
    \b(?:can(?=not\b)|gon(?=na\b)|got(?=ta\b)|wan(?=na\b)|gim(?=me\b)|lem(?=me\b))
    | \w+(?=n't\b)            # "do" of "don't": the negation clitic follows
    | n't\b
    | '{_CLITICS}\b           # 's 're 've 'll 'm 'd, split off the word before
    | {_CHAR}+(?:(?:\.|[,:](?=\d)|'(?!(?:{_CLITICS}|t)\b)){_CHAR}+)*
                              # a word, with '3.5', '1,000', '10:30', "o'clock" inside it
    | \.{{2,}} | --            # ellipsis, dash
    | \S                       # any other character: one a token
    """,
    re.VERBOSE | re.IGNORECASE,
)


def tokenize(text: str) -> list[str]:
    """Tokens of ``text`` as ``nltk.word_tokenize`` splits ordinary English (case kept).

    ``A dog's bowl, isn't it?`` -> ``A dog 's bowl , is n't it ?``. See the module docstring
    for where it differs from NLTK.
    """
    return _TOKEN.findall(text.replace("\u2019", "'"))


def count_words(caption: str) -> int:
    """Words of a caption for the average length: whitespace-separated tokens."""
    return len(caption.split())


@functools.lru_cache(maxsize=1)
def _inflect_engine() -> Any:
    import inflect  # imported here: only `hadpo eval chair` needs it

    return inflect.engine()


# -- vocabulary ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Mention:
    """One word of a caption that names a COCO category."""

    word: str  # the word as matched (singularised; a merged phrase such as "hot dog")
    node: str  # its COCO category
    index: int  # position of its (first) token in tokenize(caption.lower())


class ChairVocabulary:
    """The synonym table and double-word rules, and the caption -> mentions pipeline."""

    def __init__(
        self,
        synonyms: Iterable[tuple[str, Iterable[str]]] = SYNONYMS,
        double_words: Mapping[str, str] | None = None,
    ) -> None:
        self.node_of: dict[str, str] = {}
        for category, words in synonyms:
            self.node_of[category] = category
            for word in words:
                self.node_of[word] = category
        self.categories: tuple[str, ...] = tuple(dict.fromkeys(self.node_of.values()))
        self.double_words: dict[str, str] = dict(
            double_word_table() if double_words is None else double_words
        )
        self._singular: dict[str, str] = {}

    def node(self, name: str) -> str:
        """The category a word of the table (a COCO category name included) counts as."""
        try:
            return self.node_of[name]
        except KeyError:
            raise ValueError(f"{name!r} is not a COCO category or one of its synonyms") from None

    def singular(self, word: str) -> str:
        """Singular of a lowercase token, never turning a table word into a non-table word."""
        cached = self._singular.get(word)
        if cached is None:
            cached = self._singular[word] = self._singularise(word)
        return cached

    def _singularise(self, word: str) -> str:
        if not word[:1].isalpha():  # punctuation, numbers, clitics
            return word
        guess = _inflect_engine().singular_noun(word) or word
        if guess in self.node_of:  # dogs -> dog, people -> person, skis -> ski
            return guess
        if word in self.node_of:  # bus, minibus, airbus: not "bu", "minibu", "airbu"
            return word
        # Plurals inflect leaves alone or mangles, which pattern.en brings into the table.
        if word.endswith("children"):  # grandchildren
            return word[: -len("ren")]
        if word.endswith("s") and word[:-1] in self.node_of:  # mouses (inflect: "mous")
            return word[:-1]
        return guess

    def caption_words(self, caption: str) -> list[tuple[str, int]]:
        """Every word of a caption after singularising, merging double words and the toilet-seat
        rule, with the token position it starts at (steps 1-4 of the module docstring)."""
        tokens = [self.singular(t) for t in tokenize(caption.lower())]
        words: list[tuple[str, int]] = []
        i = 0
        while i < len(tokens):
            merged = self.double_words.get(f"{tokens[i]} {tokens[i + 1]}") if i + 1 < len(tokens) else None
            if merged is not None:
                words.append((merged, i))
                i += 2
            else:
                words.append((tokens[i], i))
                i += 1
        present = {w for w, _ in words}
        if "toilet" in present and "seat" in present:
            words = [(w, i) for w, i in words if w != "seat"]
        return words

    def caption_mentions(self, caption: str) -> list[Mention]:
        """The words of a caption that name a COCO category, in order, repeats included."""
        return [Mention(w, self.node_of[w], i) for w, i in self.caption_words(caption) if w in self.node_of]

    def caption_objects(self, caption: str) -> set[str]:
        return {m.node for m in self.caption_mentions(caption)}

    def score_caption(self, caption: str, ground_truth: Iterable[str]) -> CaptionScore:
        truth = set(ground_truth)
        mentions = self.caption_mentions(caption)
        return CaptionScore(
            mentioned=[m.node for m in mentions],
            hallucinated=[(m.word, m.node) for m in mentions if m.node not in truth],
            ground_truth=sorted(truth),
            recalled=sorted({m.node for m in mentions if m.node in truth}),
            words=count_words(caption),
        )

    def ground_truth_objects(
        self,
        instance_pairs: Iterable[tuple[int, str]],
        captions: Iterable[tuple[int, str]],
        image_ids: Iterable[int],
    ) -> dict[int, set[str]]:
        """Ground-truth categories of each image in ``image_ids`` (an empty set if it has none):
        those of its instance annotations, ``(image_id, category name)``, plus those its
        reference captions, ``(image_id, caption)``, mention. Pairs of other images are skipped.

        Raises ValueError for a category name not in the synonym table.
        """
        out: dict[int, set[str]] = {image_id: set() for image_id in image_ids}
        for image_id, name in instance_pairs:
            if image_id in out:
                out[image_id].add(self.node(name))
        for image_id, caption in captions:
            if image_id in out:
                out[image_id].update(self.caption_objects(caption))
        return out


@functools.lru_cache(maxsize=1)
def vocabulary() -> ChairVocabulary:
    """The protocol's vocabulary (built once)."""
    return ChairVocabulary()


def singular(word: str) -> str:
    """Singular of a lowercase word as CHAIR matching uses it (``buses`` -> ``bus``,
    ``bus`` -> ``bus``, ``knives`` -> ``knife``)."""
    return vocabulary().singular(word)


def caption_mentions(caption: str) -> list[Mention]:
    return vocabulary().caption_mentions(caption)


def score_caption(caption: str, ground_truth: Iterable[str]) -> CaptionScore:
    return vocabulary().score_caption(caption, ground_truth)


def ground_truth_objects(
    instance_pairs: Iterable[tuple[int, str]],
    captions: Iterable[tuple[int, str]],
    image_ids: Iterable[int],
) -> dict[int, set[str]]:
    return vocabulary().ground_truth_objects(instance_pairs, captions, image_ids)


# -- scores ----------------------------------------------------------------------------------------
COLUMNS = (
    "hallucinated_caption",
    "mentions",
    "hallucinated_mentions",
    "gt_objects",
    "recalled_objects",
    "words",
)


@dataclass(frozen=True)
class CaptionScore:
    mentioned: list[str]  # categories mentioned, in order, repeats included
    hallucinated: list[tuple[str, str]]  # (word, category) of each mention not in the ground truth
    ground_truth: list[str]  # the image's ground-truth categories, sorted
    recalled: list[str]  # distinct categories both mentioned and in the ground truth, sorted
    words: int  # whitespace-separated words of the caption

    def columns(self) -> dict[str, int]:
        """This caption's numbers, summed or averaged over captions by :data:`METRIC_FNS`."""
        return {
            "hallucinated_caption": int(bool(self.hallucinated)),
            "mentions": len(self.mentioned),
            "hallucinated_mentions": len(self.hallucinated),
            "gt_objects": len(self.ground_truth),
            "recalled_objects": len(self.recalled),
            "words": self.words,
        }


def score_columns(scores: Sequence[CaptionScore]) -> dict[str, np.ndarray]:
    """Per-caption columns, one float array per name in :data:`COLUMNS`."""
    rows = [s.columns() for s in scores]
    return {name: np.array([r[name] for r in rows], dtype=float) for name in COLUMNS}


def _chair_s(c: Mapping[str, np.ndarray], axis: int) -> np.ndarray:
    return col_mean(c, "hallucinated_caption", axis)


def _chair_i(c: Mapping[str, np.ndarray], axis: int) -> np.ndarray:
    return ratio_of_sums(c, "hallucinated_mentions", "mentions", axis)


def _recall(c: Mapping[str, np.ndarray], axis: int) -> np.ndarray:
    return ratio_of_sums(c, "recalled_objects", "gt_objects", axis)


def _avg_length(c: Mapping[str, np.ndarray], axis: int) -> np.ndarray:
    return col_mean(c, "words", axis)


METRIC_FNS: dict[str, Callable[[Mapping[str, np.ndarray], int], np.ndarray]] = {
    "chair_s": _chair_s,
    "chair_i": _chair_i,
    "recall": _recall,
    "avg_length": _avg_length,
}


def aggregate(scores: Sequence[CaptionScore]) -> dict[str, float | int | None]:
    """Corpus CHAIRs, CHAIRi, recall (fractions), average length and the number of captions;
    a metric whose denominator is 0 is ``None``."""
    out: dict[str, float | int | None] = {}
    cols = score_columns(scores)
    for name, fn in METRIC_FNS.items():
        if not scores:
            out[name] = None
            continue
        value = float(fn(cols, -1))
        out[name] = value if np.isfinite(value) else None
    out["num_captions"] = len(scores)
    return out
