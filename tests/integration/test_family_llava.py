"""LLaVA-1.5 specifics: a checkpoint made by plain transformers, the v1 / llava_v1 prompts, the
released adapter's key layout (LLaVA's own ``model.layers.*``, not transformers' nesting)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from hadpo_cli.__main__ import app

pytestmark = pytest.mark.integration


def _plain_transformers_llava(out: Path) -> Path:
    """A LLaVA directory written with nothing of ours: transformers' classes, a word-level
    tokenizer from `tokenizers`, the Hub processor's defaults (resize + centre crop)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import (
        CLIPImageProcessorPil,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    words = "a is there in the image yes no of dog cat circle square red blue describe this detail".split()
    vocab = {t: i for i, t in enumerate(["<unk>", "<s>", "</s>", "<pad>", *words, "?", ".", ",", ":"])}
    raw = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace()])
    raw.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>"
    )
    tokenizer.add_tokens(["<image>"], special_tokens=True)
    config = LlavaConfig(
        vision_config={"model_type": "clip_vision_model", "hidden_size": 32, "intermediate_size": 64,
                       "num_hidden_layers": 2, "num_attention_heads": 4, "image_size": 336, "patch_size": 14},
        text_config={"model_type": "llama", "vocab_size": len(tokenizer), "hidden_size": 64,
                     "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
                     "num_key_value_heads": 4, "pad_token_id": tokenizer.pad_token_id},
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
    )  # fmt: skip
    torch.manual_seed(3)
    model = LlavaForConditionalGeneration(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessorPil(size={"shortest_edge": 336}, crop_size=336),  # as on the Hub
        tokenizer=tokenizer, patch_size=14,
        vision_feature_select_strategy="default", num_additional_image_tokens=1,
    )  # fmt: skip
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def test_a_plain_transformers_checkpoint_loads_trains_and_answers(demo_data, tmp_path):
    model_dir = _plain_transformers_llava(tmp_path / "llava")
    run = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "train", "--model", str(model_dir), "--pope-data", str(demo_data.pope_data), "--vg-path",
        str(demo_data.vg), "--output-dir", str(run), "--max-steps", "2", "--per-device-train-batch-size", "2",
        "--gradient-accumulation-steps", "1", "--learning-rate", "1e-2", "--lora-r", "4", "--logging-steps", "1",
        "--json",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    saved = json.loads((run / "settings.json").read_text())
    # LLaVA's recipe where no flag was given; the flags where they were.
    assert saved["lora_alpha"] == 256 and saved["lora_r"] == 4 and saved["max_length"] == 2048
    assert saved["lora_target"] == [
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    ]
    assert (saved["pope_repeat"], saved["desc_repeat"], saved["image_augment"]) == (1, 2, "none")

    labels = tmp_path / "labels.jsonl"
    lines = demo_data.pope_labels["adversarial"].read_text().splitlines()[:3]
    labels.write_text("\n".join(lines) + "\n")
    out = tmp_path / "pope" / "answers.jsonl"
    result = CliRunner().invoke(app, [
        "eval", "pope", "--model", str(model_dir), "--adapter", str(run), "--labels", str(labels),
        "--coco-path", str(demo_data.coco), "--output", str(out), "--max-new-tokens", "4", "--json",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    settings = json.loads((tmp_path / "pope" / "answers.settings.json").read_text())
    # HA-DPO's LLaVA pope_eval.py: greedy, no repetition penalty.
    assert (settings["num_beams"], settings["repetition_penalty"]) == (1, 1.0)
    assert len(out.read_text().splitlines()) == 3


@pytest.fixture(scope="module")
def llava(tmp_path_factory):
    from hadpo_cli.models.families.llava import LlavaFamily
    from hadpo_cli.models.loading import load_vlm

    path = LlavaFamily.save_tiny(tmp_path_factory.mktemp("llava") / "model")
    return path, load_vlm(path, dtype="fp32")


def test_prompts_are_the_v1_and_llava_v1_conversations(llava):
    from hadpo_cli.models.families.llava import EVAL_SYSTEM, TRAIN_SYSTEM

    _, loaded = llava
    family, tok = loaded.family, loaded.family.tokenizer
    train = family.prompt_ids("Is there a dog in the image?", 576)
    image = family.image_token_id
    assert train[0] == tok.bos_token_id and train.count(image) == 576
    first = train.index(image)
    assert train[first : first + 576] == [image] * 576  # one block, where <image> stood
    before = tok.decode(train[1:first])
    after = tok.decode(train[first + 576 :])
    assert before == f"{TRAIN_SYSTEM} USER: " and after == "\nIs there a dog in the image? ASSISTANT:"
    assert "curious user" in TRAIN_SYSTEM and "curious human" in EVAL_SYSTEM
    evaluated = family.eval_prompt_ids("Is there a dog in the image?", 576)
    assert tok.decode(evaluated[1 : evaluated.index(image)]) == f"{EVAL_SYSTEM} USER: "
    assert family.answer_ids("Yes.")[-1] == tok.eos_token_id  # the answer's </s> counts


def test_images_are_padded_to_a_square_in_the_mean_colour_not_cropped(llava):
    from PIL import Image

    _, loaded = llava
    wide = Image.new("RGB", (200, 100), (255, 0, 0))
    pixels = loaded.family.pixel_values([wide])[0]
    assert tuple(pixels.shape) == (3, 336, 336)
    # Top rows are the padding: mean colour, i.e. ~0 after normalisation; the middle is red.
    assert pixels[:, :40, :].abs().max() < 0.02
    assert pixels[0, 168, 168] > 1.5 and pixels[1, 168, 168] < -1.5
    # Nothing of the red was cut off: the full width is red in the middle row.
    assert (pixels[0, 168, :] > 1.5).all()


def test_the_released_adapter_layout_loads_for_eval_and_merges(llava, tmp_path):
    """juliozhao/hadpo-llava-1.5 was trained in LLaVA's own code, whose decoder sits at
    ``model.layers``: its keys are a causal LM's, with every linear layer targeted."""
    from peft import LoraConfig, get_peft_model
    from safetensors import safe_open

    from hadpo_cli.models.adapters import detect_adapter_layout
    from hadpo_cli.models.loading import load_vlm, load_vlm_for_eval
    from hadpo_cli.models.merging import logits, probe_image

    path, _ = llava
    fresh = load_vlm(path, dtype="fp32")
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    peft_lm = get_peft_model(fresh.family.causal_lm(), LoraConfig(r=4, lora_alpha=8, target_modules=targets))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in peft_lm.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.2)
    adapter = tmp_path / "released-layout"
    peft_lm.save_pretrained(adapter)
    with safe_open(str(adapter / "adapter_model.safetensors"), framework="pt") as fh:
        keys = list(fh.keys())
    assert keys and all(k.startswith("base_model.model.model.layers.") for k in keys)
    assert detect_adapter_layout(adapter) == "causal_lm"

    probe = fresh.family.generation_inputs([probe_image()], ["Describe this image in detail."])
    base = logits(load_vlm(path, dtype="fp32").model, probe)
    with_adapter = logits(load_vlm_for_eval(path, adapter=adapter, dtype="fp32").model, probe)
    assert (with_adapter - base).abs().max() > 1e-2
    out = tmp_path / "merged"
    result = CliRunner().invoke(
        app, ["merge", "--adapter", str(adapter), "--base", str(path), "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    torch.testing.assert_close(
        logits(load_vlm(out, dtype="fp32").model, probe), with_adapter, atol=1e-5, rtol=0
    )


def test_an_image_processor_of_the_wrong_size_is_refused_at_load(llava, tmp_path):
    from transformers import CLIPImageProcessorPil, LlavaProcessor

    from hadpo_cli.errors import UserError
    from hadpo_cli.models.loading import load_vlm

    path, loaded = llava
    bad = tmp_path / "bad"
    loaded.model.save_pretrained(bad)
    # 224 px: what a hand-made CLIP processor defaults to, not LLaVA-1.5's 336.
    LlavaProcessor(
        image_processor=CLIPImageProcessorPil(), tokenizer=loaded.processor.tokenizer, patch_size=14
    ).save_pretrained(bad)
    with pytest.raises(UserError, match="makes 224-pixel images but the vision tower expects 336"):
        load_vlm(bad)
