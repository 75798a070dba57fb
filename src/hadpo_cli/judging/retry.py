"""How long to wait before retrying a judge request: the server's ``Retry-After``, else backoff."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping

# Statuses worth another try: rate limits, server trouble, and the two the API uses for
# "try again" (request timeout, conflict), as the openai client itself treats them.
RETRYABLE_STATUS = frozenset({408, 409, 429})


def retryable(status: int) -> bool:
    return status in RETRYABLE_STATUS or status >= 500


def retry_after_seconds(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds a server asked us to wait: ``retry-after-ms``, ``retry-after`` (seconds or HTTP date)."""
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_delay(attempt: int, base_s: float, cap_s: float, retry_after: float | None) -> float:
    """Wait before retry number ``attempt`` (0-based): the server's ask, else jittered exponential.

    Jitter keeps N workers that hit a 429 together from retrying together.
    """
    if retry_after is not None:
        return min(cap_s, retry_after)
    return min(cap_s, base_s * (2**attempt)) * random.uniform(0.5, 1.0)
