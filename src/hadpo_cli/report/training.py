"""Training runs as `hadpo train` (a ``transformers.Trainer``) leaves them: ``trainer_state.json``
with its ``log_history``, and ``settings.json`` beside it.

A run stopped before its final save has only ``checkpoint-N/`` folders; the newest one's
state (and the settings snapshot written into every checkpoint) stands in for it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hadpo_cli.errors import UserError
from hadpo_cli.io import read_json

STATE_FILE = "trainer_state.json"
SETTINGS_FILES = ("settings.json", "hadpo_settings.json")  # final save; checkpoint snapshot
CURVES = ("loss", "rewards/margins", "rewards/accuracies", "logps/chosen", "logps/rejected", "learning_rate")
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


@dataclass
class TrainingRun:
    folder: Path
    state_file: Path
    global_step: int
    logs: list[dict[str, Any]]  # the log_history entries of training steps (those with a loss)
    settings: dict[str, Any] = field(default_factory=dict)

    def curve(self, key: str) -> tuple[list[float], list[float]]:
        points = [
            (h["step"], h[key]) for h in self.logs if isinstance(h.get(key), (int, float)) and "step" in h
        ]
        return [float(s) for s, _ in points], [float(v) for _, v in points]


def find_training_runs(path: Path) -> list[TrainingRun]:
    if path.is_file():
        return [read_run(path)] if path.name == STATE_FILE else []
    out = []
    for root, dirs, files in os.walk(path):
        folder = Path(root)
        checkpoints = sorted(
            (d for d in dirs if _CHECKPOINT.match(d)), key=lambda d: int(_CHECKPOINT.match(d).group(1))
        )
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not _CHECKPOINT.match(d))
        if STATE_FILE in files:
            out.append(read_run(folder / STATE_FILE))
        elif checkpoints and (folder / checkpoints[-1] / STATE_FILE).is_file():
            out.append(read_run(folder / checkpoints[-1] / STATE_FILE, folder=folder))
    return out


def read_run(state_file: Path, folder: Path | None = None) -> TrainingRun:
    state = read_json(state_file)
    history = state.get("log_history") if isinstance(state, dict) else None
    if not isinstance(history, list):
        raise UserError(f"{state_file}: expected a Trainer state with a 'log_history' list")
    logs = [h for h in history if isinstance(h, dict) and "loss" in h]
    settings: dict[str, Any] = {}
    for name in SETTINGS_FILES:
        for where in (state_file.parent, folder):
            if where is not None and (where / name).is_file():
                doc = read_json(where / name)
                settings = doc if isinstance(doc, dict) else {}
                break
        if settings:
            break
    step = state.get("global_step")
    return TrainingRun(
        folder=folder or state_file.parent,
        state_file=state_file,
        global_step=int(step) if isinstance(step, int) else (int(logs[-1].get("step", 0)) if logs else 0),
        logs=logs,
        settings=settings,
    )
