"""Settings of ``hadpo eval shr``; field descriptions are the flags' --help text."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar

from pydantic import Field, model_validator

from hadpo_cli.settings.base import flag
from hadpo_cli.settings.judge import JudgeSettings, public_url
from hadpo_cli.settings.model_source import GenerationSettings

__all__ = ["EvalShrSettings", "public_url"]


class EvalShrSettings(GenerationSettings, JudgeSettings):
    """Describe SHR images (or take a responses file) and judge every sentence with an LLM."""

    recipe_benchmark: ClassVar[str | None] = "shr"  # decoding defaults: the family's published SHR run
    extra_judge_fields: ClassVar[tuple[str, ...]] = ("judge_prompt", "judge_runs")

    # what to judge: --model (with --adapter, --llm-model, --dtype, --precision) or --responses
    responses: Path | None = Field(
        None, description='Judge this responses file {"<image_id>": "<text>"} instead of running a model.'
    )
    vg_path: Path | None = Field(
        None, description="Visual Genome dir (image_data.json, region_descriptions.json, images)."
    )
    shr_path: Path = Field(
        description="SHR dir (val_images_final.json, shr_factual_part1.jsonl, shr_factual_part2.jsonl)."
    )
    output_dir: Annotated[Path, flag("--output-dir", "-o")] = Field(
        description="Where responses, the judge cache, judgement.json and metrics.json go."
    )
    # describing (with --model): --num-beams, --max-new-tokens, --repetition-penalty, --batch-size
    # the judge: JudgeSettings, and
    no_judge: bool = Field(False, description="Skip the judge: compute only the n-gram repetition metrics.")
    judge_prompt: Path | None = Field(
        None, description="Judge prompt template with {regions}, {facts} and {sentences} placeholders."
    )
    judge_runs: int = Field(
        1, ge=1, description="Independent judgements per image; mean_hal_ratio is their mean."
    )
    max_reasks: int = Field(
        2, ge=0, description="Times to ask again when a reply does not label every sentence exactly once."
    )

    @model_validator(mode="after")
    def _check_sources(self) -> EvalShrSettings:
        if self.vg_path is None and self.model is not None:
            raise ValueError("--vg-path is required with --model (the images are there)")
        if self.vg_path is None and not self.no_judge:
            raise ValueError("--vg-path is required to judge (the region descriptions are there)")
        return self
