"""The judge layer with a fake backend (no HTTP): cache, usage and cost, re-asks, failures,
concurrency, cache keys, a torn cache; and the judge settings every judged command shares."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hadpo_cli.errors import UserError
from hadpo_cli.judging.backends import Completion, JudgeConfig, JudgeUnavailable, backends
from hadpo_cli.judging.cache import JudgeCache, cache_key
from hadpo_cli.judging.session import (
    FAILED,
    JUDGED,
    MALFORMED,
    JudgeOptions,
    JudgeProgress,
    JudgeRequest,
    run_judged,
)
from hadpo_cli.judging.usage import estimated_cost
from hadpo_cli.settings.judge import JudgeSettings

SECRET = "sk-judge-layer-SECRET-77d1"
CONFIG = JudgeConfig(backend="fake", model="judge-1", api_key=SECRET)


def words(text: str) -> int:
    return len(text.split())


class FakeBackend:
    """Counts calls and calls in flight; ``reply(prompt)`` is a text or an exception to raise.
    Token counts are words, as the local judge counts them."""

    def __init__(self, reply: Callable[[str], Any], *, pause: int = 0):
        self.reply = reply
        self.pause = pause  # event-loop turns each request takes (lets others start meanwhile)
        self.requests = 0
        self.retries = 0
        self.prompts: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.closed = False

    async def complete(self, prompt: str) -> Completion:
        self.requests += 1
        self.prompts.append(prompt)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            for _ in range(self.pause):
                await asyncio.sleep(0)
            reply = self.reply(prompt)
        finally:
            self.in_flight -= 1
        if isinstance(reply, BaseException):
            raise reply
        return Completion(reply, words(prompt), words(reply))

    async def aclose(self) -> None:
        self.closed = True


def parse_ok(request: JudgeRequest, reply: str) -> str:
    if not reply.startswith("OK"):
        raise ValueError(f"reply {reply!r} does not start with OK")
    return reply


def reask(request: JudgeRequest, prompt: str, problem: str) -> str:
    return f"{prompt} AGAIN because {problem}"


def judge(
    backend: FakeBackend,
    requests: list[JudgeRequest],
    cache: Path,
    *,
    config: JudgeConfig = CONFIG,
    on_progress: Callable[[JudgeProgress], None] | None = None,
    **options: Any,
):
    async def work(session):
        return await session.ask_all(requests, parse_ok, reask)

    return run_judged(
        config,
        cache,
        JudgeOptions(**options),
        work,
        backend_factory=lambda _config: backend,
        on_progress=on_progress,
    )


REQUESTS = [
    JudgeRequest(item="a", prompt="rate item a please"),  # 4 words
    JudgeRequest(item="b", prompt="rate item b"),  # 3
    JudgeRequest(item="c", prompt="rate c"),  # 2
]


def test_replies_are_cached_and_a_rerun_pays_for_nothing(tmp_path):
    cache = tmp_path / "cache.jsonl"
    first = FakeBackend(lambda p: "OK fine")
    run1 = judge(first, REQUESTS, cache)
    assert first.requests == 3 and first.closed
    assert [o.status for o in run1.value] == [JUDGED] * 3 and run1.cached_before == 0
    assert run1.usage["requests"] == 3
    assert (run1.usage["prompt_tokens"], run1.usage["completion_tokens"]) == (4 + 3 + 2, 3 * 2)
    assert run1.usage["cached_replies"] == 0

    second = FakeBackend(lambda p: pytest.fail("a cached reply was asked again"))
    run2 = judge(second, REQUESTS, cache)
    assert second.requests == 0
    assert [o.value for o in run2.value] == ["OK fine"] * 3 and run2.cached_before == 3
    u = run2.usage
    assert (u["requests"], u["prompt_tokens"], u["completion_tokens"]) == (0, 0, 0)
    assert (u["cached_replies"], u["cached_prompt_tokens"], u["cached_completion_tokens"]) == (3, 9, 6)


def test_a_partly_cached_run_asks_only_for_the_rest(tmp_path):
    cache = tmp_path / "cache.jsonl"
    judge(FakeBackend(lambda p: "OK"), REQUESTS[:2], cache)
    backend = FakeBackend(lambda p: "OK new")
    run = judge(backend, REQUESTS, cache)
    assert backend.prompts == ["rate c"]
    assert run.usage["cached_replies"] == 2 and run.usage["prompt_tokens"] == 2


def test_estimated_cost_from_per_million_prices(tmp_path):
    run = judge(
        FakeBackend(lambda p: "OK fine"), REQUESTS, tmp_path / "c.jsonl", price_in=1000.0, price_out=2000.0
    )
    # 9 prompt tokens at $1000 per million, 6 completion tokens at $2000 per million.
    assert run.usage["estimated_cost"] == pytest.approx((9 * 1000 + 6 * 2000) / 1e6) == pytest.approx(0.021)
    assert judge(FakeBackend(lambda p: "OK"), REQUESTS, tmp_path / "d.jsonl").usage["estimated_cost"] is None
    assert estimated_cost(2_000_000, 500_000, 2.5, 10.0) == pytest.approx(10.0)
    assert estimated_cost(10, 10, 2.5, None) is None and estimated_cost(10, 10, None, 1.0) is None


def test_replies_without_token_counts_are_counted_apart(tmp_path):
    class NoUsage(FakeBackend):
        async def complete(self, prompt: str) -> Completion:
            self.requests += 1
            return Completion("OK")

    run = judge(NoUsage(lambda p: "OK"), REQUESTS, tmp_path / "c.jsonl", price_in=1.0, price_out=1.0)
    assert run.usage["replies_without_usage"] == 3 and run.usage["prompt_tokens"] == 0


def test_an_unusable_reply_is_asked_again_with_the_reask_prompt(tmp_path):
    replies = iter(["nope", "still no", "OK at last"])
    backend = FakeBackend(lambda p: next(replies))
    run = judge(backend, REQUESTS[2:], tmp_path / "c.jsonl", max_reasks=2)
    (outcome,) = run.value
    assert (outcome.status, outcome.value, outcome.replies) == (JUDGED, "OK at last", 3)
    problem1, problem2 = "reply 'nope' does not start with OK", "reply 'still no' does not start with OK"
    # Each re-ask is built from the original prompt (not stacked on the previous re-ask).
    assert backend.prompts == [
        "rate c",
        f"rate c AGAIN because {problem1}",
        f"rate c AGAIN because {problem2}",
    ]
    assert run.usage["requests"] == 3 and run.usage["completion_tokens"] == 1 + 2 + 3


def test_re_asks_stop_at_the_bound_and_the_last_reply_is_kept(tmp_path):
    cache = tmp_path / "c.jsonl"
    backend = FakeBackend(lambda p: "never good")
    run = judge(backend, REQUESTS[:1], cache, max_reasks=1)
    (outcome,) = run.value
    assert outcome.status == MALFORMED and outcome.value is None
    assert outcome.reply == "never good" and outcome.replies == 2
    assert "does not start with OK" in outcome.error
    assert backend.requests == 2
    # Both replies are cached: the same bound again asks nothing, a higher one only the next re-ask.
    again = FakeBackend(lambda p: "OK finally")
    assert judge(again, REQUESTS[:1], cache, max_reasks=1).value[0].status == MALFORMED
    assert again.requests == 0
    run3 = judge(again, REQUESTS[:1], cache, max_reasks=2)
    assert again.requests == 1 and run3.value[0].status == JUDGED and run3.value[0].replies == 3


def test_max_reasks_zero_asks_once(tmp_path):
    backend = FakeBackend(lambda p: "bad")
    (outcome,) = judge(backend, REQUESTS[:1], tmp_path / "c.jsonl", max_reasks=0).value
    assert outcome.status == MALFORMED and backend.requests == 1 and outcome.replies == 1


def test_an_unavailable_judge_fails_the_item_and_caches_nothing_for_it(tmp_path):
    cache = tmp_path / "c.jsonl"

    def reply(prompt: str) -> Any:
        return JudgeUnavailable("HTTP 503; gave up after 3 tries") if "item b" in prompt else "OK"

    run = judge(FakeBackend(reply), REQUESTS, cache)
    statuses = [o.status for o in run.value]
    assert statuses == [JUDGED, FAILED, JUDGED]
    failed = run.value[1]
    assert failed.error == "HTTP 503; gave up after 3 tries" and failed.reply is None and failed.replies == 0
    cached = [json.loads(line) for line in cache.read_text().splitlines()]
    assert sorted(r["item"] for r in cached) == ["a", "c"]
    # A rerun asks again for the failed item only.
    backend = FakeBackend(lambda p: "OK now")
    rerun = judge(backend, REQUESTS, cache)
    assert backend.prompts == ["rate item b"] and [o.status for o in rerun.value] == [JUDGED] * 3


def test_requests_in_flight_never_exceed_the_concurrency(tmp_path):
    requests = [JudgeRequest(item=str(i), prompt=f"rate {i}") for i in range(20)]
    backend = FakeBackend(lambda p: "OK", pause=5)
    seen: list[int] = []
    run = judge(
        backend, requests, tmp_path / "c.jsonl", concurrency=3, on_progress=lambda p: seen.append(p.in_flight)
    )
    assert backend.requests == 20 and all(o.status == JUDGED for o in run.value)
    assert backend.max_in_flight == 3  # reached, never passed
    assert max(seen) == 3 and seen[-1] == 0
    # Outcomes come back in request order, whatever order the replies arrived in.
    assert [o.value for o in run.value] == ["OK"] * 20


def test_a_fatal_error_cancels_the_rest_and_keeps_what_arrived(tmp_path):
    cache = tmp_path / "c.jsonl"

    def reply(prompt: str) -> Any:
        return UserError("the judge rejected the API key") if prompt == "rate c" else "OK"

    with pytest.raises(UserError, match="rejected"):
        judge(FakeBackend(reply), REQUESTS, cache, concurrency=1)
    assert sorted(json.loads(line)["item"] for line in cache.read_text().splitlines()) == ["a", "b"]


# ---------------------------------------------------------------- the cache


def test_the_cache_key_changes_with_everything_that_shapes_a_reply():
    base = dict(item="a", run=1, attempt=0, prompt="p")
    key = cache_key(CONFIG, **base)
    variants = [
        cache_key(JudgeConfig(backend="other", model="judge-1", api_key=SECRET), **base),
        cache_key(JudgeConfig(backend="fake", model="judge-2", api_key=SECRET), **base),
        cache_key(JudgeConfig(backend="fake", model="judge-1", api_key=SECRET, temperature=0.7), **base),
        cache_key(JudgeConfig(backend="fake", model="judge-1", api_key=SECRET, max_tokens=10), **base),
        cache_key(CONFIG, **{**base, "item": "b"}),
        cache_key(CONFIG, **{**base, "run": 2}),
        cache_key(CONFIG, **{**base, "attempt": 1}),
        cache_key(CONFIG, **{**base, "prompt": "p "}),
    ]
    assert len({key, *variants}) == len(variants) + 1
    # Where requests go and how they are retried do not change a reply: a new key or endpoint
    # keeps the cache.
    same = JudgeConfig(
        backend="fake", model="judge-1", api_key="another", base_url="http://x/v1", max_retries=0, timeout_s=1
    )
    assert cache_key(same, **base) == key


def test_a_torn_last_cache_line_is_dropped_and_cut_on_the_next_write(tmp_path):
    path = tmp_path / "cache.jsonl"
    cache = JudgeCache(path)
    cache.put("k1", Completion("one", 3, 1), item="a")
    cache.put("k2", Completion("two", 4, 1), item="b")
    cache.close()
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"key": "k3", "reply": "thr')  # killed mid-write
    reloaded = JudgeCache(path)
    assert len(reloaded) == 2 and reloaded.get("k3") is None
    assert reloaded.get("k2") is not None and reloaded.get("k2").prompt_tokens == 4
    reloaded.put("k3", Completion("three", 1, 1))
    reloaded.close()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["k1", "k2", "k3"]


def test_a_broken_cache_line_in_the_middle_is_one_error_naming_file_and_line(tmp_path):
    path = tmp_path / "cache.jsonl"
    path.write_text('{"key": "k1", "reply": "x"}\nnot json\n{"key": "k2", "reply": "y"}\n')
    with pytest.raises(UserError, match=rf"{path.name}:2: not valid JSON"):
        JudgeCache(path)
    path.write_text('{"key": "k1", "reply": 3}\n')
    with pytest.raises(UserError, match=rf"{path.name}:1: not a judge cache record"):
        JudgeCache(path)


# ---------------------------------------------------------------- JudgeSettings


@pytest.fixture()
def clean_env(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    return monkeypatch


def test_the_key_comes_from_the_backends_variable_and_is_never_public(clean_env):
    clean_env.setenv("OPENAI_API_KEY", SECRET)
    s = JudgeSettings.build({})
    assert s.api_key is not None and s.api_key.get_secret_value() == SECRET
    assert s.judge_config().api_key == SECRET
    public = s.public_dict()
    assert "api_key" not in public and SECRET not in json.dumps(public)
    assert SECRET not in repr(s) and SECRET not in repr(s.judge_config())
    assert backends()["openai"].key_env == "OPENAI_API_KEY"


def test_a_key_given_directly_is_not_public_either_and_the_url_loses_its_credentials(clean_env):
    clean_env.setenv("OPENAI_BASE_URL", "https://user:PASS@gateway.example/v1?token=TOK")
    s = JudgeSettings.build({"api_key": SECRET})
    public = json.dumps(s.public_dict())
    assert SECRET not in public and "PASS" not in public and "TOK" not in public
    assert s.public_dict()["base_url"] == "https://gateway.example/v1"
    assert s.judge_config().base_url == "https://user:PASS@gateway.example/v1?token=TOK"  # used as given


def test_no_key_and_no_endpoint_names_the_variable(clean_env):
    with pytest.raises(UserError, match="no judge API key: set OPENAI_API_KEY or pass --api-key"):
        JudgeSettings.build({})
    # A keyless local server is fine.
    assert JudgeSettings.build({"base_url": "http://127.0.0.1:1/v1"}).judge_config().api_key == "EMPTY"


def test_an_unknown_backend_names_the_known_ones(clean_env):
    with pytest.raises(UserError) as info:
        JudgeSettings.build({"judge_backend": "claude-local", "api_key": "k"})
    message = str(info.value)
    assert "--judge-backend" in message and "'claude-local'" in message
    assert f"known: {', '.join(sorted(backends()))}" in message and "openai" in message


@pytest.mark.parametrize("given", [{"judge_price_in": 2.5}, {"judge_price_out": 10.0}])
def test_one_price_without_the_other_is_refused(clean_env, given):
    with pytest.raises(UserError, match="give both --judge-price-in and --judge-price-out"):
        JudgeSettings.build({"api_key": "k", **given})
    s = JudgeSettings.build({"api_key": "k", "judge_price_in": 2.5, "judge_price_out": 10.0})
    assert (s.judge_options().price_in, s.judge_options().price_out) == (2.5, 10.0)


@pytest.mark.parametrize("flag_value", [("judge_model", "gpt-x"), ("concurrency", 2), ("max_reasks", 3)])
def test_a_judge_flag_with_no_judge_is_refused(clean_env, flag_value):
    name, value = flag_value
    with pytest.raises(UserError, match=rf"--{name.replace('_', '-')} has no effect with --no-judge"):
        JudgeSettings.build({"no_judge": True, name: value})
    # The key in the environment is not a flag: --no-judge still works with it set.
    clean_env.setenv("OPENAI_API_KEY", SECRET)
    assert JudgeSettings.build({"no_judge": True}).no_judge


def test_settings_map_onto_the_backend_config_and_options(clean_env):
    s = JudgeSettings.build(
        {"api_key": "k", "judge_model": "m", "temperature": 0.5, "judge_max_tokens": 77, "concurrency": 5,
         "max_retries": 1, "retry_backoff": 0.25, "request_timeout": 9.0, "max_reasks": 4}
    )  # fmt: skip
    c, o = s.judge_config(), s.judge_options()
    assert (c.backend, c.model, c.temperature, c.max_tokens, c.max_retries, c.backoff_s, c.timeout_s) == (
        "openai", "m", 0.5, 77, 1, 0.25, 9.0,
    )  # fmt: skip
    assert (o.concurrency, o.max_reasks) == (5, 4)
