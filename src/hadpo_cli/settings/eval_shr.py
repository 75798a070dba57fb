"""Settings of ``hadpo eval shr``; field descriptions are the flags' --help text."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, SecretStr, model_validator

from hadpo_cli.settings.base import flag_name
from hadpo_cli.settings.model_source import EvalModelSettings

# Settings that only a judged run reads.
JUDGE_ONLY = (
    "judge_model", "temperature", "judge_max_tokens", "judge_prompt", "judge_runs", "concurrency",
    "max_retries", "retry_backoff", "request_timeout", "max_reasks",
)  # fmt: skip


class EvalShrSettings(EvalModelSettings):
    """Describe SHR images (or take a responses file) and judge every sentence with an LLM."""

    recipe_benchmark: ClassVar[str] = "shr"  # decoding defaults: the family's published SHR run

    # what to judge
    model: str | None = Field(None, description="Model dir or hub id that describes the images.")
    # --adapter, --llm-model, --dtype: EvalModelSettings
    responses: Path | None = Field(
        None, description='Judge this responses file {"<image_id>": "<text>"} instead of running a model.'
    )
    vg_path: Path | None = Field(
        None, description="Visual Genome dir (image_data.json, region_descriptions.json, images)."
    )
    shr_path: Path = Field(
        description="SHR dir (val_images_final.json, shr_factual_part1.jsonl, shr_factual_part2.jsonl)."
    )
    output_dir: Path = Field(
        description="Where responses, the judge cache, judgement.json and metrics.json go."
    )

    # describing (with --model)
    num_beams: int | None = Field(None, ge=1, description="Beams when describing.")
    max_new_tokens: int | None = Field(None, ge=1, description="Longest description, in new tokens.")
    repetition_penalty: float | None = Field(
        None, gt=0, description="Penalty on repeating generated tokens (1 = off)."
    )
    batch_size: int = Field(8, ge=1, description="Images per generation batch (per process).")

    # the judge
    no_judge: bool = Field(False, description="Skip the judge: compute only the n-gram repetition metrics.")
    judge_model: str = Field("gpt-4", description="Judge model name (gpt-4 as published).")
    api_key: SecretStr | None = Field(
        None, description="Judge API key (default: $OPENAI_API_KEY). Never written to any file."
    )
    base_url: str | None = Field(
        None, description="OpenAI-compatible endpoint, e.g. a vLLM server (default: $OPENAI_BASE_URL)."
    )
    temperature: float = Field(
        0.0, ge=0.0, le=2.0, description="Judge sampling temperature (the published script used 0.7)."
    )
    judge_max_tokens: int = Field(800, ge=1, description="Longest judge reply, in tokens (800 as published).")
    judge_prompt: Path | None = Field(
        None, description="Judge prompt template with {regions}, {facts} and {sentences} placeholders."
    )
    judge_runs: int = Field(
        1, ge=1, description="Independent judgements per image; mean_hal_ratio is their mean."
    )
    concurrency: int = Field(8, ge=1, le=512, description="Judge requests in flight at once.")
    max_retries: int = Field(
        6, ge=0, description="Retries of a request after 429, 5xx, a timeout or a connection error."
    )
    retry_backoff: float = Field(
        1.0,
        ge=0.0,
        description="First wait before a retry, in seconds; doubles each time unless Retry-After says.",
    )
    request_timeout: float = Field(60.0, gt=0.0, description="Seconds before a judge request times out.")
    max_reasks: int = Field(
        2, ge=0, description="Times to ask again when a reply does not label every sentence exactly once."
    )

    @model_validator(mode="after")
    def _check_sources(self) -> EvalShrSettings:
        if (self.model is None) == (self.responses is None):
            raise ValueError("pass exactly one of --model (describe the images) or --responses FILE")
        if (self.adapter is not None or self.llm_model is not None) and self.model is None:
            raise ValueError("--adapter and --llm-model need --model")
        if self.vg_path is None and self.model is not None:
            raise ValueError("--vg-path is required with --model (the images are there)")
        if self.vg_path is None and not self.no_judge:
            raise ValueError("--vg-path is required to judge (the region descriptions are there)")
        if self.no_judge:
            # A judge flag next to --no-judge would be silently ignored: the user meant one of them.
            # (The key and the endpoint may come from the environment, so they are not checked.)
            given = [n for n in JUDGE_ONLY if getattr(self, n) != type(self).model_fields[n].default]
            if given:
                raise ValueError(f"{flag_name(given[0])} has no effect with --no-judge: drop one of the two")
        if not self.no_judge and self.api_key is None and self.base_url is None:
            raise ValueError(
                "no judge API key: set OPENAI_API_KEY or pass --api-key (or --base-url for a keyless local server, "
                "or --no-judge)"
            )
        return self

    def public_dict(self) -> dict[str, Any]:
        """As saved in settings.json: a --base-url keeps only scheme, host and path, since
        gateways put credentials in the user part or the query string."""
        data = super().public_dict()
        if data.get("base_url"):
            data["base_url"] = public_url(data["base_url"])
        return data


def public_url(url: str) -> str:
    """``url`` with only scheme, host, port and path: what may be written or printed."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
