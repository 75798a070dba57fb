import os
import stat

import pytest
import typer
from typer.testing import CliRunner

from hadpo_cli.cli.common import guarded, user_message
from hadpo_cli.errors import UserError
from hadpo_cli.io import atomic_dir, atomic_write_json, read_json, read_jsonl


def test_atomic_files_and_dirs_follow_the_umask(tmp_path):
    from hadpo_cli import io

    atomic_write_json(tmp_path / "a.json", {"x": 1})
    with atomic_dir(tmp_path / "d") as d:
        (d / "f").write_text("x")
    # mkstemp / mkdtemp alone would give 0600 / 0700 whatever the umask
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o666 & ~io._UMASK
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o777 & ~io._UMASK
    assert io._UMASK == os.umask(io._UMASK)  # read once at import, unchanged since


def test_byte_order_mark_and_deep_nesting(tmp_path):
    p = tmp_path / "bom.json"
    p.write_bytes(b"\xef\xbb\xbf" + b'{"a": 1}')
    assert read_json(p) == {"a": 1}
    deep = tmp_path / "deep.jsonl"
    deep.write_text("[" * 100000 + "]" * 100000 + "\n")
    with pytest.raises(UserError, match="deep.jsonl:1: JSON nested too deeply"):
        read_jsonl(deep)


def test_worker_wrapped_user_error_is_reduced_to_its_line():
    wrapped = UserError(
        "Caught UserError in DataLoader worker process 0.\nOriginal Traceback (most recent call last):\n"
        '  File "x.py", line 1\nhadpo_cli.errors.UserError: img/12.jpg: not a readable image\n'
    )
    assert user_message(wrapped) == "img/12.jpg: not a readable image"
    assert user_message(UserError("plain")) == "plain"


def test_os_errors_on_user_paths_exit_2_with_one_line(tmp_path):
    app = typer.Typer()

    @app.command()
    @guarded
    def write() -> None:
        (tmp_path / "a-dir").mkdir()
        open(tmp_path / "a-dir", "w")  # noqa: SIM115

    result = CliRunner().invoke(app, [])
    assert result.exit_code == 2
    assert "a-dir" in result.output and "Is a directory" in result.output
    assert "Traceback" not in result.output


def test_every_output_under_a_regular_file_is_one_line_before_any_work(tmp_path):
    from typer.testing import CliRunner

    from hadpo_cli.__main__ import app

    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    under = blocker / "out"
    labels = tmp_path / "labels.jsonl"
    labels.write_text('{"question_id": 1, "image": "x.jpg", "text": "Is there a dog?", "label": "yes"}\n')
    answers = tmp_path / "answers.jsonl"
    answers.write_text('{"question_id": 1, "answer": "Yes"}\n')
    commands = {
        "train": ["train", "--vg-path", str(tmp_path), "--pope-data", str(labels), "--output-dir", str(under)],
        "eval pope": ["eval", "pope", "--labels", str(labels), "--coco-path", str(tmp_path), "--output",
                      str(under / "answers.jsonl")],
        "eval shr": ["eval", "shr", "--responses", str(answers), "--shr-path", str(tmp_path), "--output-dir",
                     str(under), "--no-judge"],
        "score": ["score", str(answers), str(labels), "--output", str(under / "m.json")],
        "report": ["report", str(tmp_path), "--output", str(under / "r.html")],
    }  # fmt: skip
    for name, args in commands.items():
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, (name, result.output)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and "is a file, so nothing can be created under it" in lines[0], (name, lines)
    score_into_dir = CliRunner().invoke(app, ["score", str(answers), str(labels), "--output", str(tmp_path)])
    assert score_into_dir.exit_code == 2 and "is a directory; give a file name" in score_into_dir.output
