"""``hadpo train``: load data and model, wrap LoRA, (optionally) precompute references, train, save."""

from __future__ import annotations

import contextlib
import json
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hadpo_cli.console import err
from hadpo_cli.errors import UserError, first_line
from hadpo_cli.io import atomic_write_json, check_writable
from hadpo_cli.settings.train import TrainSettings


@dataclass
class TrainResult:
    output_dir: Path
    global_step: int
    log_history: list[dict[str, Any]]
    reference: str  # "inline" or "precomputed" or "precomputed (reused)"
    is_main: bool = True  # False on the other processes of a multi-process run


def apply_lora(model: Any, family: Any, settings: TrainSettings) -> Any:
    """Freeze everything, then add LoRA to the language model's projections only."""
    from peft import LoraConfig, get_peft_model

    for p in model.parameters():
        p.requires_grad_(False)
    config = LoraConfig(
        r=settings.lora_r,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        target_modules=family.lora_target_regex(settings.lora_target),
        bias="none",
    )
    try:
        with warnings.catch_warnings():
            # peft reads transformers' deprecated `is_gradient_checkpointing`: a FutureWarning on
            # every run that is neither the user's doing nor theirs to fix.
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            peft_model = get_peft_model(model, config)
    except ValueError as exc:
        raise UserError(f"--lora-target {','.join(settings.lora_target)}: {exc}") from None
    return peft_model


def resolve_recipe(settings: TrainSettings) -> TrainSettings:
    """Unset fields from the published recipe of the model's family (read from its config)."""
    from hadpo_cli.models.loading import family_class, published_load_dtype
    from hadpo_cli.settings.train import with_recipe

    cls = family_class(settings.model)
    if settings.precision == "published":
        published_load_dtype(cls)  # a family without one fails now, not after the data is read
    return with_recipe(settings, cls.train_recipe)


def resolve_accumulation(settings: TrainSettings, num_processes: int) -> TrainSettings:
    """With --global-batch-size, the accumulation that gives it on this many processes."""
    if settings.global_batch_size is None:
        return settings
    per_step = settings.per_device_train_batch_size * num_processes
    if settings.global_batch_size % per_step:
        raise UserError(
            f"--global-batch-size {settings.global_batch_size} is not a multiple of "
            f"--per-device-train-batch-size {settings.per_device_train_batch_size} x {num_processes} process(es)"
        )
    return settings.model_copy(update={"gradient_accumulation_steps": settings.global_batch_size // per_step})


def disable_dropout(model: Any) -> None:
    """p = 0 in every dropout layer, as TRL-style DPO trainers (and the published run) do."""
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0


def check_prompts_fit(pairs: list[Any], family: Any, max_length: int) -> None:
    from hadpo_cli.training.collator import answer_budget

    n_img = family.nominal_image_tokens()
    if n_img is None:
        return  # image-token counts vary per image: the collator truncates answers per batch
    by_prompt = {pair.prompt: pair for pair in pairs}  # the repeated POPE set shares its prompts
    for prompt, pair in by_prompt.items():
        if answer_budget(max_length, len(family.prompt_ids(prompt, n_img))) < 1:
            raise UserError(
                f"--max-length {max_length}: the prompt of image {pair.image_id} ({prompt[:40]!r}...) "
                f"with its {n_img} image tokens leaves no room for an answer"
            )


def check_report_to(names: list[str]) -> None:
    """Unknown or uninstalled logging integrations fail now, not after the model has loaded."""
    from transformers.integrations.integration_utils import (
        INTEGRATION_TO_CALLBACK,
        get_available_reporting_integrations,
    )

    for name in names:
        if name in ("none", "all"):
            continue
        if name not in INTEGRATION_TO_CALLBACK:
            raise UserError(
                f"--report-to {name}: unknown (known: {', '.join(sorted(INTEGRATION_TO_CALLBACK))})"
            )
        if name not in get_available_reporting_integrations():
            raise UserError(f"--report-to {name}: the {name} package is not installed (pip install {name})")


def training_arguments(settings: TrainSettings, use_cpu: bool) -> Any:
    report_to = [r.strip() for r in settings.report_to.split(",") if r.strip()]
    check_report_to(report_to)
    from hadpo_cli.models.loading import resolve_dtype
    from hadpo_cli.training.precision import trainer_precision

    if settings.precision == "published":
        # The family's fp16 part decides the Trainer's mode: fp16 autocast with loss scaling.
        precision = trainer_precision(resolve_dtype("fp16"), use_cpu, flag="--precision published")
    else:
        precision = trainer_precision(resolve_dtype(settings.dtype), use_cpu)
    try:
        return _training_arguments(settings, use_cpu, report_to, precision)
    except (ValueError, ImportError) as exc:
        raise UserError(f"trainer settings: {first_line(exc)}") from None


def _training_arguments(
    settings: TrainSettings, use_cpu: bool, report_to: list[str], precision: dict[str, bool]
) -> Any:
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(settings.output_dir),
        learning_rate=settings.learning_rate,
        num_train_epochs=settings.num_train_epochs,
        max_steps=settings.max_steps,
        per_device_train_batch_size=settings.per_device_train_batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        warmup_steps=settings.warmup_steps,
        lr_scheduler_type=settings.lr_scheduler_type,
        weight_decay=settings.weight_decay,
        max_grad_norm=settings.max_grad_norm,
        seed=settings.seed,
        data_seed=settings.seed,
        logging_steps=settings.logging_steps,
        save_steps=settings.save_steps,
        save_strategy="steps",
        save_total_limit=settings.save_total_limit,
        run_name=settings.run_name,
        report_to=report_to or "none",
        remove_unused_columns=False,
        dataloader_num_workers=settings.dataloader_num_workers,
        use_cpu=use_cpu,
        **precision,
        disable_tqdm=False,
        ddp_find_unused_parameters=False,
        save_only_model=False,
    )


def run_train(settings: TrainSettings, *, callbacks: list[Any] | None = None) -> TrainResult:
    from accelerate import PartialState

    from hadpo_cli.data.preference import load_preference_pairs
    from hadpo_cli.training import resume as resuming

    check_writable(settings.output_dir, "--output-dir", is_dir=True)
    # The model's config (kilobytes) decides the family and so the recipe's defaults, which include
    # how the description pairs are drawn and cleaned: the data is read once, after it. When the
    # config is the problem, a data error is still the one reported first (both are a second's
    # work; neither waits for a 13B model), so the data is checked before re-raising.
    try:
        settings = resolve_recipe(settings)
    except UserError:
        load_preference_pairs(settings.pope_data, settings.desc_data, settings.vg_path, seed=settings.seed)
        raise
    pairs = load_preference_pairs(
        settings.pope_data,
        settings.desc_data,
        settings.vg_path,
        seed=settings.seed,
        pope_repeat=settings.pope_repeat,
        desc_repeat=settings.desc_repeat,
        desc_whitespace=settings.desc_whitespace,
        desc_prompt_stream=settings.desc_prompt_stream,
    )
    resume = resuming.resolve_resume(settings)
    if resume is None:
        resuming.refuse_a_previous_run(settings)

    import torch
    from transformers import set_seed

    from hadpo_cli.models.loading import load_vlm
    from hadpo_cli.training import reference_cache
    from hadpo_cli.training.collator import PairCollator, PairDataset
    from hadpo_cli.training.dpo_model import DPOModel
    from hadpo_cli.training.trainer import HADPOTrainer

    use_cpu = not torch.cuda.is_available()
    state = PartialState(cpu=use_cpu)
    if resume is None and settings.overwrite:
        if state.is_main_process:
            resuming.clear_previous_run(settings.output_dir)
        state.wait_for_everyone()
    settings = resolve_accumulation(settings, state.num_processes)
    if resume is not None:
        resuming.check_compatible(resume, settings, state.num_processes)
        done = resuming.finished_step(resume, settings)
        if done is not None:
            return _already_finished(resume, settings, done, state)
    # Trainer arguments before the model: a bad scheduler or --report-to fails in a second.
    args = training_arguments(settings, use_cpu)
    if state.is_main_process:
        err.print(
            f"[bold]hadpo train[/]: {len(pairs)} preference pairs, {state.num_processes} process(es), "
            f"{settings.per_device_train_batch_size * state.num_processes * settings.gradient_accumulation_steps} "
            "pairs per optimizer step"
        )
    _warn_data_parallel(state)
    set_seed(settings.seed)
    loaded = load_vlm(
        settings.model,
        dtype=settings.dtype,
        device=None if use_cpu else state.device,
        precision=settings.precision,
    )
    check_prompts_fit(pairs, loaded.family, settings.max_length)
    peft_model = apply_lora(loaded.model, loaded.family, settings)
    if settings.disable_dropout:
        disable_dropout(peft_model)
    dpo_model = DPOModel(peft_model, loaded.family)
    # Our loss is a mean per pair: let the Trainer scale it for gradient accumulation.
    dpo_model.accepts_loss_kwargs = False
    if settings.gradient_checkpointing:
        dpo_model.gradient_checkpointing_enable()

    collator = PairCollator(
        loaded.family,
        pairs,
        max_length=settings.max_length,
        augment=settings.image_augment == "crop-flip",
        seed=settings.seed,
    )
    reference = "inline"
    if settings.precompute_ref_logps:
        dtype = next(loaded.model.parameters()).dtype
        parts = _reference_fingerprint(settings, loaded.model.config, dtype)
        key = reference_cache.fingerprint({**parts, "pairs": reference_cache.pairs_digest(pairs)})
        table = reference_cache.load_on_main(settings.output_dir, key, state)
        reference = "precomputed (reused)"
        if table is None:
            # The training's own pairs per forward: with 1 (the recipe) the padding is the same.
            batch_size = settings.per_device_train_batch_size
            table = reference_cache.precompute(dpo_model, collator, pairs, batch_size, state)
            if state.is_main_process:
                reference_cache.save(settings.output_dir, key, table)
            state.wait_for_everyone()
            reference = "precomputed"
        collator.ref_logps = table

    trainer = HADPOTrainer(
        model=dpo_model,
        args=args,
        train_dataset=PairDataset(pairs),
        data_collator=collator,
        callbacks=[resuming.settings_snapshot_callback(settings, state.num_processes), *(callbacks or [])],
        beta=settings.beta,
        loss_type=settings.loss_type,
        sft_weight=settings.sft_weight,
    )
    # The Trainer prints its log dicts on stdout; keep stdout for --json.
    with contextlib.redirect_stdout(sys.stderr):
        try:
            trainer.train(resume_from_checkpoint=resume)
        except BaseException:
            _close_progress_bars(trainer)  # so an error line starts on a line of its own
            raise
        trainer.save_model(str(settings.output_dir))
        trainer.save_state()
    if state.is_main_process:
        atomic_write_json(settings.output_dir / "settings.json", settings.public_dict())
    state.wait_for_everyone()
    return TrainResult(
        settings.output_dir,
        trainer.state.global_step,
        list(trainer.state.log_history),
        reference,
        is_main=state.is_main_process,
    )


def _close_progress_bars(trainer: Any) -> None:
    from transformers.trainer_callback import ProgressCallback

    for callback in trainer.callback_handler.callbacks:
        bar = getattr(callback, "training_bar", None) if isinstance(callback, ProgressCallback) else None
        if bar is not None:
            bar.close()
            callback.training_bar = None


def _already_finished(checkpoint: str, settings: TrainSettings, step: int, state: Any) -> TrainResult:
    """A rerun of a finished run (a requeued job): make sure the final adapter is in place, train nothing."""
    import shutil

    from hadpo_cli.models.adapters import CONFIG_NAME, WEIGHT_NAMES

    out = settings.output_dir
    if state.is_main_process:
        for name in (CONFIG_NAME, WEIGHT_NAMES[0]):
            # Always from the last checkpoint: the folder may hold an older run's adapter.
            shutil.copy2(Path(checkpoint) / name, out / name)
        if not (out / "settings.json").is_file():
            atomic_write_json(out / "settings.json", settings.public_dict())
        err.print(f"{checkpoint} is already at the last step ({step}); nothing left to train")
    history = json.loads((Path(checkpoint) / "trainer_state.json").read_text(encoding="utf-8")).get(
        "log_history", []
    )
    return TrainResult(out, step, history, "n/a (already finished)", is_main=state.is_main_process)


def _warn_data_parallel(state: Any) -> None:
    """Several GPUs but one process: the Trainer would fall back to slow DataParallel."""
    import torch

    if state.num_processes == 1 and torch.cuda.is_available() and torch.cuda.device_count() > 1:
        err.print(
            f"[yellow]warning:[/] {torch.cuda.device_count()} GPUs visible but one process; use "
            "`torchrun --nproc_per_node N -m hadpo_cli train ...` (or set CUDA_VISIBLE_DEVICES)"
        )


def _reference_fingerprint(settings: TrainSettings, config: Any, dtype: Any) -> dict[str, Any]:
    from hadpo_cli.training.reference_cache import file_digest, model_identity

    return {
        "model": model_identity(settings.model, config),
        "dtype": str(dtype),
        "precision": settings.precision,
        "pope_data": file_digest(settings.pope_data),
        "desc_data": file_digest(settings.desc_data),
        "vg_index": file_digest(settings.vg_path / "image_data.json"),
        "seed": settings.seed,
        "pope_repeat": settings.pope_repeat,
        "desc_repeat": settings.desc_repeat,
        "max_length": settings.max_length,
        "image_augment": settings.image_augment,
    }


def summarize(result: TrainResult) -> dict[str, Any]:
    train_logs = [h for h in result.log_history if "loss" in h and "rewards/accuracies" in h]
    return {
        "output_dir": str(result.output_dir),
        "global_step": result.global_step,
        "reference": result.reference,
        "first_log": train_logs[0] if train_logs else None,
        "last_log": train_logs[-1] if train_logs else None,
    }
