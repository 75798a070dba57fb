"""`hadpo demo`: setup writes the model and the public data layouts; stages are run, timed and reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hadpo_cli import demo
from hadpo_cli.__main__ import app
from hadpo_cli.demo import DemoContext, Stage, run_demo
from hadpo_cli.errors import UserError


@pytest.fixture
def fake_model(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Stand in for the tiny-model factory (torch and transformers are not needed for setup)."""
    written: list[Path] = []

    def write(out_dir: Path, family: str) -> Path:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.json").write_text(f'{{"model_type": "{family}"}}')
        written.append(out_dir)
        return out_dir

    monkeypatch.setattr(demo, "_write_tiny_model", write)
    return written


def test_setup_only_writes_model_and_data_and_runs_no_stage(tmp_path, fake_model, monkeypatch):
    ran: list[str] = []
    monkeypatch.setattr(demo, "stages", lambda: [Stage("never", lambda ctx: ran.append("never") or {})])
    summary = run_demo(tmp_path / "w", setup_only=True)

    work = tmp_path / "w"
    assert summary["ok"] is True and ran == []
    assert [(s["name"], s["status"]) for s in summary["stages"]] == [("setup", "ok")]
    assert (work / "model" / "config.json").is_file() and len(fake_model) == 1
    for rel in (
        "data/vg/image_data.json",
        "data/vg/region_descriptions.json",
        "data/hadpo/pope_data.json",
        "data/hadpo/desc_data.json",
        "data/pope/output/coco/coco_pope_adversarial.json",
        "data/shr/val_images_final.json",
        "data/shr/shr_factual_part2.jsonl",
        "data/coco2014/annotations/instances_val2014.json",  # CHAIR's ground truth
        "data/amber/data/annotations.json",  # each benchmark's own demo data, written at setup
        "data/mmhal/response_template.json",
    ):
        assert (work / rel).is_file(), rel
    assert any((work / "data/coco2014/val2014").glob("COCO_val2014_*.jpg"))
    assert summary["data"]["vg"] == str(work / "data" / "vg")
    assert summary["model"] == str(work / "model")
    # No temporary siblings left behind by the atomic renames.
    assert sorted(p.name for p in work.iterdir()) == [".hadpo-demo", "data", "model"]


def test_rerun_replaces_the_demo_output_and_gives_the_same_data(tmp_path, fake_model):
    run_demo(tmp_path, setup_only=True)
    before = (tmp_path / "data/hadpo/desc_data.json").read_bytes()
    (tmp_path / "model" / "stale.bin").write_bytes(b"old")
    run_demo(tmp_path, setup_only=True)
    assert (tmp_path / "data/hadpo/desc_data.json").read_bytes() == before
    assert not (tmp_path / "model" / "stale.bin").exists()


def test_refuses_a_non_empty_directory_it_did_not_make(tmp_path, fake_model):
    (tmp_path / "thesis.tex").write_text("precious")
    with pytest.raises(UserError, match="not empty and not made by `hadpo demo`"):
        run_demo(tmp_path, setup_only=True)
    assert fake_model == [] and (tmp_path / "thesis.tex").read_text() == "precious"


def test_stages_run_in_order_with_the_context_and_a_failure_skips_the_rest(tmp_path, fake_model, monkeypatch):
    seen: list[DemoContext] = []

    def first(ctx: DemoContext) -> dict:
        seen.append(ctx)
        ctx.outputs["thing"] = ctx.stage_dir("first")
        return {"pairs": 3}

    def broken(ctx: DemoContext) -> dict:
        raise RuntimeError("boom")

    monkeypatch.setattr(
        demo, "stages", lambda: [Stage("first", first), Stage("broken", broken), Stage("later", first)]
    )
    summary = run_demo(tmp_path, setup_only=False)

    assert summary["ok"] is False
    assert [(s["name"], s["status"]) for s in summary["stages"]] == [
        ("setup", "ok"),
        ("first", "ok"),
        ("broken", "failed"),
        ("later", "skipped"),
    ]
    assert summary["stages"][1]["figures"] == {"pairs": 3}
    assert summary["stages"][2]["error"] == "RuntimeError: boom"
    assert summary["outputs"] == {"thing": str(tmp_path / "first")}
    (ctx,) = seen
    assert ctx.model_dir == tmp_path / "model" and ctx.data.pope_data.is_file()
    assert all(isinstance(s["seconds"], float) for s in summary["stages"])


def test_a_stage_can_be_named_by_module_and_function(tmp_path, fake_model, monkeypatch):
    # The real "check data" stage, named lazily as other commands' stages will be.
    monkeypatch.setattr(demo, "stages", lambda: [Stage("check data", "hadpo_cli.demo:check_data_stage")])
    summary = run_demo(tmp_path, setup_only=False)
    record = summary["stages"][1]
    assert record["status"] == "ok", record
    pope_items = json.loads((tmp_path / "data/hadpo/pope_data.json").read_text())
    assert record["figures"]["pope"] == 2 * sum(not item["correct"] for item in pope_items)
    assert record["figures"]["pairs"] == record["figures"]["pope"] + record["figures"]["desc"]


def test_cli_json_summary_on_stdout_table_on_stderr(tmp_path, fake_model):
    result = CliRunner().invoke(app, ["demo", "--workdir", str(tmp_path / "w"), "--setup-only", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["ok"] is True and summary["workdir"] == str(tmp_path / "w")
    assert "setup" in result.stderr and "hadpo demo" in result.stderr


def test_cli_failed_stage_exits_1_and_foreign_workdir_exits_2(tmp_path, fake_model, monkeypatch):
    monkeypatch.setattr(demo, "stages", lambda: [Stage("broken", lambda ctx: 1 / 0)])
    result = CliRunner().invoke(app, ["demo", "--workdir", str(tmp_path / "w")])
    assert result.exit_code == 1
    assert "ZeroDivisionError" in result.stderr and result.stdout == ""

    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    result = CliRunner().invoke(app, ["demo", "--workdir", str(tmp_path / "other"), "--setup-only"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and "not made by `hadpo demo`" in result.stderr


def test_every_command_has_a_stage_in_order_and_each_resolves():
    from hadpo_cli.evaluation.benchmarks import benchmarks

    evals = [f"eval {name}" for name, b in benchmarks().items() if b.demo_stage is not None]
    assert evals[:2] == ["eval pope", "eval shr"] and len(evals) == len(benchmarks())
    baseline = [f"eval {name} (base model)" for name, b in benchmarks().items() if b.demo_baseline]
    # The base model is measured first so that compare can show what training changed.
    assert baseline == ["eval pope (base model)", "eval shr (base model)"]
    assert [s.name for s in demo.stages()] == [
        "check data",
        *baseline,
        "train",
        "merge",
        *evals,
        "pairs",
        "score",
        "compare",
        "report",
    ]
    # Resolving imports the stage's module only; the heavy imports stay inside the functions.
    assert all(callable(stage.resolve()) for stage in demo.stages())


def _ctx_with_data(tmp_path: Path) -> DemoContext:
    from hadpo_cli.data.synthetic import write_demo_data

    return DemoContext(
        workdir=tmp_path, model_dir=tmp_path / "model", data=write_demo_data(tmp_path / "data")
    )


def test_score_stage_rescores_the_eval_answers_and_refuses_a_mismatch(tmp_path):
    from hadpo_cli.evaluation.pope import score_answers

    ctx = _ctx_with_data(tmp_path)
    labels = ctx.data.pope_labels["adversarial"]
    answers = tmp_path / "answers_adversarial.jsonl"
    rows = [json.loads(line) for line in labels.read_text().splitlines()]
    # Every third answer wrong, so the metrics are not trivially all-or-nothing.
    answers.write_text(
        "".join(
            json.dumps({"question_id": r["question_id"], "answer": r["label"] if i % 3 else "Yes"}) + "\n"
            for i, r in enumerate(rows)
        )
    )
    from hadpo_cli.data.pope_labels import read_pope_labels

    scored = score_answers(answers, read_pope_labels(labels), labels, "pope")
    evaluated = {**scored, "answers": str(answers), "labels": str(labels)}
    ctx.outputs["pope_metrics"] = tmp_path / "answers.metrics.json"
    ctx.outputs["pope_metrics"].write_text(json.dumps({"splits": {"adversarial": evaluated}}))

    figures = demo.score_stage(ctx)
    assert figures == {
        "split": "adversarial",
        "questions": len(rows),
        "f1": round(100 * evaluated["f1"], 2),
        "same as eval pope": "yes",
    }
    written = json.loads((tmp_path / "score" / "adversarial.metrics.json").read_text())
    assert written["accuracy"] == evaluated["accuracy"]

    ctx.outputs["pope_metrics"].write_text(json.dumps({"splits": {"adversarial": {**evaluated, "tp": -1}}}))
    with pytest.raises(RuntimeError, match="disagrees with `hadpo eval pope` on adversarial: tp"):
        demo.score_stage(ctx)


def test_reference_descriptions_plant_one_absent_object_per_shr_image(tmp_path):
    from hadpo_cli.data.toy_world import named_objects
    from hadpo_cli.evaluation.benchmarks.shr import _write_reference_responses

    ctx = _ctx_with_data(tmp_path)
    path = tmp_path / "ref" / "responses.json"
    planted = _write_reference_responses(ctx, path)
    responses = json.loads(path.read_text())
    ids = [str(row["image_id"]) for row in json.loads(ctx.data.shr_val_images.read_text())]
    assert sorted(responses) == sorted(planted) == sorted(ids)
    phrases = {
        str(entry["id"]): " ".join(r["phrase"] for r in entry["regions"])
        for entry in json.loads(ctx.data.vg_region_descriptions.read_text())
    }
    for image_id, (sentence,) in planted.items():
        assert responses[image_id].endswith(f" {sentence}.")
        (ghost,) = named_objects(sentence)  # "There is also a <object>"
        assert ghost not in named_objects(phrases[image_id])
        assert ghost not in named_objects(responses[image_id][: -len(sentence) - 2])


def test_family_all_runs_each_registered_family_in_its_own_folder(tmp_path, fake_model):
    from hadpo_cli.models import families
    from hadpo_cli.settings.demo import DemoSettings

    summary = demo.run(DemoSettings(workdir=tmp_path / "w", family="all", setup_only=True))

    names = families.names()
    assert len(names) >= 2 and [r["family"] for r in summary["families"]] == names
    assert len(fake_model) == len(names)
    for name in names:
        config = (tmp_path / "w" / name / "model" / "config.json").read_text()
        assert f'"{name}"' in config
    assert summary["ok"] is True


def test_unknown_family_is_refused_with_the_known_ones():
    from hadpo_cli.errors import UserError
    from hadpo_cli.settings.demo import DemoSettings

    with pytest.raises(UserError, match=r"--family: unknown family 'qwen'.*instructblip, llava, all"):
        DemoSettings.build({"family": "qwen"})
