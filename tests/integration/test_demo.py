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
        "eval pope (base model)",
        "eval shr (base model)",
        "train",
        "merge",
        "eval pope",
        "eval shr",
        "eval chair",
        "eval amber",
        "eval mmhal",
        "pairs",
        "score",
        "compare",
        "report",
    ]
    assert all(s["status"] == "ok" for s in stages.values()), summary["stages"]
    assert summary["ok"] is True

    train = stages["train"]["figures"]
    first, last = (float(x) for x in train["loss"].split(" -> "))
    assert train["steps"] == 80 and last < first  # the loss visibly moves

    # What the demo is for: training on HA-DPO pairs measurably cuts hallucination. A flipped loss
    # sign, chosen and rejected swapped, or an adapter saved but not applied all fail here.
    effect = summary["effect"]
    assert effect["split"] == "adversarial"
    assert effect["yes_ratio_after"] < effect["yes_ratio_before"] - 0.05
    assert effect["f1_after"] > effect["f1_before"] + 0.02
    assert effect["p_value"] < 0.01
    base_pope = stages["eval pope (base model)"]["figures"]
    assert round(100 * effect["f1_before"], 2) == base_pope["adversarial_f1"]
    # The base model sees the world (random split well above chance) but hallucinates where
    # objects co-occur (adversarial yes-ratio far above the labels' 50 %).
    assert base_pope["random_accuracy"] > 75 and base_pope["adversarial_yes_ratio"] > 65

    pope = stages["eval pope"]["figures"]
    labels = workdir / "data" / "pope" / "output" / "coco"
    assert pope["questions"] == sum(len(f.read_text().splitlines()) for f in labels.glob("coco_pope_*.json"))
    # The effect is read from the very runs the eval stages reported.
    assert pope["adversarial_f1"] == round(100 * effect["f1_after"], 2)
    assert pope["adversarial_yes_ratio"] == round(100 * effect["yes_ratio_after"], 2)
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
    base_settings = json.loads((workdir / "base" / "eval_pope" / "answers.settings.json").read_text())
    assert base_settings["model"] == str(workdir / "model") and base_settings["adapter"] is None

    # The pairs stage made pairs with `hadpo pairs` from the base model's own descriptions, and a
    # short `hadpo train` took the files as they are.
    pairs = stages["pairs"]["figures"]
    report_json = json.loads((workdir / "pairs" / "pairs_report.json").read_text())
    assert pairs["images"] == report_json["images"] > 0
    assert 0 < report_json["with_hallucination"] <= report_json["images"]
    assert report_json["judge"]["requests"] == pairs["requests"] > 0
    assert pairs["train steps on them"] == 4  # the pairs stage's short run went to its end
    desc = json.loads((workdir / "pairs" / "desc_data.json").read_text())
    assert len(desc) == report_json["desc_pairs"] == report_json["with_hallucination"]

    compare = stages["compare"]["figures"]
    assert compare["McNemar p"] == f"{effect['p_value']:.2g}"

    assert "hadpo demo" in result.stderr  # the table went to stderr
