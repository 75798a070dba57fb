"""Readers of evaluation outputs: the figures they recompute equal the metrics files the
commands wrote, items are keyed by id, and foreign or broken files are refused by name."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from hadpo_cli.errors import UserError
from hadpo_cli.io import read_json
from hadpo_cli.metrics.pope import RATE_KEYS
from hadpo_cli.results.benchmarks.pope import question_object, split_key
from hadpo_cli.results.registry import benchmarks, find_results
from results_fixtures import write_pope_labels, write_pope_run, write_shr_run


def test_pope_and_shr_are_registered_from_their_modules():
    assert {"pope", "shr"} <= set(benchmarks())


def test_pope_reader_reproduces_the_metrics_file(tmp_path):
    labels = write_pope_labels(tmp_path / "labels.json", 40)
    run = write_pope_run(tmp_path / "run", labels, wrong={0, 3, 4, 9, 11, 20})
    [result] = find_results(run)
    assert (result.benchmark, result.split) == ("pope", "adversarial")
    written = read_json(run / "answers.metrics.json")["splits"]["adversarial"]
    values = result.metric_values()
    for key in RATE_KEYS:
        assert values[key] == pytest.approx(written[key]), key
    assert result.keys == [str(i) for i in range(40)]


def test_pope_reader_finds_an_answers_file_moved_with_its_metrics(tmp_path):
    labels = write_pope_labels(tmp_path / "labels.json", 10)
    run = write_pope_run(tmp_path / "run", labels, wrong={1})
    moved = tmp_path / "elsewhere" / "run"
    shutil.copytree(run, moved)
    shutil.rmtree(run)
    [result] = find_results(moved)
    assert result.source.parent == moved


def test_pope_reader_names_a_missing_answers_file(tmp_path):
    labels = write_pope_labels(tmp_path / "labels.json", 10)
    run = write_pope_run(tmp_path / "run", labels, wrong=set())
    (run / "answers.jsonl").unlink()
    with pytest.raises(UserError, match="answers.metrics.json: its answers file"):
        find_results(run)


def test_pope_reader_reads_a_score_output_as_the_same_split(tmp_path):
    from hadpo_cli.metrics.score_run import run as run_score
    from hadpo_cli.settings.score import ScoreSettings

    labels = write_pope_labels(tmp_path / "coco_pope_popular.json", 12)
    run = write_pope_run(tmp_path / "run", labels, wrong={2, 5}, split="popular")
    out = tmp_path / "scored" / "popular.metrics.json"
    run_score(ScoreSettings(answers=run / "answers.jsonl", labels=labels, output=out))
    [scored] = find_results(out)
    assert (scored.benchmark, scored.split) == ("pope", "popular")
    assert scored.metric_values()["accuracy"] == pytest.approx(10 / 12)
    # The eval and the re-scoring of its own answers are one result, not two.
    assert len(find_results(tmp_path)) == 1


def test_split_key_and_question_object():
    assert split_key("coco_pope_adversarial") == "adversarial"
    assert split_key("gqa_pope_random") == "gqa_pope_random"
    assert question_object("Is there a dining table in the image?") == "dining table"
    assert question_object("Is there an apple in the image?") == "apple"
    assert question_object("What colour is it?") == "(other questions)"


def test_pope_reader_refuses_an_answer_line_without_label_or_answer(tmp_path):
    labels = write_pope_labels(tmp_path / "labels.json", 4)
    run = write_pope_run(tmp_path / "run", labels, wrong=set())
    lines = (run / "answers.jsonl").read_text().splitlines()
    broken = json.loads(lines[2])
    del broken["answer"]
    lines[2] = json.dumps(broken)
    (run / "answers.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match=r"answers.jsonl:3: question 2 has no answer"):
        find_results(run)


RESPONSES = {
    11: "A dog sits on grass. A red ball lies near it. The sky is green.",
    12: "Two cars are parked. A man walks by.",
    13: "A cat sleeps.",
}
LABELS = {
    11: ["correct", "correct", "hallucination"],
    12: ["hallucination", "cannot judge"],
    13: ["correct"],
}


@pytest.mark.parametrize("runs", [1, 3])
def test_shr_reader_reproduces_the_metrics_file(tmp_path, runs):
    out = write_shr_run(tmp_path / "shr", RESPONSES, LABELS, runs=runs)
    [result] = find_results(out)
    assert (result.benchmark, result.split) == ("shr", "val")
    written = read_json(out / "metrics.json")
    values = result.metric_values()
    for key in (
        "mean_hal_ratio",
        "hal_sents_ratio",
        "hal_words_ratio",
        "hal_sents_per_image",
        "sents_per_image",
        "words_per_image",
        "gram-1-repetition",
        "gram-4-repetition",
    ):
        assert values[key] == pytest.approx(written[key]), key
    # By hand: 2 hallucinated of 6 judged sentences.
    assert values["hal_sents_ratio"] == pytest.approx(2 / 6)
    assert result.records[0]["sentences"][2] == {
        "sentence": "The sky is green",
        "label": "hallucination",
        "reason": "because 2",
    }


def test_shr_no_judge_run_gives_repetition_only(tmp_path):
    out = tmp_path / "shr"
    out.mkdir()
    (out / "responses.json").write_text(json.dumps({str(k): v for k, v in RESPONSES.items()}))
    (out / "metrics.json").write_text(json.dumps({"num_images": 3}))
    [result] = find_results(out)
    values = result.metric_values()
    assert values["hal_sents_ratio"] is None and values["mean_hal_ratio"] is None
    assert values["sents_per_image"] == pytest.approx(6 / 3)


def test_shr_reader_refuses_a_foreign_judgement_file(tmp_path):
    (tmp_path / "judgement.json").write_text(json.dumps({"verdict": "fine"}))
    with pytest.raises(UserError, match="judgement.json: expected"):
        find_results(tmp_path)


def test_folder_of_several_runs_and_unrelated_files(tmp_path):
    labels = write_pope_labels(tmp_path / "data" / "labels.json", 6)
    write_pope_run(tmp_path / "runs" / "pope", labels, wrong=set())
    write_shr_run(tmp_path / "runs" / "shr", RESPONSES, LABELS)
    (tmp_path / "runs" / "notes.json").write_text("{}")
    found = sorted((r.benchmark, r.split) for r in find_results(tmp_path / "runs"))
    assert found == [("pope", "adversarial"), ("shr", "val")]


def test_columns_are_aligned_with_keys(tmp_path):
    labels = write_pope_labels(tmp_path / "labels.json", 8)
    run = write_pope_run(tmp_path / "run", labels, wrong={5})
    [result] = find_results(run)
    assert np.flatnonzero(result.columns["correct"] == 0).tolist() == [result.keys.index("5")]


def test_any_file_of_an_output_names_its_run(tmp_path):
    labels = write_pope_labels(tmp_path / "labels.json", 6)
    pope = write_pope_run(tmp_path / "pope", labels, wrong={1})
    shr = write_shr_run(tmp_path / "shr", RESPONSES, LABELS)
    for path in (pope / "answers.jsonl", pope / "answers.metrics.json"):
        assert [(r.benchmark, r.split) for r in find_results(path)] == [("pope", "adversarial")], path
    for path in (shr / "judgement.json", shr / "metrics.json"):
        assert [(r.benchmark, r.split) for r in find_results(path)] == [("shr", "val")], path


def test_an_answers_file_of_a_multi_split_run_is_that_split_only(tmp_path):
    labels = write_pope_labels(tmp_path / "labels.json", 6)
    run = write_pope_run(tmp_path / "pope", labels, wrong=set())
    doc = read_json(run / "answers.metrics.json")
    (run / "answers.jsonl").rename(run / "answers_random.jsonl")
    shutil.copy(run / "answers_random.jsonl", run / "answers_popular.jsonl")
    split = doc["splits"].pop("adversarial")
    doc["splits"] = {
        "random": {**split, "answers": str(run / "answers_random.jsonl")},
        "popular": {**split, "answers": str(run / "answers_popular.jsonl")},
    }
    (run / "answers.metrics.json").write_text(json.dumps(doc))
    assert sorted(r.split for r in find_results(run)) == ["popular", "random"]
    assert [r.split for r in find_results(run / "answers_popular.jsonl")] == ["popular"]
