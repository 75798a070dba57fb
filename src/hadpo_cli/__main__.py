"""The ``hadpo`` command: a root Typer app wiring one thin module per command.

Nothing heavy is imported here: torch, transformers, peft and openai load inside the
commands that need them, so ``hadpo --help`` and ``hadpo score`` start fast.
"""

from __future__ import annotations

import typer

from hadpo_cli import __version__
from hadpo_cli.cli import compare, demo, merge, pairs, report, score, train
from hadpo_cli.evaluation.benchmarks import benchmarks

app = typer.Typer(
    name="hadpo",
    help="HA-DPO: hallucination-aware DPO for vision-language models - train, merge, evaluate, score, compare, report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

eval_app = typer.Typer(
    help="Evaluate a model on a hallucination benchmark.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hadpo {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """HA-DPO: hallucination-aware DPO for vision-language models."""


app.command(
    "pairs", help="Build HA-DPO preference data for your own model -> desc_data.json, pope_data.json."
)(pairs.command)
app.command("train", help="DPO + LoRA on HA-DPO preference data -> adapter dir.")(train.command)
app.command("merge", help="Fold a LoRA adapter into the model -> model dir.")(merge.command)
# One subcommand per registered benchmark (evaluation/benchmarks/): flags from its settings model.
for _benchmark in benchmarks().values():
    eval_app.command(_benchmark.name, help=_benchmark.summary)(_benchmark.command())
app.add_typer(eval_app, name="eval")
app.command("score", help="POPE metrics from an answers file and a label file.")(score.command)
app.command("compare", help="Metric deltas of two evaluations, with paired tests and intervals.")(
    compare.command
)
app.command("report", help="One self-contained HTML page from training and evaluation outputs.")(
    report.command
)
app.command("demo", help="Run every stage on a tiny built-in model (offline).")(demo.command)


def main() -> None:
    """Run the CLI; a usage error (unknown flag, bad choice, missing argument) is one `error:`
    line with the command's --help to look at, exit 2, like every other user error."""
    import sys

    from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
    from typer.exceptions import Abort

    try:
        code = app(prog_name="hadpo", standalone_mode=False)
    except NoArgsIsHelpError as exc:  # `hadpo`, `hadpo eval`: the help, as before
        exc.show()
        sys.exit(exc.exit_code)
    except UsageError as exc:
        command = exc.ctx.command_path if exc.ctx is not None else "hadpo"
        sys.stderr.write(f"error: {exc.format_message()} (see `{command} --help`)\n")
        sys.exit(2)
    except ClickException as exc:
        sys.stderr.write(f"error: {exc.format_message()}\n")
        sys.exit(exc.exit_code)
    except Abort:  # Ctrl-C while click itself was prompting or parsing
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
