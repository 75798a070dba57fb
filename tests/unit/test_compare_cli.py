"""`hadpo compare` through the CLI: JSON rows, paired figures by hand, unmatched items named,
one error line and exit 2 on bad input."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from hadpo_cli.__main__ import app
from hadpo_cli.results.compare import ROW_KEYS
from results_fixtures import write_pope_labels, write_pope_run, write_shr_run

N = 40


def _invoke(*args: str):
    return CliRunner().invoke(app, ["compare", *args, "--resamples", "500"])


@pytest.fixture()
def pope_pair(tmp_path):
    labels = write_pope_labels(tmp_path / "labels.json", N)
    # Baseline wrong on 0..6 (7 questions); candidate wrong on 6 and 7: c = 6 fixed by the
    # candidate, b = 1 broken by it (question 7), 6 wrong on both.
    base = write_pope_run(tmp_path / "base", labels, wrong=set(range(7)))
    cand = write_pope_run(tmp_path / "cand", labels, wrong={6, 7})
    return base, cand


def test_json_rows_with_hand_computed_figures(pope_pair):
    base, cand = pope_pair
    result = _invoke(str(base), str(cand), "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert isinstance(rows, list) and rows
    assert all(tuple(r) == ROW_KEYS for r in rows)
    by_metric = {r["metric"]: r for r in rows}
    acc = by_metric["accuracy"]
    assert (acc["benchmark"], acc["split"], acc["n"]) == ("pope", "adversarial", N)
    assert acc["baseline"] == pytest.approx(33 / 40)
    assert acc["candidate"] == pytest.approx(38 / 40)
    assert acc["delta"] == pytest.approx(5 / 40)
    # McNemar b=1, c=6: 2 * (1 + 7) / 2^7.
    assert acc["p_value"] == pytest.approx(0.125)
    assert acc["ci_low"] <= acc["delta"] <= acc["ci_high"]
    assert by_metric["f1"]["p_value"] is None
    assert by_metric["yes_ratio"]["p_value"] is not None


def test_table_goes_to_stderr_and_stdout_stays_empty_without_json(pope_pair):
    base, cand = pope_pair
    result = _invoke(str(base), str(cand))
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "accuracy" in result.stderr and "Beyond chance" in result.stderr


def test_same_seed_same_intervals(pope_pair):
    base, cand = pope_pair
    a = json.loads(_invoke(str(base), str(cand), "--json", "--seed", "3").stdout)
    b = json.loads(_invoke(str(base), str(cand), "--json", "--seed", "3").stdout)
    c = json.loads(_invoke(str(base), str(cand), "--json", "--seed", "4").stdout)
    assert a == b
    assert [r["ci_low"] for r in a] != [r["ci_low"] for r in c]


def test_items_on_one_side_only_are_named_and_left_out(tmp_path):
    labels = write_pope_labels(tmp_path / "labels.json", N)
    base = write_pope_run(tmp_path / "base", labels, wrong=set(), skip={3})
    cand = write_pope_run(tmp_path / "cand", labels, wrong=set(), skip={10, 11})
    result = _invoke(str(base), str(cand), "--json")
    assert result.exit_code == 0, result.output
    # The baseline was not asked 3, the candidate not 10 and 11.
    assert "2 item(s) only in the baseline" in result.stderr and ": 10, 11" in result.stderr
    assert "1 item(s) only in the candidate" in result.stderr and "left out: 3" in result.stderr
    rows = json.loads(result.stdout)
    assert {r["n"] for r in rows} == {N - 3}
    # Nothing was paired by position: both sides right everywhere they meet.
    acc = next(r for r in rows if r["metric"] == "accuracy")
    assert acc["delta"] == 0 and acc["p_value"] == 1.0


def test_shr_rows_from_shared_images(tmp_path):
    base = write_shr_run(
        tmp_path / "base",
        {1: "A dog. A cat.", 2: "A car. A tree.", 3: "A man."},
        {1: ["hallucination", "correct"], 2: ["hallucination", "hallucination"], 3: ["correct"]},
    )
    cand = write_shr_run(
        tmp_path / "cand",
        {1: "A dog. A cat.", 2: "A car. A tree.", 4: "A bus."},
        {1: ["correct", "correct"], 2: ["hallucination", "correct"], 4: ["correct"]},
    )
    result = _invoke(str(base), str(cand), "--json")
    assert result.exit_code == 0, result.output
    rows = {r["metric"]: r for r in json.loads(result.stdout)}
    ratio = rows["hal_sents_ratio"]
    # Shared images 1 and 2: 3/4 hallucinated before, 1/4 after.
    assert (ratio["n"], ratio["baseline"], ratio["candidate"]) == (2, 0.75, 0.25)
    assert ratio["delta"] == pytest.approx(-0.5) and ratio["p_value"] is None
    assert "only in the baseline" in result.stderr and ": 3" in result.stderr


def test_split_only_one_side_ran_is_a_note(tmp_path, pope_pair):
    base, cand = pope_pair
    write_shr_run(tmp_path / "cand" / "shr", {1: "A dog."}, {1: ["correct"]})
    result = _invoke(str(base), str(cand))
    assert result.exit_code == 0
    assert "shr/val: only the candidate ran it" in result.stderr


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p / "nope", "not found"),
        (lambda p: p, "no hadpo evaluation results found"),
    ],
)
def test_bad_input_is_one_error_line_and_exit_2(tmp_path, pope_pair, make, message):
    base, _ = pope_pair
    empty = tmp_path / "empty"
    empty.mkdir()
    result = _invoke(str(base), str(make(empty)))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]
    assert "Traceback" not in result.output


def test_broken_metrics_file_names_the_file(pope_pair):
    base, cand = pope_pair
    (cand / "answers.metrics.json").write_text("{not json")
    result = _invoke(str(base), str(cand))
    assert result.exit_code == 2
    assert "answers.metrics.json:1: not valid JSON" in result.stderr


def test_two_runs_of_one_split_on_one_side_are_refused(tmp_path, pope_pair):
    base, _ = pope_pair
    labels = write_pope_labels(tmp_path / "l2.json", 4)
    write_pope_run(tmp_path / "two" / "a", labels, wrong=set())
    write_pope_run(tmp_path / "two" / "b", labels, wrong=set())
    result = _invoke(str(base), str(tmp_path / "two"))
    assert result.exit_code == 2
    assert "two pope/adversarial results" in result.stderr


def test_no_split_in_common_is_an_error(tmp_path, pope_pair):
    base, _ = pope_pair
    shr = write_shr_run(tmp_path / "shr", {1: "A dog."}, {1: ["correct"]})
    result = _invoke(str(base), str(shr))
    assert result.exit_code == 2
    assert "no benchmark split with items in common" in result.stderr


def test_too_few_resamples_is_refused(pope_pair):
    base, cand = pope_pair
    result = CliRunner().invoke(app, ["compare", str(base), str(cand), "--resamples", "5"])
    assert result.exit_code == 2
    assert "--resamples" in result.stderr
