"""The language tools of AMBER's official ``inference.py``: NLTK for nouns, spaCy for similarity.

Optional (the ``amber`` extra): spaCy, NLTK and their data are imported and checked here only,
and a missing piece is one :class:`UserError` line with the commands that install it. Nothing
is ever downloaded.

As the official script: ``nltk.word_tokenize`` -> ``nltk.pos_tag`` -> tags starting ``NN`` ->
``WordNetLemmatizer().lemmatize(word)`` (noun lemma, no lower-casing); similarity is
``nlp(a).similarity(nlp(b))`` with spaCy's UserWarnings (empty vectors) silenced. ``nlp(word)``
is cached per word and the similarity per pair, since the official loop asks for the same
pairs for every noun of every description.
"""

from __future__ import annotations

import functools
import importlib
import re
import warnings
from typing import Any

from hadpo_cli.errors import UserError
from hadpo_cli.metrics.amber import LanguageTools

DEFAULT_MODEL = "en_core_web_lg"

# What each NLTK step loads, by the name the installed NLTK asks for; these are the names
# NLTK >= 3.9 uses (older releases ask for punkt and averaged_perceptron_tagger, and say so).
_NLTK_STEPS = (
    ("tokenizer", "punkt_tab"),
    ("tagger", "averaged_perceptron_tagger_eng"),
    ("lemmatizer", "wordnet"),
)
_NLTK_RESOURCE = re.compile(r"nltk\.download\(\s*['\"]([^'\"]+)['\"]")


class _SpacyNltkTools:
    def __init__(self, nlp: Any, nltk: Any, lemmatizer: Any):
        self._nlp = nlp
        self._nltk = nltk
        self._lemmatizer = lemmatizer
        self._doc = functools.lru_cache(maxsize=None)(self._make_doc)
        self._similarity = functools.lru_cache(maxsize=None)(self._pair_similarity)

    def nouns(self, text: str) -> list[str]:
        tagged = self._nltk.pos_tag(self._nltk.word_tokenize(text))
        return [self._lemmatizer.lemmatize(word) for word, pos in tagged if pos.startswith("NN")]

    def similarity(self, a: str, b: str) -> float:
        return self._similarity(a, b)

    def _make_doc(self, word: str) -> Any:
        return self._nlp(word)

    def _pair_similarity(self, a: str, b: str) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # W008: a word without a vector -> 0.0
            return float(self._doc(a).similarity(self._doc(b)))


def _import(name: str) -> Any | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _missing_nltk_data(nltk: Any) -> list[str]:
    """The NLTK resources the pipeline needs and cannot find, found by running each step once."""
    from nltk.stem import WordNetLemmatizer

    steps = {
        "tokenizer": lambda: nltk.word_tokenize("A cat sat."),
        "tagger": lambda: nltk.pos_tag(["A", "cat", "sat", "."]),
        "lemmatizer": lambda: WordNetLemmatizer().lemmatize("cats"),
    }
    missing = []
    for step, default in _NLTK_STEPS:
        try:
            steps[step]()
        except LookupError as exc:
            found = _NLTK_RESOURCE.search(str(exc))
            missing.append(found.group(1) if found else default)
    return missing


def load_language_tools(model: str = DEFAULT_MODEL) -> LanguageTools:
    """spaCy ``model`` and NLTK, checked; :class:`UserError` naming whatever is missing."""
    missing: list[str] = []
    commands: list[str] = []
    spacy = _import("spacy")
    nltk = _import("nltk")
    packages = [name for name, mod in (("spaCy", spacy), ("NLTK", nltk)) if mod is None]
    if packages:
        missing += packages
        commands.append("pip install 'hadpo[amber]'")
    nlp = None
    if spacy is None:
        commands.append(f"python -m spacy download {model}")  # cannot check it yet: it will be needed
    else:
        try:
            nlp = spacy.load(model)
        except OSError:  # E050: no such package or path
            missing.append(f"the spaCy model {model}")
            commands.append(f"python -m spacy download {model}")
    resources = [name for _, name in _NLTK_STEPS] if nltk is None else _missing_nltk_data(nltk)
    if resources:
        if nltk is not None:
            missing.append(f"NLTK data ({', '.join(resources)})")
        commands.append(f"python -m nltk.downloader {' '.join(resources)}")
    if missing:
        raise UserError(
            f"AMBER's generative scoring needs {_and(missing)}, not installed; install with: "
            + " && ".join(commands)
        )
    if nlp is not None and not _has_vectors(nlp):
        raise UserError(
            f"the spaCy model {model} has no word vectors, which AMBER's similarity needs "
            f"(use {DEFAULT_MODEL}: python -m spacy download {DEFAULT_MODEL})"
        )
    from nltk.stem import WordNetLemmatizer

    return _SpacyNltkTools(nlp, nltk, WordNetLemmatizer())


def _has_vectors(nlp: Any) -> bool:
    try:
        return int(nlp.vocab.vectors.shape[0]) > 0
    except (AttributeError, TypeError, IndexError):
        return True  # cannot tell: let spaCy itself decide


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
