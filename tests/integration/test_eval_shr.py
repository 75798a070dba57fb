"""`hadpo eval shr --model`: the tiny model describes the SHR images (offline, CPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hadpo_cli.__main__ import app

pytestmark = pytest.mark.integration


def _args(tiny_model_dir, demo_data, out: Path) -> list[str]:
    return [
        "eval", "shr", "--model", str(tiny_model_dir), "--vg-path", str(demo_data.vg),
        "--shr-path", str(demo_data.shr), "--output-dir", str(out), "--no-judge",
        "--num-beams", "1", "--max-new-tokens", "12", "--batch-size", "4",
    ]  # fmt: skip


def test_describe_then_repetition_metrics_and_resume(tiny_model_dir, demo_data, tmp_path, monkeypatch):
    out = tmp_path / "shr"
    result = CliRunner().invoke(app, [*_args(tiny_model_dir, demo_data, out), "--json"])
    assert result.exit_code == 0, result.output
    ids = [str(x["image_id"]) for x in json.loads(demo_data.shr_val_images.read_text())]
    responses = json.loads((out / "responses.json").read_text())
    assert sorted(responses) == sorted(ids)
    metrics = json.loads(result.stdout)
    assert metrics["num_images"] == len(ids)
    assert 0.0 <= metrics["gram-1-repetition"] <= 1.0
    assert json.loads((out / "settings.json").read_text())["model"] == str(tiny_model_dir)

    # A rerun finds every description on disk and loads no model at all.
    from hadpo_cli.models import loading

    def no_model(*a, **k):
        raise AssertionError("model loaded although every image was described")

    monkeypatch.setattr(loading, "load_vlm_for_eval", no_model)
    again = CliRunner().invoke(app, [*_args(tiny_model_dir, demo_data, out), "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads((out / "responses.json").read_text()) == responses


def test_two_processes_describe_like_one(tiny_model_dir, demo_data, tmp_path):
    single = tmp_path / "single"
    assert CliRunner().invoke(app, _args(tiny_model_dir, demo_data, single)).exit_code == 0
    torchrun = Path(sys.executable).parent / "torchrun"
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    cmd = [str(torchrun), "--nproc_per_node", "2", "--master_port", "29533", "-m", "hadpo_cli",
           *_args(tiny_model_dir, demo_data, tmp_path / "ddp")]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "ddp" / "responses.json").read_text() == (single / "responses.json").read_text()
    assert json.loads((tmp_path / "ddp" / "metrics.json").read_text()) == json.loads(
        (single / "metrics.json").read_text()
    )


def test_resuming_descriptions_with_another_model_is_refused(tiny_model_dir, demo_data, tmp_path):
    out = tmp_path / "shr"
    assert CliRunner().invoke(app, _args(tiny_model_dir, demo_data, out)).exit_code == 0
    args = _args(tiny_model_dir, demo_data, out)
    args[args.index("--num-beams") + 1] = "2"
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "--num-beams 1" in result.output and "Traceback" not in result.output


def test_descriptions_left_in_part_files_by_a_kill_are_checked_too(tiny_model_dir, demo_data, tmp_path):
    out = tmp_path / "shr"
    assert CliRunner().invoke(app, _args(tiny_model_dir, demo_data, out)).exit_code == 0
    # the state a kill leaves: descriptions in a part file, the final files not written yet
    lines = (out / "responses.jsonl").read_text().splitlines(keepends=True)
    (out / "responses.jsonl.part-0").write_text("".join(lines[:2]))
    (out / "responses.jsonl").unlink()
    (out / "responses.json").unlink()
    args = _args(tiny_model_dir, demo_data, out)
    args[args.index("--max-new-tokens") + 1] = "20"
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "--max-new-tokens 12" in result.output
