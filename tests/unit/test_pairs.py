"""`hadpo pairs` without a model: reply checks, the pairs built, and the judged pipeline from
--descriptions against the package's local judge (real HTTP on 127.0.0.1), kill and rerun included."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hadpo_cli.__main__ import app
from hadpo_cli.data import toy_world
from hadpo_cli.data.preference import load_preference_pairs
from hadpo_cli.data.synthetic import write_demo_data
from hadpo_cli.errors import UserError
from hadpo_cli.judging.backends import get
from hadpo_cli.pairs import prompts
from hadpo_cli.pairs.build import pope_items
from hadpo_cli.pairs.replies import MalformedReply, parse_detection, parse_rewrite
from hadpo_cli.pairs.run import run
from hadpo_cli.settings.pairs import PairsSettings
from hadpo_cli.testing.local_judge import RULE_JUDGE_MODEL, LocalJudgeServer

# ---------------------------------------------------------------- replies


def detection_reply(verdicts: list[str], corrected: str = "Fixed.", **extra: Any) -> str:
    body = {
        "sentences": [{"n": n, "verdict": v, "problem": ""} for n, v in enumerate(verdicts, start=1)],
        "hallucinated_objects": extra.get("hallucinated", ["Dog", "dog"]),
        "present_objects": extra.get("present", ["cat"]),
        "corrected": corrected,
    }
    return json.dumps(body)


def test_a_detection_in_a_code_fence_parses_with_objects_normalised():
    reply = "Here you go:\n```json\n" + detection_reply(["correct", "hallucination"]) + "\n```"
    found = parse_detection(reply, 2, "A cat. A dog.")
    assert found.hallucinated and found.hallucinated_objects == ["dog"] and found.present_objects == ["cat"]
    assert [v for v, _ in found.verdicts] == ["correct", "hallucination"]


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ("no json here", "no JSON object"),
        ('{"sentences": [}', "not valid JSON"),
        (detection_reply(["correct"]), "judges 1 of 2 sentences"),
        (detection_reply(["correct", "wrong"]), "verdict 'wrong'"),
        (
            json.dumps({"sentences": [{"n": 1, "verdict": "correct"}, {"n": 1, "verdict": "correct"}]}),
            "twice",
        ),
        (json.dumps({"sentences": [{"n": 3, "verdict": "correct"}]}), "sentence 3, but there are 2"),
        (detection_reply(["correct", "hallucination"], corrected=""), '"corrected" is empty'),
        (detection_reply(["correct", "hallucination"], corrected=" A  cat. A dog. "), "repeats the original"),
        (detection_reply(["correct", "correct"], hallucinated="dog"), "list of strings"),
    ],
)
def test_unusable_detections_say_why(reply, problem):
    with pytest.raises(MalformedReply, match=problem):
        parse_detection(reply, 2, "A cat. A dog.")


def test_a_clean_description_needs_no_correction():
    found = parse_detection(detection_reply(["correct", "unsure"], corrected=""), 2, "A cat. It is nice.")
    assert not found.hallucinated


def test_rewrite_replies():
    assert parse_rewrite('{"rewrite": "  Two cats.  "}') == "Two cats."
    for bad in ('{"rewrite": ""}', '{"text": "x"}', '{"rewrite": 3}'):
        with pytest.raises(MalformedReply, match="non-empty string"):
            parse_rewrite(bad)


def test_pope_items_from_a_detection():
    found = parse_detection(
        detection_reply(["correct", "hallucination"], hallucinated=["apple"], present=["cat", "apple"]),
        2,
        "x. y.",
    )
    items = pope_items(7, found)
    assert items == [
        {"image_id": 7, "question": "Is there an apple in the image?", "chosen": "No, there is no apple in the image.",
         "rejected": "Yes, there is an apple in the image.", "correct": False},
        {"image_id": 7, "question": "Is there a cat in the image?", "chosen": "Yes, there is a cat in the image.",
         "rejected": "No, there is no cat in the image.", "correct": True},
    ]  # fmt: skip


def test_templates_fill_as_plain_text_and_a_user_template_must_hold_every_placeholder(tmp_path):
    text = prompts.rewrite_prompt(
        'T={text} K={keep} V={variant} {"rewrite": 1}', "say {keep}", faithful=False, variant=2
    )
    assert text.startswith("T=say {keep} K=Keep every statement") and text.endswith('V=2 {"rewrite": 1}')
    bad = tmp_path / "detect.txt"
    bad.write_text("{annotations} and {sentences}")
    with pytest.raises(UserError, match=r"detect.txt: the detect prompt lacks \{n\}"):
        prompts.load_template(bad, "detect", prompts.DETECT_PLACEHOLDERS)
    for name, needed in (("detect", prompts.DETECT_PLACEHOLDERS), ("rewrite", prompts.REWRITE_PLACEHOLDERS)):
        assert all(p in prompts.default_template(name) for p in needed)


# ---------------------------------------------------------------- the pipeline, judged


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory):
    return write_demo_data(tmp_path_factory.mktemp("pairs") / "data")


def hallucinated_descriptions(data, path: Path, n: int = 5) -> dict[str, str]:
    """Toy-world descriptions of training images, each adding an absent object (as a model would)."""
    items = json.loads(data.desc_data.read_text())[:n]
    descriptions = {str(item["image_id"]): item["rejected"][1] for item in items}
    descriptions[str(items[-1]["image_id"])] = item_text = items[-1]["chosen"][1]  # one faithful
    assert toy_world.named_objects(item_text)
    path.write_text(json.dumps(descriptions))
    return descriptions


def settings(data, descriptions: Path, out: Path, url: str, **kw: Any) -> PairsSettings:
    return PairsSettings.build(
        {"descriptions": descriptions, "vg_path": data.vg, "output_dir": out, "base_url": url,
         "judge_model": RULE_JUDGE_MODEL, "retry_backoff": 0.01, **kw}
    )  # fmt: skip


def test_pairs_from_descriptions_load_in_train_and_count_everything(data, tmp_path):
    described = hallucinated_descriptions(data, tmp_path / "d.json")
    with LocalJudgeServer() as judge:
        result = run(settings(data, tmp_path / "d.json", tmp_path / "out", judge.base_url, rewrites=2))
        requests = judge.request_count
    report = result.report
    # 5 detections; 4 hallucinated images x (2 chosen + 2 rejected rewrites)
    assert requests == 5 + 4 * 4 == report["judge"]["requests"]
    assert report["with_hallucination"] == report["desc_pairs"] == 4 and report["without_hallucination"] == 1
    assert report["judge"]["prompt_tokens"] > 0 and report["skipped"]["total"] == 0
    desc = json.loads((tmp_path / "out" / "desc_data.json").read_text())
    for item in desc:
        original = described[str(item["image_id"])]
        assert item["rejected"][0] == original and len(item["chosen"]) == len(item["rejected"]) == 3
        drawn = set(toy_world.named_objects(" ".join(item["chosen"])))
        ghosts = set(toy_world.named_objects(original)) - drawn
        # chosen keep what is there and lose the ghost; every rejected rewrite keeps the ghost
        assert ghosts and all(ghosts <= toy_world.named_objects(r) for r in item["rejected"])
    pope = json.loads((tmp_path / "out" / "pope_data.json").read_text())
    assert report["pope_pairs"] == len(pope) and report["pope_pairs_hallucinated"] == 4
    assert all(p["chosen"].startswith("No") for p in pope if not p["correct"])
    # The image without a hallucination still gives the objects it named rightly, marked correct.
    details = [json.loads(line) for line in (tmp_path / "out" / "judgements.jsonl").read_text().splitlines()]
    clean = {d["image_id"] for d in details if d["status"] == "no hallucination"}
    from_clean = [p for p in pope if p["image_id"] in clean]
    assert (
        len(clean) == 1
        and from_clean
        and all(p["correct"] and p["chosen"].startswith("Yes") for p in from_clean)
    )
    pairs = load_preference_pairs(
        tmp_path / "out" / "pope_data.json", tmp_path / "out" / "desc_data.json", data.vg, pope_repeat=1
    )
    # Only the hallucinated objects train: "correct": true items are skipped, as in the release.
    assert sum(p.source == "desc" for p in pairs) == 4 and sum(p.source == "pope" for p in pairs) == 4


class Killed(Exception):
    pass


class Killing:
    """The real backend, stopped (the process dies here) once ``after`` replies have arrived."""

    def __init__(self, config, after: int):
        self.inner = get("openai").client(config)
        self.after = after

    @property
    def requests(self) -> int:
        return self.inner.requests

    @property
    def retries(self) -> int:
        return self.inner.retries

    async def complete(self, prompt):
        if self.after <= 0:
            raise Killed
        self.after -= 1
        return await self.inner.complete(prompt)

    async def aclose(self):
        await self.inner.aclose()


def test_a_kill_mid_judging_loses_nothing_paid_for(data, tmp_path):
    hallucinated_descriptions(data, tmp_path / "d.json")
    with LocalJudgeServer() as judge:
        full = run(settings(data, tmp_path / "d.json", tmp_path / "full", judge.base_url, concurrency=1))
        total = judge.request_count
        s = settings(data, tmp_path / "d.json", tmp_path / "out", judge.base_url, concurrency=1)
        with pytest.raises(Killed):
            run(s, backend_factory=lambda config: Killing(config, after=7))
        assert judge.request_count == total + 7
        assert not (tmp_path / "out" / "desc_data.json").exists()  # nothing half-written
        again = run(s)
        assert judge.request_count == 2 * total  # the rerun asked only for the rest
    assert again.report["judge"]["requests"] == total - 7 and again.report["judge"]["cached_replies"] == 7
    for name in ("desc_data.json", "pope_data.json"):
        assert (tmp_path / "out" / name).read_text() == (tmp_path / "full" / name).read_text()
    assert full.report["desc_pairs"] == again.report["desc_pairs"]


def test_a_no_judge_run_goes_on_without_it_but_a_finished_run_is_kept(data, tmp_path):
    hallucinated_descriptions(data, tmp_path / "d.json")
    out = tmp_path / "out"
    with LocalJudgeServer() as judge:
        no_judge = PairsSettings.build(
            {"descriptions": tmp_path / "d.json", "vg_path": data.vg, "output_dir": out, "no_judge": True}
        )
        first = run(no_judge)
        assert judge.request_count == 0 and first.report["stopped_after"].startswith("descriptions")
        judged = run(settings(data, tmp_path / "d.json", out, judge.base_url))  # step 2 on, same folder
        assert judge.request_count == judged.report["judge"]["requests"] > 0
        assert "stopped_after" not in judged.report and (out / "desc_data.json").is_file()
        # A judged run is finished: the same folder with --no-judge (other settings) is refused.
        with pytest.raises(UserError, match="--overwrite"):
            run(no_judge)


def test_unusable_rewrites_skip_the_image_whole_and_exit_1(data, tmp_path):
    hallucinated_descriptions(data, tmp_path / "d.json")
    with LocalJudgeServer(faults={"rewrite 2)": ["malformed"] * 50}) as judge:
        result = CliRunner().invoke(
            app,
            ["pairs", "--descriptions", str(tmp_path / "d.json"), "--vg-path", str(data.vg), "-o", str(tmp_path / "out"),
             "--base-url", judge.base_url, "--judge-model", RULE_JUDGE_MODEL, "--max-reasks", "1", "--json"],
        )  # fmt: skip
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["skipped"] == {"malformed": 4, "failed": 0, "total": 4} and report["desc_pairs"] == 0
    assert json.loads((tmp_path / "out" / "desc_data.json").read_text()) == []
    # Nothing of a skipped image, not even its yes/no pairs; only the clean image's right answers.
    pope = json.loads((tmp_path / "out" / "pope_data.json").read_text())
    assert pope and all(p["correct"] for p in pope) and len({p["image_id"] for p in pope}) == 1


def test_bad_inputs_are_one_line_before_anything_is_asked(data, tmp_path):
    described = hallucinated_descriptions(data, tmp_path / "d.json")
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(list(described)[:2]) + "\n999999999\n")
    base = [
        "pairs",
        "--vg-path",
        str(data.vg),
        "-o",
        str(tmp_path / "o"),
        "--base-url",
        "http://127.0.0.1:9/v1",
    ]
    cases = [
        (["--descriptions", str(tmp_path / "d.json"), "--image-ids", str(ids)], "not in"),
        (
            ["--descriptions", str(tmp_path / "d.json"), "--num-images", "99"],
            "d.json (less --exclude-ids) holds 5 images; ask for fewer",
        ),
        (["--model", "m", "--descriptions", str(tmp_path / "d.json")], "not both"),
        (["--vg-path", str(tmp_path)], "--model"),
        (["--descriptions", str(tmp_path / "d.json"), "--rewrite-prompt", str(ids)], "lacks {text}"),
    ]
    for extra, needle in cases:
        result = CliRunner().invoke(app, [*base, *extra])
        assert result.exit_code == 2 and needle in result.stderr, (extra, result.stderr)
        assert not (tmp_path / "o" / "judge_cache.jsonl").exists()
