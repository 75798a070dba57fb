"""SHR annotations: the image list, the human-written facts, and model responses files."""

from __future__ import annotations

from pathlib import Path

from hadpo_cli.errors import UserError, first_few, where
from hadpo_cli.io import iter_jsonl, read_json

IMAGE_LIST = "val_images_final.json"
FACT_FILES = ("shr_factual_part1.jsonl", "shr_factual_part2.jsonl")


def _image_id(value: object, place: str) -> int:
    # Ids arrive as ints in the image list and as strings in the facts/responses keys.
    if isinstance(value, bool):
        raise UserError(f"{place}: image id must be an integer, got {value!r}")
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise UserError(f"{place}: image id must be an integer, got {value!r}") from None


def load_shr_image_ids(shr_path: str | Path) -> list[int]:
    """Image ids of ``<shr>/val_images_final.json`` in file order, first occurrence kept."""
    shr_path = Path(shr_path)
    if not shr_path.is_dir():
        raise UserError(f"{shr_path}: SHR directory not found")
    path = shr_path / IMAGE_LIST
    data = read_json(path)
    if not isinstance(data, list):
        raise UserError(f"{path}: expected a JSON list of objects with 'image_id'")
    ids: list[int] = []
    seen: set[int] = set()
    for i, item in enumerate(data):
        if not isinstance(item, dict) or "image_id" not in item:
            raise UserError(f"{path}: entry {i} has no 'image_id'")
        image_id = _image_id(item["image_id"], f"{path}: entry {i}")
        if image_id not in seen:  # the published script keys judgements by id, so repeats collapse
            seen.add(image_id)
            ids.append(image_id)
    if not ids:
        raise UserError(f"{path}: lists no images")
    return ids


def load_shr_facts(shr_path: str | Path) -> dict[int, list[str]]:
    """Human-written facts per image id from both ``shr_factual_part*.jsonl`` files."""
    facts: dict[int, list[str]] = {}
    for name in FACT_FILES:
        path = Path(shr_path) / name
        for lineno, obj in iter_jsonl(path):
            place = where(path, lineno)
            if not isinstance(obj, dict) or len(obj) != 1:
                raise UserError(f'{place}: expected one {{"<image_id>": [fact, ...]}} object')
            ((key, value),) = obj.items()
            if not isinstance(value, list) or not all(isinstance(f, str) for f in value):
                raise UserError(f"{place}: facts for image {key} must be a list of strings")
            facts[_image_id(key, place)] = value
    return facts


def load_responses(path: str | Path) -> dict[int, str]:
    """A responses file ``{"<image_id>": "<text>", ...}`` (any model's) keyed by int id."""
    data = read_json(path, unique_keys=True)  # as `hadpo score` refuses duplicate answers
    if not isinstance(data, dict):
        raise UserError(f'{path}: expected a JSON object {{"<image_id>": "<text>", ...}}')
    out: dict[int, str] = {}
    keys: dict[int, str] = {}
    for key, text in data.items():
        image_id = _image_id(key, f"{path}: key {key!r}")
        if not isinstance(text, str):
            raise UserError(f"{path}: response for image {key} must be a string, got {type(text).__name__}")
        if image_id in out:
            raise UserError(
                f"{path}: image {image_id} has two responses (keys {keys[image_id]!r} and {key!r})"
            )
        out[image_id], keys[image_id] = text, key
    return out


def require_responses(responses: dict[int, str], image_ids: list[int], source: str | Path) -> None:
    """Every SHR image needs a response: one error naming the missing ones, before any request."""
    missing = [i for i in image_ids if i not in responses]
    if missing:
        raise UserError(
            f"{source}: no response for {len(missing)} of {len(image_ids)} SHR images: {first_few(missing)}"
        )
