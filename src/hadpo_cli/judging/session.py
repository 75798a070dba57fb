"""Asking the judge: concurrency, the cache, bounded re-asks of unusable replies, progress, usage.

:func:`run_judged` opens a :class:`JudgeSession` inside an event loop, hands it to the caller's
coroutine and closes everything afterwards, whatever happens. ``session.ask(request, parse,
reask)`` is the one way a reply is obtained: from the cache, or from the backend (at most
``concurrency`` requests in flight over the whole run), appended to the cache at once, then
parsed; a reply ``parse`` rejects (any ``ValueError``) is asked again with ``reask``'s prompt, at
most ``max_reasks`` times, then reported as malformed, never dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from hadpo_cli.judging.backends import BackendFactory, JudgeBackend, JudgeConfig, JudgeUnavailable
from hadpo_cli.judging.cache import JudgeCache, cache_key
from hadpo_cli.judging.usage import Usage

T = TypeVar("T")
R = TypeVar("R")

# How far the judge got with one request.
JUDGED, MALFORMED, FAILED = "judged", "malformed", "failed"


@dataclass(frozen=True)
class JudgeRequest:
    """One question to the judge about one item; ``run`` tells K independent judgements apart."""

    item: str
    prompt: str
    run: int = 1


@dataclass
class Outcome(Generic[T]):
    status: str  # JUDGED, MALFORMED or FAILED
    value: T | None = None  # what parse returned, when judged
    reply: str | None = None  # the last reply (the one parsed, or the last unusable one)
    replies: int = 0  # replies this request took (re-asks included)
    error: str | None = None


def _no_update(progress: JudgeProgress) -> None:
    return None


@dataclass
class JudgeProgress:
    """Counters a progress bar shows; ``update`` is called whenever one changes."""

    total: int = 0
    done: int = 0
    in_flight: int = 0
    backend: JudgeBackend | None = None
    update: Callable[[JudgeProgress], None] = _no_update

    @property
    def retries(self) -> int:
        return int(getattr(self.backend, "retries", 0))


@dataclass
class JudgeOptions:
    concurrency: int = 8
    max_reasks: int = 2
    price_in: float | None = None  # per million prompt tokens
    price_out: float | None = None


@dataclass
class JudgeSession:
    config: JudgeConfig
    backend: JudgeBackend
    cache: JudgeCache
    options: JudgeOptions
    progress: JudgeProgress = field(default_factory=JudgeProgress)
    usage: Usage = field(default_factory=Usage)

    def __post_init__(self) -> None:
        self._slots = asyncio.Semaphore(self.options.concurrency)
        self.progress.backend = self.backend

    def expect(self, n: int) -> None:
        """``n`` more requests are coming (the bar's total grows as a pipeline discovers work)."""
        self.progress.total += n
        self.progress.update(self.progress)

    async def ask(
        self,
        request: JudgeRequest,
        parse: Callable[[str], T],
        reask: Callable[[str, str], str] | None = None,
    ) -> Outcome[T]:
        try:
            return await self._ask(request, parse, reask)
        finally:
            self.progress.done += 1
            self.progress.update(self.progress)

    async def _ask(
        self, request: JudgeRequest, parse: Callable[[str], T], reask: Callable[[str, str], str] | None
    ) -> Outcome[T]:
        prompt, text, problem = request.prompt, None, None
        for attempt in range(self.options.max_reasks + 1):
            key = cache_key(self.config, item=request.item, run=request.run, attempt=attempt, prompt=prompt)
            cached = self.cache.get(key)
            if cached is not None:
                self.usage.add_cached(cached.prompt_tokens, cached.completion_tokens)
                text = cached.text
            else:
                async with self._slots:
                    self.progress.in_flight += 1
                    self.progress.update(self.progress)
                    try:
                        completion = await self.backend.complete(prompt)
                    except JudgeUnavailable as exc:
                        # Not cached: a rerun tries again, which is what a user wants after an outage.
                        return Outcome(FAILED, replies=attempt, error=str(exc))
                    finally:
                        self.progress.in_flight -= 1
                self.cache.put(key, completion, item=request.item, run=request.run, attempt=attempt)
                self.usage.add_new(completion)
                text = completion.text
            try:
                value = parse(text)
            except ValueError as exc:
                problem = str(exc)
                # The note changes the prompt, so a deterministic judge can answer differently,
                # and the re-ask gets its own cache entry.
                prompt = reask(request.prompt, problem) if reask is not None else request.prompt
                continue
            return Outcome(JUDGED, value, text, attempt + 1)
        return Outcome(
            MALFORMED, None, text, self.options.max_reasks + 1, f"reply could not be used: {problem}"
        )

    async def ask_all(
        self,
        requests: Sequence[JudgeRequest],
        parse: Callable[[JudgeRequest, str], T],
        reask: Callable[[JudgeRequest, str, str], str] | None = None,
    ) -> list[Outcome[T]]:
        """Every request, concurrently; outcomes in request order. ``parse`` and ``reask`` also get
        the request (what a reply is checked against differs per item)."""
        self.expect(len(requests))
        return await gather_or_cancel(
            [
                self.ask(
                    r,
                    lambda text, r=r: parse(r, text),
                    None if reask is None else (lambda prompt, problem, r=r: reask(r, prompt, problem)),
                )
                for r in requests
            ]
        )


async def gather_or_cancel(coroutines: Sequence[Awaitable[R]]) -> list[R]:
    """``asyncio.gather``, but a fatal error (a bad key) or Ctrl-C cancels the other tasks; what
    arrived before is in the cache."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


@dataclass
class JudgedRun(Generic[R]):
    value: R
    usage: dict[str, Any]  # Usage.to_json, with the estimated cost when prices were given
    cached_before: int  # replies in the cache when the run started


def run_judged(
    config: JudgeConfig,
    cache_path: Path,
    options: JudgeOptions,
    work: Callable[[JudgeSession], Awaitable[R]],
    *,
    backend_factory: BackendFactory | None = None,
    on_progress: Callable[[JudgeProgress], None] | None = None,
) -> JudgedRun[R]:
    """Run ``work(session)`` in a fresh event loop with the backend of ``config`` (or the one
    ``backend_factory`` makes: tests, other clients) and the cache at ``cache_path``."""
    from hadpo_cli.judging.backends import get

    factory = backend_factory or get(config.backend).client
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    cache = JudgeCache(cache_path)
    cached_before = len(cache)
    progress = JudgeProgress(update=on_progress or _no_update)

    async def main() -> tuple[R, Usage]:
        backend = factory(config)  # inside the loop: its async HTTP client belongs to it
        session = JudgeSession(config, backend, cache, options, progress)
        try:
            value = await work(session)
        finally:
            session.usage.requests = int(getattr(backend, "requests", 0))
            aclose = getattr(backend, "aclose", None)
            if aclose is not None:
                await aclose()
        return value, session.usage

    try:
        value, usage = asyncio.run(main())
    finally:
        cache.close()
    return JudgedRun(value, usage.to_json(options.price_in, options.price_out), cached_before)
