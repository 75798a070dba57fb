"""Settings of ``hadpo merge``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from hadpo_cli.models.loading import DEFAULT_MODEL
from hadpo_cli.settings.base import Settings, flag

MergeDType = Literal["keep", "bf16", "fp16", "fp32"]


class MergeSettings(Settings):
    """Fold a LoRA adapter into its base model and save the result."""

    adapter: Path = Field(
        description="LoRA adapter directory: what `hadpo train` wrote, or a peft adapter of the bare language "
        "model (such as the published HA-DPO one)."
    )
    base: str = Field(
        DEFAULT_MODEL,
        description="Hub id or directory of the base model: a vision-language model of a registered family, or a bare causal LM "
        "(e.g. lmsys/vicuna-13b-v1.1; then the merged LLM and its tokenizer are written).",
    )
    output: Annotated[Path, flag("--output", "-o")] = Field(
        description="Directory to write; it appears complete or not at all."
    )
    llm_only: bool = Field(
        False, description="Write only the merged language model and its tokenizer, not the whole VLM."
    )
    verify: bool = Field(
        True,
        description="Check that the merged model's logits equal base+adapter logits on a fixed input "
        "(within a dtype-suited tolerance) before writing.",
    )
    overwrite: bool = Field(False, description="Replace --output if it exists and is not empty.")
    dtype: MergeDType = Field(
        "keep", description="Weights dtype of the merge and the output: keep = the base checkpoint's own."
    )

    @model_validator(mode="after")
    def _check_paths(self) -> MergeSettings:
        if self.output.exists() and not self.output.is_dir():
            raise ValueError(f"--output {self.output} is a file; give a directory")
        out = self.output.resolve()
        if out == self.adapter.resolve():
            raise ValueError("--output would overwrite the --adapter directory")
        if Path(self.base).exists() and out == Path(self.base).resolve():
            raise ValueError("--output would overwrite the --base model directory")
        return self
