"""OpenAI-compatible chat completions (api.openai.com, vLLM, llama.cpp, a gateway, the local judge).

Speaks through the official ``openai`` package (imported when a client is made) and owns the
retry policy: the client's own retries are off (``max_retries=0``) so that the bound here is
the only one. The key comes from ``--api-key`` or ``OPENAI_API_KEY``; the endpoint from
``--base-url`` or ``OPENAI_BASE_URL``.
"""

from __future__ import annotations

import asyncio

from hadpo_cli.errors import UserError
from hadpo_cli.judging.backends import (
    BackendSpec,
    Completion,
    JudgeConfig,
    JudgeUnavailable,
    Sleep,
    register,
)
from hadpo_cli.judging.retry import backoff_delay, retry_after_seconds, retryable
from hadpo_cli.settings.judge import public_url

DEFAULT_BASE_URL = "https://api.openai.com/v1"  # the openai client's, when no --base-url is given

# Statuses that would fail the same way for every item: stop the run instead of recording every
# item as unjudged.
FATAL_STATUS = {
    401: "the judge rejected the API key",
    403: "the API key may not use this model",
    404: "not found",
}


class _NotACompletion(Exception):
    """A 200 whose body is not a chat completion: retried like a transient failure."""


class OpenAIChatBackend:
    """Chat-completions judge with bounded retries; create and close it inside one event loop."""

    def __init__(self, config: JudgeConfig, *, sleep: Sleep = asyncio.sleep):
        import openai  # heavy and only needed when judging

        self._openai = openai
        self.config = config
        self.retries = 0
        self.requests = 0
        self._sleep = sleep
        self._reachable = False
        self._probe_lock = asyncio.Lock()
        self._client = openai.AsyncOpenAI(
            api_key=config.api_key, base_url=config.base_url, max_retries=0, timeout=config.timeout_s
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def complete(self, prompt: str) -> Completion:
        """The reply; retries transient failures, raises :class:`JudgeUnavailable` after the bound."""
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
                if not retryable(status):
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

    async def _request(self, prompt: str) -> Completion:
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
        usage = getattr(completion, "usage", None)
        # None content (e.g. a refusal or a filtered reply) fails to parse and is asked again.
        return Completion(
            text=completion.choices[0].message.content or "",
            prompt_tokens=getattr(usage, "prompt_tokens", None),
            completion_tokens=getattr(usage, "completion_tokens", None),
        )

    async def _check_reachable(self) -> None:
        """Before the first request: can the endpoint be reached at all? A wrong --base-url (or no
        network) would otherwise cost every item its full retry budget, then read as a run with
        nothing judged."""
        if self._reachable:
            return
        async with self._probe_lock:
            if self._reachable:
                return
            from urllib.parse import urlsplit

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
        where = public_url(self.config.base_url) if self.config.base_url else "api.openai.com"
        what = FATAL_STATUS[status]
        if status == 404:
            what = f"judge model {self.config.model!r} or endpoint not found"
        return f"{where}: HTTP {status}, {what} (check --api-key/OPENAI_API_KEY, --base-url, --judge-model)"


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


register(
    BackendSpec(
        name="openai",
        summary="OpenAI-compatible chat completions (api.openai.com, vLLM, llama.cpp, gateways)",
        key_env="OPENAI_API_KEY",
        url_env="OPENAI_BASE_URL",
        default_url=DEFAULT_BASE_URL,
        client=OpenAIChatBackend,
    )
)
