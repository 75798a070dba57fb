"""Judge replies, appended to a JSON Lines file as they arrive; a rerun asks only for what is missing.

A reply is keyed on everything that shapes it: backend, judge model, temperature, reply length,
the item it is about, the independent run, the re-ask attempt, and the prompt itself. Its token
usage is stored with it, so what a finished run cost can still be told after a crash. A torn last
line (kill -9 mid-write) is cut on the next start.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hadpo_cli.errors import UserError
from hadpo_cli.io import JsonlAppender, iter_appended_jsonl
from hadpo_cli.judging.backends import Completion, JudgeConfig

FIX = "move the judge cache aside to judge again"


def cache_key(config: JudgeConfig, *, item: str, run: int, attempt: int, prompt: str) -> str:
    """Two re-asks may send the same text, and K independent runs send the same prompt: the run
    and attempt keep them apart."""
    blob = json.dumps(
        {
            "backend": config.backend,
            "judge_model": config.model,
            "temperature": config.temperature,
            "max_tokens": config.max_tokens,
            "item": item,
            "run": run,
            "attempt": attempt,
            "prompt": prompt,
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedReply:
    text: str
    prompt_tokens: int | None
    completion_tokens: int | None


class JudgeCache:
    """Replies by key; the file is opened for appending on the first new reply only."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._replies: dict[str, CachedReply] = {}
        for line, rec in iter_appended_jsonl(self.path, fix=FIX):
            if (
                not isinstance(rec, dict)
                or not isinstance(rec.get("key"), str)
                or not isinstance(rec.get("reply"), str)
            ):
                raise UserError(f"{self.path}:{line}: not a judge cache record; {FIX}")
            self._replies[rec["key"]] = CachedReply(
                rec["reply"], _tokens(rec.get("prompt_tokens")), _tokens(rec.get("completion_tokens"))
            )
        self._appender: JsonlAppender | None = None

    def __len__(self) -> int:
        return len(self._replies)

    def get(self, key: str) -> CachedReply | None:
        return self._replies.get(key)

    def put(self, key: str, completion: Completion, **context: Any) -> None:
        if self._appender is None:  # a rerun that is all hits writes nothing
            self._appender = JsonlAppender(self.path)
        self._appender.write(
            {
                "key": key,
                **context,
                "reply": completion.text,
                "prompt_tokens": completion.prompt_tokens,
                "completion_tokens": completion.completion_tokens,
            }
        )
        self._replies[key] = CachedReply(
            completion.text, completion.prompt_tokens, completion.completion_tokens
        )

    def close(self) -> None:
        if self._appender is not None:
            self._appender.close()
            self._appender = None


def _tokens(value: Any) -> int | None:
    return value if isinstance(value, int) and value >= 0 else None
