"""`hadpo pairs` with a model: the describe step through the generation engine, then judging in the
same folder, where a --no-judge run left off, with nothing generated twice."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from hadpo_cli.__main__ import app
from hadpo_cli.testing.local_judge import RULE_JUDGE_MODEL, LocalJudgeServer

pytestmark = pytest.mark.integration


def test_describe_then_judge_in_the_same_folder(tiny_model_dir, demo_data, tmp_path):
    out = tmp_path / "pairs"
    common = ["pairs", "--model", str(tiny_model_dir), "--vg-path", str(demo_data.vg), "-o", str(out),
              "--num-images", "4", "--exclude-ids", str(demo_data.shr_val_images), "--num-beams", "1",
              "--max-new-tokens", "12", "--json"]  # fmt: skip
    first = CliRunner().invoke(app, [*common, "--no-judge"])
    assert first.exit_code == 0, first.stderr[-2000:]
    described = json.loads((out / "descriptions.json").read_text())
    shr_ids = {str(row["image_id"]) for row in json.loads(demo_data.shr_val_images.read_text())}
    assert len(described) == 4 and not set(described) & shr_ids
    assert json.loads(first.stdout)["described_now"] == 4

    with LocalJudgeServer() as judge:
        second = CliRunner().invoke(
            app, [*common, "--base-url", judge.base_url, "--judge-model", RULE_JUDGE_MODEL]
        )
        requests = judge.request_count
    assert second.exit_code in (0, 1), second.stderr[-2000:]
    report = json.loads(second.stdout)
    assert report["described_now"] == 0  # the descriptions of the --no-judge run, not new ones
    assert json.loads((out / "descriptions.json").read_text()) == described
    judged = report["with_hallucination"] + report["without_hallucination"] + report["skipped"]["total"]
    assert judged + report["empty_descriptions"] == 4
    assert report["judge"]["requests"] == requests
    details = [json.loads(line) for line in (out / "judgements.jsonl").read_text().splitlines()]
    assert {str(d["image_id"]) for d in details} == set(described)
