"""Settings of ``hadpo train``. Defaults are the published HA-DPO recipe."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from hadpo_cli.data.preference import DescWhitespace
from hadpo_cli.models.loading import DEFAULT_MODEL, DType
from hadpo_cli.settings.base import Settings


class TrainSettings(Settings):
    # -- model ------------------------------------------------------------------------------
    model: str = Field(DEFAULT_MODEL, description="Hub id or local directory of the InstructBLIP model.")
    dtype: DType = Field(
        "auto", description="Weights dtype: auto = bf16 on a GPU that supports it, fp32 on CPU."
    )
    lora_target: list[str] = Field(
        ["q_proj", "k_proj", "v_proj"],
        description="Language-model modules that get LoRA (comma-separated). Vision and Q-Former stay frozen.",
    )
    lora_r: int = Field(64, gt=0, description="LoRA rank.")
    lora_alpha: float = Field(16, gt=0, description="LoRA alpha (scale = alpha / r).")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA input.")
    # -- data -------------------------------------------------------------------------------
    pope_data: Path | None = Field(None, description="HA-DPO pope_data.json (POPE-style preference pairs).")
    desc_data: Path | None = Field(None, description="HA-DPO desc_data.json (description preference pairs).")
    vg_path: Path = Field(..., description="Visual Genome directory (image_data.json and the image folders).")
    pope_repeat: int = Field(
        2, ge=1, description="Times the POPE set is repeated (2 gives the paper's 2:1 mix)."
    )
    desc_whitespace: DescWhitespace = Field(
        "delete-newlines",
        description="How description answers are cleaned. delete-newlines: every line break removed, "
        "as the published training did (it glues 'table.\\nThe' into 'table.The'); collapse: every run "
        "of whitespace, line breaks included, becomes one space; keep: as written (the LLaVA release).",
    )
    image_augment: Literal["crop-flip", "none"] = Field(
        "crop-flip",
        description="crop-flip: random resized crop (50-100% area) and horizontal flip, as the published "
        "training; drawn once per pair from --seed. none: the plain eval resize.",
    )
    max_length: int = Field(
        512, gt=0, description="Max language-model tokens (image + prompt + answer); answers are truncated."
    )
    # -- DPO --------------------------------------------------------------------------------
    beta: float = Field(0.1, gt=0, description="DPO beta (strength of the pull towards the reference).")
    loss_type: Literal["sigmoid", "ipo", "hinge"] = Field(
        "sigmoid", description="sigmoid (DPO), ipo or hinge."
    )
    sft_weight: float = Field(
        0.0, ge=0, description="Weight of an extra NLL term on the chosen answer (0 = off)."
    )
    disable_dropout: bool = Field(
        True,
        description="Switch every dropout off (LoRA's included) during training, as the published trainer did.",
    )
    precompute_ref_logps: bool = Field(
        False,
        description="Compute reference log-probs in one pass before training (no reference forward after).",
    )
    # -- trainer ----------------------------------------------------------------------------
    output_dir: Path = Field(..., description="Where the adapter, checkpoints and settings.json go.")
    learning_rate: float = Field(4e-6, gt=0, description="Peak learning rate.")
    num_train_epochs: float = Field(1.0, gt=0, description="Epochs (ignored when --max-steps > 0).")
    max_steps: int = Field(-1, description="Total optimizer steps; -1 = use --num-train-epochs.")
    per_device_train_batch_size: int = Field(1, gt=0, description="Pairs per device per forward.")
    gradient_accumulation_steps: int = Field(4, gt=0, description="Forwards per optimizer step.")
    global_batch_size: int | None = Field(
        None,
        gt=0,
        description="Pairs per optimizer step over all processes; sets the gradient accumulation for the "
        "number of processes (32 = the published 8 GPUs x 1 x 4).",
    )
    warmup_steps: int = Field(0, ge=0, description="Linear warm-up steps.")
    lr_scheduler_type: str = Field("cosine", description="transformers scheduler name.")
    weight_decay: float = Field(0.05, ge=0, description="AdamW weight decay.")
    max_grad_norm: float = Field(1.0, ge=0, description="Gradient clipping norm.")
    seed: int = Field(42, description="Seed for data draws, shuffling and LoRA init.")
    gradient_checkpointing: bool = Field(False, description="Trade compute for memory in the language model.")
    logging_steps: int = Field(4, gt=0, description="Log every N optimizer steps.")
    save_steps: int = Field(500, gt=0, description="Save a checkpoint every N optimizer steps.")
    save_total_limit: int | None = Field(None, description="Keep at most N checkpoints.")
    run_name: str | None = Field(None, description="Run name for wandb/tensorboard.")
    report_to: str = Field("none", description="none, wandb, tensorboard, ... (comma-separated).")
    dataloader_num_workers: int = Field(0, ge=0, description="Worker processes that load images.")
    resume_from_checkpoint: str | None = Field(
        None, description="A checkpoint directory, or 'latest' for the newest one in --output-dir."
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
        if not self.lora_target:
            raise ValueError("--lora-target: name at least one module")
        if self.max_steps == 0 or self.max_steps < -1:
            raise ValueError(
                f"--max-steps: give a positive number, or -1 for --num-train-epochs (got {self.max_steps})"
            )
        return self
