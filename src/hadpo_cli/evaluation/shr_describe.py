"""The describing step of ``hadpo eval shr --model``: one detailed description per SHR image.

Interface the SHR pipeline relies on: ``describe_images(settings, images, out_path)`` writes
``out_path`` (``OUT/responses.json``, ``{"<image_id>": "<text>"}``) and returns that dict.
``images`` are the SHR images in list order, already checked to exist on disk; the judge's
inputs are read and checked before this is called, so a bad input fails before a model loads.

Generation goes through the shared engine (:mod:`hadpo_cli.evaluation.generation`): batched,
split across processes under ``torchrun`` / ``accelerate launch``, and resumable. Descriptions
are appended to ``OUT/responses.jsonl`` as they come; ``responses.json`` is written from it
once every image is described (a rerun describes only what is missing).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from hadpo_cli.data.visual_genome import VGImage
from hadpo_cli.io import atomic_write_json, exclusive_lock
from hadpo_cli.settings.eval_shr import EvalShrSettings

DESCRIBE_PROMPT = "Describe this image in detail."
PROGRESS_FILE = "responses.jsonl"
SETTINGS_FILE = "describe_settings.json"  # what made the descriptions, for a safe resume
DESCRIBE_FIELDS = (
    "model",
    "adapter",
    "llm_model",
    "dtype",
    "num_beams",
    "max_new_tokens",
    "repetition_penalty",
)


def describe_fingerprint(settings: EvalShrSettings) -> dict[str, object]:
    from hadpo_cli.settings.model_source import canonical_model_ref

    public = settings.public_dict()
    out = {k: public[k] for k in DESCRIBE_FIELDS}
    for k in ("model", "adapter", "llm_model"):
        out[k] = canonical_model_ref(out[k])
    out["prompt"] = DESCRIBE_PROMPT
    return out


def check_or_record_settings(settings: EvalShrSettings, progress: Path, record: Path, is_main: bool) -> None:
    """Descriptions already on disk were made by some model: resuming with another one would
    mix two models' text under one set of metrics."""
    from hadpo_cli.errors import UserError
    from hadpo_cli.evaluation.generation import part_files
    from hadpo_cli.io import read_json

    now = describe_fingerprint(settings)
    # During a run (and after a kill) the descriptions sit in the part files, not yet in progress.
    has_descriptions = (progress.exists() and progress.stat().st_size > 0) or bool(part_files(progress))
    if has_descriptions and record.exists():
        before = read_json(record)
        for key, value in now.items():
            if isinstance(before, dict) and before.get(key) != value:
                flag = "--" + key.replace("_", "-")
                raise UserError(
                    f"{progress}: these descriptions were made with {flag} {before.get(key)!r}, not {value!r};"
                    " rerun with the same settings to resume, or pass another --output-dir"
                )
    if is_main and not (has_descriptions and record.exists()):
        atomic_write_json(record, now)


def describe_images(settings: EvalShrSettings, images: Sequence[VGImage], out_path: Path) -> dict[str, str]:
    from hadpo_cli.evaluation.generation import (
        GenerationOptions,
        GenerationRequest,
        VLMGenerator,
        current_dist,
        default_record,
        generate_all,
    )
    from hadpo_cli.models.loading import load_vlm_for_eval

    assert settings.model is not None
    dist = current_dist()
    options = GenerationOptions(
        num_beams=settings.num_beams,
        max_new_tokens=settings.max_new_tokens,
        batch_size=settings.batch_size,
        repetition_penalty=settings.repetition_penalty,
    )
    requests = [GenerationRequest(key=im.image_id, image=im.path, prompt=DESCRIBE_PROMPT) for im in images]

    def load() -> VLMGenerator:
        loaded = load_vlm_for_eval(
            settings.model,  # type: ignore[arg-type]
            adapter=settings.adapter,
            llm_model=settings.llm_model,
            dtype=settings.dtype,
            device=dist.device,
        )
        return VLMGenerator(loaded, options)

    progress_file = out_path.with_name(PROGRESS_FILE)
    # Held around the check, the record and the generation: a second run with other settings
    # is refused before it can touch the record.
    with exclusive_lock(out_path.with_name(f".describe.lock-{dist.rank}"), str(out_path.parent)):
        check_or_record_settings(settings, progress_file, out_path.with_name(SETTINGS_FILE), dist.is_main)
        generate_all(
            requests,
            progress_file,
            load_generator=load,
            options=options,
            key_field="image_id",
            make_record=default_record("image_id", "response"),
            dist=dist,
            description="describing",
        )
    responses: dict[str, str] = {}
    with progress_file.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                record = json.loads(line)
                responses[str(record["image_id"])] = record["response"]
    if dist.is_main:
        atomic_write_json(out_path, responses)
    return responses
