"""Shared pieces of the command modules: error handling, help text from settings, --config merging."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from hadpo_cli.console import err
from hadpo_cli.errors import UserError

F = TypeVar("F", bound=Callable[..., Any])


def guarded(fn: F) -> F:
    """Turn :class:`UserError` into ``error: ...`` on stderr and exit status 2 (no traceback).

    ``HADPO_DEBUG=1`` lets the traceback through, for bug reports.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UserError as exc:
            if os.environ.get("HADPO_DEBUG"):
                raise
            _print_error(user_message(exc))
            raise typer.Exit(exc.exit_code) from None
        except OSError as exc:
            # A path the user gave that cannot be written or read (a directory where a file
            # goes, a missing parent, no permission): theirs to fix, so one line and exit 2.
            if os.environ.get("HADPO_DEBUG") or exc.filename is None:
                raise
            _print_error(f"{exc.filename}: {exc.strerror or exc}")
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            if os.environ.get("HADPO_DEBUG"):
                raise
            err.print(f"interrupted; {interrupted_hint(_command_path())}")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


# What an interrupted command leaves, and how to go on: per command, since they differ.
INTERRUPT_HINTS = {
    "train": "add --resume-from-checkpoint latest to the same command to go on from the last checkpoint",
    "merge": "nothing was written (the output appears only when complete); rerun to merge again",
    "eval pope": "rerun the same command to resume: the answers on disk are kept",
    "eval shr": "rerun the same command to resume: descriptions and judge replies on disk are kept",
    "demo": "rerun `hadpo demo` to start it again",
    "pairs": "rerun the same command to resume: descriptions and judge replies on disk are kept",
}


def interrupted_hint(command: str) -> str:
    return INTERRUPT_HINTS.get(command, "nothing half-written is left behind; rerun the same command")


def _command_path() -> str:
    """``train``, ``eval pope``, ...: the command being run, from click's context (typer's own
    copy of click, which is the one that holds it)."""
    try:
        from typer._click.globals import get_current_context
    except ImportError:  # a typer that uses the click package
        from click import get_current_context

    ctx = get_current_context(silent=True)
    if ctx is None:
        return ""
    return " ".join(ctx.command_path.split()[1:])


def _print_error(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}", soft_wrap=True, markup=True, highlight=False)


def user_message(exc: UserError) -> str:
    """The user's one line, also when a DataLoader worker re-raised it wrapped in a traceback."""
    text = str(exc)
    marker = "UserError: "
    if "\n" in text and marker in text:
        return text.rsplit(marker, 1)[1].strip().splitlines()[0]
    return text


def not_built(command: str) -> None:
    err.print(f"[bold red]error:[/] `hadpo {command}` is not built yet in this version")
    raise typer.Exit(2)


def field_help(model: type, name: str) -> str:
    """The help text of a settings field, so a flag's --help and the model never disagree; for a
    field a family recipe decides, the recipes' values follow (from the family registry)."""
    from hadpo_cli.models.families import recipe_note

    text = model.model_fields[name].description or ""
    note = recipe_note(name, getattr(model, "recipe_benchmark", None))
    protocol = getattr(model, "default_decoding", {})
    if name in protocol and not note:
        note = f"Default: {protocol[name]} (the benchmark's protocol; a family's published run of it wins)."
    return f"{text} {note}" if note else text


def settings_option(model: type, name: str, *decls: str, **kw: Any) -> Any:
    """A ``typer.Option`` whose help is the settings field's description (flag from the parameter
    name unless ``decls`` say otherwise)."""
    return typer.Option(*decls, help=field_help(model, name), **kw)


def field_default(model: type, name: str) -> Any:
    return model.model_fields[name].get_default(call_default_factory=True)


def explicit_params(ctx: typer.Context) -> set[str]:
    """Names of the parameters the user actually typed (not left at their default)."""
    out = set()
    for name in ctx.params:
        source = ctx.get_parameter_source(name)
        # Compare by name: typer ships its own copy of click, with its own enum class.
        if source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP"):
            out.add(name)
    return out


def load_yaml_config(path: Path) -> dict[str, Any]:
    """Read a YAML config; keys may use dashes or underscores (``learning-rate`` / ``learning_rate``)."""
    import yaml

    from hadpo_cli.io import open_text

    with open_text(path) as fh:  # not found, a directory, not UTF-8: one line each
        text = fh.read()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise UserError(f"{path}{line}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of setting: value, got {type(data).__name__}")
    out: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for key, value in data.items():
        name = str(key).replace("-", "_")
        if name in out:
            # `lora-r: 8` and `lora_r: 16` in one file: which one was meant is a guess; ask.
            raise UserError(f"{path}: {spelled[name]!r} and {key!r} are the same setting; keep one")
        out[name], spelled[name] = value, str(key)
    return out


def merge_with_config(
    ctx: typer.Context, values: dict[str, Any], config: Path | None, *, skip: tuple[str, ...] = ("config",)
) -> tuple[dict[str, Any], dict[str, str]]:
    """Explicit flags win over the config file, which wins over defaults.

    Returns the merged values and, for each value taken from the file, the file's name (so an
    error names the file for those and the flag for the rest).
    """
    values = {k: v for k, v in values.items() if k not in skip}
    if config is None:
        return values, {}
    typed = explicit_params(ctx)
    from_file = {k: v for k, v in load_yaml_config(config).items() if k not in typed}
    return {**values, **from_file}, dict.fromkeys(from_file, str(config))
