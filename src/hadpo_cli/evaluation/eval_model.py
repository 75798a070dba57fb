"""What `eval pope` and `eval shr` share around the generation engine: the model they run
(loaded lazily, once), its generation options, and the guard that refuses to resume results
made with other settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from hadpo_cli.console import err
from hadpo_cli.errors import UserError
from hadpo_cli.evaluation.generation import BatchGenerator, Dist, GenerationOptions, part_files
from hadpo_cli.io import read_json
from hadpo_cli.settings.base import Settings, flag_name
from hadpo_cli.settings.model_source import canonical_model_ref

MODEL_FIELDS = ("model", "adapter", "llm_model")
DECODING_FIELDS = ("num_beams", "max_new_tokens", "repetition_penalty")  # from the family unless given
S = TypeVar("S", bound=Settings)


def with_family_decoding(settings: S, benchmark: str) -> S:
    """``settings`` with the decoding fields left unset (None) taken from the published evaluation
    of ``--model``'s family for ``benchmark`` (read from the model's config, not its weights);
    ``--precision published`` for a family without one fails here, before anything loads."""
    if getattr(settings, "model", None) is None:
        return settings
    from hadpo_cli.models import families
    from hadpo_cli.models.loading import published_load_dtype, read_model_config

    config = read_model_config(settings.model)
    cls = families.for_config(config, what=str(settings.model))
    if getattr(settings, "precision", "uniform") == "published":
        published_load_dtype(cls)
    # The benchmark's own protocol (CHAIR's 512 tokens, ...), then the family's published run of it.
    recipe = {**getattr(settings, "default_decoding", {}), **cls.eval_recipe.get(benchmark, {})}
    update = {name: value for name, value in recipe.items() if getattr(settings, name) is None}
    resolved = settings.model_copy(update=update)
    unset = [name for name in DECODING_FIELDS if getattr(resolved, name) is None]
    if unset:
        raise UserError(f"the model family gives no default for {', '.join(map(flag_name, unset))}; set it")
    check_fits_context(resolved.max_new_tokens, config)
    return resolved


def check_fits_context(max_new_tokens: int, config: Any) -> None:
    """More new tokens than the language model has positions (the prompt needs some too) would
    run far past what the model was trained on, slowly, for nothing."""
    text = getattr(config, "text_config", config)
    positions = getattr(text, "max_position_embeddings", None)
    if positions and max_new_tokens >= positions:
        raise UserError(
            f"--max-new-tokens {max_new_tokens}: the language model holds {positions} positions, "
            "the prompt included; give fewer"
        )


def generation_options(settings: Any) -> GenerationOptions:
    # Fields still unset (a stand-in generator that reads none of them) keep the engine's defaults.
    given = {name: getattr(settings, name) for name in (*DECODING_FIELDS, "batch_size")}
    # The published mixed precision runs under fp16 autocast (fp32 modules compute in fp16 too).
    given["autocast"] = "fp16" if getattr(settings, "precision", "uniform") == "published" else None
    return GenerationOptions(**{k: v for k, v in given.items() if v is not None})


def after_loading(
    load: Callable[[], BatchGenerator], after: Callable[[], None]
) -> Callable[[], BatchGenerator]:
    """``load``, then ``after`` once it succeeded: settings files are written only when the model
    has loaded, so a bad ``--model`` leaves nothing behind."""

    def wrapped() -> BatchGenerator:
        generator = load()
        after()
        return generator

    return wrapped


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
                s.model,
                adapter=s.adapter,
                llm_model=s.llm_model,
                dtype=s.dtype,
                device=self.dist.device,
                precision=s.precision,
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
    """Anything generated already: the gathered file, or part files left by a crash or a kill.
    Empty files do not count: a run that failed before its first answer binds no rerun."""
    return any(p.is_file() and p.stat().st_size > 0 for p in (output, *part_files(output)))


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
