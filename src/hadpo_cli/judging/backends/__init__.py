"""Judge backends: one module per backend, each registering a :class:`BackendSpec`.

A backend turns one prompt into one reply (:class:`JudgeBackend`). The registry itself imports
nothing heavy, so settings can check a backend's name and read its environment variables before
any client library loads.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Completion:
    """One reply and what it cost (None where the server did not say)."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class JudgeUnavailable(Exception):
    """The request failed after every allowed retry (or with a non-retryable error)."""


class JudgeBackend(Protocol):
    """What a judge client provides; ``requests`` and ``retries`` count HTTP requests and retries."""

    requests: int
    retries: int

    async def complete(self, prompt: str) -> Completion: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class JudgeConfig:
    """Everything a backend needs to send requests; the key never reaches repr() or a file."""

    backend: str
    model: str
    api_key: str
    base_url: str | None = None
    temperature: float = 0.0
    max_tokens: int = 800
    timeout_s: float = 60.0
    max_retries: int = 6
    backoff_s: float = 1.0
    max_wait_s: float = 120.0

    def __repr__(self) -> str:
        return f"JudgeConfig(backend={self.backend!r}, model={self.model!r}, base_url={self.base_url!r}, api_key=***)"


@dataclass(frozen=True)
class BackendSpec:
    name: str
    summary: str
    key_env: str | None  # environment variable holding the API key
    url_env: str | None  # environment variable holding the endpoint
    default_url: str
    # Makes the client; its module must import its client library inside, not at import time.
    client: Callable[[JudgeConfig], JudgeBackend]


_REGISTRY: dict[str, BackendSpec] = {}
_loaded = False

BackendFactory = Callable[[JudgeConfig], JudgeBackend]
Sleep = Callable[[float], Awaitable[Any]]


def register(spec: BackendSpec) -> BackendSpec:
    if spec.name in _REGISTRY:
        raise ValueError(f"judge backend {spec.name!r} is registered twice")
    _REGISTRY[spec.name] = spec
    return spec


def backends() -> dict[str, BackendSpec]:
    global _loaded
    if not _loaded:
        from hadpo_cli.judging import backends as package
        from hadpo_cli.plugins import import_all

        import_all(package.__name__, package.__path__)
        _loaded = True
    return _REGISTRY


def get(name: str) -> BackendSpec:
    known = backends()
    if name not in known:
        raise KeyError(f"unknown judge backend {name!r} (known: {', '.join(sorted(known))})")
    return known[name]
