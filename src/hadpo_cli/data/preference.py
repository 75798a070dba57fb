"""HA-DPO preference pairs: ``pope_data.json`` and ``desc_data.json`` on Visual Genome images.

Everything a user can get wrong in these files (a missing field, an id that is not in
Visual Genome, an image file that is not on disk) is found here, before any model loads,
and reported as one :class:`UserError`. Images are not decoded: their headers are checked up front, their pixels loaded lazily.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

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


DescWhitespace = Literal["delete-newlines", "collapse", "keep"]
DescPromptStream = Literal["separate", "shared"]


def load_preference_pairs(
    pope_data: Path | None,
    desc_data: Path | None,
    vg_path: Path,
    *,
    seed: int = 42,
    pope_repeat: int = 2,
    desc_repeat: int = 1,
    desc_whitespace: DescWhitespace = "delete-newlines",
    desc_prompt_stream: DescPromptStream = "separate",
) -> list[PreferencePair]:
    """All training pairs: the POPE pairs ``pope_repeat`` times, then the description pairs
    ``desc_repeat`` times (2 and 1 give the InstructBLIP recipe's 2:1 mix; 1 and 2 LLaVA's).

    ``desc_prompt_stream``: ``separate`` draws the description prompts from a generator of their
    own, so the chosen/rejected draws are the InstructBLIP release's; ``shared`` draws each item's
    prompt right after its pair from the same generator, as the LLaVA release does.
    Validates every record, id and image file first, so a bad dataset fails in seconds.
    """
    if pope_data is None and desc_data is None:
        raise UserError("no training data: give --pope-data, --desc-data, or both")
    for name, repeat in (("pope_repeat", pope_repeat), ("desc_repeat", desc_repeat)):
        if repeat < 1:
            raise ValueError(f"{name} must be at least 1, got {repeat}")

    pope_items = _read_pope(Path(pope_data)) if pope_data is not None else []
    desc_items: list[_Item] = []
    if desc_data is not None:
        desc_items = _read_desc(Path(desc_data), seed, desc_whitespace, desc_prompt_stream)
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
    data = read_json(path)
    if not isinstance(data, list):
        raise UserError(f"{path}: expected a JSON list of objects, got {type(data).__name__}")
    items: list[_Item] = []
    for index, record in enumerate(data):
        fields = _Fields.of_list_item(record, path, index)
        question, chosen = fields.text("question"), fields.text("chosen")
        rejected = fields.rejected(text=True)
        # The model already answered these right, so there is nothing to prefer (as the release does).
        if fields.flag("correct"):
            continue
        items.append(_Item(path, fields.image_id, question, chosen, rejected, "pope"))
    return items


def _read_desc(
    path: Path, seed: int, whitespace: DescWhitespace, prompt_stream: DescPromptStream
) -> list[_Item]:
    # The release seeds Python's global `random` and then, in file order, draws one chosen and
    # one rejected string per item before anything else draws. A generator of our own seeded the
    # same way makes the same draws (same seed, same strings as the published run) without
    # touching global state. The release's prompts are drawn at each access, from a stream the
    # Trainer reseeds and the shuffled access order decides: that cannot be replayed, so a second
    # generator draws one per pair, fixed, which keeps precomputed references and resumes valid.
    rng = random.Random(seed)
    prompt_rng = rng if prompt_stream == "shared" else random.Random(f"hadpo desc prompts {seed}")
    clean = _CLEANERS[whitespace]
    items: list[_Item] = []
    for fields in _desc_records(path):
        chosen_options, rejected_options = fields.texts("chosen"), fields.rejected(text=False)
        chosen = clean(rng.choice(chosen_options))
        rejected = clean(rng.choice(rejected_options))
        prompt = prompt_rng.choice(DESC_PROMPTS)
        items.append(_Item(path, fields.image_id, prompt, chosen, rejected, "desc"))
    return items


def _desc_records(path: Path) -> Iterator[_Fields]:
    """A list of items (InstructBLIP, MiniGPT-4 releases) or a dict keyed by image id (LLaVA's),
    in file order either way: the draws follow it."""
    data = read_json(path)
    if isinstance(data, list):
        for index, record in enumerate(data):
            yield _Fields.of_list_item(record, path, index)
    elif isinstance(data, dict):
        for key, record in data.items():
            yield _Fields.of_keyed_item(record, path, key)
    else:
        raise UserError(
            f"{path}: expected a JSON list of objects or an object keyed by image id, got {type(data).__name__}"
        )


def _parse_image_id(value: Any) -> int | None:
    # The release writes ids as numbers, but some copies carry them as strings of digits.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


class _Fields:
    """Typed access to one record's fields; every error names the file and the item."""

    def __init__(self, record: dict[str, Any], path: Path, where: str, image_id: int) -> None:
        self.record, self.path, self.where, self.image_id = record, path, where, image_id

    @classmethod
    def of_list_item(cls, record: Any, path: Path, index: int) -> _Fields:
        where = f"item {index}"
        if not isinstance(record, dict):
            raise UserError(f"{path}: {where}: expected a JSON object, got {type(record).__name__}")
        if "image_id" not in record:
            raise UserError(f"{path}: {where}: missing field 'image_id'")
        image_id = _parse_image_id(record["image_id"])
        if image_id is None:
            raise UserError(
                f"{path}: {where}: field 'image_id' must be an integer, got {record['image_id']!r}"
            )
        return cls(record, path, f"{where} (image_id {image_id})", image_id)

    @classmethod
    def of_keyed_item(cls, record: Any, path: Path, key: str) -> _Fields:
        where = f"item {key!r}"
        image_id = _parse_image_id(key)
        if image_id is None:
            raise UserError(f"{path}: {where}: keys must be image ids (integers)")
        if not isinstance(record, dict):
            raise UserError(f"{path}: {where}: expected a JSON object, got {type(record).__name__}")
        # The value may repeat its id; one that disagrees with its key is a broken file.
        if "image_id" in record and _parse_image_id(record["image_id"]) != image_id:
            raise UserError(
                f"{path}: {where}: field 'image_id' is {record['image_id']!r}, not the key's {image_id}"
            )
        return cls(record, path, where, image_id)

    def _fail(self, message: str) -> UserError:
        return UserError(f"{self.path}: {self.where}: {message}")

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

    def rejected(self, *, text: bool) -> Any:
        """The hallucinated answer(s): ``rejected`` in the InstructBLIP release, ``reject`` in the
        LLaVA and MiniGPT-4 ones. Both in one item would leave us guessing which is meant."""
        present = [key for key in ("rejected", "reject") if key in self.record]
        if len(present) == 2:
            raise self._fail("has both 'rejected' and 'reject'; keep one")
        if not present:
            raise self._fail("missing field 'rejected' (or 'reject')")
        return self.text(present[0]) if text else self.texts(present[0])

    def flag(self, key: str) -> bool:
        value = self._get(key)
        if not isinstance(value, bool):
            raise self._fail(f"field {key!r} must be true or false, got {_describe(value)}")
        return value


def _describe(value: Any) -> str:
    shown = repr(value)
    return f"{type(value).__name__} {shown if len(shown) <= 40 else shown[:37] + '...'}"


def _delete_newlines(text: str) -> str:
    # The release's `.replace("\n", "")`: "table.\nThe" becomes "table.The", as it trained.
    return text.replace("\n", "")


def _collapse_whitespace(text: str) -> str:
    # Every run of whitespace (line breaks included) becomes one space: no glued sentences,
    # and the model does not learn to emit line breaks before EOS.
    return " ".join(text.split())


# "keep" is the LLaVA-1.5 release, whose train_dpo.py uses the strings as they are.
_CLEANERS = {"delete-newlines": _delete_newlines, "collapse": _collapse_whitespace, "keep": str}


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
