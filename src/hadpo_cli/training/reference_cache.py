"""The precomputed reference log-probs file, reused only by a run on the same data and model."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from hadpo_cli.io import atomic_write_json

FILENAME = "ref_logps.json"


def file_digest(path: Path | None) -> str | None:
    if path is None:
        return None
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fingerprint(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def load(output_dir: Path, expected: str) -> dict[int, tuple[float, float]] | None:
    path = Path(output_dir) / FILENAME
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if data.get("fingerprint") != expected:
        return None
    return {int(k): (float(v[0]), float(v[1])) for k, v in data["values"].items()}


def save(output_dir: Path, key: str, values: dict[int, tuple[float, float]]) -> Path:
    path = Path(output_dir) / FILENAME
    atomic_write_json(
        path, {"fingerprint": key, "values": {str(k): list(v) for k, v in sorted(values.items())}}
    )
    return path
