"""`hadpo train` end to end on each family's tiny random model (offline, CPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from hadpo_cli.__main__ import app

pytestmark = pytest.mark.integration


def settings_for(tiny_model_dir, demo_data, out: Path, **over):
    from hadpo_cli.settings.train import TrainSettings

    values = dict(
        model=str(tiny_model_dir),
        pope_data=demo_data.pope_data,
        desc_data=demo_data.desc_data,
        vg_path=demo_data.vg,
        output_dir=out,
        max_steps=4,
        learning_rate=1e-2,
        gradient_accumulation_steps=1,
        per_device_train_batch_size=2,
        logging_steps=1,
        save_steps=100,
        lora_r=8,
    )
    values.update(over)
    return TrainSettings(**values)


@pytest.fixture(scope="module")
def parts(tiny_model_dir, demo_data):
    """A LoRA-wrapped tiny model, its DPOModel and a collated batch of 3 pairs."""
    from hadpo_cli.data.preference import load_preference_pairs
    from hadpo_cli.models.loading import load_vlm
    from hadpo_cli.training.collator import PairCollator
    from hadpo_cli.training.dpo_model import DPOModel
    from hadpo_cli.training.run import apply_lora, resolve_recipe

    pairs = load_preference_pairs(demo_data.pope_data, demo_data.desc_data, demo_data.vg)
    loaded = load_vlm(tiny_model_dir)
    settings = resolve_recipe(settings_for(tiny_model_dir, demo_data, Path("unused")))
    peft_model = apply_lora(loaded.model, loaded.family, settings)
    model = DPOModel(peft_model, loaded.family).eval()
    batch = PairCollator(loaded.family, pairs)([{"index": i} for i in (0, len(pairs) // 2, len(pairs) - 1)])
    return loaded, model, batch


def test_only_language_model_lora_is_trainable(parts):
    loaded, model, _ = parts
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("language_model" in n and "lora_" in n for n in trainable)
    assert {n.split(".")[-4] for n in trainable} == set(type(loaded.family).train_recipe["lora_target"])


def test_reference_shares_the_policy_weights(parts):
    loaded, model, _ = parts
    base_storages = {p.untyped_storage().data_ptr() for n, p in model.named_parameters() if "lora_" not in n}
    n_base = sum(1 for n, _ in model.named_parameters() if "lora_" not in n)
    # One copy: every non-LoRA parameter has its own single storage, nothing duplicated.
    assert len(base_storages) == n_base
    total = sum(p.numel() for p in model.parameters())
    lora = sum(p.numel() for n, p in model.named_parameters() if "lora_" in n)
    plain = sum(p.numel() for p in loaded.model.parameters()) - lora
    assert total - lora == plain


def test_reference_is_the_policy_with_the_adapter_off_not_a_copy(parts, monkeypatch):
    import copy

    _, model, batch = parts
    b_weights = [p for n, p in model.named_parameters() if "lora_B" in n]
    with torch.no_grad():
        for p in b_weights:
            p.normal_(0, 0.5)  # a trained adapter: policy and reference now differ
    try:

        def no_copies(*args, **kwargs):
            raise AssertionError("the reference must not be a copy of the model")

        monkeypatch.setattr(copy, "deepcopy", no_copies)
        with torch.no_grad():
            out = model(**batch)
            img = model.image_embeddings(batch)
            with model.peft_model.disable_adapter():
                base, _ = model.sequence_logps(
                    torch.cat([img, img]),
                    batch["text_ids"],
                    batch["text_attention_mask"],
                    batch["answer_mask"],
                )
        n = batch["answer_mask"].shape[0] // 2
        torch.testing.assert_close(out["ref_chosen_logps"], base[:n])
        torch.testing.assert_close(out["ref_rejected_logps"], base[n:])
        assert not torch.allclose(out["policy_chosen_logps"], out["ref_chosen_logps"])
    finally:
        with torch.no_grad():
            for p in b_weights:
                p.zero_()


def test_answer_logps_match_the_full_hf_forward(parts):
    """Our sequence assembly (image embeddings at the family's placeholders, prompt, answer+EOS)
    and the sparse head give the same numbers as the model's own forward on full logits."""
    from hadpo_cli.training.logps import full_logits_logps

    loaded, model, batch = parts
    text_keys = {"text_ids", "text_attention_mask", "answer_mask", "index"}
    image_inputs = {k: v.repeat(2, *[1] * (v.dim() - 1)) for k, v in batch.items() if k not in text_keys}
    with torch.no_grad():
        out = model(**batch)
        n = batch["answer_mask"].shape[0] // 2
        with model.peft_model.disable_adapter():
            logits = model.peft_model(
                input_ids=batch["text_ids"], attention_mask=batch["text_attention_mask"], **image_inputs
            ).logits
        full, _ = full_logits_logps(logits, batch["text_ids"], batch["answer_mask"])
    torch.testing.assert_close(out["ref_chosen_logps"], full[:n], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out["ref_rejected_logps"], full[n:], rtol=1e-4, atol=1e-4)


def test_vision_runs_once_per_pair_and_lm_once_per_role(parts):
    loaded, model, batch = parts
    vision_calls, lm_calls = [], []
    vlm = model.peft_model.base_model.model
    fam = loaded.family
    h1 = fam.image_modules(vlm)[0].register_forward_hook(lambda m, i, o: vision_calls.append(1))
    h2 = fam.decoder(vlm).register_forward_hook(lambda m, i, o: lm_calls.append(o[0].shape[0]))
    try:
        model(**batch)
        assert vision_calls == [1]
        # policy then reference, each one forward over chosen+rejected stacked
        assert lm_calls == [6, 6]
        vision_calls.clear(), lm_calls.clear()
        model(**batch, ref_chosen_logps=torch.zeros(3), ref_rejected_logps=torch.zeros(3))
        assert vision_calls == [1] and lm_calls == [6]
    finally:
        h1.remove(), h2.remove()


def test_policy_equals_reference_until_trained_even_in_train_mode(parts):
    _, model, batch = parts
    with torch.no_grad():
        evaluated = model.eval()(**batch)
        trained = model.train()(**batch)
    model.eval()
    # LoRA B starts at zero, and the frozen image side has no dropout in train mode.
    torch.testing.assert_close(trained["policy_chosen_logps"], trained["ref_chosen_logps"])
    torch.testing.assert_close(trained["ref_chosen_logps"], evaluated["ref_chosen_logps"])


def _log_history(out: Path) -> list[dict]:
    state = json.loads((out / "trainer_state.json").read_text())
    return [h for h in state["log_history"] if "loss" in h and "rewards/accuracies" in h]


def test_train_cli_writes_adapter_state_and_settings(tiny_model_dir, demo_data, tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "train", "--model", str(tiny_model_dir), "--pope-data", str(demo_data.pope_data),
            "--desc-data", str(demo_data.desc_data), "--vg-path", str(demo_data.vg), "--output-dir", str(out),
            "--max-steps", "2", "--logging-steps", "1", "--learning-rate", "1e-2", "--lora-r", "8",
            "--gradient-accumulation-steps", "1", "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["global_step"] == 2
    cfg = json.loads((out / "adapter_config.json").read_text())
    assert cfg["r"] == 8 and cfg["peft_type"] == "LORA"
    keys = load_file(out / "adapter_model.safetensors").keys()
    assert any(k.startswith("base_model.model.") and ".language_model." in f".{k[17:]}" for k in keys)
    logs = _log_history(out)
    for key in ("loss", "rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins",
                "logps/chosen", "logps/rejected"):  # fmt: skip
        assert key in logs[0]
    assert json.loads((out / "settings.json").read_text())["lora_r"] == 8


def test_every_trainable_parameter_changes(tiny_model_dir, demo_data, tmp_path):
    from transformers import TrainerCallback

    from hadpo_cli.training.run import run_train

    seen: dict[str, dict[str, torch.Tensor]] = {}

    class Snapshot(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            seen["before"] = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}

        def on_train_end(self, args, state, control, model=None, **kwargs):
            seen["after"] = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}

    run_train(settings_for(tiny_model_dir, demo_data, tmp_path / "a", max_steps=3), callbacks=[Snapshot()])
    assert seen["before"].keys() == seen["after"].keys() and seen["before"]
    for name, before in seen["before"].items():  # LoRA A and B alike
        assert not torch.equal(before, seen["after"][name]), name


def test_forty_steps_loss_falls_and_accuracy_rises(tiny_model_dir, demo_data, tmp_path):
    from hadpo_cli.training.run import run_train

    run_train(
        settings_for(
            tiny_model_dir, demo_data, tmp_path / "long", max_steps=40, per_device_train_batch_size=4,
            lr_scheduler_type="constant", lora_alpha=16, lora_target=["q_proj", "k_proj", "v_proj"],
        )
    )  # fmt: skip
    logs = _log_history(tmp_path / "long")
    assert len(logs) == 40

    def mean(key, part):
        return sum(h[key] for h in part) / len(part)

    assert mean("loss", logs[-10:]) < mean("loss", logs[:10])
    assert mean("rewards/accuracies", logs[-10:]) > mean("rewards/accuracies", logs[:10])


class _StopAt:
    """A Trainer callback that ends the run early, as a crash would (after the checkpoint)."""

    def __new__(cls, step: int):
        from transformers import TrainerCallback

        class Stop(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                if state.global_step >= step:
                    control.should_training_stop = True
                return control

        return Stop()


def test_interrupted_then_resumed_run_ends_with_the_same_adapter(tiny_model_dir, demo_data, tmp_path):
    from hadpo_cli.training.run import run_train

    common = dict(max_steps=6, save_steps=3, gradient_accumulation_steps=2)
    run_train(settings_for(tiny_model_dir, demo_data, tmp_path / "full", **common))
    run_train(settings_for(tiny_model_dir, demo_data, tmp_path / "cut", **common), callbacks=[_StopAt(3)])
    assert (tmp_path / "cut" / "checkpoint-3").is_dir()
    resumed = run_train(
        settings_for(tiny_model_dir, demo_data, tmp_path / "cut", resume_from_checkpoint="latest", **common)
    )
    assert resumed.global_step == 6
    a = load_file(tmp_path / "full" / "adapter_model.safetensors")
    b = load_file(tmp_path / "cut" / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
    # and the loss after resuming equals the loss without it
    full_logs = {h["step"]: h["loss"] for h in _log_history(tmp_path / "full")}
    cut_logs = {h["step"]: h["loss"] for h in _log_history(tmp_path / "cut")}
    assert cut_logs[6] == pytest.approx(full_logs[6], rel=1e-5)


def test_precomputed_reference_matches_inline_and_is_reused(tiny_model_dir, demo_data, tmp_path, monkeypatch):
    from hadpo_cli.training import dpo_model
    from hadpo_cli.training.run import run_train

    inline = run_train(settings_for(tiny_model_dir, demo_data, tmp_path / "inline", max_steps=2))
    pre = run_train(
        settings_for(tiny_model_dir, demo_data, tmp_path / "pre", max_steps=2, precompute_ref_logps=True)
    )
    assert pre.reference == "precomputed"
    assert (tmp_path / "pre" / "ref_logps.json").is_file()
    first = lambda r: [h for h in r.log_history if "loss" in h][0]["loss"]  # noqa: E731
    assert first(pre) == pytest.approx(first(inline), rel=1e-4)

    # A rerun on the same data and model reads the file and never runs a reference forward.
    def boom(*a, **k):
        raise AssertionError("reference forward ran although log-probs were precomputed")

    monkeypatch.setattr(dpo_model.DPOModel, "reference_logps", boom)
    again = run_train(
        settings_for(
            tiny_model_dir,
            demo_data,
            tmp_path / "pre",
            max_steps=2,
            precompute_ref_logps=True,
            overwrite=True,
        )
    )
    assert again.reference == "precomputed (reused)"


def test_missing_image_fails_before_loading_the_model(tiny_model_dir, demo_data, tmp_path):
    import shutil

    vg = tmp_path / "vg"
    shutil.copytree(demo_data.vg, vg)
    victims = sorted((vg / "VG_100K").iterdir())[:3]
    for v in victims:
        v.unlink()
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["train", "--model", "/nonexistent/model", "--pope-data", str(demo_data.pope_data),
         "--desc-data", str(demo_data.desc_data), "--vg-path", str(vg), "--output-dir", str(out)],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "missing" in result.output and victims[0].name in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_two_process_torchrun(tiny_model_dir, demo_data, tmp_path):
    out = tmp_path / "ddp"
    torchrun = Path(sys.executable).parent / "torchrun"
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    cmd = [
        str(torchrun), "--nproc_per_node", "2", "--master_port", "29517", "-m", "hadpo_cli", "train",
        "--model", str(tiny_model_dir), "--pope-data", str(demo_data.pope_data), "--vg-path", str(demo_data.vg),
        "--output-dir", str(out), "--num-train-epochs", "1", "--per-device-train-batch-size", "2",
        "--gradient-accumulation-steps", "1", "--learning-rate", "1e-2", "--logging-steps", "1",
        "--lora-r", "8", "--precompute-ref-logps", "--json",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 process(es)" in proc.stderr
    assert json.loads(proc.stdout)["global_step"] > 0  # one JSON document: only the main process prints
    from hadpo_cli.data.preference import load_preference_pairs

    repeat = json.loads((out / "settings.json").read_text())["pope_repeat"]  # the family's recipe
    n_pairs = len(load_preference_pairs(demo_data.pope_data, None, demo_data.vg, pope_repeat=repeat))
    state = json.loads((out / "trainer_state.json").read_text())
    # Each step consumes 2 processes x 2 pairs: the data really is split.
    assert state["global_step"] == -(-n_pairs // 4)
    assert (out / "adapter_model.safetensors").is_file()
    assert len(json.loads((out / "ref_logps.json").read_text())["values"]) == n_pairs


def test_augmented_views_are_fixed_per_pair_and_shared_by_repeats(parts, demo_data):
    from hadpo_cli.data.preference import load_preference_pairs
    from hadpo_cli.training.collator import PairCollator

    loaded, _, _ = parts
    pairs = load_preference_pairs(demo_data.pope_data, None, demo_data.vg)  # POPE set twice (2:1 mix)
    half = len(pairs) // 2
    assert pairs[0] == pairs[half]
    aug = PairCollator(loaded.family, pairs, augment=True, seed=42)
    plain = PairCollator(loaded.family, pairs)
    a = aug([{"index": 0}, {"index": half}])["pixel_values"]
    b = aug([{"index": 0}, {"index": half}])["pixel_values"]
    assert torch.equal(a, b) and torch.equal(a[0], a[1])  # same pair, same view, every time
    assert not torch.equal(a[0], plain([{"index": 0}])["pixel_values"][0])
    other_seed = PairCollator(loaded.family, pairs, augment=True, seed=7)([{"index": 0}])["pixel_values"][0]
    assert not torch.equal(a[0], other_seed)


def test_checkpoint_without_image_token_index_still_loads(tmp_path):
    """Older conversions of InstructBLIP have no <image> placeholder: the processor adds it."""
    from transformers import InstructBlipForConditionalGeneration, InstructBlipProcessor

    from hadpo_cli.models.families.instructblip import InstructBlipFamily
    from hadpo_cli.models.loading import load_vlm
    from hadpo_cli.models.tiny import build_tiny_tokenizers

    model, processor = InstructBlipFamily.build_tiny()
    llm_tok, _ = build_tiny_tokenizers()  # a tokenizer that never saw <image>
    model.resize_token_embeddings(len(llm_tok))
    model.config.image_token_index = None
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    llm_tok.save_pretrained(tmp_path)  # overwrite the LLM tokenizer with the <image>-less one
    assert InstructBlipForConditionalGeneration.from_pretrained(tmp_path).config.image_token_index is None
    assert "<image>" not in llm_tok.get_vocab()

    loaded = load_vlm(tmp_path)
    image_id = loaded.model.config.image_token_index
    assert image_id == loaded.processor.tokenizer.convert_tokens_to_ids("<image>")
    assert loaded.model.get_input_embeddings().num_embeddings > image_id
    assert isinstance(InstructBlipProcessor.from_pretrained(tmp_path), InstructBlipProcessor)

    from PIL import Image

    from hadpo_cli.evaluation.generation import GenerationOptions, VLMGenerator

    answers = VLMGenerator(loaded, GenerationOptions(num_beams=1, max_new_tokens=3))(
        [Image.new("RGB", (32, 32))], ["Is it red?"]
    )
    assert len(answers) == 1


def _cli_train(tiny_model_dir, demo_data, out, *extra):
    return CliRunner().invoke(
        app,
        ["train", "--model", str(tiny_model_dir), "--pope-data", str(demo_data.pope_data),
         "--vg-path", str(demo_data.vg), "--output-dir", str(out), "--learning-rate", "1e-2",
         "--lora-r", "8", "--gradient-accumulation-steps", "1", "--logging-steps", "1", *extra],
    )  # fmt: skip


def test_rerun_of_a_finished_run_trains_nothing(tiny_model_dir, demo_data, tmp_path):
    out = tmp_path / "done"
    assert _cli_train(tiny_model_dir, demo_data, out, "--max-steps", "4", "--save-steps", "2").exit_code == 0
    before = (out / "adapter_model.safetensors").read_bytes()
    again = _cli_train(
        tiny_model_dir,
        demo_data,
        out,
        "--max-steps",
        "4",
        "--save-steps",
        "2",
        "--resume-from-checkpoint",
        "latest",
    )
    assert again.exit_code == 0, again.output
    assert "nothing left to train" in again.output
    assert not (out / "checkpoint-5").exists()
    assert (out / "adapter_model.safetensors").read_bytes() == before


@pytest.mark.parametrize(
    "change, message",
    [(["--lora-r", "16"], "LoRA r 8"), (["--seed", "7"], "--seed was 42")],
)
def test_resume_with_incompatible_settings_is_refused_before_loading(
    tiny_model_dir, demo_data, tmp_path, change, message
):
    out = tmp_path / "r"
    assert _cli_train(tiny_model_dir, demo_data, out, "--max-steps", "4", "--save-steps", "2").exit_code == 0
    args = ["--max-steps", "6", "--save-steps", "2", "--resume-from-checkpoint", "latest"]
    result = _cli_train(tiny_model_dir, demo_data, out, *args, *change)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_resume_from_an_output_dir_without_optimizer_is_refused(tiny_model_dir, demo_data, tmp_path):
    out = tmp_path / "o"
    assert _cli_train(tiny_model_dir, demo_data, out, "--max-steps", "2").exit_code == 0
    result = _cli_train(tiny_model_dir, demo_data, tmp_path / "o2", "--resume-from-checkpoint", str(out))
    assert result.exit_code == 2 and "no optimizer state" in result.output


@pytest.mark.parametrize(
    "args, message",
    [(["--report-to", "bogus"], "--report-to bogus: unknown"), (["--lr-scheduler-type", "bogus"], "bogus"),
     (["--max-steps", "0"], "--max-steps")],
)  # fmt: skip
def test_bad_trainer_settings_fail_before_the_model_loads(
    tiny_model_dir, demo_data, tmp_path, monkeypatch, args, message
):
    def no_model(*a, **kw):
        raise AssertionError("the model must not load before the trainer settings are checked")

    # Only the config (kilobytes, for the family's recipe) may be read; the weights must not be.
    monkeypatch.setattr("hadpo_cli.models.loading.load_vlm", no_model)
    result = _cli_train(tiny_model_dir, demo_data, tmp_path / "x", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_reference_file_is_not_reused_for_changed_weights(demo_data, tmp_path):
    import os as _os

    from hadpo_cli.models.families.instructblip import InstructBlipFamily
    from hadpo_cli.training.run import run_train

    model = InstructBlipFamily.save_tiny(tmp_path / "m", seed=1)
    first = run_train(
        settings_for(model, demo_data, tmp_path / "run", max_steps=1, precompute_ref_logps=True)
    )
    assert first.reference == "precomputed"
    InstructBlipFamily.save_tiny(model, seed=2)  # other weights at the same path
    weights = model / "model.safetensors"
    _os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    second = run_train(
        settings_for(
            model, demo_data, tmp_path / "run", max_steps=1, precompute_ref_logps=True, overwrite=True
        )
    )
    assert second.reference == "precomputed"


def test_unreadable_image_in_a_loader_worker_is_one_line(tiny_model_dir, demo_data, tmp_path):
    import shutil

    vg = tmp_path / "vg"
    shutil.copytree(demo_data.vg, vg)
    for image in (vg / "VG_100K").iterdir():
        image.write_bytes(b"not a jpeg")  # present (passes the up-front check) but unreadable
    result = CliRunner().invoke(
        app,
        ["train", "--model", str(tiny_model_dir), "--pope-data", str(demo_data.pope_data), "--vg-path", str(vg),
         "--output-dir", str(tmp_path / "out"), "--max-steps", "1", "--dataloader-num-workers", "1"],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    error_lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "VG_100K" in error_lines[0]
    assert "Traceback" not in result.output and "DataLoader worker" not in result.output


def test_latest_skips_a_checkpoint_cut_by_a_kill_and_paths_compare_resolved(
    tiny_model_dir, demo_data, tmp_path, monkeypatch
):
    import shutil

    out = tmp_path / "k"
    assert _cli_train(tiny_model_dir, demo_data, out, "--max-steps", "6", "--save-steps", "2").exit_code == 0
    # a save of step 8 that was killed before trainer_state.json was written
    cut = out / "checkpoint-8"
    cut.mkdir()
    shutil.copy2(out / "checkpoint-6" / "adapter_model.safetensors", cut / "adapter_model.safetensors")
    # the same model named by a relative path
    monkeypatch.chdir(tiny_model_dir.parent)
    result = _cli_train(
        Path(tiny_model_dir.name), demo_data, out, "--max-steps", "8", "--save-steps", "2",
        "--resume-from-checkpoint", "latest",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "skipping" in result.output and "checkpoint-8" in result.output
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 8


def test_more_epochs_on_resume_continue_training(tiny_model_dir, demo_data, tmp_path):
    from hadpo_cli.data.preference import load_preference_pairs

    out = tmp_path / "e"
    n = len(load_preference_pairs(demo_data.pope_data, None, demo_data.vg))
    steps_per_epoch = -(-n // 8)
    base = ["--per-device-train-batch-size", "8", "--save-steps", str(steps_per_epoch), "--pope-repeat", "2"]
    assert _cli_train(tiny_model_dir, demo_data, out, *base, "--num-train-epochs", "1").exit_code == 0
    again = _cli_train(
        tiny_model_dir, demo_data, out, *base, "--num-train-epochs", "2", "--resume-from-checkpoint", "latest"
    )
    assert again.exit_code == 0, again.output
    assert "nothing left to train" not in again.output
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 2 * steps_per_epoch


def test_a_diverging_run_stops_with_one_line_and_saves_no_adapter(tiny_model_dir, demo_data, tmp_path):
    out = tmp_path / "diverged"
    result = _cli_train(tiny_model_dir, demo_data, out, "--learning-rate", "1e30", "--max-steps", "4",
                        "--lora-r", "4")  # fmt: skip
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "training stopped at step" in errors[0] and "1e+30" in errors[0]
    assert not (out / "adapter_model.safetensors").exists()


def test_a_new_run_into_a_finished_runs_directory_needs_overwrite(tiny_model_dir, demo_data, tmp_path):
    out = tmp_path / "twice"
    args = ["--max-steps", "2", "--save-steps", "1", "--precompute-ref-logps"]
    assert _cli_train(tiny_model_dir, demo_data, out, *args).exit_code == 0
    assert (out / "checkpoint-1").is_dir()
    again = _cli_train(tiny_model_dir, demo_data, out, *args)
    assert again.exit_code == 2
    errors = [line for line in again.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "holds a training run" in errors[0] and "--overwrite" in errors[0]
    replaced = _cli_train(tiny_model_dir, demo_data, out, "--max-steps", "1", "--save-steps", "1",
                          "--precompute-ref-logps", "--overwrite", "--json")  # fmt: skip
    assert replaced.exit_code == 0, replaced.output
    # The old run's checkpoints are gone (a later `latest` finds this run's), the reference file stays.
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-1"]
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 1
    assert json.loads(replaced.stdout)["reference"] == "precomputed (reused)"
