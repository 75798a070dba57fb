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
    assert _command_names(["--help"]) == {"train", "merge", "eval", "score", "compare", "report", "demo"}
    assert _command_names(["eval", "--help"]) == {"pope", "shr"}


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
