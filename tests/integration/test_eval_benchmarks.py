"""`hadpo eval chair|amber|mmhal --model` on the tiny random model of every family: the files a run
writes, scoring them again, a rerun that loads nothing, a crash mid-generation and its resume, a
resume with other decoding refused, and two processes under torchrun writing what one writes.

Kept small for two CPU cores: four items per benchmark, eight new tokens, greedy, fp32.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hadpo_cli.__main__ import app
from hadpo_cli.evaluation import generation
from hadpo_cli.evaluation.benchmarks import get
from hadpo_cli.evaluation.generation import part_files
from hadpo_cli.testing.local_judge import RULE_JUDGE_MODEL, LocalJudgeServer

pytestmark = pytest.mark.integration

BENCHMARKS = ("chair", "amber", "mmhal")
N_ITEMS = 4
RESPONSES_FILE = {"chair": "captions.jsonl", "amber": "responses.json", "mmhal": "response_template.json"}
DECODING = {"max_new_tokens": 8, "num_beams": 1, "dtype": "fp32", "batch_size": 8}


@pytest.fixture(scope="module")
def judge() -> Iterator[LocalJudgeServer]:
    with LocalJudgeServer() as server:
        yield server


@pytest.fixture(scope="module")
def inputs(demo_data, judge, tmp_path_factory) -> dict[str, dict[str, Any]]:
    """Each benchmark's data settings (no model, no output), four items each."""
    from hadpo_cli.data import toy_world
    from hadpo_cli.evaluation.benchmarks import amber, mmhal

    root = tmp_path_factory.mktemp("bench-data")
    captions = json.loads((demo_data.coco_annotations / "captions_val2014.json").read_text())
    ids = root / "image_ids.json"
    ids.write_text(json.dumps([image["id"] for image in captions["images"][:N_ITEMS]]))
    amber.write_demo_data(root / "amber", toy_world, seed=0, n_images=N_ITEMS // 2)  # 2 questions each
    mmhal.write_demo_data(root / "mmhal", toy_world, seed=0)
    template = root / "mmhal" / "response_template.json"
    template.write_text(json.dumps(json.loads(template.read_text())[:N_ITEMS]))
    return {
        "chair": {"coco_path": demo_data.coco, "annotations": demo_data.coco_annotations, "image_ids": ids},
        "amber": {"amber_path": root / "amber", "images": root / "amber" / "images", "part": "discriminative"},
        "mmhal": {"mmhal_path": root / "mmhal", "base_url": judge.base_url, "judge_model": RULE_JUDGE_MODEL,
                  "retry_backoff": 0.01},
    }  # fmt: skip


def settings_for(name: str, model: Path, inputs: dict[str, Any], out: Path, **overrides: Any) -> Any:
    values = {"model": str(model), **DECODING, **inputs[name], "output_dir": out, **overrides}
    return get(name).settings.build(values)


def cli_args(name: str, model: Path, inputs: dict[str, Any], out: Path, **overrides: Any) -> list[str]:
    values = {"model": model, **DECODING, **inputs[name], "output_dir": out, **overrides}
    args = ["eval", name]
    for key, value in values.items():
        if value is not None:  # None: leave the flag out
            args += ["--" + key.replace("_", "-"), str(value)]
    return args


def hadpo(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def without_usage(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k != "usage"}


@pytest.fixture(scope="module")
def reference(tiny_model_dir, inputs, tmp_path_factory) -> dict[str, Path]:
    """One uninterrupted single-process run of each benchmark: what every other run must equal."""
    outs = {}
    for name in BENCHMARKS:
        out = tmp_path_factory.mktemp(f"ref-{name}") / "out"
        result = get(name).run(settings_for(name, tiny_model_dir, inputs, out))
        assert result.generated == N_ITEMS
        outs[name] = out
    return outs


@pytest.mark.parametrize("name", BENCHMARKS)
def test_a_generated_run_writes_its_files_and_they_score_again(
    name, tiny_model_dir, inputs, reference, tmp_path
):
    out = reference[name]
    for file in (RESPONSES_FILE[name], "records.jsonl", "metrics.json", "settings.json", "generations.jsonl"):
        assert (out / file).is_file(), file
    assert not part_files(out / "generations.jsonl")
    metrics = read_json(out / "metrics.json")
    assert metrics["benchmark"] == name
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert len(records) == N_ITEMS and all(isinstance(r["columns"], dict) for r in records)
    saved = read_json(out / "settings.json")
    # The decoding that ran is written resolved (what was not given came from the protocol or family).
    assert saved["model"] == str(tiny_model_dir) and saved["max_new_tokens"] == 8
    assert saved["num_beams"] == 1 and saved["repetition_penalty"] is not None
    assert read_json(out / "generation_settings.json")["max_new_tokens"] == 8
    if name == "chair":
        assert metrics["num_captions"] == N_ITEMS
    elif name == "amber":
        assert metrics["discriminative"]["num_questions"] == N_ITEMS
        assert {r["response"] for r in read_json(out / "responses.json")} <= {"Yes", "No"} | {
            json.loads(line)["text"] for line in (out / "generations.jsonl").read_text().splitlines()
        }
    else:
        assert metrics["num_questions"] == N_ITEMS and metrics["usage"]["requests"] >= N_ITEMS
        answered = read_json(out / "response_template.json")
        generated = [
            json.loads(line)["text"] for line in (out / "generations.jsonl").read_text().splitlines()
        ]
        assert [r["model_answer"] for r in answered] == generated

    # The answers file scores again, with no model, in another folder, to the same figures.
    again = tmp_path / "again"
    values = {**inputs[name], "responses": out / RESPONSES_FILE[name], "output_dir": again}
    result = get(name).run(get(name).settings.build(values))
    assert result.generated == 0
    assert without_usage(read_json(again / "metrics.json")) == without_usage(metrics)


@pytest.mark.parametrize("name", BENCHMARKS)
def test_the_same_command_again_loads_no_model_and_other_decoding_is_refused(
    name, tiny_model_dir, inputs, reference, tmp_path, monkeypatch
):
    out = tmp_path / "out"
    shutil.copytree(reference[name], out)
    from hadpo_cli.models import loading

    def no_model(*a: Any, **k: Any) -> Any:
        raise AssertionError("the model was loaded for a finished run")

    monkeypatch.setattr(loading, "load_vlm_for_eval", no_model)
    # Without --num-beams this time: the family's published greedy decoding is what ran.
    result = hadpo(*cli_args(name, tiny_model_dir, inputs, out, num_beams=None), "--json")
    assert result.exit_code == 0, result.output
    assert without_usage(json.loads(result.stdout)) == without_usage(
        read_json(reference[name] / "metrics.json")
    )
    assert (out / RESPONSES_FILE[name]).read_bytes() == (reference[name] / RESPONSES_FILE[name]).read_bytes()
    refused = hadpo(*cli_args(name, tiny_model_dir, inputs, out, max_new_tokens=6))
    assert refused.exit_code == 2
    assert "made with --max-new-tokens 8, not 6" in refused.stderr and "--overwrite" in refused.stderr


@pytest.mark.parametrize("name", BENCHMARKS)
def test_a_crash_mid_generation_then_a_rerun_generates_only_the_rest(
    name, tiny_model_dir, inputs, reference, tmp_path, monkeypatch
):
    out = tmp_path / "out"
    real_generate_all = generation.generate_all
    written: list[dict[str, Any]] = []

    def crash_after_three(record: dict[str, Any]) -> None:
        written.append(record)
        if len(written) == 3:
            raise KeyboardInterrupt

    def with_crash(*args: Any, **kwargs: Any) -> Any:
        return real_generate_all(*args, **kwargs, on_record=crash_after_three)

    monkeypatch.setattr(generation, "generate_all", with_crash)
    # Batches of two: the crash comes in the middle of the second batch.
    with pytest.raises(KeyboardInterrupt):
        get(name).run(settings_for(name, tiny_model_dir, inputs, out, batch_size=2))
    monkeypatch.setattr(generation, "generate_all", real_generate_all)
    assert len(written) == 3 and not (out / "metrics.json").exists()
    (part,) = part_files(out / "generations.jsonl")
    assert len(part.read_text().splitlines()) == 3

    # Resuming with another cap on the answers would mix two runs in one file: refused, untouched.
    refused = hadpo(*cli_args(name, tiny_model_dir, inputs, out, max_new_tokens=6))
    assert refused.exit_code == 2, refused.output
    assert "made with --max-new-tokens 8, not 6; rerun with the same settings to resume" in refused.stderr
    assert len(part.read_text().splitlines()) == 3

    answered: list[dict[str, Any]] = []

    def count(*args: Any, **kwargs: Any) -> Any:
        return real_generate_all(*args, **kwargs, on_record=answered.append)

    monkeypatch.setattr(generation, "generate_all", count)
    result = get(name).run(settings_for(name, tiny_model_dir, inputs, out, batch_size=2))
    assert result.generated == N_ITEMS - 3 and len(answered) == N_ITEMS - 3
    assert {r["key"] for r in answered}.isdisjoint(r["key"] for r in written)
    assert not part_files(out / "generations.jsonl")
    ref = reference[name]
    for file in (RESPONSES_FILE[name], "generations.jsonl", "records.jsonl"):
        assert (out / file).read_text() == (ref / file).read_text(), file
    assert without_usage(read_json(out / "metrics.json")) == without_usage(read_json(ref / "metrics.json"))


def test_two_processes_under_torchrun_caption_like_one(tiny_model_dir, inputs, reference, tmp_path):
    # Over a finished run of other settings (--seed, which these listed images ignore), replaced
    # with --overwrite: both processes clear the folder before either generates.
    out = tmp_path / "ddp"
    shutil.copytree(reference["chair"], out)
    torchrun = Path(sys.executable).parent / "torchrun"
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    cmd = [
        str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "hadpo_cli",
        *cli_args("chair", tiny_model_dir, inputs, out, batch_size=1, seed=1), "--overwrite", "--json",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ref = reference["chair"]
    assert (out / "captions.jsonl").read_text() == (ref / "captions.jsonl").read_text()
    assert (out / "records.jsonl").read_text() == (ref / "records.jsonl").read_text()
    assert json.loads(proc.stdout) == read_json(ref / "metrics.json")  # one document: only the main process
    assert not part_files(out / "generations.jsonl")
    saved = read_json(out / "settings.json")
    assert (saved["batch_size"], saved["seed"]) == (1, 1)
