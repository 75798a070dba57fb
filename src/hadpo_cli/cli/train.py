"""``hadpo train``: flags (or a YAML --config) -> TrainSettings -> training.run.run_train."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

import typer

from hadpo_cli.cli.common import field_default as d
from hadpo_cli.cli.common import guarded, merge_with_config, settings_option
from hadpo_cli.settings.train import TrainSettings as T

_opt = functools.partial(settings_option, T)


@guarded
def command(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option(help="YAML file of settings; flags given here win.")] = None,
    model: Annotated[str, _opt("model")] = d(T, "model"),
    pope_data: Annotated[Path | None, _opt("pope_data")] = None,
    desc_data: Annotated[Path | None, _opt("desc_data")] = None,
    vg_path: Annotated[Path | None, _opt("vg_path")] = None,
    output_dir: Annotated[Path | None, _opt("output_dir")] = None,
    dtype: Annotated[str, _opt("dtype")] = d(T, "dtype"),
    precision: Annotated[str, _opt("precision")] = d(T, "precision"),
    lora_target: Annotated[str | None, _opt("lora_target")] = None,
    lora_r: Annotated[int | None, _opt("lora_r")] = None,
    lora_alpha: Annotated[float | None, _opt("lora_alpha")] = None,
    lora_dropout: Annotated[float | None, _opt("lora_dropout")] = None,
    pope_repeat: Annotated[int | None, _opt("pope_repeat")] = None,
    desc_repeat: Annotated[int | None, _opt("desc_repeat")] = None,
    desc_whitespace: Annotated[str | None, _opt("desc_whitespace")] = None,
    desc_prompt_stream: Annotated[str | None, _opt("desc_prompt_stream")] = None,
    image_augment: Annotated[str | None, _opt("image_augment")] = None,
    max_length: Annotated[int | None, _opt("max_length")] = None,
    beta: Annotated[float, _opt("beta")] = d(T, "beta"),
    loss_type: Annotated[str, _opt("loss_type")] = d(T, "loss_type"),
    sft_weight: Annotated[float, _opt("sft_weight")] = d(T, "sft_weight"),
    disable_dropout: Annotated[bool, _opt("disable_dropout", "--disable-dropout/--keep-dropout")] = d(
        T, "disable_dropout"
    ),
    precompute_ref_logps: Annotated[bool, _opt("precompute_ref_logps")] = d(T, "precompute_ref_logps"),
    learning_rate: Annotated[float | None, _opt("learning_rate")] = None,
    num_train_epochs: Annotated[float, _opt("num_train_epochs")] = d(T, "num_train_epochs"),
    max_steps: Annotated[int, _opt("max_steps")] = d(T, "max_steps"),
    per_device_train_batch_size: Annotated[int | None, _opt("per_device_train_batch_size")] = None,
    gradient_accumulation_steps: Annotated[int | None, _opt("gradient_accumulation_steps")] = None,
    global_batch_size: Annotated[int | None, _opt("global_batch_size")] = None,
    warmup_steps: Annotated[float | None, _opt("warmup_steps")] = None,
    lr_scheduler_type: Annotated[str, _opt("lr_scheduler_type")] = d(T, "lr_scheduler_type"),
    weight_decay: Annotated[float | None, _opt("weight_decay")] = None,
    max_grad_norm: Annotated[float, _opt("max_grad_norm")] = d(T, "max_grad_norm"),
    seed: Annotated[int, _opt("seed")] = d(T, "seed"),
    gradient_checkpointing: Annotated[
        bool, _opt("gradient_checkpointing", "--gradient-checkpointing/--no-gradient-checkpointing")
    ] = d(T, "gradient_checkpointing"),
    logging_steps: Annotated[int, _opt("logging_steps")] = d(T, "logging_steps"),
    save_steps: Annotated[int, _opt("save_steps")] = d(T, "save_steps"),
    save_total_limit: Annotated[int | None, _opt("save_total_limit")] = None,
    run_name: Annotated[str | None, _opt("run_name")] = None,
    report_to: Annotated[str, _opt("report_to")] = d(T, "report_to"),
    dataloader_num_workers: Annotated[int, _opt("dataloader_num_workers")] = d(T, "dataloader_num_workers"),
    resume_from_checkpoint: Annotated[str | None, _opt("resume_from_checkpoint")] = None,
    overwrite: Annotated[bool, _opt("overwrite")] = d(T, "overwrite"),
    json_out: Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.")] = False,
) -> None:
    """Train a LoRA adapter with the HA-DPO loss on preference pairs."""
    values = {k: v for k, v in locals().items() if k not in ("ctx", "config", "json_out")}
    # Unset optional flags must not mask values coming from --config.
    values = {k: v for k, v in values.items() if v is not None}
    merged, sources = merge_with_config(ctx, values, config)
    settings = T.build(merged, sources=sources)

    from hadpo_cli.console import print_json
    from hadpo_cli.training.run import run_train, summarize

    result = run_train(settings)
    if not result.is_main:
        return  # under torchrun / accelerate launch only the main process reports
    summary = summarize(result)
    if json_out:
        print_json(summary)
    else:
        from hadpo_cli.console import err

        err.print(f"adapter written to {result.output_dir} after {result.global_step} steps")
