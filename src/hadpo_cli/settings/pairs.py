"""Settings of ``hadpo pairs``; field descriptions are the flags' --help text."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar

from pydantic import Field, model_validator

from hadpo_cli.settings.base import flag
from hadpo_cli.settings.judge import JudgeSettings
from hadpo_cli.settings.model_source import GenerationSettings


class PairsSettings(GenerationSettings, JudgeSettings):
    """Build HA-DPO preference data for a model: it describes Visual Genome images, a judge finds and
    corrects its hallucinations against the annotations and rewrites both sides alike."""

    recipe_benchmark: ClassVar[str | None] = "shr"  # described as in SHR: the family's published decoding
    answers_field: ClassVar[str] = "descriptions"
    extra_judge_fields: ClassVar[tuple[str, ...]] = ("rewrites", "detect_prompt", "rewrite_prompt")

    descriptions: Path | None = Field(
        None,
        description='Start from these descriptions ({"<image_id>": "<text>"}, as eval shr and pairs write '
        "them) instead of running a model.",
    )
    vg_path: Path = Field(
        description="Visual Genome dir: image_data.json, the images, region_descriptions.json, and "
        "objects.json / attributes.json / relationships.json where present."
    )
    output_dir: Annotated[Path, flag("--output-dir", "-o")] = Field(
        description="Where descriptions, the judge cache, desc_data.json, pope_data.json and pairs_report.json go."
    )
    image_ids: Path | None = Field(
        None,
        description='The images to describe: a JSON list of VG image ids (or of {"image_id"}), or one per line.',
    )
    num_images: int = Field(500, ge=1, description="Images drawn at random when --image-ids is not given.")
    exclude_ids: Path | None = Field(
        None,
        description="Images never drawn, in the --image-ids formats: e.g. SHR's val_images_final.json, to keep "
        "its evaluation images out of training data.",
    )
    seed: int = Field(
        0, ge=0, le=2**32 - 1, description="Seed of the image draw and of each image's prompt phrasing."
    )
    rewrites: int = Field(
        2, ge=0, description="Style-consistent rewrites of each side (chosen and rejected) per image."
    )
    detect_prompt: Path | None = Field(
        None,
        description="Detect-and-correct prompt template with {annotations}, {sentences} and {n} (default: hadpo's; "
        "docs/pairs.md).",
    )
    rewrite_prompt: Path | None = Field(
        None, description="Rewrite prompt template with {text}, {keep} and {variant} (default: hadpo's)."
    )
    no_judge: bool = Field(
        False, description="Stop after the descriptions (step 1): nothing is sent to a judge."
    )
    overwrite: bool = Field(
        False, description="Replace a finished run of other settings in --output-dir (its files are deleted)."
    )

    @model_validator(mode="after")
    def _images(self) -> PairsSettings:
        if self.image_ids is not None and "num_images" in self.model_fields_set:
            raise ValueError("--num-images draws images; --image-ids names them: give one of the two")
        return self
