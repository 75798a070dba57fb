"""`hadpo eval pope` without a model: flag checks, file names, request order, resume guard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hadpo_cli.__main__ import app
from hadpo_cli.data.pope_labels import PopeLabel
from hadpo_cli.errors import UserError
from hadpo_cli.evaluation.pope import (
    check_resume_settings,
    image_dir,
    plan_splits,
    pope_record,
    pope_requests,
    side_file,
)
from hadpo_cli.settings.eval_pope import EvalPopeSettings


def build(**values) -> EvalPopeSettings:
    return EvalPopeSettings.build({"coco_path": Path("coco"), **values})


def test_adv_is_adversarial():
    assert build(set="adv", pope_path=Path("p")).splits() == ["adversarial"]
    assert build(set="all", pope_path=Path("p")).splits() == ["random", "popular", "adversarial"]


@pytest.mark.parametrize(
    "values,message",
    [
        ({}, "give --set"),
        ({"set": "random"}, "give --set"),
        ({"labels": Path("l.json"), "set": "random"}, "--labels replaces --set"),
        ({"labels": Path("l.json"), "pope_path": Path("p")}, "--labels replaces --set"),
        ({"labels": Path("l.json"), "output": Path("-")}, "--output"),
        ({"labels": Path("l.json"), "num_beams": 0}, "--num-beams"),
    ],
)
def test_bad_flag_combinations_name_the_flag(values, message):
    with pytest.raises(UserError, match=message):
        build(**values)


def test_cli_flag_errors_exit_2_with_one_line(tmp_path):
    result = CliRunner().invoke(app, ["eval", "pope", "--labels", str(tmp_path / "l.json")])
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: --coco-path is required with --model (the images are there)"


def test_one_split_writes_the_output_name_and_all_derives_one_per_split():
    single = plan_splits(build(set="adv", pope_path=Path("pope"), output=Path("out/a.jsonl")))
    assert [(p.name, p.labels, p.answers) for p in single] == [
        ("adversarial", Path("pope/output/coco/coco_pope_adversarial.json"), Path("out/a.jsonl"))
    ]
    every = plan_splits(build(set="all", pope_path=Path("pope"), output=Path("out/a.jsonl")))
    assert [p.answers.name for p in every] == ["a_random.jsonl", "a_popular.jsonl", "a_adversarial.jsonl"]
    labels = plan_splits(build(labels=Path("gqa/gqa_pope_random.json"), output=Path("x.jsonl")))
    assert [(p.name, p.answers) for p in labels] == [("gqa_pope_random", Path("x.jsonl"))]
    assert side_file(Path("out/a.jsonl"), "metrics") == Path("out/a.metrics.json")


def test_output_may_not_be_the_label_file(tmp_path):
    labels = tmp_path / "l.json"
    with pytest.raises(UserError, match="is the label file itself"):
        plan_splits(build(labels=labels, output=labels))


def test_images_under_val2014_or_flat(tmp_path):
    assert image_dir(tmp_path) == tmp_path
    (tmp_path / "val2014").mkdir()
    assert image_dir(tmp_path) == tmp_path / "val2014"


def test_requests_in_numeric_question_id_order_with_the_suffix():
    labels = [
        PopeLabel(qid, f"{qid}.jpg", f"Is there a {qid}?", "yes", line) for line, qid in enumerate([10, 2, 1])
    ]
    reqs = pope_requests(labels, Path("img"), " Answer yes or no.")
    assert [r.key for r in reqs] == [1, 2, 10]
    assert reqs[0].prompt == "Is there a 1? Answer yes or no." and reqs[0].image == Path("img/1.jpg")
    record = pope_record(reqs[0], "Yes")
    assert record == {
        "question_id": 1,
        "image": "1.jpg",
        "question": "Is there a 1?",
        "answer": "Yes",
        "label": "yes",
    }


def test_resume_guard_only_when_answers_exist(tmp_path):
    out = tmp_path / "answers.jsonl"
    settings = build(labels=tmp_path / "l.json", output=out, num_beams=5)
    settings_path = side_file(out, "settings")
    settings_path.write_text(json.dumps({**settings.public_dict(), "num_beams": 1}))
    plans = plan_splits(settings)
    check_resume_settings(settings, plans, settings_path)  # no answers yet: a fresh start is fine
    out.with_name("answers.jsonl.part-1").write_text("")
    check_resume_settings(settings, plans, settings_path)  # an empty part file: nothing was answered
    out.with_name("answers.jsonl.part-1").write_text('{"question_id": 1, "answer": "yes"}\n')
    with pytest.raises(UserError, match="--num-beams 1"):
        check_resume_settings(settings, plans, settings_path)
    # batch size does not change the answers: resuming with another one is allowed
    settings_path.write_text(json.dumps({**settings.public_dict(), "batch_size": 64}))
    check_resume_settings(settings, plans, settings_path)


def test_a_run_that_answered_nothing_binds_no_rerun(tmp_path):
    from hadpo_cli.evaluation.eval_model import has_results

    out = tmp_path / "answers.jsonl"
    assert not has_results(out)
    out.with_name("answers.jsonl.part-0").write_text("")  # a run that failed before its first answer
    assert not has_results(out)
    out.with_name("answers.jsonl.part-0").write_text('{"question_id": 1, "answer": "yes"}\n')
    assert has_results(out)
