"""Mixed precision for training: bf16 autocast, fp16 only with loss scaling on a GPU."""

from __future__ import annotations

import pytest
import torch

from hadpo_cli.errors import UserError
from hadpo_cli.training.precision import check_trainable_fp32, trainer_precision


@pytest.mark.parametrize(
    ("dtype", "use_cpu", "flags"),
    [
        (torch.float16, False, {"bf16": False, "fp16": True}),  # autocast + GradScaler
        (torch.bfloat16, False, {"bf16": True, "fp16": False}),
        (torch.bfloat16, True, {"bf16": True, "fp16": False}),  # CPU autocast in bf16
        (torch.float32, False, {"bf16": False, "fp16": False}),
        (torch.float32, True, {"bf16": False, "fp16": False}),
    ],
)
def test_trainer_precision_follows_the_weights_dtype(dtype, use_cpu, flags):
    assert trainer_precision(dtype, use_cpu) == flags


def test_fp16_on_the_cpu_is_refused_with_a_pointer_to_bf16():
    with pytest.raises(UserError, match=r"^--dtype fp16: .*needs a CUDA GPU.*--dtype bf16"):
        trainer_precision(torch.float16, use_cpu=True)


def test_fp16_training_needs_fp32_trainable_weights():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2).half(), torch.nn.Linear(2, 2))
    model[0].requires_grad_(False)
    check_trainable_fp32(model)  # frozen fp16 base, fp32 trainable: what the scaler can step
    model[0].requires_grad_(True)
    with pytest.raises(RuntimeError, match=r"2 are not \(first: 0\.weight\)"):
        check_trainable_fp32(model)


def test_cpu_training_arguments_take_the_flags(tmp_path):
    # TrainingArguments accepts CPU bf16 autocast (no GPU needed to build them).
    from hadpo_cli.models.families import by_name
    from hadpo_cli.settings.train import TrainSettings, with_recipe
    from hadpo_cli.training.run import training_arguments

    base = dict(vg_path=tmp_path, output_dir=tmp_path / "o", pope_data=tmp_path / "p.json")
    recipe = by_name("instructblip").train_recipe

    def settings(dtype: str) -> TrainSettings:
        return with_recipe(TrainSettings(**base, dtype=dtype), recipe)

    assert training_arguments(settings("bf16"), use_cpu=True).bf16 is True
    args = training_arguments(settings("fp32"), use_cpu=True)
    assert (args.bf16, args.fp16) == (False, False)
    with pytest.raises(UserError, match="--dtype fp16"):
        training_arguments(settings("fp16"), use_cpu=True)
