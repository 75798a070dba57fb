"""The settings every benchmark shares: the model that answers (see ``load_vlm_for_eval``), or a file of
answers made elsewhere, and how the model decodes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar

from pydantic import Field, model_validator

from hadpo_cli.models.loading import DType, Precision
from hadpo_cli.settings.base import Settings, flag, flag_name

PRECISION_HELP = (
    "uniform: every weight in --dtype. published: the family's published mixed precision "
    "(InstructBLIP: vision encoder and LLM in fp16, Q-Former and projection in fp32, run under fp16 "
    "autocast; training needs a CUDA GPU), replacing --dtype."
)


def canonical_model_ref(value: object) -> object:
    """A local path as its absolute form (``./m`` and ``m`` are one model); Hub ids unchanged."""
    if value is None:
        return None
    path = Path(str(value)).expanduser()
    return str(path.resolve()) if path.exists() else value


class GenerationSettings(Settings):
    """What every benchmark shares: the model that answers (or a file of answers made elsewhere)
    and how it decodes. Decoding left unset comes from the family's published evaluation."""

    # The family recipe (models/families) that fills the decoding fields left unset.
    recipe_benchmark: ClassVar[str | None] = None
    # The field naming a file of answers made elsewhere, the other source than --model; each
    # command declares it with its own format in the help (--responses, --descriptions).
    answers_field: ClassVar[str] = "responses"

    model: str | None = Field(
        None, description="Hub id or local directory of the model (any registered family)."
    )
    adapter: Path | None = Field(
        None, description="LoRA adapter dir (from `hadpo train`, or a bare-LLM adapter) applied to --model."
    )
    llm_model: Path | None = Field(
        None,
        description="Dir of a language model (e.g. from `hadpo merge --llm-only`) that replaces --model's.",
    )
    dtype: DType = Field(
        "auto", description="Weights dtype: auto = bf16 on a GPU that supports it, fp32 on CPU."
    )
    precision: Precision = Field("uniform", description=PRECISION_HELP)
    num_beams: int | None = Field(None, ge=1, description="Beam search width (1 = greedy).")
    max_new_tokens: int | None = Field(None, ge=1, description="Longest answer, in new tokens.")
    repetition_penalty: float | None = Field(
        None, gt=0, description="Penalty on repeating generated tokens (1 = off)."
    )
    batch_size: int = Field(8, ge=1, description="Items per generation batch, per process.")

    @model_validator(mode="after")
    def _one_source(self) -> GenerationSettings:
        answers = flag_name(self.answers_field)
        if getattr(self, self.answers_field, None) is not None:
            if "model" in self.model_fields_set and self.model is not None:
                raise ValueError(f"pass --model (generate the answers) or {answers} FILE, not both")
            if self.adapter is not None or self.llm_model is not None:
                raise ValueError("--adapter and --llm-model need --model")
            # A default model (POPE's) does not apply when the answers come from a file.
            object.__setattr__(self, "model", None)
        elif self.model is None:
            raise ValueError(f"pass --model (generate the answers) or {answers} FILE")
        return self


class BenchmarkSettings(GenerationSettings):
    """A benchmark run that writes its outputs in one folder (CHAIR, AMBER, MMHal-Bench, ...)."""

    # Decoding when neither a flag nor the model family's published run of the benchmark says.
    default_decoding: ClassVar[dict[str, float]] = {
        "num_beams": 1,
        "max_new_tokens": 512,
        "repetition_penalty": 1.0,
    }

    output_dir: Annotated[Path, flag("--output-dir", "-o")] = Field(
        description="Where the answers, records.jsonl, metrics.json and settings.json go."
    )
    overwrite: bool = Field(
        False, description="Replace a finished run of other settings in --output-dir (its files are deleted)."
    )
