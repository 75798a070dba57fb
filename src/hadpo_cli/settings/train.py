"""Settings of ``hadpo train``. Defaults are the published HA-DPO recipe of the model's family.

Fields left at ``None`` ("from the recipe") are filled by :func:`with_recipe` from the
family's ``train_recipe`` once the model's config is read; ``settings.json`` records the
values used."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from hadpo_cli.data.preference import DescPromptStream, DescWhitespace
from hadpo_cli.models.loading import DEFAULT_MODEL, DType, Precision
from hadpo_cli.settings.base import Settings, flag
from hadpo_cli.settings.model_source import PRECISION_HELP


class TrainSettings(Settings):
    # -- model ------------------------------------------------------------------------------
    model: str = Field(
        DEFAULT_MODEL,
        description="Hub id or local directory of the model; its config's model type picks the family, "
        "and so the recipe.",
    )
    dtype: DType = Field(
        "auto", description="Weights dtype: auto = bf16 on a GPU that supports it, fp32 on CPU."
    )
    precision: Precision = Field("uniform", description=PRECISION_HELP)
    lora_target: Annotated[list[str] | None, flag(cli_type=str)] = Field(
        None,
        description="Language-model modules that get LoRA (comma-separated); the image side stays frozen.",
    )
    lora_r: int | None = Field(None, gt=0, description="LoRA rank.")
    lora_alpha: float | None = Field(None, gt=0, description="LoRA alpha (scale = alpha / r).")
    lora_dropout: float | None = Field(None, ge=0, lt=1, description="Dropout on the LoRA input.")
    # -- data -------------------------------------------------------------------------------
    pope_data: Path | None = Field(None, description="HA-DPO pope_data.json (POPE-style preference pairs).")
    desc_data: Path | None = Field(None, description="HA-DPO desc_data.json (description preference pairs).")
    vg_path: Path = Field(..., description="Visual Genome directory (image_data.json and the image folders).")
    pope_repeat: int | None = Field(None, ge=1, description="Times the POPE set is repeated.")
    desc_repeat: int | None = Field(None, ge=1, description="Times the description set is repeated.")
    image_augment: Literal["crop-flip", "none"] | None = Field(
        None,
        description="crop-flip: random resized crop (50-100% area) and horizontal flip, drawn once per pair "
        "from --seed; none: the plain eval preprocessing.",
    )
    desc_whitespace: DescWhitespace | None = Field(
        None,
        description="How description answers are cleaned. delete-newlines: every line break removed, "
        "as the InstructBLIP release did (it glues 'table.\\nThe' into 'table.The'); collapse: every run "
        "of whitespace, line breaks included, becomes one space; keep: as written (the LLaVA release).",
    )
    desc_prompt_stream: DescPromptStream | None = Field(
        None,
        description="How the description prompt phrasing is drawn. separate: from a generator of its own, "
        "so the chosen/rejected draws are the InstructBLIP release's; shared: right after each item's "
        "pair from the same generator, as the LLaVA release does.",
    )
    max_length: int | None = Field(
        None,
        gt=0,
        description="Max language-model tokens (image + prompt + answer); answers are truncated.",
    )
    # -- DPO --------------------------------------------------------------------------------
    beta: float = Field(0.1, gt=0, description="DPO beta (strength of the pull towards the reference).")
    loss_type: Literal["sigmoid", "ipo", "hinge"] = Field(
        "sigmoid", description="sigmoid (DPO), ipo or hinge."
    )
    sft_weight: float = Field(
        0.0, ge=0, description="Weight of an extra NLL term on the chosen answer (0 = off)."
    )
    disable_dropout: Annotated[bool, flag("--disable-dropout/--keep-dropout")] = Field(
        True,
        description="Switch every dropout off (LoRA's included) during training, as the published trainer did.",
    )
    precompute_ref_logps: bool = Field(
        False,
        description="Compute reference log-probs in one pass before training (no reference forward after).",
    )
    # -- trainer ----------------------------------------------------------------------------
    output_dir: Path = Field(..., description="Where the adapter, checkpoints and settings.json go.")
    learning_rate: float | None = Field(None, gt=0, description="Peak learning rate.")
    num_train_epochs: float = Field(1.0, gt=0, description="Epochs (ignored when --max-steps > 0).")
    max_steps: int = Field(-1, description="Total optimizer steps; -1 = use --num-train-epochs.")
    per_device_train_batch_size: int | None = Field(None, gt=0, description="Pairs per device per forward.")
    gradient_accumulation_steps: int | None = Field(None, gt=0, description="Forwards per optimizer step.")
    global_batch_size: int | None = Field(
        None,
        gt=0,
        description="Pairs per optimizer step over all processes; sets the gradient accumulation for the "
        "number of processes.",
    )
    warmup_steps: float | None = Field(
        None,
        ge=0,
        description="Linear warm-up: a number of steps, or a fraction of all steps when below 1.",
    )
    lr_scheduler_type: str = Field("cosine", description="transformers scheduler name.")
    weight_decay: float | None = Field(None, ge=0, description="AdamW weight decay.")
    max_grad_norm: float = Field(1.0, ge=0, description="Gradient clipping norm.")
    seed: int = Field(
        42, ge=0, le=2**32 - 1, description="Seed for data draws, shuffling and LoRA init (0 to 2^32 - 1)."
    )
    gradient_checkpointing: Annotated[bool, flag("--gradient-checkpointing/--no-gradient-checkpointing")] = (
        Field(False, description="Trade compute for memory in the language model.")
    )
    logging_steps: int = Field(4, gt=0, description="Log every N optimizer steps.")
    save_steps: int = Field(500, gt=0, description="Save a checkpoint every N optimizer steps.")
    save_total_limit: int | None = Field(None, description="Keep at most N checkpoints.")
    run_name: str | None = Field(None, description="Run name for wandb/tensorboard.")
    report_to: str = Field("none", description="none, wandb, tensorboard, ... (comma-separated).")
    dataloader_num_workers: int = Field(0, ge=0, description="Worker processes that load images.")
    resume_from_checkpoint: str | None = Field(
        None, description="A checkpoint directory, or 'latest' for the newest one in --output-dir."
    )
    overwrite: bool = Field(
        False,
        description="Replace a training run already in --output-dir (its adapter and checkpoints are "
        "deleted; a reference log-probs file is kept, since it is reused only when it fits).",
    )

    @field_validator("lora_target", mode="before")
    @classmethod
    def _split_targets(cls, value: object) -> object:
        if isinstance(value, str):
            return [t.strip() for t in value.split(",") if t.strip()]
        return value

    @model_validator(mode="after")
    def _check(self) -> TrainSettings:
        if self.pope_data is None and self.desc_data is None:
            raise ValueError("give --pope-data, --desc-data, or both")
        if self.lora_target is not None and not self.lora_target:
            raise ValueError("--lora-target: name at least one module")
        if (
            self.warmup_steps is not None
            and self.warmup_steps >= 1
            and self.warmup_steps != int(self.warmup_steps)
        ):
            raise ValueError(
                f"--warmup-steps: a whole number of steps, or a fraction below 1 (got {self.warmup_steps})"
            )
        if self.max_steps == 0 or self.max_steps < -1:
            raise ValueError(
                f"--max-steps: give a positive number, or -1 for --num-train-epochs (got {self.max_steps})"
            )
        return self


# Fields the recipe may set; the pair of batch fields is handled together (see with_recipe).
BATCH_FIELDS = ("gradient_accumulation_steps", "global_batch_size")


def with_recipe(settings: TrainSettings, recipe: dict[str, Any]) -> TrainSettings:
    """``settings`` with every field left unset (None) taken from the family's ``recipe``.

    The accumulation can be given two ways: when the user set either of
    --gradient-accumulation-steps / --global-batch-size, the recipe's value for the other is
    not applied, so a flag is never silently overridden.
    """
    user_batch = any(getattr(settings, name) is not None for name in BATCH_FIELDS)
    update: dict[str, Any] = {}
    for name, value in recipe.items():
        if name not in TrainSettings.model_fields:
            raise KeyError(f"recipe names an unknown setting {name!r}")
        if name in BATCH_FIELDS and user_batch:
            continue
        if getattr(settings, name) is None:
            update[name] = value
    resolved = TrainSettings.model_validate({**settings.model_dump(), **update})
    if resolved.gradient_accumulation_steps is None:
        # A recipe that sets the global batch leaves the accumulation to resolve_accumulation.
        resolved = resolved.model_copy(update={"gradient_accumulation_steps": 1})
    missing = [name for name in RECIPE_FIELDS if getattr(resolved, name) is None]
    if missing:
        raise KeyError(f"the recipe leaves {', '.join(missing)} unset")
    return resolved


RECIPE_FIELDS = (
    "lora_target", "lora_r", "lora_alpha", "lora_dropout", "pope_repeat", "desc_repeat", "image_augment",
    "desc_whitespace", "desc_prompt_stream",
    "max_length", "learning_rate", "per_device_train_batch_size", "gradient_accumulation_steps",
    "warmup_steps", "weight_decay",
)  # fmt: skip
