"""`hadpo score` end to end through the CLI: joining by id, bad input, stdin, JSON, --output."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hadpo_cli.__main__ import app

KEYS = ("accuracy", "precision", "recall", "f1", "yes_ratio", "tp", "fp", "tn", "fn", "n")
PHRASES = [
    "Yes, there is a dog in the image.",
    "No, there is no dog in the image.",
    "There is not a dog.",
    "NO",
    "No!",
    "Yes.",
    "",
    "I cannot tell.",
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def label_rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    return [
        {
            "question_id": i,
            "image": f"COCO_val2014_{i:012d}.jpg",
            "text": "Is there a dog in the image?",
            "label": rng.choice(["yes", "no"]),
        }
        for i in range(1, n + 1)
    ]


def answer_rows(n: int, seed: int = 1, field: str = "answer") -> list[dict]:
    rng = random.Random(seed)
    return [{"question_id": i, field: rng.choice(PHRASES)} for i in range(1, n + 1)]


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    labels = write_jsonl(tmp_path / "coco_pope_adversarial.json", label_rows(200))
    answers = write_jsonl(tmp_path / "answers.jsonl", answer_rows(200))
    return answers, labels


def score(*args: object, input: str | None = None):
    return CliRunner().invoke(app, ["score", *map(str, args)], input=input)


def score_json(*args: object, input: str | None = None) -> dict:
    result = score(*args, "--json", input=input)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def pope_evaluate_py(ans_file: Path, label_file: Path) -> dict:
    """A faithful re-implementation of POPE's evaluate.py: pairs by position, plain arithmetic."""
    answers = [json.loads(q) for q in open(ans_file)]
    label_list = [json.loads(q)["label"] for q in open(label_file)]
    for answer in answers:
        text = answer["answer"]
        if text.find(".") != -1:
            text = text.split(".")[0]
        text = text.replace(",", "")
        words = text.split(" ")
        if "No" in words or "not" in words or "no" in words:
            answer["answer"] = "no"
        else:
            answer["answer"] = "yes"
    for i in range(len(label_list)):
        label_list[i] = 0 if label_list[i] == "no" else 1
    pred_list = [0 if answer["answer"] == "no" else 1 for answer in answers]
    pos, neg = 1, 0
    yes_ratio = pred_list.count(1) / len(pred_list)
    TP, TN, FP, FN = 0, 0, 0, 0
    for pred, label in zip(pred_list, label_list, strict=False):  # POPE pairs by position
        if pred == pos and label == pos:
            TP += 1
        elif pred == pos and label == neg:
            FP += 1
        elif pred == neg and label == neg:
            TN += 1
        elif pred == neg and label == pos:
            FN += 1
    precision = float(TP) / float(TP + FP)
    recall = float(TP) / float(TP + FN)
    f1 = 2 * precision * recall / (precision + recall)
    acc = (TP + TN) / (TP + TN + FP + FN)
    return {
        "accuracy": acc,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "yes_ratio": yes_ratio,
        "tp": TP,
        "fp": FP,
        "tn": TN,
        "fn": FN,
        "n": len(pred_list),
    }


# --- agreement with POPE and order independence -------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_numbers_as_pope_evaluate_py_on_in_order_files(tmp_path, seed):
    labels = write_jsonl(tmp_path / "labels.json", label_rows(300, seed=seed))
    answers = write_jsonl(tmp_path / "answers.jsonl", answer_rows(300, seed=seed + 10))
    ours = score_json(answers, labels)
    reference = pope_evaluate_py(answers, labels)
    for key in ("tp", "fp", "tn", "fn", "n"):
        assert ours[key] == reference[key], key
    for key in ("accuracy", "precision", "recall", "f1", "yes_ratio"):
        assert ours[key] == pytest.approx(reference[key], rel=1e-12, abs=1e-15), key


def test_shuffled_answers_give_the_same_numbers(tmp_path, files):
    answers, labels = files
    rows = [json.loads(line) for line in answers.read_text().splitlines()]
    random.Random(7).shuffle(rows)
    shuffled = write_jsonl(tmp_path / "shuffled.jsonl", rows)
    a, b = score_json(shuffled, labels), score_json(answers, labels)
    assert {k: a[k] for k in KEYS} == {k: b[k] for k in KEYS}


def test_shuffled_perfect_answers_score_perfectly(tmp_path, files):
    _, labels = files
    rows = [
        {"question_id": r["question_id"], "answer": r["label"].capitalize() + "."} for r in label_rows(200)
    ]
    random.Random(3).shuffle(rows)
    shuffled = write_jsonl(tmp_path / "perfect_shuffled.jsonl", rows)
    assert score_json(shuffled, labels)["accuracy"] == 1.0
    # POPE's evaluate.py pairs by line position, so the same file scores near chance there
    assert pope_evaluate_py(shuffled, labels)["accuracy"] < 0.8


def test_string_question_ids_in_answers_join_with_int_labels(tmp_path, files):
    answers, labels = files
    rows = [json.loads(line) for line in answers.read_text().splitlines()]
    stringy = write_jsonl(
        tmp_path / "str_ids.jsonl", [{**r, "question_id": str(r["question_id"])} for r in rows]
    )
    a, b = score_json(stringy, labels), score_json(answers, labels)
    assert {k: a[k] for k in KEYS} == {k: b[k] for k in KEYS}


def test_llava_text_field_is_accepted(tmp_path, files):
    answers, labels = files
    rows = [json.loads(line) for line in answers.read_text().splitlines()]
    llava = [{"question_id": r["question_id"], "prompt": "Is there...", "text": r["answer"]} for r in rows]
    a = score_json(write_jsonl(tmp_path / "llava.jsonl", llava), labels)
    b = score_json(answers, labels)
    assert {k: a[k] for k in KEYS} == {k: b[k] for k in KEYS}


# --- outputs --------------------------------------------------------------------------------


def test_json_keys_types_and_clean_stdout(files):
    answers, labels = files
    result = score(answers, labels, "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)  # stdout is exactly one JSON document, the table is on stderr
    for key in KEYS:
        assert key in data
    for key in ("accuracy", "precision", "recall", "f1", "yes_ratio"):
        assert isinstance(data[key], float) and 0 <= data[key] <= 1
    for key in ("tp", "fp", "tn", "fn", "n", "unparseable"):
        assert isinstance(data[key], int)
    assert data["n"] == 200 == data["tp"] + data["fp"] + data["tn"] + data["fn"]
    assert data["parser"] == "pope"
    assert "Accuracy" in result.stderr and "coco_pope_adversarial" in result.stderr


def test_table_only_without_json(files):
    answers, labels = files
    result = score(answers, labels)
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "Yes-ratio" in result.stderr
    acc = score_json(answers, labels)["accuracy"]
    assert f"{100 * acc:.2f}" in result.stderr


def test_output_writes_the_same_json(tmp_path, files):
    answers, labels = files
    out = tmp_path / "sub" / "metrics.json"
    result = score(answers, labels, "--json", "--output", out)
    assert result.exit_code == 0
    assert json.loads(out.read_text()) == json.loads(result.stdout)
    assert [p.name for p in out.parent.iterdir()] == ["metrics.json"]  # no temp file left behind


def test_output_is_not_written_on_error(tmp_path, files):
    _, labels = files
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"question_id": 1}])
    out = tmp_path / "metrics.json"
    assert score(bad, labels, "-o", out).exit_code == 2
    assert not out.exists()


def test_output_refuses_to_overwrite_an_input(files):
    answers, labels = files
    before = answers.read_text()
    result = score(answers, labels, "--output", answers)
    assert result.exit_code == 2
    assert "--output would overwrite the answers file" in result.stderr
    assert answers.read_text() == before


# --- stdin ----------------------------------------------------------------------------------


def test_answers_from_stdin(files):
    answers, labels = files
    from_stdin = score_json("-", labels, input=answers.read_text())
    from_file = score_json(answers, labels)
    assert {k: from_stdin[k] for k in KEYS} == {k: from_file[k] for k in KEYS}


def test_stdin_errors_name_stdin(files):
    _, labels = files
    result = score("-", labels, input='{"question_id": 1, "answer": "yes"}\nnot json\n')
    assert result.exit_code == 2
    assert "<stdin>:2: not valid JSON" in result.stderr


def test_both_from_stdin_is_refused(files):
    result = score("-", "-", input="")
    assert result.exit_code == 2
    assert "both" in result.stderr


# --- strict parser ---------------------------------------------------------------------------


def test_strict_parser_counts_unparseable(tmp_path):
    labels = write_jsonl(
        tmp_path / "labels.json",
        [{**r, "label": lab} for r, lab in zip(label_rows(4), ["yes", "yes", "no", "no"], strict=True)],
    )
    answers = write_jsonl(
        tmp_path / "answers.jsonl",
        [
            {"question_id": 1, "answer": "Yes, there is."},  # TP
            {"question_id": 2, "answer": "I cannot tell."},  # unparseable, a yes question
            {"question_id": 3, "answer": "There is not a dog."},  # unparseable under strict
            {"question_id": 4, "answer": "NO"},  # TN (the POPE rule would say yes)
        ],
    )
    strict = score_json(answers, labels, "--parser", "strict")
    assert (strict["tp"], strict["fp"], strict["tn"], strict["fn"], strict["unparseable"]) == (1, 0, 1, 0, 2)
    assert strict["accuracy"] == pytest.approx(0.5)
    assert strict["yes_ratio"] == pytest.approx(0.25)
    assert strict["parser"] == "strict"
    table = score(answers, labels, "--parser", "strict").stderr
    assert "Unparseable" in table

    pope = score_json(answers, labels)
    assert pope["unparseable"] == 0
    assert (pope["tp"], pope["fp"], pope["tn"], pope["fn"]) == (
        2,
        1,
        1,
        0,
    )  # "NO" and "I cannot tell." are yes


def test_unknown_parser_is_a_usage_error(files):
    answers, labels = files
    result = score(answers, labels, "--parser", "fuzzy")
    assert result.exit_code == 2


# --- bad input: exit 2, one line naming file, line and id -----------------------------------


def _error(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_answer_id_not_in_labels(tmp_path, files):
    answers, labels = files
    rows = answer_rows(200) + [{"question_id": 999, "answer": "yes"}]
    extra = write_jsonl(tmp_path / "extra.jsonl", rows)
    msg = _error(score(extra, labels))
    assert f"{extra}:201: question_id 999 is not in {labels}" in msg


def test_label_without_answer(tmp_path, files):
    _, labels = files
    rows = [r for r in answer_rows(200) if r["question_id"] not in (17, 18)]
    short = write_jsonl(tmp_path / "short.jsonl", rows)
    msg = _error(score(short, labels))
    assert f"{labels}:17: question_id 17 has no answer in {short} (and 1 more)" in msg


def test_duplicate_answer_id(tmp_path, files):
    _, labels = files
    rows = answer_rows(200)
    rows.insert(5, {"question_id": 3, "answer": "no"})
    dup = write_jsonl(tmp_path / "dup.jsonl", rows)
    msg = _error(score(dup, labels))
    assert f"{dup}:6: duplicate question_id 3 (first on line 3)" in msg


def test_duplicate_label_id(tmp_path, files):
    answers, _ = files
    rows = label_rows(200)
    rows.append(dict(rows[9]))
    dup = write_jsonl(tmp_path / "dup_labels.json", rows)
    msg = _error(score(answers, dup))
    assert f"{dup}:201: duplicate question_id 10 (first on line 10)" in msg


def test_answers_line_not_json(tmp_path, files):
    answers, labels = files
    lines = answers.read_text().splitlines()
    lines[41] = '{"question_id": 42, "answer": "yes"'
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join(lines) + "\n")
    msg = _error(score(broken, labels))
    assert f"{broken}:42: not valid JSON" in msg


def test_labels_line_not_json(tmp_path, files):
    answers, labels = files
    lines = labels.read_text().splitlines()
    lines[2] = "yes"
    broken = tmp_path / "broken_labels.json"
    broken.write_text("\n".join(lines) + "\n")
    msg = _error(score(answers, broken))
    assert f"{broken}:3:" in msg


def test_answer_missing_answer_field(tmp_path, files):
    _, labels = files
    rows = answer_rows(200)
    rows[4] = {"question_id": 5, "response": "yes"}
    bad = write_jsonl(tmp_path / "bad.jsonl", rows)
    msg = _error(score(bad, labels))
    assert f"{bad}:5: missing field 'answer' (or 'text') (id 5)" in msg


def test_answer_missing_question_id(tmp_path, files):
    _, labels = files
    rows = answer_rows(200)
    rows[7] = {"answer": "yes"}
    bad = write_jsonl(tmp_path / "bad.jsonl", rows)
    assert f"{bad}:8: missing field 'question_id'" in _error(score(bad, labels))


def test_label_missing_label_field(tmp_path, files):
    answers, _ = files
    rows = label_rows(200)
    del rows[11]["label"]
    bad = write_jsonl(tmp_path / "bad_labels.json", rows)
    assert f"{bad}:12: missing field 'label' (id 12)" in _error(score(answers, bad))


def test_label_with_bad_value(tmp_path, files):
    answers, _ = files
    rows = label_rows(200)
    rows[0]["label"] = "Yes"
    bad = write_jsonl(tmp_path / "bad_labels.json", rows)
    assert f"{bad}:1: label must be 'yes' or 'no', got 'Yes' (id 1)" in _error(score(answers, bad))


def test_answer_not_a_string(tmp_path, files):
    _, labels = files
    rows = answer_rows(200)
    rows[2]["answer"] = None
    bad = write_jsonl(tmp_path / "bad.jsonl", rows)
    assert f"{bad}:3: field 'answer' must be a string" in _error(score(bad, labels))


def test_line_that_is_not_an_object(tmp_path, files):
    _, labels = files
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question_id": 1, "answer": "yes"}\n[1, "yes"]\n')
    assert f"{bad}:2: expected a JSON object" in _error(score(bad, labels))


def test_a_label_file_written_as_one_json_array_says_json_lines_are_expected(tmp_path, files):
    answers, _ = files
    for text in ('[{"question_id": 1, "label": "yes"}]\n', '[\n {"question_id": 1, "label": "yes"}\n]\n'):
        labels = tmp_path / "labels.json"
        labels.write_text(text)
        message = _error(score(answers, labels))
        assert f"{labels}:1:" in message and "expected JSON Lines: one object per line" in message


@pytest.mark.parametrize("which", ["answers", "labels"])
def test_empty_file(tmp_path, files, which):
    answers, labels = files
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    args = (empty, labels) if which == "answers" else (answers, empty)
    assert f"{empty}: file is empty" in _error(score(*args))


def test_empty_stdin(files):
    _, labels = files
    assert "<stdin>: file is empty" in _error(score("-", labels, input=""))


def test_missing_file(tmp_path, files):
    _, labels = files
    assert f"{tmp_path / 'nope.jsonl'}: file not found" in _error(score(tmp_path / "nope.jsonl", labels))


def test_the_same_file_as_answers_and_labels_is_refused(files):
    _, labels = files
    assert "given as both the answers and the labels file" in _error(score(labels, labels))
