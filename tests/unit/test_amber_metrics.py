"""AMBER scoring against hand-worked cases: the official generative loop (slots, order, quirks),
yes/no questions with "no" as the positive class, the corpus metrics, and the language-tools loader."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from hadpo_cli.errors import UserError
from hadpo_cli.metrics import amber_language
from hadpo_cli.metrics.amber import (
    COLUMNS,
    DIMENSIONS,
    METRIC_FNS,
    LanguageTools,
    aggregate,
    dimension_of,
    item_columns,
    parse_exact,
    score_discriminative,
    score_generative,
    vocabulary,
)
from hadpo_cli.metrics.paired import paired_bootstrap


# -- stand-ins -----------------------------------------------------------------------------------
class FakeTools:
    """Nouns per text written by hand; similarity from a symmetric table (1.0 for a word with itself)."""

    def __init__(self, nouns: dict[str, list[str]], similar: dict[tuple[str, str], float] | None = None):
        self._nouns = nouns
        self._similar = similar or {}
        self.calls: list[tuple[str, str]] = []

    def nouns(self, text: str) -> list[str]:
        return list(self._nouns[text])

    def similarity(self, a: str, b: str) -> float:
        self.calls.append((a, b))
        if a == b:
            return 1.0
        return self._similar.get((a, b), self._similar.get((b, a), 0.0))


ASSOCIATION = {
    "dog": ["puppy"],
    "grass": ["lawn"],
    "cat": ["kitten"],
    "person": ["man", "woman"],
    "man": [],
    "car": ["vehicle"],
    "automobile": [],
    "truck": ["lorry"],
    "lamp": ["light"],
    "light": [],
    "sky": [],
}
SAFE = ("light",)


def gen(text_nouns: list[str], truth: list[str], hallu: list[str], similar=None, **kw):
    tools = FakeTools({"text": text_nouns}, similar)
    return score_generative("text", truth, hallu, association=ASSOCIATION, safe_words=SAFE, tools=tools, **kw)


def counts(item: dict) -> tuple[int, ...]:
    keys = ("chair_score", "chair_num", "cover_score", "cover_num", "cog_score", "cog_num", "hal")
    return tuple(item[k] for k in keys)


def test_fake_tools_satisfy_the_protocol():
    assert isinstance(FakeTools({}), LanguageTools)


# -- generative ----------------------------------------------------------------------------------
def test_exact_safe_match_covers_the_object():
    item = gen(["dog"], ["dog", "grass"], ["cat"])
    assert item["covered"] == ["dog"] and item["hallucinated"] == [] and item["cog"] == []
    # chair 0/1, cover 1/2, cog 0/1, no hallucination
    assert counts(item) == (0, 1, 1, 2, 0, 1, 0)


def test_association_word_marks_its_objects_slot():
    # safe words: puppy(dog), lawn(grass), dog, grass. "lawn" is entry 1, listed under object 1.
    item = gen(["lawn"], ["dog", "grass"], ["cat"])
    assert item["covered"] == ["grass"]
    assert counts(item) == (0, 1, 1, 2, 0, 1, 0)
    item = gen(["puppy", "lawn"], ["dog", "grass"], ["cat"])
    assert item["covered"] == ["dog", "grass"] and item["cover_score"] == 2


def test_first_matching_entry_wins_associations_before_objects():
    # "man" is both an association of "person" (object 0) and object 1 itself: the association
    # entries come first, so the person slot is marked and the man slot never is.
    item = gen(["man"], ["person", "man"], [])
    assert item["covered"] == ["person"]
    assert (item["cover_score"], item["cover_num"]) == (1, 2)


def test_object_listed_twice_is_covered_once():
    item = gen(["dog", "dog"], ["dog", "dog"], [])
    assert (item["cover_score"], item["cover_num"]) == (1, 2)
    assert item["chair_num"] == 2 and item["chair_score"] == 0


def test_exact_ha_match_without_safe_match_is_hallucinated_and_marks_cog():
    item = gen(["cat"], ["dog"], ["cat", "truck"])
    assert item["hallucinated"] == ["cat"] and item["cog"] == ["cat"]
    assert counts(item) == (1, 1, 0, 1, 1, 2, 1)


def test_ha_association_marks_the_hallu_object():
    # ha words: kitten(cat), lorry(truck), cat, truck -> "lorry" marks object 1 (truck).
    item = gen(["lorry"], ["dog"], ["cat", "truck"])
    assert item["cog"] == ["truck"] and item["hallucinated"] == ["lorry"]


def test_exact_ha_match_does_not_end_the_noun():
    # No `continue` after the exact ha match: a safe word similar enough still saves the noun.
    item = gen(["cat"], ["dog"], ["cat"], similar={("cat", "dog"): 0.85})
    assert item["cog"] == ["cat"] and item["covered"] == ["dog"] and item["hallucinated"] == []
    assert counts(item) == (0, 1, 1, 1, 1, 1, 0)


def test_similarity_to_safe_word_saves_the_noun_and_covers():
    item = gen(["automobile"], ["car"], [], similar={("automobile", "car"): 0.9})
    assert item["covered"] == ["car"] and item["hallucinated"] == []
    assert counts(item) == (0, 1, 1, 1, 0, 0, 0)


def test_similarity_to_ha_word_marks_cog_and_noun_stays_hallucinated():
    item = gen(["automobile"], ["dog"], ["truck"], similar={("automobile", "truck"): 0.81})
    assert item["cog"] == ["truck"] and item["hallucinated"] == ["automobile"]
    assert counts(item) == (1, 1, 0, 1, 1, 1, 1)


def test_similarity_both_ways_cog_and_cover():
    sims = {("automobile", "truck"): 0.9, ("automobile", "car"): 0.9}
    item = gen(["automobile"], ["car"], ["truck"], similar=sims)
    assert item["cog"] == ["truck"] and item["covered"] == ["car"] and item["hallucinated"] == []


def test_similarity_threshold_is_strict_and_adjustable():
    sims = {("automobile", "car"): 0.8}
    assert gen(["automobile"], ["car"], [], similar=sims)["hallucinated"] == ["automobile"]
    assert gen(["automobile"], ["car"], [], similar=sims, threshold=0.79)["covered"] == ["car"]


def test_first_similar_word_in_order_is_marked():
    # ha words: lorry(truck), kitten(cat), truck, cat; both "lorry" and "cat" are similar, the
    # first in order (lorry, listed under truck) is the one marked.
    sims = {("automobile", "lorry"): 0.9, ("automobile", "cat"): 0.95}
    item = gen(["automobile"], [], ["truck", "cat"], similar=sims)
    assert item["cog"] == ["truck"]


def test_global_safe_word_counts_as_a_noun_but_never_hallucinates():
    # "light" is a global safe word: skipped before any check (not even cog, though a hallu object).
    tools_item = gen(["light", "cat"], ["dog"], ["light"], similar={("light", "dog"): 0.0})
    assert tools_item["globally_safe"] == ["light"]
    assert tools_item["chair_num"] == 2 and tools_item["chair_score"] == 1  # only "cat"
    assert tools_item["cog"] == []
    only_safe = gen(["light"], ["dog"], [])
    assert counts(only_safe) == (0, 1, 0, 1, 0, 0, 0)


def test_nouns_outside_the_vocabulary_are_dropped():
    item = gen(["table", "dog", "Dog"], ["dog"], [])
    assert item["nouns"] == ["dog"] and item["chair_num"] == 1


def test_empty_truth_and_hallu_lists():
    # inference.py's lst[-0:] is the whole list, which is empty then too: 0 over 0.
    item = gen(["dog"], [], [])
    assert counts(item) == (1, 1, 0, 0, 0, 0, 1)
    assert gen([], [], [])["hal"] == 0


def test_similarity_is_asked_noun_first_and_skipped_after_exact_safe_match():
    tools = FakeTools({"t": ["dog", "cat"]})
    score_generative("t", ["dog"], ["cat"], association=ASSOCIATION, safe_words=SAFE, tools=tools)
    # "dog": exact safe match, no similarity. "cat": ha words kitten, cat (stops at cat, 1.0),
    # then safe words puppy, dog.
    assert tools.calls == [("cat", "kitten"), ("cat", "cat"), ("cat", "puppy"), ("cat", "dog")]


def test_object_missing_from_association_is_an_error():
    with pytest.raises(ValueError, match="unicorn"):
        gen([], ["unicorn"], [])


def test_vocabulary_holds_keys_and_listed_words():
    assert vocabulary({"a": ["b", "c"], "d": []}) == {"a", "b", "c", "d"}


def test_generative_corpus_metrics_are_ratios_of_sums():
    items = [
        gen(["dog", "cat"], ["dog", "grass"], ["cat"]),  # chair 1/2, cover 1/2, cog 1/1, hal 1
        gen(["lawn"], ["dog", "grass"], ["cat", "truck"]),  # chair 0/1, cover 1/2, cog 0/2, hal 0
        gen(["light"], ["sky"], []),  # chair 0/1, cover 0/1, cog 0/0, hal 0
    ]
    m = aggregate(items)
    assert set(m) == {"generative"}
    g = m["generative"]
    assert g["chair"] == pytest.approx((1 + 0 + 0) / (2 + 1 + 1))
    assert g["cover"] == pytest.approx((1 + 1 + 0) / (2 + 2 + 1))
    assert g["cog"] == pytest.approx((1 + 0 + 0) / (1 + 2 + 0))
    assert g["hal"] == pytest.approx(1 / 3)
    assert g["num_responses"] == 3


def test_generative_without_nouns_is_undefined_not_zero():
    g = aggregate([gen([], [], [])])["generative"]
    assert g == {"chair": None, "cover": None, "hal": 0.0, "cog": None, "num_responses": 1}


# -- discriminative ------------------------------------------------------------------------------
def test_dimension_of_each_type():
    assert dimension_of("discriminative-hallucination") == "existence"
    assert dimension_of("discriminative-attribute-state") == "state"
    assert dimension_of("discriminative-attribute-number") == "number"
    assert dimension_of("discriminative-attribute-action") == "action"
    assert dimension_of("discriminative-relation") == "relation"
    assert dimension_of("relation") == "relation"
    assert DIMENSIONS == ("existence", "state", "number", "action", "relation")
    with pytest.raises(ValueError, match="generative"):
        dimension_of("generative")
    with pytest.raises(ValueError, match="unknown"):
        dimension_of("discriminative-colour")


@pytest.mark.parametrize("parser", ["pope", "strict", "exact"])
def test_exact_yes_and_no_score_as_official_under_every_parser(parser):
    hit = score_discriminative(1005, "discriminative-hallucination", "no", "No", parser)
    assert (hit["answer"], hit["correct"], hit["truth_no"], hit["answered_no"], hit["no_hit"]) == (
        "no",
        1,
        1,
        1,
        1,
    )
    assert hit["is_existence"] == 1 and hit["is_discriminative"] == 1 and hit["is_generative"] == 0
    yes = score_discriminative(1006, "discriminative-hallucination", "yes", "Yes", parser)
    assert (yes["answer"], yes["correct"], yes["truth_no"], yes["answered_no"], yes["no_hit"]) == (
        "yes",
        1,
        0,
        0,
        0,
    )
    false_no = score_discriminative(1007, "discriminative-hallucination", "yes", "No", parser)
    assert (false_no["correct"], false_no["answered_no"], false_no["no_hit"]) == (0, 1, 0)
    missed = score_discriminative(1008, "discriminative-hallucination", "no", "Yes", parser)
    assert (missed["correct"], missed["truth_no"], missed["answered_no"], missed["no_hit"]) == (0, 1, 0, 0)


@pytest.mark.parametrize(
    ("response", "parser", "answer"),
    [
        ("Yes.", "pope", "yes"),
        ("Yes.", "strict", "yes"),
        ("Yes.", "exact", None),  # the official rule: only "Yes" itself
        ("No.", "pope", "no"),
        ("No.", "strict", "no"),
        ("yes, there is", "pope", "yes"),
        ("yes, there is", "strict", "yes"),
        ("NO", "pope", "yes"),  # POPE's rule is case-sensitive
        ("NO", "strict", "no"),
        ("Maybe", "strict", None),
        ("Maybe", "pope", "yes"),
    ],
)
def test_answers_are_read_by_the_parser(response, parser, answer):
    item = score_discriminative(1005, "discriminative-attribute-state", "no", response, parser)
    assert item["answer"] == answer
    assert item["answered_no"] == int(answer == "no")
    assert item["correct"] == int(answer == "no")


def test_unparseable_is_wrong_and_not_an_answered_no():
    item = score_discriminative(1005, "relation", "no", "I cannot tell", "strict")
    assert item["answer"] is None
    assert (item["correct"], item["truth_no"], item["answered_no"], item["no_hit"], item["unparseable"]) == (
        0,
        1,
        0,
        0,
        1,
    )
    assert item["is_relation"] == 1 and item["dimension"] == "relation"


def test_parser_may_be_a_function_and_bad_inputs_are_refused():
    item = score_discriminative(1, "relation", "yes", "whatever", lambda text: "yes")
    assert item["correct"] == 1
    assert parse_exact("Yes") == "yes" and parse_exact("No") == "no" and parse_exact("no") is None
    with pytest.raises(ValueError, match="truth"):
        score_discriminative(1, "relation", "maybe", "Yes", "strict")
    with pytest.raises(ValueError, match="parser"):
        score_discriminative(1, "relation", "yes", "Yes", "fuzzy")
    with pytest.raises(ValueError, match="parser returned"):
        score_discriminative(1, "relation", "yes", "Yes", lambda text: "Yes")


# A hand-worked set of 11 questions (strict parser), answer -> (correct, answered no, no hit):
QUESTIONS = [
    ("discriminative-hallucination", "no", "No"),  # existence: hit
    ("discriminative-hallucination", "no", "Yes"),  # existence: missed no
    ("discriminative-hallucination", "yes", "Yes"),  # existence: correct yes
    ("discriminative-hallucination", "yes", "No"),  # existence: false no
    ("discriminative-attribute-state", "no", "No"),  # state: hit
    ("discriminative-attribute-state", "yes", "Yes"),  # state: correct yes
    ("discriminative-attribute-number", "no", "Maybe"),  # number: unparseable, wrong
    ("discriminative-attribute-number", "yes", "No"),  # number: false no
    ("discriminative-attribute-action", "yes", "Yes"),  # action: correct yes
    ("discriminative-relation", "no", "No"),  # relation: hit
    ("relation", "no", "Yes"),  # relation (the other spelling): missed no
]


def scored_questions():
    return [
        score_discriminative(1005 + i, kind, truth, response, "strict")
        for i, (kind, truth, response) in enumerate(QUESTIONS)
    ]


def test_per_dimension_columns_sum():
    cols = item_columns(scored_questions())
    assert set(cols) == set(COLUMNS)
    assert [int(cols[f"is_{d}"].sum()) for d in DIMENSIONS] == [4, 2, 2, 1, 2]
    relation = cols["is_relation"] == 1
    assert int(cols["no_hit"][relation].sum()) == 1 and int(cols["truth_no"][relation].sum()) == 2


def test_hand_computed_discriminative_metrics():
    d = aggregate(scored_questions())["discriminative"]
    # all 11: correct 2+2+0+1+1 = 6; answered no 2+1+1+0+1 = 5; truth no 2+1+1+0+2 = 6; hits 1+1+0+0+1 = 3
    assert d["num_questions"] == 11
    assert d["accuracy"] == pytest.approx(6 / 11)
    assert d["precision"] == pytest.approx(3 / 5)
    assert d["recall"] == pytest.approx(3 / 6)
    p, r = 3 / 5, 3 / 6
    assert d["f1"] == pytest.approx(2 * p * r / (p + r)) and d["f1"] == pytest.approx(6 / 11)
    # existence: 2/4 correct; hits 1, answered no 2, truth no 2
    assert d["existence"] == pytest.approx({"accuracy": 0.5, "precision": 0.5, "recall": 0.5, "f1": 0.5})
    assert d["state"] == pytest.approx({"accuracy": 1.0, "precision": 1.0, "recall": 1.0, "f1": 1.0})
    # number: nothing right; answered no 1 (a false no), truth no 1 (missed): P = R = 0, F1 = 0/2
    assert d["number"] == pytest.approx({"accuracy": 0.0, "precision": 0.0, "recall": 0.0, "f1": 0.0})
    # action: one correct yes, no "no" anywhere: P, R and F1 undefined
    assert d["action"] == {"accuracy": 1.0, "precision": None, "recall": None, "f1": None}
    # attribute = state + number + action: correct 2+0+1 = 3 of 5; hits 1; answered no 2; truth no 2
    assert d["attribute"] == pytest.approx({"accuracy": 3 / 5, "precision": 0.5, "recall": 0.5, "f1": 0.5})
    # relation, both spellings: correct 1 of 2; hits 1; answered no 1; truth no 2; F1 = 2/(1+2)
    assert d["relation"] == pytest.approx({"accuracy": 0.5, "precision": 1.0, "recall": 0.5, "f1": 2 / 3})


def test_amber_score_needs_both_parts():
    questions = scored_questions()
    responses = [gen(["dog", "cat"], ["dog"], ["cat"]), gen(["dog"], ["dog"], [])]  # chair 1/3
    m = aggregate(questions + responses)
    assert m["generative"]["chair"] == pytest.approx(1 / 3)
    assert m["amber_score"] == pytest.approx((1 - 1 / 3 + 6 / 11) / 2)
    assert set(m) == {"discriminative", "generative", "amber_score"}
    only_questions = aggregate(questions)
    assert set(only_questions) == {"discriminative"}
    assert aggregate([]) == {}


def test_aggregate_shape():
    d = aggregate(scored_questions())["discriminative"]
    assert list(d) == [
        "accuracy",
        "precision",
        "recall",
        "f1",
        "existence",
        "attribute",
        "state",
        "number",
        "action",
        "relation",
        "num_questions",
    ]


def test_metric_fns_keys():
    dims = ("existence", "attribute", "state", "number", "action", "relation")
    four = ("accuracy", "precision", "recall", "f1")
    expected = {f"discriminative.{k}" for k in four}
    expected |= {f"discriminative.{d}.{k}" for d in dims for k in four}
    expected |= {f"generative.{k}" for k in ("chair", "cover", "hal", "cog")}
    expected |= {"amber_score"}
    assert set(METRIC_FNS) == expected


def test_metric_fns_work_on_batches_of_resamples():
    items = scored_questions() + [gen(["dog", "cat"], ["dog"], ["cat"]), gen(["lawn"], ["grass"], [])]
    cols = item_columns(items)
    n = len(items)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, n, size=(7, n))
    batched = {k: v[idx] for k, v in cols.items()}  # 7 resamples, items along the last axis
    for name, fn in METRIC_FNS.items():
        got = fn(batched, -1)
        assert got.shape == (7,), name
        for row in range(7):
            single = fn({k: v[idx[row]] for k, v in cols.items()}, 0)
            np.testing.assert_allclose(got[row], single, equal_nan=True, err_msg=name)


def test_paired_bootstrap_runs_on_amber_columns():
    items = scored_questions() + [gen(["dog", "cat"], ["dog"], ["cat"]), gen(["lawn"], ["grass"], [])]
    cols = item_columns(items)
    out = paired_bootstrap(cols, cols, METRIC_FNS, n_resamples=50)
    assert out["discriminative.f1"].delta == 0.0
    assert out["discriminative.action.f1"].delta is None  # undefined on the full data
    assert out["amber_score"].low == 0.0 and out["amber_score"].high == 0.0


# -- the real language tools ---------------------------------------------------------------------
def test_loader_names_missing_packages_and_all_install_commands(monkeypatch):
    monkeypatch.setitem(sys.modules, "spacy", None)  # `import spacy` now raises ImportError
    monkeypatch.setitem(sys.modules, "nltk", None)
    with pytest.raises(UserError) as err:
        amber_language.load_language_tools()
    msg = str(err.value)
    assert "\n" not in msg
    assert "spaCy and NLTK" in msg
    assert "pip install 'hadpo[amber]'" in msg
    assert "python -m spacy download en_core_web_lg" in msg
    assert "python -m nltk.downloader punkt_tab averaged_perceptron_tagger_eng wordnet" in msg


def _fake_nltk(missing: set[str]) -> tuple[types.ModuleType, types.ModuleType]:
    def lookup(name: str) -> LookupError:
        return LookupError(
            f"\n  Resource '{name}' not found.\n  >>> import nltk\n  >>> nltk.download('{name}')\n"
        )

    nltk = types.ModuleType("nltk")
    stem = types.ModuleType("nltk.stem")

    def word_tokenize(text):
        if "punkt_tab" in missing:
            raise lookup("punkt_tab")
        return text.replace(".", " .").split()

    def pos_tag(tokens):
        if "averaged_perceptron_tagger_eng" in missing:
            raise lookup("averaged_perceptron_tagger_eng")
        return [(t, "NNS" if t.endswith("s") else "NN" if t.islower() else "DT") for t in tokens]

    class WordNetLemmatizer:
        def lemmatize(self, word):
            if "wordnet" in missing:
                raise lookup("wordnet")
            return word[:-1] if word.endswith("s") else word

    nltk.word_tokenize, nltk.pos_tag, nltk.stem = word_tokenize, pos_tag, stem
    stem.WordNetLemmatizer = WordNetLemmatizer
    return nltk, stem


class _FakeDoc:
    def __init__(self, word: str, vectors: dict[str, np.ndarray]):
        self.vector = vectors.get(word, np.zeros(2))

    def similarity(self, other: _FakeDoc) -> float:
        norm = np.linalg.norm(self.vector) * np.linalg.norm(other.vector)
        return float(self.vector @ other.vector / norm) if norm else 0.0


def _fake_spacy(loadable: bool, made: list[str]) -> types.ModuleType:
    spacy = types.ModuleType("spacy")
    vectors = {"cat": np.array([1.0, 0.0]), "kitten": np.array([0.9, 0.1]), "dog": np.array([0.0, 1.0])}

    class Nlp:
        class vocab:  # noqa: N801
            class vectors:  # noqa: N801
                shape = (3, 2)

        def __call__(self, word):
            made.append(word)
            return _FakeDoc(word, vectors)

    def load(name):
        if not loadable:
            raise OSError(f"[E050] Can't find model '{name}'.")
        return Nlp()

    spacy.load = load
    return spacy


def _install_fakes(monkeypatch, *, model: bool, missing_data: set[str], made: list[str]) -> None:
    nltk, stem = _fake_nltk(missing_data)
    monkeypatch.setitem(sys.modules, "nltk", nltk)
    monkeypatch.setitem(sys.modules, "nltk.stem", stem)
    monkeypatch.setitem(sys.modules, "spacy", _fake_spacy(model, made))


def test_loader_names_the_missing_model_and_nltk_data(monkeypatch):
    _install_fakes(monkeypatch, model=False, missing_data={"punkt_tab", "wordnet"}, made=[])
    with pytest.raises(UserError) as err:
        amber_language.load_language_tools("en_core_web_lg")
    msg = str(err.value)
    assert "\n" not in msg and "pip install" not in msg
    assert "the spaCy model en_core_web_lg and NLTK data (punkt_tab, wordnet)" in msg
    assert "python -m spacy download en_core_web_lg && python -m nltk.downloader punkt_tab wordnet" in msg


def test_loader_names_only_the_nltk_resource_it_lacks(monkeypatch):
    _install_fakes(monkeypatch, model=True, missing_data={"averaged_perceptron_tagger_eng"}, made=[])
    with pytest.raises(UserError, match=r"needs NLTK data \(averaged_perceptron_tagger_eng\)") as err:
        amber_language.load_language_tools()
    assert "spacy download" not in str(err.value)


def test_loaded_tools_follow_the_official_pipeline_and_cache(monkeypatch):
    made: list[str] = []
    _install_fakes(monkeypatch, model=True, missing_data=set(), made=made)
    tools = amber_language.load_language_tools()
    assert isinstance(tools, LanguageTools)
    assert tools.nouns("A cats sat by dogs.") == ["cat", "sat", "by", "dog"]  # the fake tags lower words NN
    assert tools.similarity("cat", "kitten") > 0.8
    assert tools.similarity("cat", "kitten") == tools.similarity("cat", "kitten")
    assert tools.similarity("cat", "dog") == 0.0
    assert tools.similarity("cat", "unknown") == 0.0
    assert sorted(made) == ["cat", "dog", "kitten", "unknown"]  # nlp(word) once per word


def test_loader_refuses_a_model_without_vectors(monkeypatch):
    _install_fakes(monkeypatch, model=True, missing_data=set(), made=[])
    spacy = sys.modules["spacy"]
    nlp = spacy.load("x")
    nlp.vocab.vectors.shape = (0, 0)
    monkeypatch.setattr(spacy, "load", lambda name: nlp)
    with pytest.raises(UserError, match="no word vectors"):
        amber_language.load_language_tools("en_core_web_sm")


def test_real_packages_without_the_model_give_one_line():
    pytest.importorskip("spacy")
    pytest.importorskip("nltk")
    with pytest.raises(UserError) as err:
        amber_language.load_language_tools("hadpo_test_no_such_model")
    msg = str(err.value)
    assert "\n" not in msg
    assert "the spaCy model hadpo_test_no_such_model" in msg
    assert "python -m spacy download hadpo_test_no_such_model" in msg
