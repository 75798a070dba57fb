"""SHR metrics against hand-computed values, following the published protocol's definitions."""

import subprocess
import sys

import pytest

from hadpo_cli.metrics.shr import (
    RunCounts,
    combine_runs,
    count_run,
    count_words,
    distinct_ngram_ratio,
    repetition_metrics,
    run_metrics,
    split_sentences,
)


def test_sentences_split_on_periods_trimmed_and_empties_dropped():
    assert split_sentences("A dog runs.  It is brown. ") == ["A dog runs", "It is brown"]
    assert split_sentences("") == []
    assert split_sentences(" . ..") == []


def test_repeated_and_contained_sentences_are_dropped():
    text = "There is a cat on the mat. There is a cat on the mat. a cat. The sky is blue."
    assert split_sentences(text) == ["There is a cat on the mat", "The sky is blue"]


def test_a_longer_sentence_after_a_shorter_one_is_kept():
    # Only a sentence contained in an *earlier* one is a repeat.
    assert split_sentences("a cat. There is a cat on the mat.") == ["a cat", "There is a cat on the mat"]


def test_question_marks_do_not_split_sentences():
    assert split_sentences("Is it a dog? Yes. No.") == ["Is it a dog? Yes", "No"]


def test_words_split_on_single_spaces():
    assert count_words("a brown dog") == 3
    assert count_words("a  brown dog") == 4  # the protocol counts the empty string between two spaces
    assert count_words("one\ntwo") == 1


def test_distinct_ngram_ratio_hand_computed():
    # "the cat the cat" -> unigrams: the, cat, the, cat -> 2 distinct / 4
    assert distinct_ngram_ratio("the cat the cat", 1) == pytest.approx(0.5)
    # bigrams: (the cat) (cat the) (the cat) -> 2 / 3
    assert distinct_ngram_ratio("the cat the cat", 2) == pytest.approx(2 / 3)
    assert distinct_ngram_ratio("the cat the cat", 4) == pytest.approx(1.0)


def test_repetition_strips_punctuation_and_newlines_first():
    # ".:?," and newlines go; "cat." and "cat" become the same word. Newlines are removed,
    # not turned into spaces, as published: "dog\nbird" becomes one word.
    assert distinct_ngram_ratio("cat. cat: cat? cat,", 1) == pytest.approx(0.25)
    assert distinct_ngram_ratio("dog\nbird dogbird", 1) == pytest.approx(0.5)
    # other punctuation stays
    assert distinct_ngram_ratio("cat! cat", 1) == pytest.approx(1.0)


def test_response_shorter_than_n_counts_as_fully_distinct():
    assert distinct_ngram_ratio("two words", 3) == 1.0
    assert distinct_ngram_ratio("", 1) == 1.0
    with pytest.raises(ValueError):
        distinct_ngram_ratio("x", 0)


def test_repetition_metrics_average_over_responses():
    out = repetition_metrics(["the cat the cat", "a b c d"])
    assert list(out) == ["gram-1-repetition", "gram-2-repetition", "gram-3-repetition", "gram-4-repetition"]
    assert out["gram-1-repetition"] == pytest.approx((0.5 + 1.0) / 2)
    assert out["gram-2-repetition"] == pytest.approx((2 / 3 + 1.0) / 2)
    assert repetition_metrics([])["gram-1-repetition"] is None


IMAGES = [
    # image 1: 3 sentences, 1 hallucinated (2 words), 1 cannot judge, 1 correct
    [("a dog", "hallucination"), ("it is nice", "cannot judge"), ("grass is green", "correct")],
    # image 2: one unjudged sentence (4 words) and one correct
    [("the sky is blue", None), ("a tree", "correct")],
]


def test_count_run_hand_computed():
    c = count_run(IMAGES)
    assert c == RunCounts(
        images=2,
        sentences=5,
        words=2 + 3 + 3 + 4 + 2,
        judged_sentences=4,
        judged_words=2 + 3 + 3 + 2,
        hal_sentences=1,
        hal_words=2,
        unjudged_sentences=1,
    )


def test_cannot_judge_is_in_the_denominator_and_unjudged_is_not():
    m = run_metrics(count_run(IMAGES))
    assert m["hal_sents_ratio"] == pytest.approx(1 / 4)
    assert m["hal_words_ratio"] == pytest.approx(2 / 10)
    assert m["sents_per_image"] == pytest.approx(5 / 2)
    assert m["words_per_image"] == pytest.approx(14 / 2)
    assert m["hal_sents_per_image"] == pytest.approx(1 / 2)
    assert m["hal_words_per_image"] == pytest.approx(2 / 2)
    assert m["unjudged_sentences"] == 1
    assert m["num_images"] == 2


def test_labels_outside_the_three_count_as_unjudged():
    c = count_run([[("a b", "maybe"), ("c", "correct")]])
    assert c.unjudged_sentences == 1 and c.judged_sentences == 1


def test_one_run_mean_equals_sentence_ratio():
    m = combine_runs([count_run(IMAGES)])
    assert m["mean_hal_ratio"] == m["hal_sents_ratio"] == pytest.approx(0.25)
    assert set(m) == {
        "mean_hal_ratio",
        "hal_sents_ratio",
        "hal_words_ratio",
        "num_images",
        "sents_per_image",
        "words_per_image",
        "hal_sents_per_image",
        "hal_words_per_image",
        "unjudged_sentences",
    }


def test_several_runs_mean_of_ratios_and_pooled_ratio_differ():
    run1 = count_run([[("a", "hallucination"), ("b", "correct")]])  # 1/2
    run2 = count_run([[("a", "hallucination"), ("b", None)]])  # 1/1
    m = combine_runs([run1, run2])
    assert m["mean_hal_ratio"] == pytest.approx((0.5 + 1.0) / 2)
    assert m["hal_sents_ratio"] == pytest.approx(2 / 3)  # pooled: 2 hallucinated of 3 judged
    assert m["hal_sents_per_image"] == pytest.approx(1.0)  # mean over runs
    assert m["sents_per_image"] == pytest.approx(2.0)
    assert m["unjudged_sentences"] == 1


def test_nothing_judged_gives_none_not_a_crash():
    m = combine_runs([count_run([[("a", None)]])])
    assert m["mean_hal_ratio"] is None and m["hal_sents_ratio"] is None
    # Not 0.0, which reads as "no hallucination": nothing was judged. The count says why.
    assert m["hal_sents_per_image"] is None and m["hal_words_per_image"] is None
    assert m["unjudged_sentences"] == 1
    one = run_metrics(count_run([[("a b", None)], [("c", None)]]))
    assert one["hal_sents_per_image"] is None and one["unjudged_sentences"] == 2
    # Images with no sentence at all: no hallucination is the truth, so 0.0 stays.
    empty = run_metrics(count_run([[], []]))
    assert empty["hal_sents_per_image"] == 0.0
    with pytest.raises(ValueError):
        combine_runs([])


def test_metrics_module_imports_without_openai():
    code = "import hadpo_cli.metrics.shr, sys; print('openai' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
