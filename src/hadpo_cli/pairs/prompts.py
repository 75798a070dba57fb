"""The judge prompts of ``hadpo pairs``: ours by default (``judging/prompts/pairs_*.txt``), or the
user's templates (``--detect-prompt``, ``--rewrite-prompt``). Placeholders are replaced as plain
text (not ``str.format``), so a template may hold JSON braces."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

from hadpo_cli.errors import UserError
from hadpo_cli.io import open_text

DETECT_PLACEHOLDERS = ("{annotations}", "{sentences}", "{n}")
REWRITE_PLACEHOLDERS = ("{text}", "{keep}", "{variant}")
KEEP_CHOSEN = "Keep every fact it states exactly; add nothing and leave nothing out."
KEEP_REJECTED = (
    "Keep every statement it makes exactly, including any that may be wrong: do not correct, drop or "
    "soften anything, and add nothing."
)
REASK_NOTE = (
    "\n\nYour previous reply could not be used: {problem}. Reply again with one JSON object in the "
    "format asked for, and nothing else."
)


def default_template(name: str) -> str:
    return files("hadpo_cli.judging").joinpath("prompts", f"pairs_{name}.txt").read_text(encoding="utf-8")


def load_template(path: Path | None, name: str, placeholders: tuple[str, ...]) -> str:
    """Our template, or the user's file checked for every placeholder (one line if one is missing)."""
    if path is None:
        return default_template(name)
    with open_text(path) as fh:
        template = fh.read()
    missing = [p for p in placeholders if p not in template]
    if missing:
        raise UserError(
            f"{path}: the {name} prompt lacks {', '.join(missing)} (it needs {', '.join(placeholders)})"
        )
    return template


def fill(template: str, values: dict[str, str]) -> str:
    """Every ``{name}`` of ``values`` replaced in one pass (a value containing "{text}" stays as is)."""
    pattern = re.compile("|".join(re.escape("{" + k + "}") for k in values))
    return pattern.sub(lambda m: values[m.group(0)[1:-1]], template)


def number(sentences: list[str]) -> str:
    return "\n".join(f"{n}. {s}" for n, s in enumerate(sentences, start=1))


def detect_prompt(template: str, annotations: str, sentences: list[str]) -> str:
    return fill(
        template, {"annotations": annotations, "sentences": number(sentences), "n": str(len(sentences))}
    )


def rewrite_prompt(template: str, text: str, *, faithful: bool, variant: int) -> str:
    keep = KEEP_CHOSEN if faithful else KEEP_REJECTED
    return fill(template, {"text": text, "keep": keep, "variant": str(variant)})


def reask(prompt: str, problem: str) -> str:
    return prompt + REASK_NOTE.format(problem=problem)
