"""`hadpo eval shr` through the CLI: flags, errors (exit 2, nothing written), --json, the real judge path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_shr_judge import API_KEY, RESPONSES, keyword_judge, make_dataset
from typer.testing import CliRunner

from hadpo_cli.__main__ import app


@pytest.fixture(autouse=True)
def _no_ambient_openai_env(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def invoke(args: list[str], env: dict[str, str] | None = None):
    return CliRunner().invoke(app, ["eval", "shr", *map(str, args)], env=env)


def base_args(paths: dict[str, Path]) -> list[str]:
    return [
        "--responses",
        paths["responses"],
        "--vg-path",
        paths["vg"],
        "--shr-path",
        paths["shr"],
        "-o",
        paths["out"],
    ]


def test_no_judge_needs_no_key_nor_vg_and_prints_repetition_json(tmp_path):
    paths = make_dataset(tmp_path)
    args = [
        "--responses",
        paths["responses"],
        "--shr-path",
        paths["shr"],
        "-o",
        paths["out"],
        "--no-judge",
        "--json",
    ]
    result = invoke(args)
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert set(metrics) == {"num_images", *(f"gram-{n}-repetition" for n in range(1, 5))}
    assert metrics == json.loads((paths["out"] / "metrics.json").read_text())
    assert not (paths["out"] / "judgement.json").exists()
    assert "gram-1-repetition" in result.stderr  # the table


def test_judged_run_with_key_from_the_environment(tmp_path):
    paths = make_dataset(tmp_path)
    with keyword_judge() as server:
        env = {"OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": server.base_url}
        result = invoke([*base_args(paths), "--json", "--retry-backoff", "0.01"], env=env)
        assert result.exit_code == 0, result.output
        assert server.requests[0]["auth"] == f"Bearer {API_KEY}"
    metrics = json.loads(result.stdout)
    assert metrics["hal_sents_ratio"] == pytest.approx(2 / 7)
    assert metrics == json.loads((paths["out"] / "metrics.json").read_text())
    assert "judge: 3 requests" in result.stderr
    assert metrics["usage"]["requests"] == 3 and metrics["usage"]["prompt_tokens"] > 0
    public = json.loads((paths["out"] / "settings.json").read_text())
    assert "api_key" not in public and public["base_url"] == server.base_url
    for p in paths["out"].rglob("*"):
        if p.is_file():
            assert API_KEY not in p.read_text(), p
    assert API_KEY not in result.output


def test_key_given_as_a_flag_is_not_written_either(tmp_path):
    paths = make_dataset(tmp_path)
    with keyword_judge() as server:
        result = invoke(
            [
                *base_args(paths),
                "--api-key",
                API_KEY,
                "--base-url",
                server.base_url,
                "--judge-model",
                "judge-x",
            ]
        )
        assert result.exit_code == 0, result.output
        assert server.requests[0]["body"]["model"] == "judge-x"
    for p in paths["out"].rglob("*"):
        if p.is_file():
            assert API_KEY not in p.read_text(), p


def test_missing_key_is_an_error_naming_the_variable(tmp_path):
    paths = make_dataset(tmp_path)
    result = invoke(base_args(paths))
    assert result.exit_code == 2
    assert "OPENAI_API_KEY" in result.stderr
    assert not paths["out"].exists()


def test_image_without_a_response_is_named_and_nothing_is_written(tmp_path):
    paths = make_dataset(tmp_path)
    partial = {k: v for k, v in RESPONSES.items() if k != "2"}
    paths["responses"].write_text(json.dumps(partial))
    result = invoke([*base_args(paths), "--api-key", API_KEY])
    assert result.exit_code == 2
    assert (
        "no response for 1 of 3 SHR images: 2" in result.stderr and str(paths["responses"]) in result.stderr
    )
    assert not paths["out"].exists()


def test_missing_visual_genome_entry_is_named(tmp_path):
    paths = make_dataset(tmp_path)
    data = json.loads((paths["vg"] / "image_data.json").read_text())
    (paths["vg"] / "image_data.json").write_text(json.dumps(data[:2]))
    result = invoke([*base_args(paths), "--api-key", API_KEY])
    assert result.exit_code == 2
    assert "image_data.json: no entry for 1 SHR image(s): 3" in result.stderr
    assert not paths["out"].exists()


def test_bad_json_names_file_and_line(tmp_path):
    paths = make_dataset(tmp_path)
    paths["responses"].write_text('{\n  "1": "a",\n  oops\n}')
    result = invoke([*base_args(paths), "--no-judge"])
    assert result.exit_code == 2
    assert f"{paths['responses']}:3: not valid JSON" in result.stderr


def test_bad_facts_line_names_file_and_line(tmp_path):
    paths = make_dataset(tmp_path)
    (paths["shr"] / "shr_factual_part2.jsonl").write_text('{"1": ["ok"]}\n{"2": "not a list"}\n')
    result = invoke([*base_args(paths), "--api-key", API_KEY])
    assert result.exit_code == 2
    assert "shr_factual_part2.jsonl:2: facts for image 2 must be a list of strings" in result.stderr


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--model", "m"], "pass --model (generate the answers) or --responses FILE, not both"),
        (["--concurrency", "0"], "--concurrency"),
        (["--judge-runs", "0"], "--judge-runs"),
        (["--temperature", "3"], "--temperature"),
    ],
)
def test_bad_flags_exit_2_naming_the_flag(tmp_path, extra, message):
    paths = make_dataset(tmp_path)
    result = invoke([*base_args(paths), "--api-key", API_KEY, *extra])
    assert result.exit_code == 2
    assert message in result.stderr


def test_judge_prompt_without_placeholders_is_refused(tmp_path):
    paths = make_dataset(tmp_path)
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Judge {sentences}")
    result = invoke([*base_args(paths), "--api-key", API_KEY, "--judge-prompt", prompt])
    assert result.exit_code == 2
    assert "prompt.txt: judge prompt lacks the placeholder(s) {regions}, {facts}" in result.stderr


def test_user_judge_prompt_is_what_the_server_receives(tmp_path):
    paths = make_dataset(tmp_path)
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("REGIONS\n{regions}FACTS\n{facts}SENTENCES\n{sentences}")
    with keyword_judge() as server:
        result = invoke(
            [*base_args(paths), "--api-key", API_KEY, "--base-url", server.base_url, "--judge-prompt", prompt]
        )
        assert result.exit_code == 0, result.output
        sent = {r["body"]["messages"][0]["content"] for r in server.requests}
    assert (
        "REGIONS\n[0.1, 0.1, 0.6, 0.6]: thing 2\nFACTS\nSENTENCES\n1. A zebra stands still\n2. There are trees\n"
        in sent
    )


def test_model_path_checks_images_then_loads_the_model(tmp_path):
    paths = make_dataset(tmp_path)
    args = ["--model", "some/model", "--vg-path", paths["vg"], "--shr-path", paths["shr"], "-o", paths["out"]]
    result = invoke([*args, "--no-judge"])
    assert result.exit_code == 2
    assert "3 of 3 SHR image files are missing" in result.stderr
    from PIL import Image

    for i in (1, 2, 3):
        (paths["vg"] / "VG_100K").mkdir(exist_ok=True)
        Image.new("RGB", (8, 8)).save(paths["vg"] / "VG_100K" / f"{i}.jpg")
    result = invoke([*args, "--no-judge"])
    # Inputs are fine now, so it goes on to load the model, which does not exist (offline).
    assert result.exit_code == 2
    assert "not found as a Hub model id" in result.stderr and "some/model" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_loads_no_heavy_library():
    code = (
        "import sys\nfrom hadpo_cli.__main__ import app\nsys.argv=['hadpo','eval','shr','--help']\n"
        "try:\n    app(prog_name='hadpo')\nexcept SystemExit:\n    pass\n"
        "print('LOADED=' + ','.join(m for m in ('openai','torch','transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "LOADED="
    assert "--judge-runs" in out.stdout and "--concurrency" in out.stdout


def test_unjudged_images_give_exit_status_1_after_writing_everything(tmp_path):
    from hadpo_cli.testing.local_judge import LocalJudgeServer

    paths = make_dataset(tmp_path)
    env = {"OPENAI_API_KEY": API_KEY}
    # A judge that is up but fails every request: each image is retried, then left unjudged.
    with LocalJudgeServer(reply=lambda prompt: "", faults={"": ["500"] * 100}) as server:
        args = [*base_args(paths), "--base-url", server.base_url, "--max-retries", "1",
                "--retry-backoff", "0.01", "--json"]  # fmt: skip
        result = invoke(args, env=env)
    assert result.exit_code == 1, result.output
    metrics = json.loads(result.stdout)
    assert metrics["unjudged_sentences"] > 0
    assert (paths["out"] / "judgement.json").is_file() and (paths["out"] / "metrics.json").is_file()
    assert "Exit status 1" in result.stderr


def test_a_port_nobody_listens_on_is_one_line_at_once(tmp_path):
    import socket

    paths = make_dataset(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [*base_args(paths), "--base-url", f"http://user:pw@127.0.0.1:{port}/v1", "--max-retries", "5"]
    result = invoke(args, env={"OPENAI_API_KEY": API_KEY})
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "cannot reach the judge" in lines[0] and "pw" not in result.stderr
    assert not (paths["out"] / "metrics.json").exists()


def test_base_url_credentials_never_reach_settings_json(tmp_path):
    from hadpo_cli.settings.eval_shr import EvalShrSettings

    settings = EvalShrSettings(
        responses=tmp_path / "r.json", shr_path=tmp_path, output_dir=tmp_path / "o", vg_path=tmp_path,
        base_url="https://user:hunter2@gateway.example:8443/v1?api-key=hunter2", api_key="sk-secret",
    )  # fmt: skip
    saved = json.dumps(settings.public_dict())
    assert "hunter2" not in saved and "sk-secret" not in saved
    assert settings.public_dict()["base_url"] == "https://gateway.example:8443/v1"


def test_two_responses_for_one_image_are_refused(tmp_path):
    from hadpo_cli.data.shr import load_responses
    from hadpo_cli.errors import UserError

    same_key = tmp_path / "a.json"
    same_key.write_text('{"1": "A dog.", "1": "A cat."}')
    with pytest.raises(UserError, match=r"key '1' appears twice"):
        load_responses(same_key)
    same_id = tmp_path / "b.json"
    same_id.write_text('{"1": "A dog.", "01": "A cat."}')
    with pytest.raises(UserError, match=r"image 1 has two responses \(keys '1' and '01'\)"):
        load_responses(same_id)


def test_a_judge_flag_with_no_judge_is_refused(tmp_path):
    paths = make_dataset(tmp_path)
    result = invoke([*base_args(paths), "--no-judge", "--judge-runs", "3"])
    assert result.exit_code == 2
    assert "error: --judge-runs has no effect with --no-judge" in result.stderr
    # The endpoint may come from the environment: not a mistake of the command line.
    ok = invoke([*base_args(paths), "--no-judge"], env={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert ok.exit_code == 0, ok.output
