"""Fields every evaluation shares for choosing the model it runs (see ``load_vlm_for_eval``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from hadpo_cli.models.loading import DType, Precision
from hadpo_cli.settings.base import Settings

PRECISION_HELP = (
    "uniform: every weight in --dtype. published: the family's published mixed precision "
    "(InstructBLIP: vision encoder and LLM in fp16, Q-Former and projection in fp32, run under fp16 "
    "autocast; training needs a CUDA GPU), replacing --dtype."
)


class EvalModelSettings(Settings):
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


def canonical_model_ref(value: object) -> object:
    """A local path as its absolute form (``./m`` and ``m`` are one model); Hub ids unchanged."""
    if value is None:
        return None
    path = Path(str(value)).expanduser()
    return str(path.resolve()) if path.exists() else value
