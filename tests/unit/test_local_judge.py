"""The local judge: the rule judge on the default prompt format, and the server's HTTP behaviour."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from hadpo_cli.data.synthetic import write_demo_data
from hadpo_cli.data.visual_genome import Region
from hadpo_cli.evaluation import shr
from hadpo_cli.evaluation.shr import parse_judgement
from hadpo_cli.evaluation.shr_prompt import (
    DEFAULT_JUDGE_PROMPT,
    build_prompt,
    format_facts,
    format_regions,
    format_sentences,
    reask_prompt,
)
from hadpo_cli.settings.eval_shr import EvalShrSettings
from hadpo_cli.testing.local_judge import (
    MALFORMED_REPLY,
    RULE_JUDGE_MODEL,
    Fault,
    LocalJudgeServer,
    judge_in_subprocess,
    named_objects,
    parse_judge_prompt,
    rule_judge_reply,
)

REGIONS = [Region(4, 10, 20, 20, "a dog"), Region(0, 0, 64, 64, "a plain white background")]
SENTENCES = [
    "There is a dog on the left",  # named by a region
    "A cat sits next to it",  # an object no region names
    "The background is plain white",  # no object at all
    "Two Dogs and a couch",  # one named, one not: the unsupported one decides
]


def demo_prompt(sentences: list[str] = SENTENCES, facts: list[str] | None = None) -> str:
    return build_prompt(
        DEFAULT_JUDGE_PROMPT,
        regions=format_regions(REGIONS, 64, 64),
        facts=format_facts(facts if facts is not None else ["There is a dog on the left."]),
        sentences=format_sentences(sentences),
    )


# ---------------------------------------------------------------- the rule judge


def test_named_objects_are_toy_world_kinds_any_case_or_number():
    assert named_objects("Two Dogs beside a cup and three Buses.") == {"dog", "cup", "bus"}
    assert named_objects("A personal doghouse, a cupboard") == set()


def test_prompt_parts_are_read_from_the_default_format():
    regions, sentences = parse_judge_prompt(demo_prompt(facts=["1. a numbered fact about a cat"]))
    assert regions == ["a dog", "a plain white background"]
    # The numbered fact sits above the sentences' header, so it is not taken for sentence 1.
    assert sentences == list(enumerate(SENTENCES, start=1))


def test_rule_labels_parse_with_the_shr_parser():
    reply = rule_judge_reply(demo_prompt())
    assert reply.startswith("Judgement:\n")
    labels = [label for label, _ in parse_judgement(reply, len(SENTENCES))]
    assert labels == ["correct", "hallucination", "cannot judge", "hallucination"]
    assert "no region shows a cat" in reply and "couch" in reply


def test_rule_judge_reads_a_reask_and_a_user_template_without_the_header():
    prompt = reask_prompt(demo_prompt(), "it labels 1 of 4 sentences", 4)
    assert len(parse_judgement(rule_judge_reply(prompt), 4)) == 4
    user = build_prompt(
        "R\n{regions}F\n{facts}S\n{sentences}",
        regions=format_regions(REGIONS, 64, 64),
        facts="",
        sentences=format_sentences(SENTENCES[:2]),
    )
    assert [lab for lab, _ in parse_judgement(rule_judge_reply(user), 2)] == ["correct", "hallucination"]


def test_rule_judge_on_the_demo_data_through_the_real_client(tmp_path):
    """Facts of each SHR image are true, an added absent object is not."""
    data = write_demo_data(tmp_path / "data")
    ids = [row["image_id"] for row in json.loads(data.shr_val_images.read_text())]
    facts: dict[int, list[str]] = {}
    for part in data.shr_factual:
        for line in part.read_text().splitlines():
            facts.update({int(k): v for k, v in json.loads(line).items()})
    from hadpo_cli.data.toy_world import absent_from

    responses = {}
    for i in ids:
        ghost = absent_from(" ".join(facts[i]))
        responses[str(i)] = " ".join(facts[i]) + f" There is a {ghost} too."
    (tmp_path / "responses.json").write_text(json.dumps(responses))
    with LocalJudgeServer() as server:
        settings = EvalShrSettings.build(
            {
                "responses": tmp_path / "responses.json",
                "vg_path": data.vg,
                "shr_path": data.shr,
                "output_dir": tmp_path / "out",
                "base_url": server.base_url,
                "judge_model": RULE_JUDGE_MODEL,
            }
        )
        result = shr.run(settings)
        assert server.request_count == len(ids)
    assert result.status_counts == {"judged": len(ids)}
    doc = json.loads((tmp_path / "out" / "judgement.json").read_text())
    n_sentences = n_hallucinated = 0
    for i in ids:
        labels = [s["label"] for s in doc["runs"][0]["images"][str(i)]["sentences"]]
        n_objects = sum(f.startswith("There is a") for f in facts[i])
        # objects true, "contains N objects" and the background unjudgeable, the ghost hallucinated
        assert labels == ["correct"] * n_objects + ["cannot judge"] * 2 + ["hallucination"], (i, labels)
        n_sentences += len(labels)
        n_hallucinated += 1
    assert result.metrics["hal_sents_ratio"] == pytest.approx(n_hallucinated / n_sentences)


# ---------------------------------------------------------------- the server over raw HTTP


def post(url: str, body: Any, path: str = "/chat/completions") -> tuple[int, dict[str, str], Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


def chat(prompt: str, model: str = "m") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": prompt}]}


def test_reply_is_a_chat_completion_from_the_rule_judge_and_is_counted():
    with LocalJudgeServer() as server:
        assert server.base_url.startswith("http://127.0.0.1:") and server.base_url.endswith("/v1")
        status, _, body = post(server.base_url, chat(demo_prompt(), model="judge-x"))
        assert status == 200 and server.request_count == 1
        assert server.requests[0]["path"] == "/v1/chat/completions"
    assert body["object"] == "chat.completion" and body["model"] == "judge-x"
    assert body["choices"][0]["message"]["content"] == rule_judge_reply(demo_prompt())


def test_injected_statuses_retry_after_and_malformed_replies_follow_the_plan():
    plan = {
        "zebra": ["429", Fault(status=503, retry_after="7"), "malformed", "ok"],
        "": [500],  # the first request of any other prompt
    }
    with LocalJudgeServer(faults=plan, retry_after="0.5") as server:
        url = server.base_url
        outcomes = [post(url, chat("1. a zebra")) for _ in range(5)]
        other = [post(url, chat("1. a red circle")) for _ in range(2)]
        assert server.count("zebra") == 5 and server.request_count == 7
        assert len(server.times["zebra"]) == 5
    assert [o[0] for o in outcomes] == [429, 503, 200, 200, 200]
    assert outcomes[0][1]["retry-after"] == "0.5"  # a 429 without its own gets the server's
    assert outcomes[1][1]["retry-after"] == "7"
    assert outcomes[2][2]["choices"][0]["message"]["content"] == MALFORMED_REPLY
    assert outcomes[3][2]["choices"][0]["message"]["content"].startswith("Judgement:\n1. cannot judge")
    assert [o[0] for o in other] == [500, 200]
    assert "retry-after" not in other[0][1]


def test_delay_applies_to_every_call_and_in_flight_is_tracked():
    with LocalJudgeServer(delay=0.2) as server:
        start = time.monotonic()
        post(server.base_url, chat("1. x"))
        assert time.monotonic() - start >= 0.19
        assert server.max_in_flight == 1 and server.in_flight == 0


def test_bad_routes_and_bodies_and_models_list():
    with LocalJudgeServer() as server:
        assert post(server.base_url, chat("x"), path="/embeddings")[0] == 404
        assert post(server.base_url, b"{not json")[0] == 400
        with urllib.request.urlopen(server.base_url + "/models", timeout=5) as response:
            assert json.loads(response.read())["data"][0]["id"] == RULE_JUDGE_MODEL
        assert server.request_count == 0  # only chat completions are judge requests


def test_a_stopped_server_refuses_connections_and_keeps_its_url():
    server = LocalJudgeServer().start()
    url = server.base_url
    server.stop()
    assert server.base_url == url
    with pytest.raises(urllib.error.URLError):
        post(url, chat("x"))


def test_unknown_fault_names_are_refused():
    with pytest.raises(ValueError, match="unknown fault 'teapot'"):
        Fault.of("teapot")
    assert Fault.of("slow").delay > 1 and Fault.of(429).status == 429


def test_the_python_m_entry_serves_in_its_own_process():
    with judge_in_subprocess(delay=0.0) as url:
        status, _, body = post(url, chat(demo_prompt()))
    assert status == 200
    assert body["choices"][0]["message"]["content"] == rule_judge_reply(demo_prompt())
    with pytest.raises(urllib.error.URLError):
        post(url, chat("x"))  # terminated on leaving the block
