"""MMHal-Bench: the judge's rating, the metrics against hand-computed values, the judge prompt
templates, the reader's errors, image paths, and writing answers back."""

import json
from pathlib import Path

import numpy as np
import pytest

import hadpo_cli
from hadpo_cli.data.mmhal import MMHalItem, image_path, load_mmhal, with_answers
from hadpo_cli.errors import UserError
from hadpo_cli.metrics.mmhal import (
    METRIC_FNS,
    QUESTION_TYPES,
    MalformedRating,
    Rated,
    aggregate,
    check_template,
    columns,
    item_row,
    parse_rating,
    render_prompt,
)
from hadpo_cli.metrics.paired import paired_bootstrap

DEFAULT_PROMPT = Path(hadpo_cli.__file__).parent / "judging" / "prompts" / "mmhal.txt"


# -- parse_rating --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("reply", "rating"),
    [
        (
            "The response correctly identifies the red bus and makes no false claims, "
            "but it gives little detail.\nRating: 4",
            4,
        ),
        ("Explanation: the model says there are three dogs; there are two.\n\n**Rating: 1**", 1),
        ("the answer is accurate and detailed. rating: 5", 5),
        ("RATING: 0, not informative, with hallucination", 0),
        ("Rating: 6. Very informative with good reasoning, no hallucination.", 6),
        # the same rating twice is one rating (the published rule counts distinct values)
        ("I would give Rating: 3 here.\nRating: 3", 3),
        # an out-of-range number next to a valid rating does not hide it (as in the script)
        ("Not Rating: 7 (no such level). Rating: 2", 2),
        ("Rating: 5/6", 5),
    ],
)
def test_parse_rating_reads_one_rating(reply, rating):
    assert parse_rating(reply) == rating


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (
            "Rating: 2, very informative with hallucination ... on reflection, Rating: 5",
            "ratings 2 and 5 both given",
        ),
        ("Rating: 1 or Rating: 4 or Rating: 6", "ratings 1, 4 and 6 given"),
        ("The response is accurate and informative, no hallucination.", "no 'Rating: N' line"),
        ("Score: 5", "no 'Rating: N' line"),
        ("Rating:5", "no 'Rating: N' line"),  # the published rule wants "rating: " with one space
        ("", "no 'Rating: N' line"),
        ("Rating: 7", "rating 7 is not a whole number from 0 to 6"),
        # the script's substring test reads these as 6, 1 and 4; here they are refused
        ("Rating: 60", "rating 60 is not a whole number from 0 to 6"),
        ("Rating: 10", "rating 10 is not a whole number from 0 to 6"),
        ("Rating: 4.5", "rating 4.5 is not a whole number from 0 to 6"),
    ],
)
def test_parse_rating_refuses_with_a_reason(reply, reason):
    with pytest.raises(MalformedRating) as info:
        parse_rating(reply)
    assert str(info.value) == reason


def test_malformed_rating_is_a_value_error():
    assert issubclass(MalformedRating, ValueError)


# -- metrics -------------------------------------------------------------------------------------
# Twelve items over three types; item 11 was never rated.
ITEMS = [
    Rated("attribute", 6),
    Rated("attribute", 2),
    Rated("attribute", 3),
    Rated("attribute", 4),
    Rated("counting", 0),
    Rated("counting", 5),
    Rated("counting", 1),
    Rated("counting", 3),
    Rated("holistic", 6),
    Rated("holistic", 2),
    Rated("holistic", 4),
    Rated("holistic", None),
]


def test_aggregate_hand_computed():
    m = aggregate(ITEMS)
    # rated: 11 items; sum of ratings = (6+2+3+4) + (0+5+1+3) + (6+2+4) = 15 + 9 + 12 = 36
    assert m["average_score"] == pytest.approx(36 / 11)
    # below 3: 2 (attribute), 0 and 1 (counting), 2 (holistic) -> 4 of 11
    assert m["hallucination_rate"] == pytest.approx(4 / 11)
    assert m["per_type"]["attribute"] == pytest.approx(15 / 4)
    assert m["per_type"]["counting"] == pytest.approx(9 / 4)
    assert m["per_type"]["holistic"] == pytest.approx(12 / 3)  # the unrated item is left out, not a 0
    for t in ("adversarial", "comparison", "relation", "environment", "other"):
        assert m["per_type"][t] is None
    assert list(m["per_type"]) == list(QUESTION_TYPES)
    assert (m["num_questions"], m["rated"], m["unrated"]) == (12, 11, 1)


def test_unrated_is_not_the_published_zero():
    # The published script would score item 11 as 0: 36/12 = 3.0 and 5/12 hallucinated.
    published = aggregate([Rated(t, 0 if s is None else s) for t, s in ITEMS])
    assert published["average_score"] == pytest.approx(3.0)
    assert published["hallucination_rate"] == pytest.approx(5 / 12)
    assert aggregate(ITEMS)["average_score"] != pytest.approx(3.0)


def test_hallucination_threshold_is_below_three():
    assert item_row("other", 3)["hallucination"] == 0.0
    assert item_row("other", 2)["hallucination"] == 1.0
    assert item_row("other", None)["hallucination"] == 0.0  # unrated: not counted either way
    m = aggregate([Rated("other", 3), Rated("other", 2)])
    assert m["hallucination_rate"] == pytest.approx(1 / 2)


def test_item_row_columns_and_bad_values():
    row = item_row("counting", 5)
    assert row["score"] == 5.0 and row["rated"] == 1.0
    assert [row[f"type_{t}"] for t in QUESTION_TYPES] == [0, 0, 0, 1, 0, 0, 0, 0]
    unrated = item_row("counting", None)
    assert (unrated["score"], unrated["rated"]) == (0.0, 0.0)
    for bad in (7, -1, True, 4.0):
        with pytest.raises(ValueError, match="rating"):
            item_row("counting", bad)
    with pytest.raises(ValueError, match="question type"):
        item_row("Counting", 3)


def test_nothing_rated_gives_none_not_nan():
    m = aggregate([Rated("other", None)])
    assert m["average_score"] is None and m["hallucination_rate"] is None
    assert all(v is None for v in m["per_type"].values())
    assert (m["num_questions"], m["rated"], m["unrated"]) == (1, 0, 1)


def test_metric_fns_work_on_batches_of_resamples():
    cols = columns(ITEMS)
    assert set(METRIC_FNS) == {
        "average_score",
        "hallucination_rate",
        *(f"per_type.{t}" for t in QUESTION_TYPES),
    }
    # Two "resamples" stacked along axis 0, items along axis -1: the full set, and the set reversed.
    batch = {k: np.stack([v, v[::-1]]) for k, v in cols.items()}
    out = METRIC_FNS["per_type.attribute"](batch, -1)
    assert out.shape == (2,)
    assert out == pytest.approx([15 / 4, 15 / 4])
    # A resample with no rated holistic item is undefined (NaN), as in paired.ratio_of_sums.
    only_first = {k: v[:4] for k, v in cols.items()}
    assert np.isnan(METRIC_FNS["per_type.holistic"](only_first, -1))


def test_paired_bootstrap_delta_matches_aggregate():
    better = [Rated(t, s if s is None else min(6, s + 1)) for t, s in ITEMS]
    iv = paired_bootstrap(columns(ITEMS), columns(better), METRIC_FNS, n_resamples=200)
    expected = aggregate(better)["average_score"] - aggregate(ITEMS)["average_score"]
    assert iv["average_score"].delta == pytest.approx(expected)
    assert iv["per_type.other"].delta is None  # no item of that type


# -- judge prompt templates ----------------------------------------------------------------------
ITEM = MMHalItem(
    index=0,
    question_type="counting",
    question_topic="Animal",
    image_id="abc",
    image_src="https://example.org/x/cat.jpg",
    image_content=["Lynx", "Cat"],
    question="How many cats are there?",
    gt_answer="Two cats.",
    model_answer=None,
)


def test_named_template():
    t = "L={image_content}|Q={question}|A={gt_answer}|R={response}|again {question} {{literal}}"
    out = render_prompt(t, ITEM, "One {cat}.")
    assert (
        out
        == "L=Lynx, Cat|Q=How many cats are there?|A=Two cats.|R=One {cat}.|again How many cats are there? {literal}"
    )
    assert check_template(t, "p.txt") == "named"


def test_positional_template_in_published_order():
    t = "### Image Contents\n{}\n\n### Question\n{}\n\n### Standard Human-Generated Answer\n{}\n\n### LMM Response to Evaluate\n{}\n"
    assert check_template(t, "published.txt") == "positional"
    out = render_prompt(t, ITEM, "There is one cat.")
    assert out == (
        "### Image Contents\nLynx, Cat\n\n### Question\nHow many cats are there?\n\n"
        "### Standard Human-Generated Answer\nTwo cats.\n\n### LMM Response to Evaluate\nThere is one cat.\n"
    )


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("no placeholders at all", "needs"),
        ("{} {} {}", "3 positional"),
        ("{} {} {} {} {}", "5 positional"),
        ("{image_content} {question} {gt_answer} {answer}", "unknown placeholder"),
        ("{image_content} {question} {gt_answer}", "lacks the placeholder(s) {response}"),
        ("{image_content} {question} {gt_answer} {response} {}", "mixes"),
        ("{0} {1} {2} {3}", "unknown placeholder"),
        ("{image_content} {question} {gt_answer} {response} }", "stray brace"),
        ("{image_content} {question} {gt_answer} {response} {", "stray brace"),
        ("{image_content} {question!r} {gt_answer} {response}", "format spec"),
        ("{} {} {:>5} {}", "format spec"),
        ('{image_content} {question} {gt_answer} {response} JSON like {"a": 1}', "unknown placeholder"),
    ],
)
def test_bad_template_is_one_line_naming_the_file(template, reason):
    with pytest.raises(UserError) as info:
        check_template(template, Path("prompts/judge.txt"))
    message = str(info.value)
    assert message.startswith("prompts/judge.txt: judge prompt ")
    assert reason in message
    assert "\n" not in message


def test_default_prompt_is_named_and_renders():
    text = DEFAULT_PROMPT.read_text(encoding="utf-8")
    assert check_template(text, DEFAULT_PROMPT) == "named"
    out = render_prompt(text, ITEM, "There is one cat.")
    assert "Lynx, Cat" in out and "Two cats." in out and out.rstrip().endswith("There is one cat.")
    assert "Rating: N" in out
    for level in range(7):
        assert f"{level} = " in out
    # The prompt itself must not read as a rating if a judge quotes it back.
    with pytest.raises(MalformedRating):
        parse_rating(out)


# -- reader --------------------------------------------------------------------------------------
def record(**over):
    rec = {
        "question_type": "attribute",
        "question_topic": "Animal",
        "image_id": "0a1b2c",
        "image_src": "https://c1.staticflickr.com/1/2/1234_abcd_o.jpg",
        "image_content": ["Cat", "Sofa"],
        "question": "What color is the cat?",
        "gt_answer": "The cat is black.",
        "model_answer": "",
    }
    rec.update(over)
    return rec


def write(tmp_path, data, name="response_template.json"):
    p = tmp_path / name
    p.write_text(json.dumps(data), encoding="utf-8")
    return p


def test_load_template_and_answers(tmp_path):
    recs = [record(question_type=t, question=f"q{i}") for i, t in enumerate(QUESTION_TYPES)]
    items = load_mmhal(write(tmp_path, recs), need_answers=False)
    assert [i.index for i in items] == list(range(8))
    assert [i.question_type for i in items] == list(QUESTION_TYPES)
    assert items[0].image_content == ["Cat", "Sofa"] and items[0].model_answer is None
    with pytest.raises(UserError, match=r"every model_answer is empty"):
        load_mmhal(write(tmp_path, recs), need_answers=True)  # the template itself
    recs[0]["model_answer"] = "Black."
    assert load_mmhal(write(tmp_path, recs), need_answers=False)[0].model_answer == "Black."


def test_absent_or_blank_answer_is_none(tmp_path):
    no_key = record()
    del no_key["model_answer"]
    items = load_mmhal(
        write(tmp_path, [no_key, record(model_answer="  \n"), record(model_answer=None)]), need_answers=False
    )
    assert [i.model_answer for i in items] == [None, None, None]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"question_type": "colour"}, r"record 1: unknown question_type 'colour'"),
        ({"question_type": "Attribute"}, r"record 1: unknown question_type 'Attribute'"),
        ({"image_content": "Cat, Sofa"}, r"record 1: image_content must be a list of strings"),
        ({"image_content": ["Cat", 3]}, r"record 1: image_content must be a list of strings"),
        ({"question": None}, r"record 1: question must be a string"),
        ({"model_answer": 5}, r"record 1: model_answer must be a string"),
        ({"image_id": ["x"]}, r"record 1: image_id must be a string"),
        ({"image_src": "https://example.org/dir/"}, r"record 1: image_src .* names no file"),
    ],
)
def test_bad_records_name_file_and_index(tmp_path, bad, message):
    p = write(tmp_path, [record(), record(**bad)])
    with pytest.raises(UserError, match=message) as info:
        load_mmhal(p, need_answers=False)
    assert str(info.value).startswith(f"{p}: ") and "\n" not in str(info.value)


@pytest.mark.parametrize(
    "field", ["question_type", "gt_answer", "image_content", "image_src", "question_topic"]
)
def test_missing_field(tmp_path, field):
    rec = record()
    del rec[field]
    p = write(tmp_path, [record(), record(), rec])
    with pytest.raises(UserError, match=rf"{p}: record 2: missing field '{field}'"):
        load_mmhal(p, need_answers=False)


def test_answers_needed_names_the_first_record_without_one(tmp_path):
    no_key = record(model_answer="b")
    del no_key["model_answer"]
    p = write(tmp_path, [record(model_answer="a"), no_key, record(model_answer=" ")])
    with pytest.raises(UserError, match=rf"{p}: record 1: has no model_answer"):
        load_mmhal(p, need_answers=True)


def test_one_blank_answer_among_real_ones_is_kept_as_given(tmp_path):
    """A model may answer with nothing; that answer is judged (and rated) like any other."""
    p = write(tmp_path, [record(model_answer="a"), record(model_answer="")])
    assert [i.model_answer for i in load_mmhal(p, need_answers=True)] == ["a", ""]


def test_not_a_list_or_empty(tmp_path):
    with pytest.raises(UserError, match="expected a JSON list"):
        load_mmhal(write(tmp_path, {"records": []}), need_answers=False)
    with pytest.raises(UserError, match="holds no records"):
        load_mmhal(write(tmp_path, []), need_answers=False)
    with pytest.raises(UserError, match=r"record 0: expected a JSON object"):
        load_mmhal(write(tmp_path, ["q"]), need_answers=False)
    with pytest.raises(UserError, match="file not found"):
        load_mmhal(tmp_path / "nope.json", need_answers=False)


def test_numeric_image_id_is_kept_as_text(tmp_path):
    assert load_mmhal(write(tmp_path, [record(image_id=12)]), need_answers=False)[0].image_id == "12"


@pytest.mark.parametrize(
    ("src", "name"),
    [
        ("https://c1.staticflickr.com/1/2/1234_abcd_o.jpg", "1234_abcd_o.jpg"),
        ("https://farm4.staticflickr.com/3/5678_ef_o.jpg?zz=1#top", "5678_ef_o.jpg"),
        ("images/local.png", "local.png"),
        ("plain.jpg", "plain.jpg"),
    ],
)
def test_image_path_is_last_part_of_url(tmp_path, src, name):
    (item,) = load_mmhal(write(tmp_path, [record(image_src=src)]), need_answers=False)
    assert image_path(item, tmp_path / "images") == tmp_path / "images" / name


# -- writing answers back ------------------------------------------------------------------------
def test_with_answers_round_trip(tmp_path):
    no_key = record(question_type="counting", extra_field={"kept": True})
    del no_key["model_answer"]
    recs = [record(), no_key, record(question_type="other", model_answer="old")]
    p = write(tmp_path, recs)
    out = with_answers(p, {0: "Black.", 1: "Two."})
    # Every key kept, in order; a new model_answer goes last; record 2 keeps its answer.
    assert list(out[0]) == list(recs[0])
    assert list(out[1]) == [*no_key, "model_answer"]
    assert out[1]["extra_field"] == {"kept": True}
    assert [r["model_answer"] for r in out] == ["Black.", "Two.", "old"]
    assert {k: v for k, v in out[0].items() if k != "model_answer"} == {
        k: v for k, v in recs[0].items() if k != "model_answer"
    }
    # The written file scores: another run reads the answers back.
    q = write(tmp_path, out, "answers.json")
    items = load_mmhal(q, need_answers=True)
    assert [i.model_answer for i in items] == ["Black.", "Two.", "old"]
    assert [i.question_type for i in items] == ["attribute", "counting", "other"]


def test_with_answers_leaves_its_input_alone():
    recs = [record(image_content=["Cat"])]
    out = with_answers(recs, {0: "A cat."})
    out[0]["image_content"].append("Dog")
    assert recs[0]["model_answer"] == "" and recs[0]["image_content"] == ["Cat"]


def test_with_answers_refuses_unknown_indices_and_bad_files(tmp_path):
    with pytest.raises(ValueError, match=r"records \[3\]"):
        with_answers([record(), record()], {3: "x"})
    with pytest.raises(UserError, match="record 0: unknown question_type"):
        with_answers(write(tmp_path, [record(question_type="x")]), {0: "x"})
