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

from collections.abc import Callable, Sequence
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
    "precision",
    "num_beams",
    "max_new_tokens",
    "repetition_penalty",
)


def check_settings(
    settings: EvalShrSettings, progress: Path, record: Path, is_main: bool
) -> Callable[[], None]:
    """Descriptions already on disk were made by some model: resuming with another one would
    mix two models' text under one set of metrics. Returns what writes the record for a new
    run, to call once the model has loaded (a bad ``--model`` must leave nothing behind)."""
    from hadpo_cli.evaluation.eval_model import fingerprint, has_results, refuse_other_settings

    now = {**fingerprint(settings, DESCRIBE_FIELDS), "prompt": DESCRIBE_PROMPT}
    resuming = has_results(progress) and record.exists()
    if resuming:
        refuse_other_settings(
            record, now, results=f"the descriptions in {progress.parent}", elsewhere="--output-dir"
        )

    def write() -> None:
        if is_main and not resuming:
            atomic_write_json(record, now)

    return write


def describe_images(settings: EvalShrSettings, images: Sequence[VGImage], out_path: Path) -> dict[str, str]:
    from hadpo_cli.evaluation.eval_model import LazyModel, after_loading, generation_options
    from hadpo_cli.evaluation.generation import (
        GenerationRequest,
        current_dist,
        default_record,
        generate_all,
        read_records,
    )

    dist = current_dist()
    options = generation_options(settings)
    requests = [GenerationRequest(key=im.image_id, image=im.path, prompt=DESCRIBE_PROMPT) for im in images]
    progress_file = out_path.with_name(PROGRESS_FILE)
    # Held around the check, the record and the generation: a second run with other settings
    # is refused before it can touch the record.
    with exclusive_lock(out_path.with_name(f".describe.lock-{dist.rank}"), str(out_path.parent)):
        record = check_settings(settings, progress_file, out_path.with_name(SETTINGS_FILE), dist.is_main)
        generate_all(
            requests,
            progress_file,
            load_generator=after_loading(LazyModel(settings, dist, options), record),
            options=options,
            key_field="image_id",
            make_record=default_record("image_id", "response"),
            dist=dist,
            description="describing",
        )
    responses = {str(r["image_id"]): r["response"] for r in read_records(progress_file, "image_id")}
    if dist.is_main:
        atomic_write_json(out_path, responses)
    return responses
