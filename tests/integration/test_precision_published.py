"""`--precision published`: the family's published mixed precision (InstructBLIP's LAVIS layout)."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from hadpo_cli.__main__ import app

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def instructblip(tmp_path_factory):
    from hadpo_cli.models.families.instructblip import InstructBlipFamily

    return InstructBlipFamily.save_tiny(tmp_path_factory.mktemp("ib") / "model")


def test_vision_and_llm_in_fp16_qformer_and_projection_exactly_the_fp32_checkpoint(instructblip):
    from hadpo_cli.models.loading import load_vlm

    plain = load_vlm(instructblip, dtype="fp32").model
    mixed = load_vlm(instructblip, precision="published").model
    dtypes = {name: {p.dtype for p in getattr(mixed, name).parameters()} for name in
              ("vision_model", "language_model", "qformer", "language_projection")}  # fmt: skip
    assert dtypes == {
        "vision_model": {torch.float16},
        "language_model": {torch.float16},
        "qformer": {torch.float32},
        "language_projection": {torch.float32},
    }
    assert mixed.query_tokens.dtype == torch.float32
    # Read again from the checkpoint, not upcast from fp16: the fp16 rounding is not there.
    weight = plain.qformer.encoder.layer[0].attention.attention.query.weight
    assert torch.equal(mixed.qformer.encoder.layer[0].attention.attention.query.weight, weight)
    assert not torch.equal(weight.half().float(), weight)
    assert torch.equal(mixed.query_tokens, plain.query_tokens)


def test_eval_pope_runs_under_fp16_autocast_and_records_it(instructblip, demo_data, tmp_path):
    labels = tmp_path / "labels.jsonl"
    labels.write_text("\n".join(demo_data.pope_labels["random"].read_text().splitlines()[:4]) + "\n")
    out = tmp_path / "answers.jsonl"
    result = CliRunner().invoke(app, [
        "eval", "pope", "--model", str(instructblip), "--labels", str(labels), "--coco-path",
        str(demo_data.coco), "--output", str(out), "--precision", "published", "--num-beams", "1",
        "--max-new-tokens", "4",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "answers.settings.json").read_text())["precision"] == "published"
    assert len(out.read_text().splitlines()) == 4


def test_generation_is_under_fp16_autocast(instructblip, monkeypatch):
    from hadpo_cli.evaluation.generation import GenerationOptions, VLMGenerator
    from hadpo_cli.models.loading import load_vlm
    from hadpo_cli.models.merging import probe_image

    loaded = load_vlm(instructblip, precision="published")
    seen = []
    original = loaded.model.generate

    def spy(*args, **kwargs):
        seen.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))
        return original(*args, **kwargs)

    monkeypatch.setattr(loaded.model, "generate", spy)
    VLMGenerator(loaded, GenerationOptions(num_beams=1, max_new_tokens=2, autocast="fp16"))(
        [probe_image()], ["Is there a dog?"]
    )
    assert seen == [(True, torch.float16)]


def test_training_it_on_the_cpu_is_one_line(instructblip, demo_data, tmp_path):
    result = CliRunner().invoke(app, [
        "train", "--model", str(instructblip), "--pope-data", str(demo_data.pope_data), "--vg-path",
        str(demo_data.vg), "--output-dir", str(tmp_path / "run"), "--precision", "published",
    ])  # fmt: skip
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1].startswith("error: --precision published: training in fp16")
    assert not (tmp_path / "run").exists()


def test_a_family_without_one_is_refused(tmp_path, demo_data):
    from hadpo_cli.models.families.llava import LlavaFamily

    llava = LlavaFamily.save_tiny(tmp_path / "llava")
    result = CliRunner().invoke(app, [
        "eval", "shr", "--model", str(llava), "--vg-path", str(demo_data.vg), "--shr-path", str(demo_data.shr),
        "--output-dir", str(tmp_path / "shr"), "--no-judge", "--precision", "published",
    ])  # fmt: skip
    assert result.exit_code == 2
    assert "--precision published: the LLaVA-1.5 release ran in one dtype" in result.output
