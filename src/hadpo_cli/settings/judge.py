"""Settings every judged command shares (`eval shr`, `eval mmhal`, `pairs`): one declaration each.

The key and endpoint default to the chosen backend's own environment variables (for the
``openai`` backend ``OPENAI_API_KEY`` and ``OPENAI_BASE_URL``); the key is a secret: never in
``settings.json``, a message or a repr.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import Field, SecretStr, model_validator

from hadpo_cli.settings.base import Settings, flag, flag_name

if TYPE_CHECKING:
    from hadpo_cli.judging.backends import JudgeConfig
    from hadpo_cli.judging.session import JudgeOptions


def public_url(url: str) -> str:
    """``url`` with only scheme, host, port and path: what may be written or printed (gateways put
    credentials in the user part or the query string)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _backend_names() -> str:
    from hadpo_cli.judging.backends import backends

    return ", ".join(sorted(backends()))


class JudgeSettings(Settings):
    """The judge: where requests go, how many at once, how failures are retried, what it costs."""

    # Fields only a judged run reads; a subclass adds its own (e.g. --judge-prompt).
    extra_judge_fields: ClassVar[tuple[str, ...]] = ()

    no_judge: bool = Field(False, description="Skip the judge (nothing is sent, nothing is paid).")
    judge_backend: str = Field(
        "openai", description="Judge backend: openai = any OpenAI-compatible chat-completions endpoint."
    )
    judge_model: str = Field("gpt-4", description="Judge model name (gpt-4 as published).")
    api_key: SecretStr | None = Field(
        None,
        description="Judge API key (default: the backend's environment variable, $OPENAI_API_KEY). "
        "Never written to any file.",
    )
    base_url: str | None = Field(
        None, description="OpenAI-compatible endpoint, e.g. a vLLM server (default: $OPENAI_BASE_URL)."
    )
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="Judge sampling temperature.")
    judge_max_tokens: int = Field(800, ge=1, description="Longest judge reply, in tokens.")
    concurrency: Annotated[int, flag("--concurrency", "-j")] = Field(
        8, ge=1, le=512, description="Judge requests in flight at once."
    )
    max_retries: int = Field(
        6, ge=0, description="Retries of a request after 429, 5xx, a timeout or a connection error."
    )
    retry_backoff: float = Field(
        1.0,
        ge=0.0,
        description="First wait before a retry, in seconds; doubles each time unless Retry-After says.",
    )
    request_timeout: float = Field(60.0, gt=0.0, description="Seconds before a judge request times out.")
    max_reasks: int = Field(2, ge=0, description="Times to ask again when a reply cannot be used.")
    judge_price_in: float | None = Field(
        None,
        ge=0.0,
        description="Price per million prompt tokens, for the cost estimate (with --judge-price-out).",
    )
    judge_price_out: float | None = Field(
        None, ge=0.0, description="Price per million completion tokens, for the cost estimate."
    )

    @model_validator(mode="before")
    @classmethod
    def _from_environment(cls, data: Any) -> Any:
        """The key and endpoint from the backend's own variables when no flag gave them."""
        if not isinstance(data, dict) or data.get("no_judge"):
            return data
        from hadpo_cli.judging.backends import backends

        spec = backends().get(str(data.get("judge_backend", "openai")))
        if spec is None:
            return data  # the field check below names the unknown backend
        data = dict(data)
        for field_name, env in (("api_key", spec.key_env), ("base_url", spec.url_env)):
            if data.get(field_name) is None and env and os.environ.get(env):
                data[field_name] = os.environ[env]
        return data

    @model_validator(mode="after")
    def _check_judge(self) -> JudgeSettings:
        from hadpo_cli.judging.backends import backends

        spec = backends().get(self.judge_backend)
        if spec is None:
            raise ValueError(
                f"--judge-backend: unknown backend {self.judge_backend!r} (known: {_backend_names()})"
            )
        if (self.judge_price_in is None) != (self.judge_price_out is None):
            raise ValueError(
                "give both --judge-price-in and --judge-price-out (per million tokens), or neither"
            )
        if self.no_judge:
            # A judge flag next to --no-judge would be silently ignored: the user meant one of them.
            # (The key and the endpoint may come from the environment, so they are not checked.)
            given = [n for n in self.judge_fields() if n in self.model_fields_set]
            if given:
                raise ValueError(f"{flag_name(given[0])} has no effect with --no-judge: drop one of the two")
        elif self.api_key is None and self.base_url is None:
            raise ValueError(
                f"no judge API key: set {spec.key_env} or pass --api-key (or --base-url for a keyless "
                "local server, or --no-judge)"
            )
        return self

    @classmethod
    def all_judge_fields(cls) -> tuple[str, ...]:
        """Every setting about the judge, the command's own included (--help lists them last)."""
        return (*JudgeSettings.model_fields, *cls.extra_judge_fields)

    @classmethod
    def judge_fields(cls) -> tuple[str, ...]:
        """The judge settings that have no effect with --no-judge (the key and URL may come from
        the environment, so they are not refused)."""
        skip = ("no_judge", "api_key", "base_url")
        return tuple(n for n in cls.all_judge_fields() if n not in skip)

    def judge_config(self) -> JudgeConfig:
        from hadpo_cli.judging.backends import JudgeConfig

        # A local OpenAI-compatible server needs no key, but the client insists on one.
        key = self.api_key.get_secret_value() if self.api_key is not None else "EMPTY"
        return JudgeConfig(
            backend=self.judge_backend, model=self.judge_model, api_key=key, base_url=self.base_url,
            temperature=self.temperature, max_tokens=self.judge_max_tokens, timeout_s=self.request_timeout,
            max_retries=self.max_retries, backoff_s=self.retry_backoff,
        )  # fmt: skip

    def judge_options(self) -> JudgeOptions:
        from hadpo_cli.judging.session import JudgeOptions

        return JudgeOptions(
            concurrency=self.concurrency, max_reasks=self.max_reasks,
            price_in=self.judge_price_in, price_out=self.judge_price_out,
        )  # fmt: skip

    def public_dict(self) -> dict[str, Any]:
        """As saved in settings.json: a --base-url keeps only scheme, host and path."""
        data = super().public_dict()
        if data.get("base_url"):
            data["base_url"] = public_url(data["base_url"])
        return data
