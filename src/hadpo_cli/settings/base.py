"""Base class for command settings and the conversion of validation errors to flag names."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from hadpo_cli.errors import UserError

S = TypeVar("S", bound="Settings")

# `--json` is the flag users expect, so several settings have a field called `json`, which
# shadows pydantic v1's deprecated BaseModel.json() that nothing here calls. Silence that one
# warning, once, for every settings model.
warnings.filterwarnings("ignore", message='Field name "json" in ', category=UserWarning)


@dataclass(frozen=True)
class Flag:
    """How a settings field is spelled on the command line (``Annotated[T, Flag(...)]``)."""

    decls: tuple[str, ...] = ()  # e.g. ("--output", "-o") or ("--verify/--no-verify",)
    argument: bool = False  # positional, e.g. score's ANSWERS
    metavar: str | None = None
    cli_type: Any = None  # the type click parses, when it differs (a comma list read as str)


def flag(*decls: str, argument: bool = False, metavar: str | None = None, cli_type: Any = None) -> Flag:
    return Flag(decls=decls, argument=argument, metavar=metavar, cli_type=cli_type)


def flag_name(field: str) -> str:
    return "--" + field.replace("_", "-")


class Settings(BaseModel):
    """Settings of one command. Unknown keys are refused, so typos in a config file surface."""

    # allow_inf_nan=False: `--learning-rate inf` (or a NaN from a config file) is refused for
    # every float setting of every command, instead of training an adapter of NaNs.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    def public_dict(self) -> dict[str, Any]:
        """The resolved settings as JSON-ready data, with secrets left out (never written anywhere)."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                continue
            out[name] = _jsonable(value)
        return out

    @classmethod
    def build(cls: type[S], values: dict[str, Any], *, sources: dict[str, str] | None = None) -> S:
        """Validate ``values``; a failure becomes one :class:`UserError` line naming the flag, or
        the config file when ``sources`` says the bad value came from one."""
        try:
            return cls(**values)
        except ValidationError as exc:
            raise UserError(describe_validation_error(exc, sources=sources or {})) from None


def describe_validation_error(exc: ValidationError, *, sources: dict[str, str]) -> str:
    first = exc.errors()[0]
    loc = first.get("loc") or ()
    msg = first.get("msg", "invalid value")
    key = str(loc[0]) if loc else ""
    source = sources.get(key)
    if first.get("type") == "extra_forbidden" and loc:
        where = f"{source}: " if source else ""
        return f"{where}unknown setting {key!r}"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if loc:
        prefix = f"{source}: {key}" if source else flag_name(key)
        extra = (
            f" (got {first['input']!r})" if "input" in first and not isinstance(first["input"], dict) else ""
        )
        return f"{prefix}: {msg}{extra}"
    return msg


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, BaseModel):
        return {k: _jsonable(v) for k, v in value.model_dump().items()}
    if hasattr(value, "value") and type(value).__module__ != "builtins":  # enums
        return value.value
    return value
