"""AMBER data readers on tiny checkouts: annotations, associations, safe words, queries, responses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hadpo_cli.data.amber import (
    AmberData,
    Annotation,
    Query,
    data_dir,
    load_annotations,
    load_queries,
    read_queries,
    read_responses,
    responses_list,
    write_responses,
)
from hadpo_cli.errors import UserError

ANNOTATIONS = [
    {"id": 1, "type": "generative", "truth": ["dog", "grass"], "hallu": ["cat"]},
    {"id": 2, "type": "generative", "truth": [], "hallu": []},
    {"id": 3, "type": "discriminative-attribute-state", "truth": "yes"},
    {"id": 4, "type": "discriminative-attribute-number", "truth": "no"},
    {"id": 5, "type": "discriminative-hallucination", "truth": "no"},
    {"id": 6, "type": "discriminative-relation", "truth": "yes"},
    {"id": 7, "type": "relation", "truth": "no"},
]
RELATION = {"dog": ["puppy"], "grass": ["lawn"], "cat": []}
QUERIES = [
    {"id": i, "image": f"AMBER_{min(i, 2)}.jpg", "query": "Describe this image." if i <= 2 else f"Q{i}?"}
    for i in range(1, 8)
]


def write(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj), encoding="utf-8")
    return path


@pytest.fixture
def amber(tmp_path: Path) -> Path:
    root = tmp_path / "AMBER"
    write(root / "data" / "annotations.json", ANNOTATIONS)
    write(root / "data" / "relation.json", RELATION)
    write(root / "data" / "safe_words.txt", "orange\r\nlight\n\nsign")  # CRLF, a blank line, no final newline
    write(root / "data" / "query" / "query_all.json", QUERIES)
    write(root / "data" / "query" / "query_generative.json", QUERIES[:2])
    return root


def test_load_checkout(amber):
    data = AmberData.load(amber)
    assert data.data_dir == amber / "data"
    assert data.annotations[1] == Annotation(1, "generative", ("dog", "grass"), ("cat",))
    assert data.annotations[2].truth == () and data.annotations[2].is_generative
    assert data.annotations[7] == Annotation(7, "relation", "no")
    assert not data.annotations[7].is_generative
    assert data.association == RELATION
    assert data.safe_words == ("orange", "light", "sign")
    assert data.vocabulary == {"dog", "puppy", "grass", "lawn", "cat"}


def test_data_folder_may_be_given_directly(amber):
    assert data_dir(amber / "data") == amber / "data"
    assert AmberData.load(amber / "data").annotations.keys() == {1, 2, 3, 4, 5, 6, 7}


def test_missing_or_wrong_directory(tmp_path):
    with pytest.raises(UserError, match="AMBER directory not found"):
        data_dir(tmp_path / "nowhere")
    with pytest.raises(UserError, match=r"not an AMBER checkout.*annotations\.json"):
        data_dir(tmp_path)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"id": 3, "type": "relation", "truth": "no"}, "id 3: appears twice"),
        ({"id": 8, "type": "discriminative-colour", "truth": "no"}, "id 8: unknown type"),
        ({"id": 8, "type": "relation", "truth": "maybe"}, "id 8: 'truth' must be"),
        ({"id": 8, "type": "generative", "truth": ["dog"]}, "id 8: a generative item needs"),
        ({"id": 8, "type": "generative", "truth": ["unicorn"], "hallu": []}, "id 8: object 'unicorn'"),
        ({"id": "8", "type": "relation", "truth": "no"}, "entry 7: 'id' must be an integer"),
        ({"id": True, "type": "relation", "truth": "no"}, "entry 7: 'id' must be an integer"),
        ({"type": "relation", "truth": "no"}, "entry 7 has no 'id'"),
        ("not an object", "entry 7 is not a JSON object"),
    ],
)
def test_bad_annotations(amber, entry, message):
    path = write(amber / "data" / "annotations.json", [*ANNOTATIONS, entry])
    with pytest.raises(UserError) as err:
        AmberData.load(amber)
    assert str(path) in str(err.value) and message in str(err.value)


def test_annotations_must_be_a_list(tmp_path):
    path = write(tmp_path / "annotations.json", {"1": {}})
    with pytest.raises(UserError, match="expected a JSON list"):
        load_annotations(path)
    with pytest.raises(UserError, match="holds no annotations"):
        load_annotations(write(tmp_path / "annotations.json", []))


def test_bad_association(amber):
    write(amber / "data" / "relation.json", {"dog": "puppy"})
    with pytest.raises(UserError, match=r"relation\.json: the words of 'dog' must be a list"):
        AmberData.load(amber)
    write(amber / "data" / "relation.json", '{"dog": [], "dog": []}')
    with pytest.raises(UserError, match="appears twice"):
        AmberData.load(amber)


def test_missing_safe_words_file(amber):
    (amber / "data" / "safe_words.txt").unlink()
    with pytest.raises(UserError, match=r"safe_words\.txt: file not found"):
        AmberData.load(amber)


def test_queries_from_the_part_file(amber):
    assert load_queries(amber, "generative") == [
        Query(1, "AMBER_1.jpg", "Describe this image."),
        Query(2, "AMBER_2.jpg", "Describe this image."),
    ]
    assert [q.id for q in load_queries(amber, "all")] == [1, 2, 3, 4, 5, 6, 7]
    assert [q.id for q in load_queries(amber)] == [1, 2, 3, 4, 5, 6, 7]


def test_queries_filtered_from_query_all_when_the_part_file_is_absent(amber):
    assert [q.id for q in load_queries(amber, "discriminative")] == [3, 4, 5, 6, 7]
    assert [q.id for q in load_queries(amber, "discriminative-attribute")] == [3, 4]
    assert [q.id for q in load_queries(amber, "discriminative-existence")] == [5]
    assert [q.id for q in load_queries(amber, "discriminative-relation")] == [6, 7]
    # the part file wins over the filter when present, even if it differs
    write(amber / "data" / "query" / "query_discriminative.json", QUERIES[4:5])
    assert [q.id for q in load_queries(amber, "discriminative")] == [5]


def test_queries_errors(amber):
    with pytest.raises(ValueError, match="unknown AMBER part"):
        load_queries(amber, "everything")
    write(amber / "data" / "query" / "query_all.json", [*QUERIES, {"id": 99, "image": "x.jpg", "query": "?"}])
    with pytest.raises(UserError, match=r"query_all\.json: id 99 has no annotation"):
        load_queries(amber, "discriminative")
    (amber / "data" / "query" / "query_all.json").unlink()
    with pytest.raises(UserError, match=r"query_discriminative\.json: file not found"):
        load_queries(amber, "discriminative")
    with pytest.raises(UserError, match=r"query_all\.json: file not found"):
        load_queries(amber, "all")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            [{"id": 1, "image": "a.jpg", "query": "q"}, {"id": 1, "image": "a.jpg", "query": "q"}],
            "id 1 appears twice",
        ),
        ([{"id": 1, "image": 5, "query": "q"}], "id 1: 'image' must be a string"),
        ([{"image": "a.jpg", "query": "q"}], "entry 0 is not an object with an 'id'"),
        ({"id": 1}, "expected a JSON list"),
    ],
)
def test_bad_query_file(tmp_path, content, message):
    path = write(tmp_path / "query_all.json", content)
    with pytest.raises(UserError) as err:
        read_queries(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_read_responses(tmp_path):
    path = write(
        tmp_path / "r.json", [{"id": 5, "response": "No"}, {"id": 1, "response": "A dog.", "extra": 1}]
    )
    responses = read_responses(path, known_ids={1, 5})
    assert responses == {5: "No", 1: "A dog."}
    assert list(responses) == [5, 1]  # file order


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ([{"id": 1, "response": "a"}, {"id": 1, "response": "b"}], "id 1 has two responses"),
        ([{"id": 42, "response": "Yes"}], "id 42 is not an AMBER item"),
        ([{"id": 1, "response": None}], "id 1: 'response' must be a string, got NoneType"),
        ([{"id": 1, "response": ["Yes"]}], "id 1: 'response' must be a string, got list"),
        ([{"id": 1}], "id 1 has no 'response'"),
        ([{"id": "1", "response": "Yes"}], "entry 0: 'id' must be an integer"),
        ([{"response": "Yes"}], "entry 0 is not an object with an 'id'"),
        ({"1": "Yes"}, "expected a JSON list"),
    ],
)
def test_bad_responses(tmp_path, content, message):
    path = write(tmp_path / "responses.json", content)
    with pytest.raises(UserError) as err:
        read_responses(path, known_ids=range(1, 8))
    assert str(path) in str(err.value) and message in str(err.value)


def test_unknown_ids_are_allowed_without_known_ids(tmp_path):
    path = write(tmp_path / "r.json", [{"id": 42, "response": "Yes"}])
    assert read_responses(path) == {42: "Yes"}


def test_annotations_serve_as_known_ids(amber, tmp_path):
    annotations = AmberData.load(amber).annotations
    path = write(tmp_path / "r.json", [{"id": 8, "response": "Yes"}])
    with pytest.raises(UserError, match="id 8 is not an AMBER item"):
        read_responses(path, known_ids=annotations)


def test_responses_list_and_round_trip(tmp_path):
    responses = {1005: "Yes", 2: "A cat on grass.", 1: "A dog."}
    assert responses_list(responses) == [
        {"id": 1, "response": "A dog."},
        {"id": 2, "response": "A cat on grass."},
        {"id": 1005, "response": "Yes"},
    ]
    path = tmp_path / "out" / "responses.json"
    write_responses(path, responses)
    assert json.loads(path.read_text(encoding="utf-8")) == responses_list(responses)
    assert read_responses(path) == {1: "A dog.", 2: "A cat on grass.", 1005: "Yes"}
