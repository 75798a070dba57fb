"""`hadpo eval pope` end to end on the tiny random model: batching, order, resume, splits,
missing images, scoring parity with `hadpo score`, and two processes under torchrun."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hadpo_cli.__main__ import app
from hadpo_cli.evaluation.generation import part_files, part_path, read_records
from hadpo_cli.evaluation.pope import run
from hadpo_cli.settings.eval_pope import EvalPopeSettings

pytestmark = pytest.mark.integration

N_QUESTIONS = 24
FIELDS = ["question_id", "image", "question", "answer", "label"]


@pytest.fixture(scope="module")
def labels_file(demo_data, tmp_path_factory) -> Path:
    """A subset of the random split with its lines shuffled: --labels takes any order."""
    rows = [json.loads(line) for line in demo_data.pope_labels["random"].read_text().splitlines()][
        :N_QUESTIONS
    ]
    random.Random(0).shuffle(rows)
    path = tmp_path_factory.mktemp("labels") / "coco_pope_subset.json"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def settings_for(model: Path, labels: Path, coco: Path, output: Path, **overrides) -> EvalPopeSettings:
    # Greedy fp32: any batch effect on the answers would show as a different token.
    values = dict(
        model=str(model), labels=labels, coco_path=coco, output=output, num_beams=1, max_new_tokens=8,
        batch_size=8, dtype="fp32",
    )  # fmt: skip
    return EvalPopeSettings.build({**values, **overrides})


@pytest.fixture(scope="module")
def reference(tiny_model_dir, demo_data, labels_file, tmp_path_factory) -> Path:
    """One uninterrupted single-process run at batch size 8: what every other run must equal."""
    out = tmp_path_factory.mktemp("reference") / "answers.jsonl"
    run(settings_for(tiny_model_dir, labels_file, demo_data.coco, out), show_progress=False)
    return out


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _is_rate(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def cli(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_batch_size_does_not_change_the_answers(tiny_model_dir, demo_data, labels_file, reference, tmp_path):
    # Half the questions, one at a time (slow on 2 cores), against the batch-of-8 reference.
    half = tmp_path / "coco_pope_half.json"
    half.write_text("".join(labels_file.read_text(encoding="utf-8").splitlines(True)[: N_QUESTIONS // 2]))
    out = tmp_path / "answers.jsonl"
    run(settings_for(tiny_model_dir, half, demo_data.coco, out, batch_size=1), show_progress=False)
    ids = {r["question_id"] for r in read_lines(half)}
    assert read_lines(out) == [r for r in read_lines(reference) if r["question_id"] in ids]


def test_answers_complete_in_question_id_order_with_files_beside(labels_file, reference):
    rows = read_lines(reference)
    labels = {r["question_id"]: r for r in read_lines(labels_file)}
    assert [r["question_id"] for r in rows] == sorted(labels)
    for row in rows:
        assert list(row) == FIELDS
        source = labels[row["question_id"]]
        assert (row["image"], row["question"], row["label"]) == (
            source["image"],
            source["text"],
            source["label"],
        )
        assert isinstance(row["answer"], str)
    metrics = json.loads((reference.parent / "answers.metrics.json").read_text())
    assert metrics["splits"]["coco_pope_subset"]["n"] == N_QUESTIONS
    assert metrics["run"]["generated"] == N_QUESTIONS
    saved = json.loads((reference.parent / "answers.settings.json").read_text())
    assert saved["num_beams"] == 1 and saved["labels"] == str(labels_file)
    assert not part_files(reference)


def test_metrics_are_those_of_hadpo_score(labels_file, reference):
    result = cli("score", reference, labels_file, "--json")
    assert result.exit_code == 0, result.output
    scored = json.loads(result.stdout)
    ours = json.loads((reference.parent / "answers.metrics.json").read_text())["splits"]["coco_pope_subset"]
    for key, value in scored.items():
        if key != "settings":
            assert ours[key] == value, key


def test_crash_then_resume_answers_each_question_once(
    tiny_model_dir, demo_data, labels_file, reference, tmp_path
):
    out = tmp_path / "answers.jsonl"
    s = settings_for(tiny_model_dir, labels_file, demo_data.coco, out, batch_size=4)

    def crash_after_seven(record, seen=[]):  # noqa: B006 - a counter that lives across calls
        seen.append(record)
        if len(seen) == 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(s, on_record=crash_after_seven, show_progress=False)
    assert not out.exists() and len(read_records(part_path(out, 0), "question_id")) == 7
    with part_path(out, 0).open("a", encoding="utf-8") as fh:  # killed mid-write
        fh.write('{"question_id": 3, "image": "COCO_val')

    answered: list[dict] = []
    result = run(s, on_record=answered.append, show_progress=False)
    assert len(answered) == N_QUESTIONS - 7 and result.summary["run"]["reused"] == 7
    assert out.read_text(encoding="utf-8") == reference.read_text(encoding="utf-8")
    assert not part_files(out)


def test_finished_rerun_neither_generates_nor_loads_the_model(
    tiny_model_dir, demo_data, labels_file, reference, tmp_path
):
    out = tmp_path / "answers.jsonl"
    shutil.copy(reference, out)

    def no_model():
        raise AssertionError("the model was loaded for a finished run")

    s = settings_for(tiny_model_dir, labels_file, demo_data.coco, out)
    result = run(s, load_generator=no_model, show_progress=False)
    assert result.summary["run"]["generated"] == 0
    assert out.read_text(encoding="utf-8") == reference.read_text(encoding="utf-8")


def test_resume_refuses_other_generation_settings(
    tiny_model_dir, demo_data, labels_file, reference, tmp_path
):
    out = tmp_path / "answers.jsonl"
    shutil.copy(reference, out)
    shutil.copy(reference.parent / "answers.settings.json", tmp_path / "answers.settings.json")
    result = cli(
        "eval", "pope", "--model", tiny_model_dir, "--labels", labels_file, "--coco-path", demo_data.coco,
        "--output", out, "--num-beams", "2", "--max-new-tokens", "8", "--dtype", "fp32",
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "--num-beams 1" in result.stderr and "another --output" in result.stderr


def test_set_all_writes_three_files_and_one_table(tiny_model_dir, demo_data, tmp_path):
    out = tmp_path / "answers.jsonl"
    result = cli(
        "eval", "pope", "--model", tiny_model_dir, "--set", "all", "--pope-path", demo_data.pope,
        "--coco-path", demo_data.coco, "--output", out, "--num-beams", "1", "--max-new-tokens", "4",
        "--batch-size", "32", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert list(summary["splits"]) == ["random", "popular", "adversarial"]
    for split in ("random", "popular", "adversarial"):
        answers = tmp_path / f"answers_{split}.jsonl"
        n_labels = len(demo_data.pope_labels[split].read_text().splitlines())
        assert len(read_lines(answers)) == n_labels == summary["splits"][split]["n"]
    table_rows = [line.split() for line in result.stderr.splitlines()]
    table_rows = [
        r for r in table_rows if r[:1] in (["random"], ["popular"], ["adversarial"]) and _is_rate(r[1])
    ]
    assert len(table_rows) == 3, result.stderr
    assert json.loads((tmp_path / "answers.metrics.json").read_text())["splits"] == summary["splits"]


def test_missing_images_fail_before_the_model_loads(tiny_model_dir, demo_data, tmp_path):
    coco = tmp_path / "coco"
    shutil.copytree(demo_data.coco, coco)
    images = sorted((coco / "val2014").iterdir())
    for image in images[:3]:
        image.unlink()
    out = tmp_path / "out" / "answers.jsonl"
    result = cli(
        "eval", "pope", "--model", tmp_path / "no-such-model", "--set", "adv", "--pope-path", demo_data.pope,
        "--coco-path", coco, "--output", out,
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "image files are missing" in lines[0] and images[0].name in lines[0]
    # The model path does not exist either: the image check came first, and nothing was written.
    assert not out.parent.exists()


def test_two_processes_under_torchrun_write_the_single_process_file(
    tiny_model_dir, demo_data, labels_file, reference, tmp_path
):
    out = tmp_path / "answers.jsonl"
    torchrun = Path(sys.executable).parent / "torchrun"
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    cmd = [
        str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "hadpo_cli", "eval", "pope",
        "--model", str(tiny_model_dir), "--labels", str(labels_file), "--coco-path", str(demo_data.coco),
        "--output", str(out), "--num-beams", "1", "--max-new-tokens", "8", "--batch-size", "8",
        "--dtype", "fp32", "--json",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert out.read_text(encoding="utf-8") == reference.read_text(encoding="utf-8")
    summary = json.loads(proc.stdout)  # one JSON document: only the main process prints
    assert summary["run"]["processes"] == 2 and summary["run"]["generated"] == N_QUESTIONS
    assert not part_files(out)


def test_a_bad_model_leaves_nothing_behind(demo_data, labels_file, tmp_path):
    out = tmp_path / "out" / "answers.jsonl"
    result = cli(
        "eval", "pope", "--model", tmp_path / "no-such-model", "--labels", labels_file,
        "--coco-path", demo_data.coco, "--output", out,
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "no-such-model: model directory not found" in result.stderr
    assert not out.parent.exists()


def test_demo_stage_runs_all_splits(tiny_model_dir, demo_data, tmp_path):
    from hadpo_cli.demo import DemoContext
    from hadpo_cli.evaluation.pope import demo_stage

    ctx = DemoContext(workdir=tmp_path, model_dir=tiny_model_dir, data=demo_data)
    figures = demo_stage(ctx)
    assert set(figures) == {
        "questions", "random_accuracy", "popular_accuracy",
        "adversarial_accuracy", "adversarial_f1", "adversarial_yes_ratio",
    }  # fmt: skip
    assert ctx.outputs["pope_metrics"].is_file()
