"""What judging cost: requests sent, tokens spent, and an estimate in money when prices are given."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hadpo_cli.judging.backends import Completion


@dataclass
class Usage:
    """Counted over one run: ``requests`` are HTTP requests sent (retries included), the token
    counts those of the replies received now; replies served from the cache are counted apart,
    so a rerun that pays for nothing shows zero new tokens."""

    requests: int = 0
    replies: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    without_usage: int = 0  # new replies whose server did not report token counts
    cached_replies: int = 0
    cached_prompt_tokens: int = 0
    cached_completion_tokens: int = 0

    def add_new(self, completion: Completion) -> None:
        self.replies += 1
        if completion.prompt_tokens is None or completion.completion_tokens is None:
            self.without_usage += 1
        self.prompt_tokens += completion.prompt_tokens or 0
        self.completion_tokens += completion.completion_tokens or 0

    def add_cached(self, prompt_tokens: int | None, completion_tokens: int | None) -> None:
        self.cached_replies += 1
        self.cached_prompt_tokens += prompt_tokens or 0
        self.cached_completion_tokens += completion_tokens or 0

    def to_json(self, price_in: float | None = None, price_out: float | None = None) -> dict[str, Any]:
        """``metrics.json``'s ``usage``: this run's spend, then what the cached replies had cost."""
        return {
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "estimated_cost": estimated_cost(self.prompt_tokens, self.completion_tokens, price_in, price_out),
            "replies_without_usage": self.without_usage,
            "cached_replies": self.cached_replies,
            "cached_prompt_tokens": self.cached_prompt_tokens,
            "cached_completion_tokens": self.cached_completion_tokens,
        }


def estimated_cost(
    prompt_tokens: int, completion_tokens: int, price_in: float | None, price_out: float | None
) -> float | None:
    """Prices are per million tokens; None when they were not given (no guess at a price list)."""
    if price_in is None or price_out is None:
        return None
    return round((prompt_tokens * price_in + completion_tokens * price_out) / 1e6, 6)


def describe(usage: dict[str, Any]) -> str:
    """One line for stderr: ``judge: 12 requests, 3,400 + 800 tokens (~$0.15); 4 cached replies``."""
    cost = usage.get("estimated_cost")
    money = f" (~${cost:,.4g})" if cost is not None else ""
    line = (
        f"judge: {usage['requests']} requests, {usage['prompt_tokens']:,} prompt + "
        f"{usage['completion_tokens']:,} completion tokens{money}"
    )
    if usage.get("cached_replies"):
        line += f"; {usage['cached_replies']} replies from the cache (no new cost)"
    if usage.get("replies_without_usage"):
        line += f"; {usage['replies_without_usage']} replies came without token counts"
    return line
