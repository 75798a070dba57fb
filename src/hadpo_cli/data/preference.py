"""HA-DPO preference pairs: ``pope_data.json`` and ``desc_data.json`` on Visual Genome images.

Everything a user can get wrong in these files (a missing field, an id that is not in
Visual Genome, an image file that is not on disk) is found here, before any model loads,
and reported as one :class:`UserError`. Images are not opened: training loads them lazily.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hadpo_cli.data.visual_genome import VGImage, check_images_exist, load_vg_images
from hadpo_cli.errors import UserError, first_few
from hadpo_cli.io import read_json

# The four phrasings the HA-DPO release draws from for description pairs.
DESC_PROMPTS: tuple[str, ...] = (
    "Describe this image in detail.",
    "Take a look at this image and describe what you notice.",
    "Please provide a detailed description of the picture.",
    "Could you describe the contents of this image for me?",
)


@dataclass(frozen=True)
class PreferencePair:
    image_path: Path
    prompt: str
    chosen: str
    rejected: str
    source: str  # "pope" or "desc"
    image_id: int


@dataclass(frozen=True)
class _Item:
    """One validated record before its image id is resolved to a file."""

    file: Path
    image_id: int
    prompt: str
    chosen: str
    rejected: str
    source: str


def load_preference_pairs(
    pope_data: Path | None,
    desc_data: Path | None,
    vg_path: Path,
    *,
    seed: int = 42,
    pope_repeat: int = 2,
    desc_repeat: int = 1,
) -> list[PreferencePair]:
    """All training pairs, POPE pairs repeated ``pope_repeat`` times (2 gives the paper's 2:1 mix).

    Validates every record, id and image file first, so a bad dataset fails in seconds.
    """
    if pope_data is None and desc_data is None:
        raise UserError("no training data: give --pope-data, --desc-data, or both")
    if pope_repeat < 1:
        raise ValueError(f"pope_repeat must be at least 1, got {pope_repeat}")

    pope_items = _read_pope(Path(pope_data)) if pope_data is not None else []
    desc_items = _read_desc(Path(desc_data), seed) if desc_data is not None else []
    items = pope_items + desc_items
    if not items:
        raise UserError(f"no preference pairs to train on: {_why_empty(pope_data, desc_data)}")

    images = load_vg_images(vg_path)
    _check_ids_resolve(items, images, Path(vg_path))
    check_images_exist(sorted({images[item.image_id].path for item in items}), what="Visual Genome image")

    return mix([_pair(item, images) for item in pope_items + desc_items], pope_repeat, desc_repeat)


def mix(pairs: list[PreferencePair], pope_repeat: int, desc_repeat: int) -> list[PreferencePair]:
    """The training list: the POPE pairs ``pope_repeat`` times, then the description pairs
    ``desc_repeat`` times (``pairs`` taken once each, POPE first, as loaded)."""
    pope = [p for p in pairs if p.source == "pope"]
    desc = [p for p in pairs if p.source != "pope"]
    return pope * pope_repeat + desc * desc_repeat


def _read_pope(path: Path) -> list[_Item]:
    items: list[_Item] = []
    for index, record in enumerate(_read_list(path)):
        image_id = _image_id(record, path, index)
        fields = _Fields(record, path, index, image_id)
        question, chosen, rejected = fields.text("question"), fields.text("chosen"), fields.text("rejected")
        # The model already answered these right, so there is nothing to prefer (as the release does).
        if fields.flag("correct"):
            continue
        items.append(_Item(path, image_id, question, chosen, rejected, "pope"))
    return items


def _read_desc(path: Path, seed: int) -> list[_Item]:
    # One generator for the whole file, drawn in file order: the same seed gives the same
    # pairs in every run and every process (no hash randomisation involved).
    rng = random.Random(seed)
    items: list[_Item] = []
    for index, record in enumerate(_read_list(path)):
        image_id = _image_id(record, path, index)
        fields = _Fields(record, path, index, image_id)
        chosen_options, rejected_options = fields.texts("chosen"), fields.texts("rejected")
        chosen = _one_line(rng.choice(chosen_options))
        rejected = _one_line(rng.choice(rejected_options))
        prompt = rng.choice(DESC_PROMPTS)
        items.append(_Item(path, image_id, prompt, chosen, rejected, "desc"))
    return items


def _read_list(path: Path) -> list[Any]:
    data = read_json(path)
    if not isinstance(data, list):
        raise UserError(f"{path}: expected a JSON list of objects, got {type(data).__name__}")
    return data


def _image_id(record: Any, path: Path, index: int) -> int:
    if not isinstance(record, dict):
        raise UserError(f"{path}: item {index}: expected a JSON object, got {type(record).__name__}")
    if "image_id" not in record:
        raise UserError(f"{path}: item {index}: missing field 'image_id'")
    value = record["image_id"]
    # The release writes ids as numbers, but some copies carry them as strings of digits.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise UserError(f"{path}: item {index}: field 'image_id' must be an integer, got {value!r}")


class _Fields:
    """Typed access to one record's fields; every error names the file, item and image id."""

    def __init__(self, record: dict[str, Any], path: Path, index: int, image_id: int) -> None:
        self.record, self.path, self.index, self.image_id = record, path, index, image_id

    def _fail(self, message: str) -> UserError:
        return UserError(f"{self.path}: item {self.index} (image_id {self.image_id}): {message}")

    def _get(self, key: str) -> Any:
        if key not in self.record:
            raise self._fail(f"missing field {key!r}")
        return self.record[key]

    def text(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str) or not value.strip():
            raise self._fail(f"field {key!r} must be a non-empty string, got {_describe(value)}")
        return value

    def texts(self, key: str) -> list[str]:
        value = self._get(key)
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, str) and v.strip() for v in value)
        ):
            raise self._fail(
                f"field {key!r} must be a non-empty list of non-empty strings, got {_describe(value)}"
            )
        return value

    def flag(self, key: str) -> bool:
        value = self._get(key)
        if not isinstance(value, bool):
            raise self._fail(f"field {key!r} must be true or false, got {_describe(value)}")
        return value


def _describe(value: Any) -> str:
    shown = repr(value)
    return f"{type(value).__name__} {shown if len(shown) <= 40 else shown[:37] + '...'}"


def _one_line(text: str) -> str:
    # GPT-written descriptions carry line breaks the release strips; the model should not
    # learn to emit them before EOS.
    return " ".join(text.split())


def _check_ids_resolve(items: list[_Item], images: dict[int, VGImage], vg_path: Path) -> None:
    unresolved = _unique(item.image_id for item in items if item.image_id not in images)
    if not unresolved:
        return
    files = ", ".join(str(f) for f in _unique(item.file for item in items if item.image_id not in images))
    total = len(_unique(item.image_id for item in items))
    raise UserError(
        f"{len(unresolved)} of {total} image ids in {files} are not in "
        f"{vg_path / 'image_data.json'}: {first_few(unresolved)}"
    )


def _unique(values: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


def _why_empty(pope_data: Path | None, desc_data: Path | None) -> str:
    reasons = []
    if pope_data is not None:
        reasons.append(f'{pope_data} has no items with "correct": false')
    if desc_data is not None:
        reasons.append(f"{desc_data} has no items")
    return "; ".join(reasons)


def _pair(item: _Item, images: dict[int, VGImage]) -> PreferencePair:
    return PreferencePair(
        image_path=images[item.image_id].path,
        prompt=item.prompt,
        chosen=item.chosen,
        rejected=item.rejected,
        source=item.source,
        image_id=item.image_id,
    )
