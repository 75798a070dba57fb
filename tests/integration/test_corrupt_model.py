"""Every model command against a model directory whose weights file is truncated or garbage:
one `error:` line naming the model, exit 2, nothing written (for each family)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hadpo_cli.__main__ import app

pytestmark = pytest.mark.integration


@pytest.fixture(params=["truncated", "garbage"])
def corrupt_model(request, tiny_model_dir: Path, tmp_path: Path) -> Path:
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    weights = model / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2] if request.param == "truncated" else b"\x00garbage" * 64)
    return model


def _one_error_line(result, model: Path) -> str:
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.strip().startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    assert str(model) in errors[0]
    return errors[0]


def test_every_model_command(corrupt_model, demo_data, tmp_path):
    runner = CliRunner()
    commands = {
        "train": ["train", "--model", str(corrupt_model), "--pope-data", str(demo_data.pope_data),
                  "--vg-path", str(demo_data.vg), "--output-dir", str(tmp_path / "train")],
        "merge": ["merge", "--adapter", str(tmp_path / "adapter"), "--base", str(corrupt_model),
                  "--output", str(tmp_path / "merge")],
        "eval pope": ["eval", "pope", "--model", str(corrupt_model), "--labels",
                      str(demo_data.pope_labels["random"]), "--coco-path", str(demo_data.coco),
                      "--output", str(tmp_path / "pope" / "answers.jsonl"), "--max-new-tokens", "4"],
        "eval shr": ["eval", "shr", "--model", str(corrupt_model), "--vg-path", str(demo_data.vg),
                     "--shr-path", str(demo_data.shr), "--output-dir", str(tmp_path / "shr"), "--no-judge"],
    }  # fmt: skip
    # merge needs a real adapter to get as far as the base: any tiny one will do.
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    lm = LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                      num_attention_heads=2, num_key_value_heads=2))  # fmt: skip
    get_peft_model(lm, LoraConfig(r=2, target_modules=["q_proj"])).save_pretrained(tmp_path / "adapter")
    for name, args in commands.items():
        line = _one_error_line(runner.invoke(app, args), corrupt_model)
        assert "could not load" in line or "cannot load" in line, (name, line)
    for out in ("train", "merge", "pope", "shr"):
        written = tmp_path / out
        assert not written.exists() or not any(p.is_file() for p in written.rglob("*")), out


def test_a_model_directory_without_its_tokenizer_is_one_line(tiny_model_dir, demo_data, tmp_path):
    model = tmp_path / "no-tokenizer"
    shutil.copytree(tiny_model_dir, model)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (model / name).unlink()
    out = tmp_path / "pope" / "answers.jsonl"
    result = CliRunner().invoke(app, [
        "eval", "pope", "--model", str(model), "--labels", str(demo_data.pope_labels["random"]),
        "--coco-path", str(demo_data.coco), "--output", str(out), "--max-new-tokens", "4",
    ])  # fmt: skip
    line = _one_error_line(result, model)
    assert "tokenizer" in line  # never a run of empty answers with a normal-looking table
    assert not out.exists()
