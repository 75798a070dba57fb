"""The LLM judge behind a small interface, and its OpenAI-compatible implementation.

The pipeline only needs ``await judge.judge(prompt) -> reply text`` (see :class:`Judge`);
tests and other backends can provide that without ``openai``. :class:`OpenAIJudge` speaks
chat completions through the official ``openai`` package (imported lazily) and owns the
retry policy: the client's own retries are switched off (``max_retries=0``) so that the
bound here is the only one.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from hadpo_cli.errors import UserError

# Statuses worth another try: rate limits, server trouble, and the two the API uses for
# "try again" (request timeout, conflict), as the openai client itself treats them.
RETRYABLE_STATUS = frozenset({408, 409, 429})
# Statuses that would fail the same way for every image: stop the run instead of
# recording every image as unjudged.
FATAL_STATUS = {
    401: "the judge rejected the API key",
    403: "the API key may not use this model",
    404: "not found",
}


class Judge(Protocol):
    """Anything that turns one prompt into one reply; ``retries`` feeds the progress bar."""

    retries: int

    async def judge(self, prompt: str) -> str: ...


DEFAULT_BASE_URL = "https://api.openai.com/v1"  # the openai client's, when no --base-url is given


class _NotACompletion(Exception):
    """A 200 whose body is not a chat completion: retried like a transient failure."""


class JudgeUnavailable(Exception):
    """The request failed after every allowed retry (or with a non-retryable error)."""


@dataclass(frozen=True)
class JudgeConfig:
    model: str
    api_key: str
    base_url: str | None = None
    temperature: float = 0.0
    max_tokens: int = 800
    timeout_s: float = 60.0
    max_retries: int = 6
    backoff_s: float = 1.0
    max_wait_s: float = 120.0

    def __repr__(self) -> str:  # the key must not reach a log or traceback through repr()
        return f"JudgeConfig(model={self.model!r}, base_url={self.base_url!r}, api_key=***)"


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


class OpenAIJudge:
    """Chat-completions judge with bounded retries; create and close it inside one event loop."""

    def __init__(self, config: JudgeConfig, *, sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep):
        import openai  # heavy and only needed when judging

        self._openai = openai
        self.config = config
        self.retries = 0
        self.requests = 0
        self._sleep = sleep
        self._reachable = False
        self._probe_lock = asyncio.Lock()
        self._client = openai.AsyncOpenAI(
            api_key=config.api_key,
            base_url=config.base_url,
            max_retries=0,
            timeout=config.timeout_s,
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def judge(self, prompt: str) -> str:
        """The reply text; retries transient failures, raises :class:`JudgeUnavailable` after the bound."""
        await self._check_reachable()
        attempt = 0
        while True:
            try:
                return await self._request(prompt)
            except JudgeUnavailable:
                raise
            except self._openai.APIStatusError as exc:
                status = exc.status_code
                if status in FATAL_STATUS:
                    raise UserError(self._fatal_message(status)) from None
                if status not in RETRYABLE_STATUS and status < 500:
                    raise JudgeUnavailable(f"HTTP {status}: {_short(exc.message)}") from None
                problem, retry_after = f"HTTP {status}", retry_after_seconds(exc.response.headers)
            except self._openai.APITimeoutError:
                problem, retry_after = f"timed out after {self.config.timeout_s:g} s", None
            except self._openai.APIConnectionError as exc:
                problem, retry_after = f"connection error ({_short(str(exc.__cause__ or exc))})", None
            except _NotACompletion as exc:
                problem, retry_after = str(exc), None
            if attempt >= self.config.max_retries:
                raise JudgeUnavailable(f"{problem}; gave up after {attempt + 1} tries")
            self.retries += 1
            await self._sleep(
                backoff_delay(attempt, self.config.backoff_s, self.config.max_wait_s, retry_after)
            )
            attempt += 1

    async def _request(self, prompt: str) -> str:
        self.requests += 1
        try:
            completion = await self._client.chat.completions.create(
                model=self.config.model,
                messages=[{"role": "user", "content": prompt}],
                temperature=self.config.temperature,
                max_tokens=self.config.max_tokens,
            )
        except (ValueError, self._openai.APIResponseValidationError) as exc:  # JSONDecodeError is one
            raise _NotACompletion(
                f"a 200 reply that is not a chat completion ({_short(str(exc), 80)})"
            ) from None
        if not hasattr(completion, "choices"):
            # A non-JSON 200 (a proxy's login page) comes back from the client as plain text.
            raise _NotACompletion(f"a 200 reply that is not JSON: {_short(str(completion), 80)!r}")
        if not completion.choices:
            raise JudgeUnavailable("the judge returned no choices")
        # None content (e.g. a refusal or a filtered reply) parses as malformed and is asked again.
        return completion.choices[0].message.content or ""

    async def _check_reachable(self) -> None:
        """Before the first request: can the endpoint be reached at all? A wrong --base-url (or no
        network) would otherwise cost every image its full retry budget, then read as a run
        with nothing judged."""
        if self._reachable:
            return
        async with self._probe_lock:
            if self._reachable:
                return
            from urllib.parse import urlsplit

            from hadpo_cli.settings.eval_shr import public_url

            url = self.config.base_url or DEFAULT_BASE_URL
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            try:
                _, writer = await asyncio.wait_for(
                    asyncio.open_connection(parts.hostname, port), timeout=self.config.timeout_s
                )
                writer.close()
            except (OSError, asyncio.TimeoutError) as exc:
                reason = str(exc) or type(exc).__name__
                raise UserError(
                    f"{public_url(url)}: cannot reach the judge ({_short(reason, 120)}); check --base-url "
                    "(replies already cached are kept)"
                ) from None
            self._reachable = True

    def _fatal_message(self, status: int) -> str:
        from hadpo_cli.settings.eval_shr import public_url

        where = public_url(self.config.base_url) if self.config.base_url else "api.openai.com"
        what = FATAL_STATUS[status]
        if status == 404:
            what = f"judge model {self.config.model!r} or endpoint not found"
        return f"{where}: HTTP {status}, {what} (check --api-key/OPENAI_API_KEY, --base-url, --judge-model)"


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
