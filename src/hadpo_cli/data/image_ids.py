"""Lists of image ids a user gives (``--image-ids``, ``--exclude-ids``) and the seeded draws."""

from __future__ import annotations

import json
import random
from collections.abc import Collection
from pathlib import Path

from hadpo_cli.errors import UserError
from hadpo_cli.io import open_text


def read_image_ids(path: Path) -> list[int]:
    """A JSON list of ids (or of objects with ``image_id``, as SHR's val_images_final.json), or one id
    per line; a repeat is refused (it would be described twice)."""
    with open_text(path) as fh:
        text = fh.read()
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            values = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}: not valid JSON ({exc.msg})") from None
        rows = [(None, v.get("image_id") if isinstance(v, dict) else v) for v in values]
    else:
        rows = [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    ids: list[int] = []
    seen: set[int] = set()
    for line, value in rows:
        place = f"{path}:{line}" if line is not None else str(path)
        if isinstance(value, bool):
            raise UserError(f"{place}: not an image id: {value!r}")
        try:
            image_id = int(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise UserError(f"{place}: not an image id: {value!r}") from None
        if image_id in seen:
            raise UserError(f"{place}: image {image_id} is listed twice")
        seen.add(image_id)
        ids.append(image_id)
    if not ids:
        raise UserError(f"{path}: lists no image ids")
    return ids


def draw(pool: Collection[int], n: int, seed: int, *, what: str) -> list[int]:
    """``n`` ids drawn from ``pool`` with ``seed`` (the same every time), in id order."""
    if n > len(pool):
        raise UserError(f"--num-images {n}: {what} holds {len(pool)} images; ask for fewer")
    return sorted(random.Random(seed).sample(sorted(pool), n))
