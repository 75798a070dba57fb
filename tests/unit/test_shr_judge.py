"""The SHR judge end to end: the real ``openai`` client against a chat-completions server on 127.0.0.1.

The server (``keyword_judge``: the package's ``LocalJudgeServer`` with a keyword reply policy)
labels each numbered sentence of the prompt by a keyword ("purple" -> hallucination,
"lovely" -> cannot judge, else correct) and injects faults per prompt from a plan:
``{"zebra": ["429", "500", "ok"]}`` makes the 1st request whose prompt mentions "zebra" get
a 429, the 2nd a 500, the 3rd and later a proper reply.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from hadpo_cli.data.visual_genome import Region
from hadpo_cli.errors import UserError
from hadpo_cli.evaluation import shr
from hadpo_cli.evaluation.shr import MalformedJudgement, parse_judgement
from hadpo_cli.evaluation.shr_prompt import build_prompt, format_regions, load_template
from hadpo_cli.judging.retry import backoff_delay, retry_after_seconds
from hadpo_cli.settings.eval_shr import EvalShrSettings
from hadpo_cli.testing.local_judge import Fault, FaultSpec, LocalJudgeServer

API_KEY = "sk-test-SECRET-4f1c9a-never-on-disk"
SENTENCE_RE = re.compile(r"^(\d+)\. (.+)$", re.MULTILINE)


def label_for(sentence: str) -> str:
    if "purple" in sentence:
        return "hallucination"
    if "lovely" in sentence:
        return "cannot judge"
    return "correct"


def good_reply(prompt: str) -> str:
    sentences = SENTENCE_RE.findall(prompt)
    return "Judgement:\n" + "".join(f"{n}. {label_for(s)}: because\n" for n, s in sentences)


def flip_to_hallucination(reply: str) -> str:
    return re.sub(r"(correct|cannot judge):", "hallucination:", reply)


def keyword_judge(
    faults: dict[str, list[FaultSpec]] | None = None, *, delay: float = 0.0, retry_after: str = "0.2"
) -> LocalJudgeServer:
    """The package's local chat-completions server, answering with this file's keyword labels."""
    return LocalJudgeServer(reply=good_reply, faults=faults, delay=delay, retry_after=retry_after)


# ---------------------------------------------------------------- a tiny VG + SHR dataset

RESPONSES = {
    # 3 sentences: hallucination (4 words), correct (3), cannot judge (3); the repeat is dropped
    "1": "A purple dog sits. The grass is green. It looks lovely here. The grass is green.",
    # 2 sentences, both correct
    "2": "A zebra stands still. There are trees.",
    # 2 sentences: correct, hallucination (3 words)
    "3": "A bird flies. Two purple cars.",
}


def make_dataset(root: Path, responses: dict[str, str] = RESPONSES) -> dict[str, Path]:
    vg, shr_dir = root / "vg", root / "shr"
    vg.mkdir()
    shr_dir.mkdir()
    ids = [int(k) for k in responses]
    (vg / "image_data.json").write_text(
        json.dumps(
            [{"image_id": i, "url": f"http://x/VG_100K/{i}.jpg", "width": 200, "height": 100} for i in ids]
        )
    )
    regions = [
        {"regions": [{"image_id": i, "x": 20, "y": 10, "width": 100, "height": 50, "phrase": f"thing {i}"}]}
        for i in ids
    ]
    (vg / "region_descriptions.json").write_text(json.dumps(regions))
    (shr_dir / "val_images_final.json").write_text(json.dumps([{"image_id": i} for i in ids]))
    (shr_dir / "shr_factual_part1.jsonl").write_text(
        json.dumps({str(ids[0]): ["a fact", "another fact"]}) + "\n"
    )
    (shr_dir / "shr_factual_part2.jsonl").write_text("\n")
    responses_file = root / "responses.json"
    responses_file.write_text(json.dumps(responses))
    return {"vg": vg, "shr": shr_dir, "responses": responses_file, "out": root / "out"}


def settings(paths: dict[str, Path], server: LocalJudgeServer | None, **kw: Any) -> EvalShrSettings:
    values: dict[str, Any] = {
        "responses": paths["responses"],
        "vg_path": paths["vg"],
        "shr_path": paths["shr"],
        "output_dir": paths["out"],
        "api_key": API_KEY,
        "base_url": server.base_url if server else None,
        "retry_backoff": 0.01,
        "request_timeout": 5.0,
        "concurrency": 4,
    }
    values.update(kw)
    return EvalShrSettings.build(values)


def assert_key_not_on_disk(out: Path) -> None:
    files = [p for p in out.rglob("*") if p.is_file()]
    assert files
    for p in files:
        assert API_KEY.encode() not in p.read_bytes(), p


# ---------------------------------------------------------------- parsing and small pieces


def test_parse_judgement_well_formed_and_tolerant_of_formatting():
    reply = "Sure.\n1. here is a preamble list\n**Judgement:**\n1. **Hallucination**: no dog\n\n2) correct - yes\nDone."
    assert parse_judgement(reply, 2) == [("hallucination", "no dog"), ("correct", "yes")]
    assert parse_judgement("1. cannot judge: mood\n", 1) == [("cannot judge", "mood")]


@pytest.mark.parametrize(
    "reply, problem",
    [
        ("Judgement:\n1. correct: a", "labels 1 of 2"),
        ("Judgement:\n1. correct: a\n1. correct: b", "twice"),
        ("Judgement:\n1. correct: a\n3. correct: b", "numbers a sentence 3"),
        ("Judgement:\n1. maybe: a\n2. correct: b", "no hallucination/correct/cannot judge label"),
        ("", "labels 0 of 2"),
    ],
)
def test_parse_judgement_rejects_replies_without_one_label_per_sentence(reply, problem):
    with pytest.raises(MalformedJudgement, match=problem):
        parse_judgement(reply, 2)


def test_regions_are_normalised_boxes_with_two_decimals():
    text = format_regions([Region(20, 10, 100, 50, "a dog"), Region(0, 0, 1, 1, "")], 300, 100)
    assert text == "[0.07, 0.1, 0.4, 0.6]: a dog\n"  # the empty phrase is skipped, as published


def test_user_template_needs_every_placeholder_and_keeps_other_braces(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("{regions} {facts}")
    with pytest.raises(UserError, match=r"bad.txt: .*\{sentences\}"):
        load_template(bad)
    good = tmp_path / "good.txt"
    good.write_text('R:{regions}F:{facts}S:{sentences} {"json": 1}')
    out = build_prompt(load_template(good), regions="{facts}", facts="f", sentences="1. s")
    assert out == 'R:{facts}F:fS:1. s {"json": 1}'


def test_retry_after_parsing_and_bounded_backoff():
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=1445412480.0) == 10.0
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None
    assert backoff_delay(0, 1.0, 120.0, retry_after=500.0) == 120.0  # a server's ask is capped
    assert 4.0 <= backoff_delay(3, 1.0, 120.0, None) <= 8.0
    assert backoff_delay(30, 1.0, 5.0, None) <= 5.0


# ---------------------------------------------------------------- end to end against the server


def test_judged_run_metrics_payload_and_no_key_on_disk(tmp_path):
    paths = make_dataset(tmp_path)
    with keyword_judge() as server:
        result = shr.run(settings(paths, server))
    assert len(server.requests) == 3
    req = server.requests[0]
    assert req["path"] == "/v1/chat/completions"
    assert req["auth"] == f"Bearer {API_KEY}"
    assert (
        req["body"]["model"] == "gpt-4"
        and req["body"]["temperature"] == 0
        and req["body"]["max_tokens"] == 800
    )
    prompt1 = next(r for r in server.requests if "purple dog" in r["body"]["messages"][0]["content"])
    text = prompt1["body"]["messages"][0]["content"]
    assert "[0.1, 0.1, 0.6, 0.6]: thing 1\n" in text and "a fact\nanother fact\n" in text
    assert "1. A purple dog sits\n2. The grass is green\n3. It looks lovely here\n" in text

    m = json.loads((paths["out"] / "metrics.json").read_text())
    assert m == result.metrics
    # 7 sentences, all judged: hallucinated "A purple dog sits" (4 words) and "Two purple cars" (3)
    assert m["hal_sents_ratio"] == pytest.approx(2 / 7) and m["mean_hal_ratio"] == m["hal_sents_ratio"]
    words = 4 + 4 + 4 + 4 + 3 + 3 + 3
    assert m["hal_words_ratio"] == pytest.approx(7 / words)
    assert m["num_images"] == 3 and m["unjudged_sentences"] == 0
    assert m["sents_per_image"] == pytest.approx(7 / 3) and m["hal_sents_per_image"] == pytest.approx(2 / 3)
    assert "gram-4-repetition" in m

    doc = json.loads((paths["out"] / "judgement.json").read_text())
    image1 = doc["runs"][0]["images"]["1"]
    assert image1["status"] == "judged" and image1["response"] == RESPONSES["1"]
    assert [s["label"] for s in image1["sentences"]] == ["hallucination", "correct", "cannot judge"]
    assert image1["raw_reply"].startswith("Judgement:")
    public = json.loads((paths["out"] / "settings.json").read_text())
    assert "api_key" not in public and public["judge_model"] == "gpt-4"
    assert_key_not_on_disk(paths["out"])


def test_rerun_makes_zero_requests_and_gives_the_same_metrics(tmp_path):
    paths = make_dataset(tmp_path)
    with keyword_judge() as server:
        first = shr.run(settings(paths, server))
        n = len(server.requests)
        second = shr.run(settings(paths, server, concurrency=1))  # concurrency does not change the key
        assert len(server.requests) == n
    usage = second.metrics.pop("usage")
    assert first.metrics.pop("usage")["requests"] == 3
    assert second.metrics == first.metrics and second.requests == 0 and second.cached_replies == 3
    # Served from the cache: no new tokens, and what they had cost is still told.
    assert usage["prompt_tokens"] == usage["completion_tokens"] == 0 and usage["cached_prompt_tokens"] > 0


def test_a_torn_cache_line_from_kill_9_is_cut_and_only_that_judgement_is_asked_again(tmp_path):
    paths = make_dataset(tmp_path)
    with keyword_judge() as server:
        shr.run(settings(paths, server))
        cache = paths["out"] / shr.CACHE_FILE
        lines = cache.read_text().splitlines(keepends=True)
        cache.write_text("".join(lines[:-1]) + lines[-1][:25])  # the last write died half-way
        n = len(server.requests)
        result = shr.run(settings(paths, server))
        assert len(server.requests) == n + 1
    assert result.metrics["unjudged_sentences"] == 0
    assert all(line.endswith("\n") for line in cache.read_text().splitlines(keepends=True))


def test_429_waits_for_retry_after_then_succeeds(tmp_path):
    paths = make_dataset(tmp_path)
    with keyword_judge({"zebra": ["429", "ok"]}, retry_after="0.3") as server:
        result = shr.run(settings(paths, server, retry_backoff=5.0))  # Retry-After wins over backoff
    t = server.times["zebra"]
    # 0.3 s as the server said, not the 2.5-5 s the backoff alone would wait
    assert len(t) == 2 and 0.28 <= t[1] - t[0] < 2.0
    assert result.status_counts == {"judged": 3} and result.metrics["unjudged_sentences"] == 0


def test_500s_retry_up_to_the_bound_then_the_image_is_unjudged_and_the_run_finishes(tmp_path):
    paths = make_dataset(tmp_path)
    with keyword_judge({"zebra": ["500"] * 100}) as server:
        result = shr.run(settings(paths, server, max_retries=2))
        assert server.count("zebra") == 3  # 1 try + 2 retries, never forever
        m = result.metrics
        assert m["unjudged_sentences"] == 2  # image 2's two sentences, counted, not dropped
        assert m["hal_sents_ratio"] == pytest.approx(2 / 5)
        doc = json.loads((paths["out"] / "judgement.json").read_text())
        image2 = doc["runs"][0]["images"]["2"]
        assert image2["status"] == "failed" and "HTTP 500" in image2["error"]
        assert [s["label"] for s in image2["sentences"]] == [None, None]
        # A failure is not cached: a rerun asks again, and only about that image.
        n = len(server.requests)
        shr.run(settings(paths, server, max_retries=0))
        assert len(server.requests) == n + 1 and server.count("zebra") == 4


def test_transient_500_and_503_are_retried(tmp_path):
    paths = make_dataset(tmp_path)
    with keyword_judge({"zebra": ["500", "503", "ok"]}) as server:
        result = shr.run(settings(paths, server, max_retries=2))
    assert server.count("zebra") == 3 and result.status_counts == {"judged": 3}


def test_a_slow_reply_times_out_and_is_retried(tmp_path):
    paths = make_dataset(tmp_path)
    with keyword_judge({"zebra": ["slow", "ok"]}) as server:
        start = time.monotonic()
        result = shr.run(settings(paths, server, request_timeout=0.3))
        assert time.monotonic() - start < 1.4  # did not wait for the slow reply
    assert server.count("zebra") == 2 and result.status_counts == {"judged": 3}


def test_a_malformed_reply_is_asked_again_with_a_note(tmp_path):
    paths = make_dataset(tmp_path)
    with keyword_judge({"zebra": ["malformed", "ok"]}) as server:
        result = shr.run(settings(paths, server))
        second = [r for r in server.requests if "zebra" in r["body"]["messages"][0]["content"]][1]
    assert "could not be used: it labels 1 of 2 sentences" in second["body"]["messages"][0]["content"]
    assert result.status_counts == {"judged": 3}
    doc = json.loads((paths["out"] / "judgement.json").read_text())
    assert doc["runs"][0]["images"]["2"]["replies"] == 2


def test_malformed_replies_stop_at_the_bound_and_are_recorded(tmp_path):
    paths = make_dataset(tmp_path)
    with keyword_judge({"zebra": ["malformed"] * 10}) as server:
        result = shr.run(settings(paths, server, max_reasks=1))
        assert server.count("zebra") == 2
        # Every reply is cached, so a rerun with the same bound asks nothing ...
        n = len(server.requests)
        shr.run(settings(paths, server, max_reasks=1))
        assert len(server.requests) == n
        # ... and a higher bound asks only the new re-ask.
        shr.run(settings(paths, server, max_reasks=2))
        assert len(server.requests) == n + 1
    assert result.status_counts == {"judged": 2, "malformed": 1}
    assert result.metrics["unjudged_sentences"] == 2
    doc = json.loads((paths["out"] / "judgement.json").read_text())
    image2 = doc["runs"][0]["images"]["2"]
    assert image2["status"] == "malformed" and image2["replies"] == 3  # from the run with --max-reasks 2
    assert image2["raw_reply"] == "Judgement:\n1. correct: only the first one"
    assert "labels 1 of 2" in image2["error"]


def test_an_unreachable_judge_stops_the_run_at_once_with_one_line(tmp_path):
    paths = make_dataset(tmp_path)
    with keyword_judge() as server:
        url = server.base_url  # the port is closed once the server stops
    s = settings(paths, None, base_url=url + "?token=SECRET", max_retries=5)
    started = time.monotonic()
    with pytest.raises(UserError, match=r"cannot reach the judge.*check --base-url") as info:
        shr.run(s)
    assert time.monotonic() - started < 5  # not 3 images x 6 tries of backoff
    assert "SECRET" not in str(info.value) and url.split("//")[1].split("/")[0] in str(info.value)
    # No metrics over nothing judged: no final files at all.
    assert not (paths["out"] / "metrics.json").exists() and not (paths["out"] / "judgement.json").exists()


def test_a_rejected_key_stops_the_run_with_one_error_and_no_final_files(tmp_path):
    paths = make_dataset(tmp_path)
    with keyword_judge({"": ["401"] * 10}) as server, pytest.raises(UserError, match="HTTP 401") as info:
        # A gateway token in the URL must not be printed either.
        shr.run(settings(paths, server, base_url=server.base_url.replace("//", "//user:GATEWAY-TOKEN@", 1)))
    assert API_KEY not in str(info.value) and "GATEWAY-TOKEN" not in str(info.value)
    assert not (paths["out"] / "metrics.json").exists() and not (paths["out"] / "judgement.json").exists()


def test_requests_in_flight_never_exceed_concurrency(tmp_path):
    responses = {str(i): f"Thing {i} is here. It is red." for i in range(1, 13)}
    paths = make_dataset(tmp_path, responses)
    with keyword_judge(delay=0.05) as server:
        shr.run(settings(paths, server, concurrency=3))
    assert server.max_in_flight == 3 and len(server.requests) == 12


def test_several_judge_runs_are_independent_requests_and_averaged(tmp_path):
    paths = make_dataset(tmp_path)
    # The second request for image 3's prompt labels both its sentences hallucination.
    with keyword_judge({"bird": ["ok", Fault(rewrite=flip_to_hallucination)]}) as server:
        result = shr.run(settings(paths, server, judge_runs=2))
        assert len(server.requests) == 6
    m = result.metrics
    # one run: 2 of 7 hallucinated; the other: 3 of 7
    assert m["mean_hal_ratio"] == pytest.approx((2 / 7 + 3 / 7) / 2)
    assert m["hal_sents_ratio"] == pytest.approx(5 / 14)
    doc = json.loads((paths["out"] / "judgement.json").read_text())
    assert [r["run"] for r in doc["runs"]] == [1, 2]
    assert sorted(r["metrics"]["hal_sents_ratio"] for r in doc["runs"]) == pytest.approx([2 / 7, 3 / 7])


def test_a_response_with_no_sentences_needs_no_request(tmp_path):
    paths = make_dataset(tmp_path, {"1": "A purple dog.", "2": " . "})
    with keyword_judge() as server:
        result = shr.run(settings(paths, server))
        assert len(server.requests) == 1
    assert result.status_counts == {"judged": 1, "no sentences": 1}
    assert result.metrics["sents_per_image"] == pytest.approx(0.5)


@pytest.mark.parametrize("garbage", ["html", "notjson"])
def test_a_200_that_is_not_a_completion_is_a_failed_request_retried_then_counted(tmp_path, garbage):
    paths = make_dataset(tmp_path)
    with keyword_judge({"zebra": [garbage] * 100}) as server:
        result = shr.run(settings(paths, server, max_retries=2))
        assert server.count("zebra") == 3  # retried within the bound, like a 500
        assert result.status_counts.get("failed") == 1  # that image unjudged, counted
        assert result.metrics["unjudged_sentences"] == 2
        doc = json.loads((paths["out"] / "judgement.json").read_text())
        assert "not" in doc["runs"][0]["images"]["2"]["error"]  # what came back, said plainly
        assert doc["runs"][0]["images"]["1"]["status"] == "judged"  # what was judged is kept
