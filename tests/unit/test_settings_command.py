"""`settings_command`: a command's flags, help, defaults and --config come from its settings model.

A toy model defined here exercises each spelling (choices, bounds, a required option, a
positional argument, an on/off pair, a short flag); then every registered benchmark's
`hadpo eval <name> --help` is checked against its model, so no flag list is written by hand.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Literal

import pytest
import typer
from pydantic import Field
from typer.testing import CliRunner

from hadpo_cli.__main__ import app as hadpo_app
from hadpo_cli.cli.settings_command import settings_command
from hadpo_cli.evaluation.benchmarks import benchmarks
from hadpo_cli.settings.base import Flag, Settings, flag


class ToySettings(Settings):
    """Do a toy thing to a file."""

    source: Annotated[Path, flag(argument=True, metavar="SOURCE")] = Field(
        description="The input file the toy reads."
    )
    name: str = Field(description="Name of the toy run.")
    mode: Literal["fast", "slow", "careful"] = Field("fast", description="How the toy runs.")
    count: int = Field(3, ge=1, le=99, description="How many rounds the toy plays.")
    ratio: float = Field(0.25, gt=0.0, description="Share of rounds that are practice.")
    verify: bool = Field(True, description="Check the toy's result afterwards.")
    dry_run: bool = Field(False, description="Only say what the toy would do.")
    output: Annotated[Path | None, flag("--output", "-o")] = Field(None, description="Where the toy writes.")


SEEN: list[tuple[ToySettings, bool]] = []


def _run(settings: ToySettings, as_json: bool) -> int | None:
    SEEN.append((settings, as_json))
    if as_json:
        print(json.dumps(settings.public_dict()))
    return 3 if settings.name == "fail" else None


toy_app = typer.Typer(rich_markup_mode=None, pretty_exceptions_enable=False)


@toy_app.callback()
def _root() -> None:
    """Toy root (so that `toy` is a subcommand, as `hadpo eval chair` is)."""


toy_app.command("toy")(settings_command(ToySettings, _run))


@pytest.fixture(autouse=True)
def _fresh():
    SEEN.clear()


def toy(*args: object):
    return CliRunner().invoke(toy_app, ["toy", *map(str, args)])


def squashed(text: str) -> str:
    """Help text with all whitespace removed: click wraps lines (also inside hyphenated words)."""
    return re.sub(r"\s+", "", text)


def option_names(help_text: str) -> set[str]:
    """Every flag spelling in the options column of a click --help (not those named in descriptions)."""
    names: set[str] = set()
    for line in help_text.splitlines():
        if re.match(r"^  -", line):
            head = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]
            names.update(re.findall(r"(?<![\w<|-])(--?[a-z][\w-]*)", head))
    return names


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


# ---------------------------------------------------------------- --help


def test_help_shows_every_description_default_and_choice():
    result = toy("--help")
    assert result.exit_code == 0, result.output
    text = result.stdout
    flat = squashed(text)
    for name, field in ToySettings.model_fields.items():
        assert squashed(field.description) in flat, name
    assert "Do a toy thing to a file." in text  # the model's docstring is the command's help
    # Defaults as click shows them, and the choices of a Literal in the metavar.
    assert "--mode <fast|slow|careful>" in text
    assert squashed("[default: fast]") in flat and squashed("[default: 3]") in flat
    assert squashed("[default: 0.25]") in flat
    # A bool shows no "[default: True]"; a default-on switch is an on/off pair, a default-off one plain.
    assert "--verify / --no-verify" in text and "default: True" not in text
    assert "--no-dry-run" not in text and "--dry-run" in option_names(text)
    assert {"-o", "--output", "--name", "--count", "--ratio", "--config", "--json"} <= option_names(text)
    # The positional argument is in the usage line, not an option.
    assert re.search(r"Usage: .*toy \[OPTIONS\] \{?SOURCE\}?$", text, re.MULTILINE)
    assert "--source" not in option_names(text)


# ---------------------------------------------------------------- values reach the model


def test_typed_values_reach_the_model_and_the_rest_keeps_its_defaults(tmp_path):
    result = toy(tmp_path / "in.txt", "--name", "a", "--mode", "slow", "--no-verify", "-o", tmp_path / "o")
    assert result.exit_code == 0, result.output
    ((s, as_json),) = SEEN
    assert (s.source, s.name, s.mode, s.verify, s.output) == (
        tmp_path / "in.txt",
        "a",
        "slow",
        False,
        tmp_path / "o",
    )
    assert (s.count, s.ratio, s.dry_run, as_json) == (3, 0.25, False, False)
    # Only what was typed is "set": the defaults were left to the model.
    assert s.model_fields_set == {"source", "name", "mode", "verify", "output"}
    assert result.stdout == ""


def test_dry_run_switch_and_json_flag_and_exit_status(tmp_path):
    result = toy(tmp_path, "--name", "fail", "--dry-run", "--json")
    assert result.exit_code == 3  # run's return value is the exit status
    ((s, as_json),) = SEEN
    assert s.dry_run is True and as_json is True
    assert json.loads(result.stdout)["name"] == "fail"  # --json is a CLI flag, not a setting
    assert "json" not in ToySettings.model_fields


@pytest.mark.parametrize(
    "args, flag_name, detail",
    [
        (["--mode", "quick"], "--mode", "'fast', 'slow' or 'careful'"),
        (["--count", "0"], "--count", "greater than or equal to 1"),
        (["--count", "100"], "--count", "less than or equal to 99"),
        (["--ratio", "0"], "--ratio", "greater than 0"),
        (["--ratio", "nan"], "--ratio", "finite number"),
    ],
)
def test_a_bad_value_is_one_error_line_naming_the_flag_and_exit_2(tmp_path, args, flag_name, detail):
    result = toy(tmp_path, "--name", "a", *args)
    assert result.exit_code == 2, result.output
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {flag_name}: ") and detail in lines[0]
    assert not SEEN  # run never started


def test_a_required_option_missing_names_its_flag(tmp_path):
    result = toy(tmp_path)
    assert result.exit_code == 2
    assert error_lines(result.stderr) == ["error: --name: Field required"]


def test_a_missing_positional_argument_is_a_usage_error(tmp_path):
    result = toy("--name", "a")
    assert result.exit_code == 2 and not SEEN
    assert "Missing argument 'SOURCE'" in result.output


def test_an_off_switch_has_no_negative_form(tmp_path):
    result = toy(tmp_path, "--name", "a", "--no-dry-run")
    assert result.exit_code == 2 and not SEEN
    assert "No such option: --no-dry-run" in result.output


# ---------------------------------------------------------------- --config


def test_config_fills_unset_fields_and_typed_flags_win(tmp_path):
    config = tmp_path / "toy.yaml"
    config.write_text("name: from-file\ncount: 7\nmode: careful\ndry-run: true\nverify: false\n")
    # --count typed at its default value still wins over the file: what was typed counts, not its value.
    result = toy(tmp_path, "--config", config, "--count", "3", "--mode", "slow")
    assert result.exit_code == 0, result.output
    ((s, _),) = SEEN
    assert (s.name, s.count, s.mode, s.dry_run, s.verify) == ("from-file", 3, "slow", True, False)
    assert s.ratio == 0.25  # neither typed nor in the file: the model's default


def test_a_bad_value_from_the_config_names_the_file_and_key(tmp_path):
    config = tmp_path / "toy.yaml"
    config.write_text("name: a\ncount: 0\n")
    result = toy(tmp_path, "--config", config)
    assert result.exit_code == 2
    (line,) = error_lines(result.stderr)
    assert line.startswith(f"error: {config}: count: ") and "greater than or equal to 1" in line
    # The same bad value typed is named as the flag (the file's good value is then not used).
    assert error_lines(toy(tmp_path, "--config", config, "--count", "0").stderr)[0].startswith(
        "error: --count: "
    )


def test_an_unknown_key_in_the_config_is_refused(tmp_path):
    config = tmp_path / "toy.yaml"
    config.write_text("name: a\ncuont: 4\n")
    result = toy(tmp_path, "--config", config)
    assert result.exit_code == 2
    assert error_lines(result.stderr) == [f"error: {config}: unknown setting 'cuont'"]


@pytest.mark.parametrize(
    "text, message",
    [
        (None, "{config}: file not found"),
        ("name: [a\n", "{config}:2: not valid YAML"),
        ("- name\n", "{config}: expected a mapping of setting: value, got list"),
        (
            "dry-run: true\ndry_run: false\n",
            "{config}: 'dry-run' and 'dry_run' are the same setting; keep one",
        ),
    ],
)
def test_a_bad_config_file_is_one_error_line_naming_it(tmp_path, text, message):
    config = tmp_path / "toy.yaml"
    if text is not None:
        config.write_text(text)
    result = toy(tmp_path, "--name", "a", "--config", config)
    assert result.exit_code == 2 and not SEEN
    (line,) = error_lines(result.stderr)
    assert line.startswith("error: " + message.format(config=config)), line


def test_a_required_field_may_come_from_the_config(tmp_path):
    config = tmp_path / "toy.yaml"
    config.write_text("name: only-in-file\n")
    result = toy(tmp_path, "--config", config)
    assert result.exit_code == 0, result.output
    assert SEEN[0][0].name == "only-in-file"


def test_flag_metadata_defaults():
    assert Flag() == flag()
    assert flag("--output", "-o").decls == ("--output", "-o")


# ---------------------------------------------------------------- every registered benchmark


def _flag_spellings(model: type, name: str) -> list[str]:
    spec = next((m for m in model.model_fields[name].metadata if isinstance(m, Flag)), Flag())
    if spec.decls:
        return [d for decl in spec.decls for d in decl.split("/")]
    return ["--" + name.replace("_", "-")]


@pytest.mark.parametrize("name", list(benchmarks()))
def test_every_benchmark_help_lists_exactly_its_settings_fields(name):
    bench = benchmarks()[name]
    result = CliRunner().invoke(hadpo_app, ["eval", name, "--help"])
    assert result.exit_code == 0, result.output
    text = result.stdout
    shown = option_names(text)
    expected: set[str] = {"--config", "--json", "--help", "-h"}
    for field_name, field in bench.settings.model_fields.items():
        spec = next((m for m in field.metadata if isinstance(m, Flag)), Flag())
        if spec.argument:
            assert (spec.metavar or field_name.upper()) in text.splitlines()[0], field_name
            continue
        spellings = _flag_spellings(bench.settings, field_name)
        assert set(spellings) <= shown, (field_name, spellings)
        expected.update(spellings)
        if field.annotation is bool and field.get_default() is True and not spec.decls:
            expected.add("--no-" + field_name.replace("_", "-"))
        assert squashed(field.description or "") in squashed(text), field_name
    # Nothing else: every option on the command is a field of the model (or --config/--json/--help).
    assert shown == expected, shown ^ expected


def test_every_benchmark_is_an_eval_subcommand():
    result = CliRunner().invoke(hadpo_app, ["eval", "--help"])
    assert result.exit_code == 0
    for name, bench in benchmarks().items():
        assert re.search(rf"^\s+{name}\s", result.stdout, re.MULTILINE), name
        assert squashed(bench.summary)[:40] in squashed(result.stdout)
    assert list(benchmarks())[:2] == ["pope", "shr"]  # in their registered order


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["eval", "amber", "--amber-path", ".", "--part", "some"],
            "error: --part: Input should be 'discriminative', 'generative' or 'all'",
        ),
        (
            ["eval", "chair", "--annotations", ".", "--num-images", "0"],
            "error: --num-images: Input should be greater than or equal to 1",
        ),
        (["eval", "mmhal", "--mmhal-path", ".", "--dtype", "fp64"], "error: --dtype: Input should be"),
    ],
)
def test_the_hadpo_entry_point_prints_one_line_for_a_bad_flag_value(tmp_path, args, message):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hadpo_cli",
            *args,
            "-o",
            str(tmp_path / "out"),
            "--responses",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    lines = error_lines(proc.stderr)
    assert len(lines) == 1 and lines[0].startswith(message), proc.stderr
    assert proc.stdout == "" and not (tmp_path / "out").exists()
