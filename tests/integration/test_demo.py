"""`hadpo demo` end to end: every stage on the tiny model, offline, the summary as JSON."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from hadpo_cli.__main__ import app
from hadpo_cli.models.families import by_name, names

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("family", names())
def test_full_demo_every_stage_ok_and_only_json_on_stdout(family, tmp_path, monkeypatch):
    # An ambient key or endpoint must not leak into the demo's judge: it starts its own.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-demo-must-not-be-used")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    workdir = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--workdir", str(workdir), "--family", family, "--json"])
    assert result.exit_code == 0, result.stderr[-3000:]

    summary = json.loads(result.stdout)  # fails if anything but the JSON reached stdout
    assert result.stdout.lstrip().startswith("{") and result.stdout.rstrip().endswith("}")
    assert summary["family"] == family
    config = json.loads((workdir / "model" / "config.json").read_text())
    assert config["model_type"] == by_name(family).model_type
    stages = {s["name"]: s for s in summary["stages"]}
    assert list(stages) == [
        "setup",
        "check data",
        "train",
        "merge",
        "eval pope",
        "eval shr",
        "eval chair",
        "eval amber",
        "eval mmhal",
        "score",
        "report",
    ]
    assert all(s["status"] == "ok" for s in stages.values()), summary["stages"]
    assert summary["ok"] is True

    train = stages["train"]["figures"]
    first, last = (float(x) for x in train["loss"].split(" -> "))
    assert train["steps"] == 16 and last < first  # the loss visibly moves

    pope = stages["eval pope"]["figures"]
    assert pope["questions"] > 0
    for key in ("adversarial_accuracy", "adversarial_f1", "adversarial_yes_ratio"):
        assert 0.0 <= pope[key] <= 100.0, key
    # The POPE stage evaluated the merged model, not the base one with an adapter.
    pope_settings = json.loads((workdir / "eval_pope" / "answers.settings.json").read_text())
    assert pope_settings["model"] == summary["outputs"]["merged"] and pope_settings["adapter"] is None

    score = stages["score"]["figures"]
    assert score["same as eval pope"] == "yes" and score["f1"] == pope["adversarial_f1"]

    shr = stages["eval shr"]["figures"]
    assert set(shr) == {"images", "sentences/image", "hal_sents_ratio", "requests", "reference"}
    n_images = len(json.loads((workdir / "data" / "shr" / "val_images_final.json").read_text()))
    assert shr["images"] == n_images
    assert shr["reference"] == f"{n_images}/{n_images} planted hallucinations found, {n_images} requests"
    shr_settings = json.loads((workdir / "eval_shr" / "settings.json").read_text())
    assert shr_settings["model"] == summary["outputs"]["merged"]
    assert shr_settings["judge_model"] == "local-rule-judge"
    assert shr_settings["base_url"].startswith("http://127.0.0.1:")
    assert (workdir / "eval_shr" / "responses.json").is_file()
    assert (workdir / "eval_shr" / "metrics.json").is_file()

    # Every benchmark wrote the shared shape, and the judged one reports what the judge cost.
    for name in ("chair", "amber", "mmhal"):
        metrics = json.loads((workdir / f"eval_{name}" / "metrics.json").read_text())
        assert metrics["benchmark"] == name and (workdir / f"eval_{name}" / "records.jsonl").is_file()
    mmhal = stages["eval mmhal"]["figures"]
    assert mmhal["questions"] == 8 and mmhal["requests"] == 8 and mmhal["tokens"] > 0

    report = stages["report"]["figures"]
    page = (workdir / "report.html").read_text(encoding="utf-8")
    assert report["file"] == str(workdir / "report.html") and report["baseline"] == "base model"
    for section in ("training", "evaluation", "compare", "inspection"):
        assert f'<section id="{section}">' in page
    base_settings = json.loads((workdir / "eval_pope_base" / "answers.settings.json").read_text())
    assert base_settings["model"] == str(workdir / "model") and base_settings["adapter"] is None

    assert "hadpo demo" in result.stderr  # the table went to stderr
