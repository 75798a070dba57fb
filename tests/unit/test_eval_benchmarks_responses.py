"""`hadpo eval chair|amber|mmhal --responses` through the CLI, no model: hand-computed metrics on
tiny hand-written datasets, the common files round-trip, finished runs are protected, --json,
`hadpo compare` on the results, and MMHal-Bench against the local judge server (usage, cache,
unrated items and their retry)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hadpo_cli.__main__ import app
from hadpo_cli.testing.local_judge import LocalJudgeServer, token_count

API_KEY = "sk-mmhal-test-SECRET-0b9e"


@pytest.fixture(autouse=True)
def _no_ambient_openai_env(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def hadpo(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "records.jsonl").read_text(encoding="utf-8").splitlines()]


def write_json(path: Path, obj: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1), encoding="utf-8")
    return path


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


# ================================================================ CHAIR

# Image 1: a dog annotated, a couch in a reference caption; image 2: a person and a car;
# image 3: nothing at all.
COCO_IMAGES = [{"id": i, "file_name": f"COCO_val2014_{i:012d}.jpg"} for i in (1, 2, 3)]
CAPTIONS = [
    # mentions dog, cat, couch: the cat is hallucinated; recalls dog and couch (2 of 2); 8 words
    {"image_id": 1, "caption": "A dog and a cat on a couch."},
    # mentions person: nothing hallucinated; recalls 1 of 2 (no car); 6 words
    {"image_id": 2, "caption": "A person stands on the street."},
    # mentions bus, which is not there; 0 of 0 recalled; 2 words
    {"image_id": 3, "caption": "A bus."},
]
CHAIR_EXPECTED = {
    "benchmark": "chair",
    "chair_s": 2 / 3,  # captions 1 and 3 hallucinate
    "chair_i": 2 / 5,  # cat and bus, of 3 + 1 + 1 mentions
    "recall": 3 / 4,  # (2 + 1 + 0) of (2 + 2 + 0) ground-truth objects
    "avg_length": 16 / 3,
    "num_captions": 3,
}


@pytest.fixture()
def coco(tmp_path) -> Path:
    ann = tmp_path / "annotations"
    categories = [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}, {"id": 17, "name": "cat"}, {"id": 18, "name": "dog"}]  # fmt: skip
    instances = [(1, 1, 18), (2, 2, 1), (3, 2, 3)]
    write_json(
        ann / "instances_val2014.json",
        {
            "images": COCO_IMAGES,
            "categories": categories,
            "annotations": [{"id": a, "image_id": i, "category_id": c} for a, i, c in instances],
        },
    )
    write_json(
        ann / "captions_val2014.json",
        {
            "images": COCO_IMAGES,
            "annotations": [
                {"id": 1, "image_id": 1, "caption": "A dog lying on a couch."},
                {"id": 2, "image_id": 3, "caption": "An empty white room."},
            ],
        },
    )
    return ann


def chair(coco: Path, responses: Path, out: Path, *extra: object):
    return hadpo("eval", "chair", "--responses", responses, "--annotations", coco, "-o", out, *extra)


def assert_metrics(got: dict[str, Any], expected: dict[str, Any]) -> None:
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key] == (pytest.approx(value) if isinstance(value, float) else value), key


def test_chair_metrics_are_the_hand_computed_ones_and_json_is_metrics_json(coco, tmp_path):
    out = tmp_path / "out"
    result = chair(coco, write_jsonl(tmp_path / "captions.jsonl", CAPTIONS), out, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == read_json(out / "metrics.json")  # stdout is one JSON document
    assert_metrics(read_json(out / "metrics.json"), CHAIR_EXPECTED)
    rows = records(out)
    assert [r["key"] for r in rows] == ["1", "2", "3"]
    assert rows[0]["hallucinated"] == ["cat"] and rows[0]["ground_truth"] == ["couch", "dog"]
    assert rows[1]["columns"] == {
        "hallucinated_caption": 0, "mentions": 1, "hallucinated_mentions": 0,
        "gt_objects": 2, "recalled_objects": 1, "words": 6,
    }  # fmt: skip
    saved = read_json(out / "settings.json")
    assert saved["responses"] == str(tmp_path / "captions.jsonl") and saved["model"] is None
    assert "chair_s" in result.stderr  # the table, on stderr
    assert not (out / "image_ids.json").exists()  # the images came from the captions, not a draw


def test_chair_image_ids_select_and_must_all_be_answered(coco, tmp_path):
    captions = write_jsonl(tmp_path / "captions.jsonl", CAPTIONS)
    ids = tmp_path / "ids.txt"
    ids.write_text("3\n1\n")
    out = tmp_path / "out"
    assert chair(coco, captions, out, "--image-ids", ids).exit_code == 0
    m = read_json(out / "metrics.json")
    assert m["num_captions"] == 2 and m["chair_s"] == 1.0 and m["chair_i"] == pytest.approx(2 / 4)
    assert [r["image_id"] for r in records(out)] == [3, 1]  # the list's order
    ids.write_text("1\n4\n")
    result = chair(coco, captions, tmp_path / "other", "--image-ids", ids)
    assert result.exit_code == 2 and "image id(s) are not in" in result.stderr
    partial = write_jsonl(tmp_path / "partial.jsonl", CAPTIONS[:1])
    ids.write_text("1\n2\n")
    result = chair(coco, partial, tmp_path / "other", "--image-ids", ids)
    assert result.exit_code == 2
    assert error_lines(result.stderr) == [f"error: {partial}: no answer for 1 of 2 items: 2"]
    assert not (tmp_path / "other").exists()


def test_chair_missing_images_fail_before_the_model_is_looked_at(coco, tmp_path):
    images = tmp_path / "coco" / "val2014"
    images.mkdir(parents=True)
    for image in COCO_IMAGES[:2]:
        (images / image["file_name"]).write_bytes(b"")  # only their presence is checked first
    out = tmp_path / "out"
    result = hadpo(
        "eval", "chair", "--model", tmp_path / "no-such-model", "--coco-path", tmp_path / "coco",
        "--annotations", coco, "--num-images", "3", "-o", out,
    )  # fmt: skip
    assert result.exit_code == 2
    (line,) = error_lines(result.stderr)
    assert "image files are missing" in line and COCO_IMAGES[2]["file_name"] in line
    assert not out.exists()


def test_chair_written_captions_score_again_with_identical_metrics(coco, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    # Other tools' field names are accepted on input; the file written uses "caption".
    other_format = [{"image_id": str(r["image_id"]), "text": r["caption"]} for r in CAPTIONS]
    assert chair(coco, write_jsonl(tmp_path / "in.jsonl", other_format), first).exit_code == 0
    written = [json.loads(line) for line in (first / "captions.jsonl").read_text().splitlines()]
    assert written == CAPTIONS
    result = chair(coco, first / "captions.jsonl", second)
    assert result.exit_code == 0, result.output
    assert read_json(second / "metrics.json") == read_json(first / "metrics.json")
    assert [r["columns"] for r in records(second)] == [r["columns"] for r in records(first)]


def test_a_finished_run_of_other_settings_is_refused_and_overwrite_replaces_it(coco, tmp_path):
    out = tmp_path / "out"
    assert chair(coco, write_jsonl(tmp_path / "a.jsonl", CAPTIONS), out).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    better = [{**r, "caption": "A dog."} if r["image_id"] == 1 else r for r in CAPTIONS]
    b = write_jsonl(tmp_path / "b.jsonl", better)
    result = chair(coco, b, out)
    assert result.exit_code == 2
    (line,) = error_lines(result.stderr)
    assert f"{out}: holds a finished run made with --responses" in line and "--overwrite" in line
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # untouched
    # The same settings again is no conflict: the run is simply redone.
    assert chair(coco, tmp_path / "a.jsonl", out).exit_code == 0
    result = chair(coco, b, out, "--overwrite")
    assert result.exit_code == 0, result.output
    m = read_json(out / "metrics.json")
    assert m["chair_s"] == pytest.approx(1 / 3) and m["chair_i"] == pytest.approx(1 / 3)
    assert records(out)[0]["caption"] == "A dog." and read_json(out / "settings.json")["responses"] == str(b)


def test_overwrite_rescoring_the_runs_own_answers_keeps_them(tmp_path, amber):
    """`--responses OUT/responses.json -o OUT --overwrite`: the file being scored is not deleted
    with the rest of the old run."""
    out = tmp_path / "out"
    responses = write_json(tmp_path / "responses.json", AMBER_DISCRIMINATIVE)
    assert amber_run(amber, responses, out, "--part", "discriminative").exit_code == 0
    before = read_json(out / "metrics.json")
    result = amber_run(amber, out / "responses.json", out, "--part", "discriminative", "--overwrite")
    assert result.exit_code == 0, result.output
    assert read_json(out / "metrics.json") == before
    assert read_json(out / "settings.json")["responses"] == str(out / "responses.json")
    assert (out / "responses.json").is_file()


def test_compare_reads_two_chair_runs(coco, tmp_path):
    base, cand = tmp_path / "base", tmp_path / "cand"
    assert chair(coco, write_jsonl(tmp_path / "a.jsonl", CAPTIONS), base).exit_code == 0
    fixed = [{**r, "caption": "A dog on a couch."} if r["image_id"] == 1 else r for r in CAPTIONS]
    assert chair(coco, write_jsonl(tmp_path / "b.jsonl", fixed), cand).exit_code == 0
    result = hadpo("compare", base, cand, "--json", "--resamples", "200")
    assert result.exit_code == 0, result.output
    rows = {r["metric"]: r for r in json.loads(result.stdout)}
    assert set(rows) == {"chair_s", "chair_i", "recall", "avg_length"}
    assert {(r["benchmark"], r["n"]) for r in rows.values()} == {("chair", 3)}
    s = rows["chair_s"]
    assert (s["baseline"], s["candidate"]) == (pytest.approx(2 / 3), pytest.approx(1 / 3))
    assert s["delta"] == pytest.approx(-1 / 3)
    assert s["p_value"] == pytest.approx(1.0)  # McNemar: one discordant caption
    assert rows["chair_i"]["candidate"] == pytest.approx(1 / 4)
    assert rows["avg_length"]["baseline"] == pytest.approx(16 / 3)
    # One file of a run names the run.
    assert (
        hadpo("compare", base / "records.jsonl", cand / "metrics.json", "--resamples", "100").exit_code == 0
    )


# ================================================================ AMBER

AMBER_ANNOTATIONS = [
    {"id": 1, "type": "generative", "truth": ["dog", "couch"], "hallu": ["cat"]},
    {"id": 2, "type": "generative", "truth": ["car"], "hallu": ["bus"]},
    {"id": 1005, "type": "discriminative-hallucination", "truth": "yes"},
    {"id": 1006, "type": "discriminative-hallucination", "truth": "no"},
    {"id": 1007, "type": "discriminative-attribute-state", "truth": "no"},
    {"id": 1008, "type": "relation", "truth": "yes"},
]
AMBER_RELATION = {"dog": ["puppy"], "couch": ["sofa"], "cat": ["kitten"], "car": ["wheel"], "bus": [], "background": []}  # fmt: skip
AMBER_QUERIES = [
    {"id": 1, "image": "AMBER_1.jpg", "query": "Describe this image."},
    {"id": 2, "image": "AMBER_2.jpg", "query": "Describe this image."},
    {"id": 1005, "image": "AMBER_1.jpg", "query": "Is there a dog in this image?"},
    {"id": 1006, "image": "AMBER_1.jpg", "query": "Is there a cat in this image?"},
    {"id": 1007, "image": "AMBER_2.jpg", "query": "Is the car moving?"},
    {"id": 1008, "image": "AMBER_1.jpg", "query": "Is the dog on the couch?"},
]
AMBER_DISCRIMINATIVE = [
    {"id": 1005, "response": "Yes, there is a dog."},  # yes, right
    {"id": 1006, "response": "No."},  # no, right: the one hit
    {"id": 1007, "response": "Yes"},  # yes, wrong
    {"id": 1008, "response": "No, it is not."},  # no, wrong
]
AMBER_GENERATIVE = [
    # nouns puppy (covers dog), sofa (covers couch), cat (a hallu object: cog, and hallucinated)
    {"id": 1, "response": "A puppy sleeps on a sofa next to a cat."},
    # nouns car (covers car) and background (a global safe word: counted, never hallucinated)
    {"id": 2, "response": "A car on a road with a plain background."},
]
# Positive class "no": answered no 2 (1006, 1008), truth no 2 (1006, 1007), one hit (1006).
DISCRIMINATIVE_EXPECTED = {"accuracy": 2 / 4, "precision": 1 / 2, "recall": 1 / 2, "f1": 2 * 1 / (2 + 2)}
GENERATIVE_EXPECTED = {"chair": 1 / 5, "cover": 3 / 3, "hal": 1 / 2, "cog": 1 / 2, "num_responses": 2}


@pytest.fixture()
def amber(tmp_path) -> Path:
    root = tmp_path / "AMBER"
    write_json(root / "data" / "annotations.json", AMBER_ANNOTATIONS)
    write_json(root / "data" / "relation.json", AMBER_RELATION)
    (root / "data" / "safe_words.txt").write_text("background\npicture\n", encoding="utf-8")
    write_json(root / "data" / "query" / "query_all.json", AMBER_QUERIES)
    return root


def amber_run(amber: Path, responses: Path, out: Path, *extra: object):
    return hadpo("eval", "amber", "--responses", responses, "--amber-path", amber, "-o", out, *extra)


def test_amber_discriminative_metrics_by_hand(amber, tmp_path):
    out = tmp_path / "out"
    result = amber_run(amber, write_json(tmp_path / "r.json", AMBER_DISCRIMINATIVE), out, "--part", "discriminative", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    m = read_json(out / "metrics.json")
    assert json.loads(result.stdout) == m
    assert m["benchmark"] == "amber" and set(m) == {"benchmark", "discriminative"}  # no generative, no score
    d = m["discriminative"]
    assert_metrics({k: d[k] for k in DISCRIMINATIVE_EXPECTED}, DISCRIMINATIVE_EXPECTED)
    assert d["num_questions"] == 4
    assert d["existence"] == {"accuracy": 1.0, "precision": 1.0, "recall": 1.0, "f1": 1.0}
    # The state question: truth no, answered yes; the relation question: truth yes, answered no.
    assert d["state"] == {"accuracy": 0.0, "precision": None, "recall": 0.0, "f1": 0.0}
    assert d["attribute"] == d["state"]
    assert d["relation"] == {"accuracy": 0.0, "precision": 0.0, "recall": None, "f1": 0.0}
    assert d["number"] == {"accuracy": None, "precision": None, "recall": None, "f1": None}
    assert [r["key"] for r in records(out)] == ["1005", "1006", "1007", "1008"]
    # The official format, yes/no answers as "Yes"/"No" (what inference.py matches).
    assert read_json(out / "responses.json") == [
        {"id": 1005, "response": "Yes"}, {"id": 1006, "response": "No"},
        {"id": 1007, "response": "Yes"}, {"id": 1008, "response": "No"},
    ]  # fmt: skip


def test_amber_strict_parser_counts_an_unreadable_answer_as_wrong_and_keeps_it(amber, tmp_path):
    unreadable = [*AMBER_DISCRIMINATIVE[:3], {"id": 1008, "response": "Hard to say."}]
    out = tmp_path / "out"
    result = amber_run(amber, write_json(tmp_path / "r.json", unreadable), out, "--part", "discriminative", "--parser", "strict")  # fmt: skip
    assert result.exit_code == 0, result.output
    d = read_json(out / "metrics.json")["discriminative"]
    # 1008 is wrong and no longer an answered "no": answered no 1, truth no 2, hit 1.
    assert d["accuracy"] == pytest.approx(2 / 4) and d["precision"] == 1.0 and d["f1"] == pytest.approx(2 / 3)
    assert "1 yes/no answer(s) could not be read with --parser strict" in " ".join(result.stderr.split())
    assert read_json(out / "responses.json")[-1] == {"id": 1008, "response": "Hard to say."}


class StandInTools:
    """spaCy/NLTK stand-in: nouns are the words of the association vocabulary, no similarity."""

    def nouns(self, text: str) -> list[str]:
        return [w.strip(".,").lower() for w in text.split() if w.strip(".,").lower() in {*AMBER_RELATION, "puppy", "sofa", "kitten", "wheel", "road"}]  # fmt: skip

    def similarity(self, a: str, b: str) -> float:
        return 0.0


def test_amber_all_parts_with_stand_in_language_tools(amber, tmp_path, monkeypatch):
    from hadpo_cli.metrics import amber_language

    asked: list[str] = []

    def load(model: str = "en_core_web_lg") -> StandInTools:
        asked.append(model)
        return StandInTools()

    monkeypatch.setattr(amber_language, "load_language_tools", load)
    out = tmp_path / "out"
    responses = write_json(tmp_path / "r.json", AMBER_GENERATIVE + AMBER_DISCRIMINATIVE)
    result = amber_run(amber, responses, out, "--spacy-model", "my_vectors")
    assert result.exit_code == 0, result.output
    assert asked == ["my_vectors"]
    m = read_json(out / "metrics.json")
    assert_metrics(m["generative"], GENERATIVE_EXPECTED)
    assert m["amber_score"] == pytest.approx((1 - 1 / 5 + 1 / 2) / 2)
    assert m["discriminative"]["num_questions"] == 4
    first = records(out)[0]
    assert (
        first["hallucinated"] == ["cat"] and first["covered"] == ["dog", "couch"] and first["cog"] == ["cat"]
    )
    # Generative answers are written as given; the file scores again to the same figures.
    again = tmp_path / "again"
    assert amber_run(amber, out / "responses.json", again).exit_code == 0
    assert read_json(again / "metrics.json") == m
    # A generative-only run needs no discriminative answer.
    gen_only = tmp_path / "gen"
    assert amber_run(amber, write_json(tmp_path / "g.json", AMBER_GENERATIVE), gen_only, "--part", "generative").exit_code == 0  # fmt: skip
    assert set(read_json(gen_only / "metrics.json")) == {"benchmark", "generative"}


def test_amber_written_responses_score_again_with_identical_metrics(amber, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    assert amber_run(amber, write_json(tmp_path / "r.json", AMBER_DISCRIMINATIVE), first, "--part", "discriminative").exit_code == 0  # fmt: skip
    result = amber_run(amber, first / "responses.json", second, "--part", "discriminative")
    assert result.exit_code == 0, result.output
    assert read_json(second / "metrics.json") == read_json(first / "metrics.json")


def test_amber_without_spacy_fails_in_one_line_before_anything_is_written(amber, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "spacy", None)  # `import spacy` now fails, as when not installed
    out = tmp_path / "out"
    responses = write_json(tmp_path / "r.json", AMBER_GENERATIVE + AMBER_DISCRIMINATIVE)
    result = amber_run(amber, responses, out, "--part", "all")
    assert result.exit_code == 2
    (line,) = error_lines(result.stderr)
    assert line.startswith("error: AMBER's generative scoring needs spaCy") and "pip install" in line
    assert not out.exists()
    # Generating instead: the same line comes before the model (which does not exist) is looked at.
    images = tmp_path / "images"
    images.mkdir()
    result = hadpo("eval", "amber", "--model", tmp_path / "no-model", "--images", images, "--amber-path", amber, "-o", out)  # fmt: skip
    assert result.exit_code == 2 and error_lines(result.stderr) == [line] and not out.exists()
    # The discriminative part needs no spaCy.
    assert amber_run(amber, responses, out, "--part", "discriminative").exit_code == 0


def test_amber_a_missing_spacy_model_is_named(amber, tmp_path):
    pytest.importorskip("spacy")
    result = amber_run(amber, write_json(tmp_path / "r.json", AMBER_GENERATIVE + AMBER_DISCRIMINATIVE), tmp_path / "out", "--spacy-model", "hadpo_no_such_model")  # fmt: skip
    assert result.exit_code == 2
    (line,) = error_lines(result.stderr)
    assert (
        "the spaCy model hadpo_no_such_model" in line
        and "python -m spacy download hadpo_no_such_model" in line
    )
    assert not (tmp_path / "out").exists()


def test_amber_responses_must_answer_every_item_of_the_part(amber, tmp_path):
    responses = write_json(tmp_path / "r.json", AMBER_DISCRIMINATIVE[:3])
    result = amber_run(amber, responses, tmp_path / "out", "--part", "discriminative")
    assert result.exit_code == 2
    assert error_lines(result.stderr) == [f"error: {responses}: no answer for 1 of 4 items: 1008"]
    assert not (tmp_path / "out").exists()


def test_compare_reads_two_amber_runs(amber, tmp_path):
    base, cand = tmp_path / "base", tmp_path / "cand"
    assert amber_run(amber, write_json(tmp_path / "a.json", AMBER_DISCRIMINATIVE), base, "--part", "discriminative").exit_code == 0  # fmt: skip
    right = [{"id": 1005, "response": "Yes"}, {"id": 1006, "response": "No"}, {"id": 1007, "response": "No"}, {"id": 1008, "response": "Yes"}]  # fmt: skip
    assert amber_run(amber, write_json(tmp_path / "b.json", right), cand, "--part", "discriminative").exit_code == 0  # fmt: skip
    result = hadpo("compare", base, cand, "--json", "--resamples", "200")
    assert result.exit_code == 0, result.output
    rows = {r["metric"]: r for r in json.loads(result.stdout)}
    acc = rows["discriminative.accuracy"]
    assert (acc["benchmark"], acc["n"], acc["baseline"], acc["candidate"]) == ("amber", 4, 0.5, 1.0)
    assert acc["p_value"] == pytest.approx(0.5)  # McNemar: two discordant, both fixed
    assert rows["discriminative.f1"]["candidate"] == 1.0


# ================================================================ MMHal-Bench

# Ratings of the local judge: an object the labels lack -> 1; labelled objects only -> 5; none -> 3.
MMHAL_ITEMS = [
    ("attribute", ["dog", "couch"], "What is on the couch?", "A dog.", "A dog lies on the couch."),  # 5
    ("adversarial", ["car"], "What colour is the bus?", "There is no bus.", "The bus is yellow."),  # 1
    ("counting", ["cup", "bowl"], "How many things are there?", "Two.", "There are two things here."),  # 3
    ("attribute", ["cat"], "What animal is it?", "A cat.", "A cat and a dog."),  # 1
]
MMHAL_EXPECTED = {
    "average_score": (5 + 1 + 3 + 1) / 4,
    "hallucination_rate": 2 / 4,
    "num_questions": 4,
    "rated": 4,
    "unrated": 0,
}


@pytest.fixture()
def mmhal(tmp_path) -> dict[str, Path]:
    root = tmp_path / "MMHal"
    template = [
        {"question_type": t, "question_topic": "toy", "image_id": f"img{n}",
         "image_src": f"https://example.invalid/mmhal/{n}.jpg", "image_content": labels,
         "question": q, "gt_answer": gt, "model_answer": ""}
        for n, (t, labels, q, gt, _) in enumerate(MMHAL_ITEMS)
    ]  # fmt: skip
    write_json(root / "response_template.json", template)
    answered = [{**rec, "model_answer": item[4]} for rec, item in zip(template, MMHAL_ITEMS, strict=True)]
    return {"root": root, "responses": write_json(tmp_path / "answered.json", answered)}


def mmhal_run(mmhal: dict[str, Path], server: LocalJudgeServer, out: Path, *extra: object, responses: Path | None = None):  # fmt: skip
    return hadpo(
        "eval", "mmhal", "--responses", responses or mmhal["responses"], "--mmhal-path", mmhal["root"],
        "-o", out, "--base-url", server.base_url, "--retry-backoff", "0.01", "--request-timeout", "10", *extra,
    )  # fmt: skip


def prompt_of(request: dict[str, Any]) -> str:
    return request["body"]["messages"][-1]["content"]


def test_mmhal_ratings_metrics_usage_and_a_cached_rerun(mmhal, tmp_path):
    out = tmp_path / "out"
    with LocalJudgeServer() as server:
        result = mmhal_run(mmhal, server, out, "--api-key", API_KEY, "--json", "--judge-price-in", "1000", "--judge-price-out", "2000")  # fmt: skip
        assert result.exit_code == 0, result.output
        sent = list(server.requests)
        assert len(sent) == 4 and {r["auth"] for r in sent} == {f"Bearer {API_KEY}"}
        assert json.loads(result.stdout) == read_json(out / "metrics.json")
        first_records = records(out)
        rerun = mmhal_run(mmhal, server, out, "--api-key", API_KEY, "--judge-price-in", "1000", "--judge-price-out", "2000")  # fmt: skip
        assert rerun.exit_code == 0, rerun.output
        assert len(server.requests) == 4  # nothing asked again
    m = json.loads(result.stdout)
    assert m["benchmark"] == "mmhal"
    assert_metrics({k: m[k] for k in MMHAL_EXPECTED}, MMHAL_EXPECTED)
    per_type = m["per_type"]
    assert per_type["attribute"] == pytest.approx(3.0) and per_type["adversarial"] == 1.0 and per_type["counting"] == 3.0  # fmt: skip
    assert all(per_type[t] is None for t in ("comparison", "relation", "environment", "holistic", "other"))
    assert [r["rating"] for r in first_records] == [5, 1, 3, 1]
    assert records(out) == first_records
    # Usage: the tokens the server reported (words of prompt and reply), summed by the client.
    prompt_tokens = sum(token_count(prompt_of(r)) for r in sent)
    completion_tokens = sum(token_count(r["reply"]) for r in first_records)
    u = m["usage"]
    assert (u["requests"], u["prompt_tokens"], u["completion_tokens"]) == (
        4,
        prompt_tokens,
        completion_tokens,
    )
    assert u["estimated_cost"] == pytest.approx((prompt_tokens * 1000 + completion_tokens * 2000) / 1e6)
    assert u["cached_replies"] == 0
    # The rerun: the same figures, from the cache, at no new cost.
    again = read_json(out / "metrics.json")
    assert {k: again[k] for k in MMHAL_EXPECTED} == {k: m[k] for k in MMHAL_EXPECTED}
    u2 = again["usage"]
    assert (u2["requests"], u2["prompt_tokens"], u2["completion_tokens"], u2["estimated_cost"]) == (
        0,
        0,
        0,
        0.0,
    )
    assert (u2["cached_replies"], u2["cached_prompt_tokens"]) == (4, prompt_tokens)
    assert "4 replies from the cache" in " ".join(rerun.stderr.split())
    # The key is nowhere on disk.
    for path in out.rglob("*"):
        if path.is_file():
            assert API_KEY not in path.read_text(encoding="utf-8"), path
    assert "api_key" not in read_json(out / "settings.json")


def test_mmhal_prompt_carries_labels_question_human_and_model_answer(mmhal, tmp_path):
    with LocalJudgeServer() as server:
        assert mmhal_run(mmhal, server, tmp_path / "out", "--judge-model", "judge-x").exit_code == 0
        body = next(r["body"] for r in server.requests if "couch" in prompt_of(r))
    text = body["messages"][-1]["content"].rstrip("\n")
    assert body["model"] == "judge-x" and body["temperature"] == 0
    assert "Image labels: dog, couch" in text and "Question: What is on the couch?" in text
    assert "Human answer: A dog." in text and text.endswith(
        "Model answer to grade:\nA dog lies on the couch."
    )


def test_mmhal_an_always_malformed_item_is_unrated_exit_1_and_retried_only_with_more_reasks(mmhal, tmp_path):
    out = tmp_path / "out"
    marker = "There are two things here."
    with LocalJudgeServer(faults={marker: ["malformed"] * 3}) as server:
        result = mmhal_run(mmhal, server, out, "--max-reasks", "2")
        assert result.exit_code == 1, result.output
        assert server.count(marker) == 3 and len(server.requests) == 6
        m = read_json(out / "metrics.json")
        assert (m["rated"], m["unrated"]) == (3, 1)
        # The unrated item is left out of the averages, not scored 0: (5 + 1 + 1) / 3.
        assert m["average_score"] == pytest.approx(7 / 3) and m["hallucination_rate"] == pytest.approx(2 / 3)
        assert m["per_type"]["counting"] is None
        bad = records(out)[2]
        assert bad["status"] == "malformed" and bad["rating"] is None and bad["columns"]["rated"] == 0.0
        assert bad["reply"] and "Rating" not in bad["reply"] and "no 'Rating: N' line" in bad["error"]
        warning = " ".join(result.stderr.split())
        assert "1 item(s) left unscored" in warning and "rerun with a higher --max-reasks" in warning
        # Re-asks of the same item carry the note (and so are new cache entries).
        reasks = [prompt_of(r) for r in server.requests if marker in prompt_of(r)][1:]
        assert all("Your previous reply could not be used: no 'Rating: N' line" in p for p in reasks)

        # The same command again: every reply is cached, the judge is not asked, still status 1.
        again = mmhal_run(mmhal, server, out, "--max-reasks", "2")
        assert again.exit_code == 1 and len(server.requests) == 6
        # A higher bound asks once more, for that item only (the plan's faults are spent now).
        more = mmhal_run(mmhal, server, out, "--max-reasks", "3")
        assert more.exit_code == 0, more.output
        assert len(server.requests) == 7 and marker in prompt_of(server.requests[-1])
    m = read_json(out / "metrics.json")
    assert (m["rated"], m["unrated"]) == (4, 0) and m["average_score"] == pytest.approx(2.5)
    assert m["usage"]["requests"] == 1 and m["usage"]["cached_replies"] == 6


def test_mmhal_a_failed_item_is_retried_by_the_same_command(mmhal, tmp_path):
    out = tmp_path / "out"
    marker = "A cat and a dog."
    with LocalJudgeServer(faults={marker: ["500"]}) as server:
        result = mmhal_run(mmhal, server, out, "--max-retries", "0")
        assert result.exit_code == 1, result.output
        m = read_json(out / "metrics.json")
        assert m["unrated"] == 1 and records(out)[3]["status"] == "failed"
        assert "HTTP 500" in records(out)[3]["error"]
        n = len(server.requests)
        rerun = mmhal_run(mmhal, server, out, "--max-retries", "0")
        assert rerun.exit_code == 0, rerun.output
        assert len(server.requests) == n + 1 and marker in prompt_of(server.requests[-1])
    assert_metrics({k: read_json(out / "metrics.json")[k] for k in MMHAL_EXPECTED}, MMHAL_EXPECTED)


def test_mmhal_written_file_scores_again_with_identical_metrics(mmhal, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    with LocalJudgeServer() as server:
        assert mmhal_run(mmhal, server, first).exit_code == 0
        written = read_json(first / "response_template.json")
        assert [r["model_answer"] for r in written] == [i[4] for i in MMHAL_ITEMS]
        assert written == read_json(mmhal["responses"])  # every other field kept, in order
        assert mmhal_run(mmhal, server, second, responses=first / "response_template.json").exit_code == 0
    a, b = read_json(first / "metrics.json"), read_json(second / "metrics.json")
    a.pop("usage"), b.pop("usage")
    assert a == b


def test_mmhal_other_judge_settings_are_refused_then_overwrite_rejudges(mmhal, tmp_path):
    out = tmp_path / "out"
    with LocalJudgeServer() as server:
        assert mmhal_run(mmhal, server, out).exit_code == 0
        result = mmhal_run(mmhal, server, out, "--judge-model", "gpt-4o")
        assert result.exit_code == 2 and "made with --judge-model 'gpt-4'" in result.stderr
        assert len(server.requests) == 4
        # How requests are sent is not what was measured: a rerun may change it freely.
        assert mmhal_run(mmhal, server, out, "--concurrency", "1", "--max-retries", "1").exit_code == 0
        assert len(server.requests) == 4
        result = mmhal_run(mmhal, server, out, "--judge-model", "gpt-4o", "--overwrite")
        assert result.exit_code == 0, result.output
        assert len(server.requests) == 8  # the old cache went with the old run
    assert read_json(out / "settings.json")["judge_model"] == "gpt-4o"


def test_mmhal_no_judge_writes_the_answers_and_sends_nothing(mmhal, tmp_path):
    out = tmp_path / "out"
    result = hadpo("eval", "mmhal", "--responses", mmhal["responses"], "--mmhal-path", mmhal["root"], "-o", out, "--no-judge", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"benchmark": "mmhal", "num_questions": 4, "judged": False}
    assert (out / "response_template.json").is_file() and not (out / "judge_cache.jsonl").exists()
    result = hadpo("eval", "mmhal", "--responses", mmhal["responses"], "--mmhal-path", mmhal["root"], "-o", tmp_path / "x", "--no-judge", "--judge-model", "m")  # fmt: skip
    assert result.exit_code == 2
    assert error_lines(result.stderr) == [
        "error: --judge-model has no effect with --no-judge: drop one of the two"
    ]


def test_mmhal_without_a_key_names_the_variable_and_writes_nothing(mmhal, tmp_path):
    out = tmp_path / "out"
    result = hadpo(
        "eval", "mmhal", "--responses", mmhal["responses"], "--mmhal-path", mmhal["root"], "-o", out
    )
    assert result.exit_code == 2 and "OPENAI_API_KEY" in result.stderr and not out.exists()


def test_compare_reads_two_mmhal_runs(mmhal, tmp_path):
    base, cand = tmp_path / "base", tmp_path / "cand"
    honest = [{**r, "model_answer": "It is hard to tell."} if r["question"] == "What colour is the bus?" else r for r in read_json(mmhal["responses"])]  # fmt: skip
    with LocalJudgeServer() as server:
        assert mmhal_run(mmhal, server, base).exit_code == 0
        assert (
            mmhal_run(mmhal, server, cand, responses=write_json(tmp_path / "honest.json", honest)).exit_code
            == 0
        )
    result = hadpo("compare", base, cand, "--json", "--resamples", "200")
    assert result.exit_code == 0, result.output
    rows = {r["metric"]: r for r in json.loads(result.stdout)}
    assert {r["benchmark"] for r in rows.values()} == {"mmhal"}
    avg = rows["average_score"]
    assert (avg["baseline"], avg["candidate"], avg["n"]) == (2.5, 3.0, 4)  # the 1 became a 3
    rate = rows["hallucination_rate"]
    assert (rate["baseline"], rate["candidate"]) == (0.5, 0.25) and rate["p_value"] == pytest.approx(1.0)
    assert rows["per_type.adversarial"]["candidate"] == 3.0
