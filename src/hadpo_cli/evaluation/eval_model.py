"""What `eval pope` and `eval shr` share around the generation engine: the model they run
(loaded lazily, once), its generation options, and the guard that refuses to resume results
made with other settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hadpo_cli.console import err
from hadpo_cli.errors import UserError
from hadpo_cli.evaluation.generation import BatchGenerator, Dist, GenerationOptions, part_files
from hadpo_cli.io import read_json
from hadpo_cli.settings.base import flag_name
from hadpo_cli.settings.model_source import canonical_model_ref

MODEL_FIELDS = ("model", "adapter", "llm_model")


def generation_options(settings: Any) -> GenerationOptions:
    return GenerationOptions(
        num_beams=settings.num_beams,
        max_new_tokens=settings.max_new_tokens,
        batch_size=settings.batch_size,
        repetition_penalty=settings.repetition_penalty,
    )


class LazyModel:
    """Loads ``--model`` (with ``--adapter`` / ``--llm-model``) on first use only, once for every
    call: a rerun with nothing left to generate loads nothing."""

    def __init__(self, settings: Any, dist: Dist, options: GenerationOptions):
        self.settings, self.dist, self.options = settings, dist, options
        self._generator: BatchGenerator | None = None

    def __call__(self) -> BatchGenerator:
        if self._generator is None:
            from hadpo_cli.evaluation.generation import VLMGenerator
            from hadpo_cli.models.loading import load_vlm_for_eval

            s = self.settings
            if self.dist.is_main:
                err.print(f"loading {s.model}")
            loaded = load_vlm_for_eval(
                s.model, adapter=s.adapter, llm_model=s.llm_model, dtype=s.dtype, device=self.dist.device
            )
            self._generator = VLMGenerator(loaded, self.options)
        return self._generator


def fingerprint(settings: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """The settings that decide the generated text, local model paths resolved."""
    public = settings.public_dict()
    return canonical({name: public[name] for name in fields})


def canonical(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: canonical_model_ref(v) if k in MODEL_FIELDS else v for k, v in fields.items()}


def has_results(output: Path) -> bool:
    """Anything generated already: the gathered file, or part files left by a crash or a kill."""
    return output.exists() or bool(part_files(output))


def refuse_other_settings(record: Path, now: dict[str, Any], *, results: str, elsewhere: str) -> None:
    """Results made with other settings must not be resumed: one file would mix two runs."""
    if not record.exists():
        return
    before = read_json(record)
    if not isinstance(before, dict):
        return
    before = canonical(before)
    for name, value in now.items():
        if name in before and before[name] != value:
            raise UserError(
                f"{results}: made with {flag_name(name)} {before[name]!r}, not {value!r};"
                f" rerun with the same settings to resume, or pass another {elsewhere}"
            )
