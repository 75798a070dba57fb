"""Precomputed reference log-probs must equal the policy's own at step 0.

Before the first optimizer step the policy *is* the reference (LoRA B starts at zero), so the
implicit rewards beta * (policy - reference) of the first logged step must be exactly zero. A
precompute pass that ran in another precision, autocast state or padding than the training
forward would show up here as small non-zero rewards on every pair, i.e. a biased loss.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.integration

REWARDS = ("rewards/chosen", "rewards/rejected", "rewards/margins")


def _uneven_pope(demo_data, folder: Path) -> Path:
    """The demo POPE pairs with every other answer made five times longer: batching neighbours
    together would then pad short answers to long ones, which training with one pair per forward
    never does (a precompute pass batched differently shows up as non-zero rewards)."""
    items = json.loads(Path(demo_data.pope_data).read_text())
    tail = " The rest of the picture is plain white, with nothing else in it." * 4
    for item in items[1::2]:
        item["chosen"] += tail
        item["rejected"] += tail
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pope_uneven.json"
    path.write_text(json.dumps(items))
    return path


def _settings(tiny_model_dir, demo_data, out: Path, **over):
    from hadpo_cli.settings.train import TrainSettings

    values = dict(
        model=str(tiny_model_dir),
        pope_data=_uneven_pope(demo_data, out.parent / "data"),
        desc_data=demo_data.desc_data,
        vg_path=demo_data.vg,
        output_dir=out,
        lora_r=8,
        max_steps=2,
        # Rewards are stored in compute_loss, i.e. by the forwards *before* the step's optimizer
        # update, and logged after it: with a log every step, the first log averages exactly the
        # forwards of step 1 (8 pairs here, all before any update). A large rate makes the
        # second log differ.
        logging_steps=1,
        gradient_accumulation_steps=8,
        # One pair per forward, as the published recipe: the precompute pass then pads exactly
        # as training does (bf16 attention kernels round differently at other padded lengths).
        per_device_train_batch_size=1,
        learning_rate=1e-2,
        lr_scheduler_type="constant",
        precompute_ref_logps=True,
        save_steps=100,
    )
    values.update(over)
    return TrainSettings(**values)


@pytest.mark.parametrize(
    ("dtype", "autocast"), [("fp32", None), ("bf16", torch.bfloat16)], ids=["fp32", "bf16-autocast"]
)
def test_first_logged_rewards_are_exactly_zero(
    tiny_model_dir, demo_data, tmp_path, monkeypatch, dtype, autocast
):
    from hadpo_cli.training import dpo_model
    from hadpo_cli.training.run import run_train

    seen: dict[str, set[torch.dtype | None]] = {"train": set(), "precompute": set()}

    def autocast_state() -> torch.dtype | None:
        return torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None

    def spy(original, where):
        def wrapped(self, *args, **kwargs):
            if where == "precompute" or self.training:  # forward also runs in no other place
                seen[where].add(autocast_state())
            return original(self, *args, **kwargs)

        return wrapped

    monkeypatch.setattr(dpo_model.DPOModel, "forward", spy(dpo_model.DPOModel.forward, "train"))
    monkeypatch.setattr(
        dpo_model.DPOModel,
        "reference_for_batch",
        spy(dpo_model.DPOModel.reference_for_batch, "precompute"),
    )
    result = run_train(_settings(tiny_model_dir, demo_data, tmp_path / dtype, dtype=dtype))
    assert result.reference == "precomputed"
    # The precision the test claims to cover, the same in the precompute pass as in training.
    assert seen == {"train": {autocast}, "precompute": {autocast}}

    logs = [h for h in result.log_history if "rewards/chosen" in h]
    assert [h["step"] for h in logs] == [1, 2]
    assert {k: logs[0][k] for k in REWARDS} == dict.fromkeys(REWARDS, 0.0)
    # ...and the check can fail: after one update the policy has moved away from the reference.
    assert logs[1]["rewards/chosen"] != 0.0 or logs[1]["rewards/rejected"] != 0.0


def test_lora_weights_stay_fp32_over_an_fp16_base(tiny_model_dir, demo_data, tmp_path):
    # What makes the Trainer's fp16 mode (GradScaler) usable: fp32 master weights to step.
    from hadpo_cli.models.loading import load_vlm
    from hadpo_cli.training.precision import check_trainable_fp32
    from hadpo_cli.training.run import apply_lora, resolve_recipe

    loaded = load_vlm(tiny_model_dir, dtype="fp16")
    settings = resolve_recipe(_settings(tiny_model_dir, demo_data, tmp_path))
    peft_model = apply_lora(loaded.model, loaded.family, settings)
    trainable = [p for p in peft_model.parameters() if p.requires_grad]
    assert trainable and {p.dtype for p in trainable} == {torch.float32}
    lm = loaded.family.decoder(peft_model)
    assert {p.dtype for n, p in lm.named_parameters() if "lora_" not in n} == {torch.float16}
    check_trainable_fp32(peft_model)
