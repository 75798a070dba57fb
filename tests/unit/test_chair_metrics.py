"""CHAIR scoring against hand-checked captions and a hand-computed corpus (canonical protocol of
LisaAnne/Hallucination ``utils/chair.py``, with the differences its module docstring lists)."""

import numpy as np
import pytest

from hadpo_cli.metrics.chair import (
    METRIC_FNS,
    CaptionScore,
    ChairVocabulary,
    Mention,
    aggregate,
    caption_mentions,
    count_words,
    ground_truth_objects,
    score_caption,
    score_columns,
    singular,
    tokenize,
    vocabulary,
)
from hadpo_cli.metrics.chair_words import DOUBLE_WORDS, SYNONYMS, double_word_table
from hadpo_cli.metrics.paired import paired_bootstrap

# The 80 COCO detection categories, in COCO's order (instances_*2014.json "categories").
COCO_CATEGORIES = [
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich",
    "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote",
    "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book",
    "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
]  # fmt: skip


def nodes(caption: str) -> list[str]:
    return [m.node for m in caption_mentions(caption)]


def words(caption: str) -> list[str]:
    return [m.word for m in caption_mentions(caption)]


# -- the word lists ------------------------------------------------------------------------------
def test_table_has_one_entry_per_coco_category_in_coco_order():
    assert [category for category, _ in SYNONYMS] == COCO_CATEGORIES
    assert list(vocabulary().categories) == COCO_CATEGORIES


def test_every_coco_category_name_is_its_own_node_word():
    vocab = vocabulary()
    assert all(vocab.node(name) == name for name in COCO_CATEGORIES)


def test_no_word_belongs_to_two_categories():
    seen: dict[str, str] = {}
    for category, synonyms in SYNONYMS:
        for word in (category, *synonyms):
            assert seen.setdefault(word, category) == category, word


def test_double_word_table_follows_the_canonical_rules():
    table = double_word_table()
    assert table["hot dog"] == "hot dog"
    assert table["baby cub"] == "cub" and table["adult zebra"] == "zebra"
    assert table["passenger jet"] == "jet" and table["passenger train"] == "train"
    assert table["bow tie"] == "tie"  # the special case overrides "bow tie" -> itself
    assert table["toilet seat"] == "toilet"
    assert table["wine glas"] == "wine glass"
    assert "stove top oven" in DOUBLE_WORDS


def test_unknown_category_name_is_an_error():
    with pytest.raises(ValueError, match="spaceship"):
        vocabulary().node("spaceship")


# -- tokenisation and singulars ------------------------------------------------------------------
def test_tokenize_splits_punctuation_and_clitics_like_nltk():
    assert tokenize("A dog's bowl, isn't it?") == ["A", "dog", "'s", "bowl", ",", "is", "n't", "it", "?"]
    assert tokenize("they're here; I cannot see.") == [
        "they",
        "'re",
        "here",
        ";",
        "I",
        "can",
        "not",
        "see",
        ".",
    ]
    assert tokenize('a "red" cat (sleeping)...') == ["a", '"', "red", '"', "cat", "(", "sleeping", ")", "..."]


def test_tokenize_keeps_hyphenated_and_joined_words_whole():
    assert tokenize("a hot-dog stand with a cat/dog toy") == [
        "a",
        "hot-dog",
        "stand",
        "with",
        "a",
        "cat/dog",
        "toy",
    ]
    assert tokenize("1,000 birds at 10:30, 3.5 feet--high") == [
        "1,000", "birds", "at", "10:30", ",", "3.5", "feet", "--", "high",
    ]  # fmt: skip


def test_tokenize_reads_the_typographic_apostrophe_as_an_apostrophe():
    assert tokenize("the dog’s ball") == ["the", "dog", "'s", "ball"]


def test_words_are_whitespace_separated_tokens():
    assert count_words("A dog,  a cat.\nA bird!") == 6
    assert count_words("") == 0


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("dogs", "dog"),
        ("buses", "bus"),
        ("bus", "bus"),  # inflect says "bu"; a table word is kept
        ("minibus", "minibus"),
        ("glass", "glass"),  # pattern.en said "glas"
        ("glasses", "glass"),
        ("knives", "knife"),
        ("dishes", "dish"),
        ("species", "species"),
        ("scissors", "scissors"),
        ("skis", "ski"),
        ("people", "person"),
        ("children", "child"),
        ("grandchildren", "grandchild"),  # inflect leaves it; pattern.en singularised it
        ("mouses", "mouse"),  # inflect says "mous"
        ("ties", "tie"),
        ("bears", "bear"),
        ("sheep", "sheep"),
        ("'s", "'s"),
        (",", ","),
        ("3", "3"),
        ("s", "s"),  # inflect says ""
    ],
)
def test_singular(word, expected):
    assert singular(word) == expected


# -- mentions ------------------------------------------------------------------------------------
def test_synonyms_count_as_their_category():
    assert caption_mentions("A puppy and a kitten") == [
        Mention("puppy", "dog", 1),
        Mention("kitten", "cat", 4),
    ]


def test_plurals():
    assert nodes("Two dogs and three buses.") == ["dog", "bus"]
    assert nodes("A pair of glasses and two knives on a table.") == ["knife", "dining table"]
    assert words("Two knives") == ["knife"]


def test_a_bus_named_in_the_singular_counts():
    # The canonical code never counts it (pattern.en: "bus" -> "bu"); documented difference.
    assert nodes("A red bus.") == ["bus"]


def test_table_is_a_dining_table():
    assert nodes("A laptop on a table next to a desk") == ["laptop", "dining table", "dining table"]


def test_hot_dog_and_teddy_bear_are_one_word():
    assert caption_mentions("A hot dog and a dog.") == [
        Mention("hot dog", "hot dog", 1),
        Mention("dog", "dog", 5),
    ]
    assert nodes("Two teddy bears on a bed") == ["teddy bear", "bed"]


def test_motor_cycle_counts_but_motor_bike_does_not():
    assert nodes("A motor cycle") == ["motorcycle"]
    # " motor bike" has a leading space in the canonical table: merged, then never matched,
    # so neither "motor bike" nor "bike" counts; the man does.
    assert nodes("A man on a motor bike") == ["person"]
    assert nodes("A man on a bike") == ["person", "bicycle"]


def test_baby_and_adult_animals_are_the_animal_not_a_person():
    assert nodes("A baby elephant next to an adult elephant") == ["elephant", "elephant"]
    assert nodes("A baby in a crib") == ["person"]


def test_passenger_vehicles_are_the_vehicle_not_a_person():
    assert nodes("A passenger train at the station") == ["train"]
    assert nodes("Passenger jets") == ["airplane"]
    assert nodes("A passenger waits") == ["person"]


def test_bow_tie_is_a_tie():
    assert caption_mentions("a man in a bow tie") == [Mention("man", "person", 1), Mention("tie", "tie", 4)]


def test_wine_glasses_are_wine_glasses():
    assert caption_mentions("Two wine glasses") == [Mention("wine glass", "wine glass", 1)]
    assert nodes("A wine glass") == ["wine glass"]
    assert nodes("A glass of water") == []


def test_seat_is_dropped_only_when_a_toilet_is_there():
    assert nodes("A seat") == ["chair"]
    assert nodes("The seat of the toilet is up") == ["toilet"]
    assert nodes("A toilet seat") == ["toilet"]
    assert nodes("A chair, seats and a toilet") == ["chair", "toilet"]


def test_positions_are_token_positions_after_a_dropped_seat():
    # a(0) seat(1) by(2) the(3) toilet(4) and(5) a(6) dog(7)
    assert caption_mentions("A seat by the toilet and a dog") == [
        Mention("toilet", "toilet", 4),
        Mention("dog", "dog", 7),
    ]


def test_canonical_dead_entries_never_match():
    assert nodes("A cheesecake and an iPhone") == []
    assert nodes("A stove top oven") == ["oven", "oven"]  # three words: never merged
    assert nodes("A train track near home plate") == []


def test_sports_ball_and_tennis_racket_count_once():
    assert caption_mentions("a sports ball") == [Mention("ball", "sports ball", 2)]
    assert caption_mentions("a tennis racket") == [Mention("racket", "tennis racket", 2)]


def test_words_outside_the_table_are_ignored():
    assert caption_mentions("It is a sunny day in the park.") == []


def test_a_custom_vocabulary():
    vocab = ChairVocabulary([("cat", ("kitty",))], double_words={"big cat": "cat"})
    assert [m.node for m in vocab.caption_mentions("A big cat and a kitty and a dog")] == ["cat", "cat"]


# -- one caption ---------------------------------------------------------------------------------
def test_score_caption_counts_repeated_mentions():
    score = score_caption("A dog chases another dog and a cat.", {"cat", "bench"})
    assert score == CaptionScore(
        mentioned=["dog", "dog", "cat"],
        hallucinated=[("dog", "dog"), ("dog", "dog")],
        ground_truth=["bench", "cat"],
        recalled=["cat"],
        words=8,
    )
    assert score.columns() == {
        "hallucinated_caption": 1,
        "mentions": 3,
        "hallucinated_mentions": 2,
        "gt_objects": 2,
        "recalled_objects": 1,
        "words": 8,
    }


def test_hallucinated_list_names_the_word_and_its_category():
    score = score_caption("A puppy sits on a sofa beside a man.", {"person"})
    assert score.hallucinated == [("puppy", "dog"), ("sofa", "couch")]
    assert score.recalled == ["person"]


def test_recall_counts_each_category_once():
    score = score_caption("A man, a woman and a boy.", {"person", "car"})
    assert score.mentioned == ["person", "person", "person"]
    assert score.recalled == ["person"]
    assert score.columns()["recalled_objects"] == 1
    assert score.columns()["hallucinated_caption"] == 0


# -- a corpus ------------------------------------------------------------------------------------
CORPUS = [
    # mentions person, horse, dog; dog hallucinated; recalls person, horse (of 2); 9 words
    ("A man rides a horse next to a dog.", {"person", "horse"}),
    # mentions cat, couch; none hallucinated; recalls cat, couch (of 3); 6 words
    ("Two cats sleep on a couch.", {"cat", "couch", "remote"}),
    # mentions cat, cat, sink; both cats hallucinated; recalls sink (of 2); 10 words
    ("A kitchen with a cat, a cat and a sink.", {"sink", "oven"}),
]


def test_corpus_metrics_by_hand():
    scores = [score_caption(c, gt) for c, gt in CORPUS]
    assert [s.columns()["hallucinated_mentions"] for s in scores] == [1, 0, 2]
    out = aggregate(scores)
    assert out["num_captions"] == 3
    assert out["chair_s"] == pytest.approx(2 / 3)  # captions 1 and 3 hallucinate
    assert out["chair_i"] == pytest.approx(3 / 8)  # (1 + 0 + 2) / (3 + 2 + 3)
    assert out["recall"] == pytest.approx(5 / 7)  # (2 + 2 + 1) / (2 + 3 + 2)
    assert out["avg_length"] == pytest.approx(25 / 3)  # (9 + 6 + 10) / 3
    assert all(type(v) is float for k, v in out.items() if k != "num_captions")


def test_corpus_metrics_are_ratios_of_sums_not_means_of_ratios():
    # Per-caption CHAIRi would be 1/1 and 0/3: mean 0.5; the corpus figure is 1/4.
    scores = [score_caption("A dog.", set()), score_caption("A cat, a cat and a cat.", {"cat"})]
    assert aggregate(scores)["chair_i"] == pytest.approx(1 / 4)


def test_undefined_metrics_are_none():
    out = aggregate([score_caption("A sunny day.", set())])
    assert out == {"chair_s": 0.0, "chair_i": None, "recall": None, "avg_length": 3.0, "num_captions": 1}
    assert aggregate([]) == {
        "chair_s": None,
        "chair_i": None,
        "recall": None,
        "avg_length": None,
        "num_captions": 0,
    }


def test_metric_functions_work_on_batches_of_resamples():
    cols = score_columns([score_caption(c, gt) for c, gt in CORPUS])
    assert set(METRIC_FNS) == {"chair_s", "chair_i", "recall", "avg_length"}
    # two "resamples" along axis 0, items along the last axis: all three items, then item 3 alone
    pick = np.array([[0, 1, 2], [2, 2, 2]])
    batch = {name: col[pick] for name, col in cols.items()}
    assert METRIC_FNS["chair_i"](batch, -1) == pytest.approx([3 / 8, 2 / 3])
    assert METRIC_FNS["chair_s"](batch, -1) == pytest.approx([2 / 3, 1.0])
    assert METRIC_FNS["recall"](batch, -1) == pytest.approx([5 / 7, 1 / 2])
    assert METRIC_FNS["avg_length"](batch, -1) == pytest.approx([25 / 3, 10.0])


def test_paired_bootstrap_accepts_the_metrics():
    base = score_columns([score_caption(c, gt) for c, gt in CORPUS])
    cand = score_columns([score_caption("A man rides a horse.", gt) for _, gt in CORPUS])
    out = paired_bootstrap(base, cand, METRIC_FNS, n_resamples=200, seed=1)
    # candidate: "A man rides a horse." on every image; person/horse hallucinated on 2 and 3
    assert out["chair_s"].delta == pytest.approx(2 / 3 - 2 / 3)
    assert out["chair_i"].delta == pytest.approx(4 / 6 - 3 / 8)
    assert out["avg_length"].delta == pytest.approx(5 - 25 / 3)
    assert out["recall"].delta == pytest.approx(2 / 7 - 5 / 7)  # (2 + 0 + 0) / 7 against (2 + 2 + 1) / 7
    assert out["recall"].low is not None and out["recall"].low <= out["recall"].high


# -- ground truth --------------------------------------------------------------------------------
def test_ground_truth_joins_instances_and_reference_captions():
    pairs = [(1, "dog"), (1, "person"), (1, "dog"), (2, "dining table"), (3, "cat")]
    captions = [(1, "A puppy on a sofa."), (2, "Two glasses of wine."), (9, "A giraffe."), (4, "A bus stop.")]
    truth = ground_truth_objects(pairs, captions, {1, 2, 4, 5})
    assert truth == {
        1: {"dog", "person", "couch"},
        2: {"dining table"},
        4: {"bus"},
        5: set(),
    }


def test_ground_truth_category_names_go_through_the_table():
    assert ground_truth_objects([(1, "bike")], [], {1}) == {1: {"bicycle"}}
    with pytest.raises(ValueError, match="spaceship"):
        ground_truth_objects([(1, "spaceship")], [], {1})
