"""A command's flags, help and ``--config`` made from its settings model: a setting is declared once.

Each field of a :class:`~hadpo_cli.settings.base.Settings` model becomes an option (or, with
``Flag(argument=True)``, a positional argument) whose help is the field's description and whose
default is the field's default. Only the values a user typed (or set through an environment
variable) are handed to the model, so a YAML ``--config`` fills the rest and the model's own
defaults and checks apply to everything; an error names the flag, or the config file for a value
that came from it.

A field may carry a :class:`Flag` in its ``Annotated`` metadata to choose its spelling (short
name, ``--on/--off`` pair, positional, metavar, a CLI type other than the model's).
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from pydantic import SecretStr

from hadpo_cli.cli.common import explicit_params, field_help, guarded, merge_with_config
from hadpo_cli.settings.base import Flag

RunFn = Callable[[Any, bool], "int | None"]  # (settings, --json given) -> exit status


def _flag_of(field: Any) -> Flag:
    return next((m for m in field.metadata if isinstance(m, Flag)), Flag())


def _cli_type(annotation: Any) -> Any:
    """The type click parses for a field: ``X | None`` as ``X``, a secret as ``str``."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _cli_type(args[0])
        if all(typing.get_origin(a) is Literal for a in args):  # Literal[...] | Literal[...]
            return Literal[tuple(v for a in args for v in typing.get_args(a))]
    if annotation is SecretStr:
        return str
    return annotation


def _parameter(model: type, name: str) -> inspect.Parameter:
    field = model.model_fields[name]
    spec = _flag_of(field)
    cli_type = spec.cli_type or _cli_type(field.annotation)
    metavar = spec.metavar
    if typing.get_origin(cli_type) is Literal:
        # Parsed as text and checked by the model, so a bad choice is one `error: --flag: ...` line
        # like every other bad value; the help still lists the choices.
        metavar = metavar or "<" + "|".join(str(c) for c in typing.get_args(cli_type)) + ">"
        cli_type = str
    required = field.is_required()
    default = None if required else field.get_default(call_default_factory=True)
    if isinstance(default, SecretStr):
        default = None
    help_text = field_help(model, name)
    if spec.argument:
        info = typer.Argument(help=help_text, metavar=metavar or name.upper(), show_default=False)
        return inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Annotated[cli_type, info],
            **({} if required else {"default": default}),
        )
    decls = spec.decls
    if not decls and cli_type is bool:
        # An on/off pair where the default is on (so it can be switched off), else a plain switch.
        option = "--" + name.replace("_", "-")
        decls = (f"{option}/--no-{option[2:]}",) if default else (option,)
    info = typer.Option(
        *decls,
        help=help_text,
        metavar=metavar,
        # Never required here: a required setting may come from --config; the model says what is missing.
        show_default=default is not None and not isinstance(default, bool),
    )
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[cli_type, info], default=default
    )


CONFIG_HELP = "YAML file of settings (keys as the flags, - or _); flags given on the command line win."
JSON_HELP = "Print the result as one JSON document on stdout (tables and progress stay on stderr)."


def settings_command(
    model: type, run: RunFn, *, doc: str | None = None, config: bool = True, json_flag: bool = True
) -> Callable[..., Any]:
    """A Typer command for ``model``: parse the flags, build the settings, call ``run``.

    ``run(settings, as_json)`` does the work and the printing; its return value is the exit status.
    """
    params = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)]
    fields = list(model.model_fields)
    # Positional arguments first, as click lists them; the judge's flags (shared by every judged
    # command) last, after what the command itself is about; else field order.
    judge = set(getattr(model, "all_judge_fields", tuple)())
    ordered = sorted(fields, key=lambda n: (not _flag_of(model.model_fields[n]).argument, n in judge))
    params += [_parameter(model, name) for name in ordered]
    if config:
        params.append(
            inspect.Parameter(
                "config",
                inspect.Parameter.KEYWORD_ONLY,
                annotation=Annotated[Path | None, typer.Option("--config", help=CONFIG_HELP)],
                default=None,
            )
        )
    if json_flag:
        params.append(
            inspect.Parameter(
                "json_output",
                inspect.Parameter.KEYWORD_ONLY,
                annotation=Annotated[bool, typer.Option("--json", help=JSON_HELP)],
                default=False,
            )
        )

    def command(ctx: typer.Context, **values: Any) -> None:
        config_path = values.pop("config", None)
        as_json = bool(values.pop("json_output", False))
        # Only what the user gave: the config file fills the rest, then the model's defaults.
        typed = explicit_params(ctx)
        given = {k: v for k, v in values.items() if k in typed}
        merged, sources = merge_with_config(ctx, given, config_path)
        settings = model.build(merged, sources=sources)
        status = run(settings, as_json)
        if status:
            raise typer.Exit(int(status))

    command.__doc__ = doc or model.__doc__
    wrapped = guarded(command)
    wrapped.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    wrapped.__doc__ = command.__doc__
    return wrapped
