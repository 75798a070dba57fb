"""`hadpo merge` end to end on the tiny random InstructBLIP (offline, CPU).

One short training run per module gives a real ``hadpo train`` adapter; a bare-causal-LM
adapter (the published HA-DPO layout) is built here with peft on the language model alone.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from hadpo_cli.__main__ import app
from hadpo_cli.errors import UserError
from hadpo_cli.models import adapters, merging
from hadpo_cli.models.loading import load_vlm, load_vlm_for_eval
from hadpo_cli.settings.merge import MergeSettings

pytestmark = pytest.mark.integration


@dataclass
class Setup:
    root: Path
    model: Path  # tiny VLM
    llm: Path  # its language model saved alone, as a bare causal LM + tokenizer
    vlm_adapter: Path  # what `hadpo train` wrote
    lm_adapter: Path  # peft on the language model alone (published layout)
    family: str


def merge(*args: object):
    return CliRunner().invoke(app, ["merge", *map(str, args)])


def save_lm_adapter(lm: torch.nn.Module, out: Path, seed: int) -> Path:
    """peft LoRA on a bare causal LM, with non-zero B so that it changes the model."""
    from peft import LoraConfig, get_peft_model

    peft_lm = get_peft_model(lm, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in peft_lm.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.2)
    peft_lm.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def setup(tiny_model_dir: Path, family: str, demo_data, tmp_path_factory: pytest.TempPathFactory) -> Setup:
    from hadpo_cli.settings.train import TrainSettings
    from hadpo_cli.training.run import run_train

    root = tmp_path_factory.mktemp("merge")
    vlm_adapter = root / "vlm_adapter"
    # A high learning rate for two steps: a fresh LoRA has B = 0 and would merge as a no-op.
    run_train(
        TrainSettings(
            model=str(tiny_model_dir),
            pope_data=demo_data.pope_data,
            vg_path=demo_data.vg,
            output_dir=vlm_adapter,
            max_steps=2,
            learning_rate=1e-2,
            gradient_accumulation_steps=1,
            lora_r=8,
        )
    )
    loaded = load_vlm(tiny_model_dir, dtype="fp32")
    llm = root / "llm"
    loaded.family.causal_lm().save_pretrained(llm)
    loaded.processor.tokenizer.save_pretrained(llm)
    lm_adapter = save_lm_adapter(loaded.family.causal_lm(), root / "lm_adapter", seed=1)
    return Setup(root, tiny_model_dir, llm, vlm_adapter, lm_adapter, family)


@pytest.fixture(scope="module")
def probe(setup: Setup) -> dict:
    base = load_vlm(setup.model, dtype="fp32")
    return merging.probe_inputs(merging.LoadedBase("vlm", base.model, base.processor, base.family))


def vlm_logits(model_dir: Path, probe: dict, **eval_kwargs) -> torch.Tensor:
    loaded = load_vlm_for_eval(model_dir, dtype="fp32", **eval_kwargs)
    return merging.logits(loaded.model, probe)


def assert_nothing_written(out: Path) -> None:
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]


def one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    # Progress lines may come first; the error is exactly one line, the last.
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert errors == lines[-1:], result.stderr
    return errors[0]


# -- the adapter `hadpo train` writes --------------------------------------------------------------
@pytest.fixture(scope="module")
def merged_vlm(setup: Setup) -> tuple[Path, dict]:
    out = setup.root / "merged_vlm"
    result = merge("--adapter", setup.vlm_adapter, "--base", setup.model, "--output", out, "--json")
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def test_trained_adapter_merges_verified(setup: Setup, merged_vlm) -> None:
    out, summary = merged_vlm
    assert summary["adapter_layout"] == "vlm" and summary["written"] == "vlm"
    check = summary["verification"]
    assert check["passed"] and check["max_abs_diff"] <= 1e-4
    assert check["adapter_effect"] > 100 * check["max_abs_diff"]  # the check can tell merged from unmerged
    settings = json.loads((out / "settings.json").read_text())
    assert settings["adapter"] == str(setup.vlm_adapter) and settings["dtype"] == "keep"
    assert (out / "model.safetensors").is_file() and (out / "processor_config.json").is_file()


def test_merged_vlm_loads_with_plain_transformers_and_changed_only_lora_targets(
    setup: Setup, merged_vlm
) -> None:
    from transformers import AutoModelForImageTextToText

    from hadpo_cli.models.families import by_name

    out, _ = merged_vlm
    before = AutoModelForImageTextToText.from_pretrained(setup.model).state_dict()
    after = AutoModelForImageTextToText.from_pretrained(out).state_dict()
    assert before.keys() == after.keys()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    targets = set(by_name(setup.family).train_recipe["lora_target"])
    assert changed and all("language_model." in k and k.split(".")[-2] in targets for k in changed)
    head = next(k for k in after if k.endswith("lm_head.weight"))
    assert after[head].dtype == torch.float32  # dtype kept


def test_merged_equals_unmerged_adapter_at_eval(setup: Setup, merged_vlm, probe: dict) -> None:
    out, _ = merged_vlm
    unmerged = vlm_logits(setup.model, probe, adapter=setup.vlm_adapter)
    merged = vlm_logits(out, probe)
    assert torch.allclose(merged, unmerged, atol=1e-5)
    assert not torch.allclose(merged, vlm_logits(setup.model, probe), atol=1e-3)


def test_merged_vlm_generates(merged_vlm) -> None:
    out, _ = merged_vlm
    loaded = load_vlm(out)
    inputs = loaded.family.generation_inputs([merging.probe_image()], ["Is there a red circle in the image?"])
    ids = loaded.model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert ids.shape[1] > inputs["input_ids"].shape[1]


# -- the published layout: an adapter of the bare causal LM -----------------------------------------
def test_causal_lm_adapter_applies_to_the_vlms_language_model(setup: Setup, probe: dict) -> None:
    assert adapters.detect_adapter_layout(setup.lm_adapter) == "causal_lm"
    out = setup.root / "merged_from_lm_adapter"
    result = merge("--adapter", setup.lm_adapter, "--base", setup.model, "--output", out, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["adapter_layout"] == "causal_lm" and summary["verification"]["passed"]
    assert summary["verification"]["adapter_effect"] > 1e-2
    merged = vlm_logits(out, probe)
    assert torch.allclose(merged, vlm_logits(setup.model, probe, adapter=setup.lm_adapter), atol=1e-5)


@pytest.fixture(scope="module")
def llm_only(setup: Setup) -> Path:
    out = setup.root / "llm_only"
    result = merge("--adapter", setup.lm_adapter, "--base", setup.model, "--output", out, "--llm-only")
    assert result.exit_code == 0, result.output
    return out


def test_llm_only_is_a_causal_lm_with_tokenizer(setup: Setup, llm_only: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert not (llm_only / "processor_config.json").exists()
    lm = AutoModelForCausalLM.from_pretrained(llm_only).eval()
    tok = AutoTokenizer.from_pretrained(llm_only)
    ids = tok("Is there a dog?", return_tensors="pt")["input_ids"]
    assert ids[0, 0] == tok.bos_token_id
    reference = load_vlm_for_eval(setup.model, adapter=setup.lm_adapter, dtype="fp32").family.causal_lm()
    with torch.no_grad():
        assert torch.allclose(lm(ids).logits, reference(ids).logits, atol=1e-5)


def test_eval_with_llm_model_equals_merged_vlm(setup: Setup, llm_only: Path, probe: dict) -> None:
    swapped = vlm_logits(setup.model, probe, llm_model=llm_only)
    assert torch.allclose(swapped, vlm_logits(setup.model, probe, adapter=setup.lm_adapter), atol=1e-5)


def test_base_may_be_a_bare_causal_lm(setup: Setup, llm_only: Path) -> None:
    from safetensors.torch import load_file

    out = setup.root / "merged_llm"
    result = merge("--adapter", setup.lm_adapter, "--base", setup.llm, "--output", out, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["base_kind"] == "causal_lm" and summary["written"] == "causal_lm"
    assert summary["verification"]["passed"]
    assert (out / "tokenizer.json").is_file()
    # The same merge as from inside the VLM, weight for weight.
    mine, theirs = load_file(out / "model.safetensors"), load_file(llm_only / "model.safetensors")
    assert mine.keys() == theirs.keys()
    assert all(torch.allclose(mine[k], theirs[k], atol=1e-6) for k in mine)


def test_llm_with_a_smaller_vocabulary_gets_the_vlms_added_rows(setup: Setup, probe: dict) -> None:
    """Vicuna has 32000 tokens, InstructBLIP-Vicuna's LM more: eval --llm-model must still work."""
    from transformers import AutoModelForCausalLM

    lm = AutoModelForCausalLM.from_pretrained(setup.llm)
    lm.resize_token_embeddings(lm.config.vocab_size - 1)  # drop <image>, the token the processor appended
    small = setup.root / "llm_small_vocab"
    lm.save_pretrained(small)
    swapped = vlm_logits(setup.model, probe, llm_model=small)
    assert torch.equal(swapped, vlm_logits(setup.model, probe))


def test_llm_model_with_other_hidden_size_is_refused(setup: Setup, tmp_path: Path) -> None:
    from hadpo_cli.models.families import by_name

    other = by_name(setup.family)(*by_name(setup.family).build_tiny(text_hidden=32))
    other.causal_lm().save_pretrained(tmp_path / "other_llm")
    with pytest.raises(UserError, match="hidden size 32"):
        load_vlm_for_eval(setup.model, llm_model=tmp_path / "other_llm")


# -- errors: exit 2, one line, nothing written --------------------------------------------------------
def test_vlm_adapter_on_bare_causal_lm_is_refused(setup: Setup) -> None:
    out = setup.root / "err_vlm_on_llm"
    line = one_error_line(merge("--adapter", setup.vlm_adapter, "--base", setup.llm, "--output", out))
    assert "bare causal LM" in line
    assert_nothing_written(out)


def test_no_target_module_matched(setup: Setup) -> None:
    adapter = setup.root / "adapter_no_match"
    shutil.copytree(setup.lm_adapter, adapter)
    config = json.loads((adapter / "adapter_config.json").read_text())
    config["target_modules"] = ["wq", "wv"]  # a different architecture's names
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    out = setup.root / "err_no_match"
    line = one_error_line(merge("--adapter", adapter, "--base", setup.model, "--output", out))
    assert str(adapter) in line and "does not fit" in line
    assert_nothing_written(out)


def test_shape_mismatch(setup: Setup) -> None:
    from hadpo_cli.models.families import by_name

    other = by_name(setup.family)(*by_name(setup.family).build_tiny(text_hidden=32))
    adapter = save_lm_adapter(other.causal_lm(), setup.root / "adapter_other_shape", seed=2)
    out = setup.root / "err_shape"
    line = one_error_line(merge("--adapter", adapter, "--base", setup.model, "--output", out))
    assert str(adapter) in line and "shapes differ" in line and "in the model" in line
    assert_nothing_written(out)


def test_existing_output_needs_overwrite(setup: Setup) -> None:
    out = setup.root / "err_existing"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    line = one_error_line(merge("--adapter", setup.lm_adapter, "--base", setup.model, "--output", out))
    assert "--overwrite" in line
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    result = merge(
        "--adapter", setup.lm_adapter, "--base", setup.model, "--output", out, "--overwrite", "--no-verify"
    )
    assert result.exit_code == 0, result.output
    assert not (out / "keep.txt").exists() and (out / "model.safetensors").is_file()


def test_missing_adapter_dir(setup: Setup) -> None:
    out = setup.root / "err_missing"
    line = one_error_line(merge("--adapter", setup.root / "nope", "--base", setup.model, "--output", out))
    assert "nope: adapter directory not found" in line
    assert_nothing_written(out)


def test_failed_verification_writes_nothing(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(merging.RELATIVE_TOLERANCE, "float32", -1.0)
    out = setup.root / "err_verify"
    settings = MergeSettings(adapter=setup.lm_adapter, base=str(setup.model), output=out)
    with pytest.raises(UserError, match="nothing written"):
        merging.run_merge(settings)
    assert_nothing_written(out)


def test_dtype_override_is_written(setup: Setup) -> None:
    from safetensors import safe_open

    out = setup.root / "merged_bf16"
    result = merge(
        "--adapter", setup.lm_adapter, "--base", setup.model, "--output", out, "--dtype", "bf16", "--json"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["verification"]["dtype"] == "bfloat16"
    with safe_open(str(out / "model.safetensors"), framework="pt") as fh:
        q_proj = next(k for k in fh.keys() if k.endswith("layers.0.self_attn.q_proj.weight"))
        assert fh.get_tensor(q_proj).dtype == torch.bfloat16


def test_merge_happens_in_place_on_the_one_copy(setup: Setup) -> None:
    """No second copy of the base: the merged weights live in the storage the base loaded into."""
    base = merging.load_base(str(setup.model), merging.read_base_config(str(setup.model)), "keep")
    q_proj = base.language_model().model.layers[0].self_attn.q_proj
    storage, before = q_proj.weight.data_ptr(), q_proj.weight.detach().clone()
    n_params = sum(p.numel() for p in base.model.parameters())
    wrapper = merging.attach(base, "causal_lm", setup.lm_adapter)
    check = merging.merge_in_place(base, wrapper, verify=True)
    assert check is not None and check.passed
    merged = base.language_model().model.layers[0].self_attn.q_proj
    assert type(merged) is torch.nn.Linear and merged.weight.data_ptr() == storage
    assert not torch.equal(merged.weight, before)
    assert sum(p.numel() for p in base.model.parameters()) == n_params


def test_eval_with_adapter_generates(setup: Setup) -> None:
    loaded = load_vlm_for_eval(setup.model, adapter=setup.vlm_adapter, dtype="fp32")
    assert type(loaded.model).__name__.endswith("ForConditionalGeneration")
    inputs = loaded.family.generation_inputs([merging.probe_image()], ["Is there a red circle in the image?"])
    ids = loaded.model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert ids.shape[1] > inputs["input_ids"].shape[1]


def test_merge_loads_a_checkpoint_without_image_token_index(demo_data, tmp_path):
    """The merge loads the VLM through the same path as train and eval (image token fixed up)."""
    from hadpo_cli.models.families.instructblip import InstructBlipFamily
    from hadpo_cli.models.merging import run_merge
    from hadpo_cli.models.tiny import build_tiny_tokenizers
    from hadpo_cli.settings.merge import MergeSettings
    from hadpo_cli.settings.train import TrainSettings
    from hadpo_cli.training.run import run_train

    model, processor = InstructBlipFamily.build_tiny()
    llm_tok, _ = build_tiny_tokenizers()
    model.resize_token_embeddings(len(llm_tok))
    model.config.image_token_index = None
    base = tmp_path / "old-base"
    model.save_pretrained(base)
    processor.save_pretrained(base)
    llm_tok.save_pretrained(base)
    run_train(TrainSettings(model=str(base), pope_data=demo_data.pope_data, vg_path=demo_data.vg,
                            output_dir=tmp_path / "ad", max_steps=1, learning_rate=1e-2, lora_r=4,
                            gradient_accumulation_steps=1))  # fmt: skip
    report = run_merge(MergeSettings(adapter=tmp_path / "ad", base=str(base), output=tmp_path / "merged"))
    assert report["verification"]["passed"]


def test_a_non_finite_adapter_is_refused_for_merge_and_eval(setup: Setup) -> None:
    from safetensors.torch import load_file, save_file

    adapter = setup.root / "adapter_nan"
    shutil.copytree(setup.vlm_adapter, adapter, dirs_exist_ok=True)
    weights = load_file(adapter / "adapter_model.safetensors")
    first = next(k for k in weights if "lora_B" in k)
    weights[first][0, 0] = float("nan")
    save_file(weights, adapter / "adapter_model.safetensors")
    out = setup.root / "err_nan"
    line = one_error_line(merge("--adapter", adapter, "--base", setup.model, "--output", out))
    assert str(adapter) in line and "non-finite weights" in line
    assert_nothing_written(out)
    with pytest.raises(UserError, match="non-finite weights"):
        load_vlm_for_eval(setup.model, adapter=adapter)


def test_an_output_under_a_file_is_refused_before_the_base_loads(setup: Setup, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    line = one_error_line(
        merge("--adapter", setup.vlm_adapter, "--base", setup.model, "--output", blocker / "m")
    )
    assert "is a file, so nothing can be created under it" in line
