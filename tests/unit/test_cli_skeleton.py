import re
import subprocess
import sys

from typer.testing import CliRunner

from hadpo_cli.__main__ import app

HEAVY = ("torch", "transformers", "peft", "openai", "accelerate", "matplotlib", "scipy", "numpy")


def _imported_after(code: str) -> list[str]:
    probe = code + f"\nimport sys\nprint('LOADED=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    line = out.stdout.strip().splitlines()[-1]
    assert line.startswith("LOADED="), out.stdout
    return [m for m in line[len("LOADED=") :].split(",") if m]


def _command_names(args: list[str]) -> set[str]:
    """The names listed under "Commands:" (the app's description mentions them too)."""
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0
    listing = result.output.split("Commands:", 1)[1]
    return set(re.findall(r"^\s+([a-z]+)\s", listing, re.M))


def test_help_lists_every_command():
    assert _command_names(["--help"]) == {
        "train",
        "merge",
        "eval",
        "pairs",
        "score",
        "compare",
        "report",
        "demo",
    }
    assert _command_names(["eval", "--help"]) == {"pope", "shr", "chair", "amber", "mmhal"}


def test_importing_the_cli_loads_no_heavy_library():
    assert _imported_after("import hadpo_cli.__main__") == []


def test_help_and_score_help_load_no_heavy_library():
    for args in (
        ["--help"],
        ["score", "--help"],
        ["eval", "pope", "--help"],
        ["train", "--help"],
        ["compare", "--help"],
        ["report", "--help"],
    ):
        code = (
            "import sys\nfrom hadpo_cli.__main__ import app\n"
            f"sys.argv=['hadpo', *{args!r}]\n"
            "try:\n    app(prog_name='hadpo')\nexcept SystemExit:\n    pass"
        )
        assert _imported_after(code) == [], args


def test_python_dash_m_runs_the_same_app():
    out = subprocess.run([sys.executable, "-m", "hadpo_cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "score" in out.stdout


def test_ctrl_c_says_how_each_command_goes_on(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from hadpo_cli.__main__ import app

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("hadpo_cli.models.merging.run_merge", interrupted)
    monkeypatch.setattr("hadpo_cli.training.run.run_train", interrupted)
    merge = CliRunner().invoke(app, ["merge", "--adapter", str(tmp_path), "--base", str(tmp_path),
                                     "--output", str(tmp_path / "o")])  # fmt: skip
    assert merge.exit_code == 130 and "nothing was written" in merge.output
    assert "resume-from-checkpoint" not in merge.output
    train = CliRunner().invoke(app, ["train", "--vg-path", str(tmp_path), "--output-dir", str(tmp_path / "t"),
                                     "--pope-data", "p.json"])  # fmt: skip
    assert train.exit_code == 130 and "--resume-from-checkpoint latest" in train.output


def test_a_yaml_key_in_both_spellings_is_refused(tmp_path):
    import pytest

    from hadpo_cli.cli.common import load_yaml_config
    from hadpo_cli.errors import UserError

    cfg = tmp_path / "c.yaml"
    cfg.write_text("lora-r: 8\nlora_r: 16\n")
    with pytest.raises(UserError, match=r"'lora-r' and 'lora_r' are the same setting"):
        load_yaml_config(cfg)
    cfg.write_text("lora-r: 8\nbeta: 0.2\n")
    assert load_yaml_config(cfg) == {"lora_r": 8, "beta": 0.2}


def test_a_usage_error_is_one_error_line_with_exit_2():
    import subprocess
    import sys

    for args, needle in ((["eval", "pope", "--no-such-flag"], "No such option: --no-such-flag"),
                         (["score"], "Missing argument 'ANSWERS'"),
                         (["train", "--gradient-checkpointing", "--lora-r", "eight"], "--lora-r")):  # fmt: skip
        proc = subprocess.run([sys.executable, "-m", "hadpo_cli", *args], capture_output=True, text=True)
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert proc.returncode == 2, proc.stderr
        assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], proc.stderr
    ok = subprocess.run([sys.executable, "-m", "hadpo_cli", "--version"], capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.startswith("hadpo ")


def test_ctrl_c_while_the_cli_is_still_importing_is_one_line(monkeypatch, capsys):
    import sys
    import types

    import pytest

    from hadpo_cli import entry

    class Importing(types.ModuleType):
        def __getattr__(self, name):
            raise KeyboardInterrupt  # as if Ctrl-C landed in the middle of the CLI's imports

    monkeypatch.setitem(sys.modules, "hadpo_cli.__main__", Importing("hadpo_cli.__main__"))
    with pytest.raises(SystemExit) as exit_info:
        entry.main()
    assert exit_info.value.code == 130
    assert capsys.readouterr().err == "interrupted (while starting); nothing was done\n"
