"""Settings of ``hadpo score``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from hadpo_cli.io import STDIN
from hadpo_cli.settings.base import Settings, flag


class ScoreSettings(Settings):
    """POPE metrics from a model's answers and a POPE label file."""

    answers: Annotated[Path, flag(argument=True, metavar="ANSWERS")] = Field(
        description="Model answers, JSON Lines with question_id and answer (or text, as LLaVA writes it); - reads stdin."
    )
    labels: Annotated[Path, flag(argument=True, metavar="LABELS")] = Field(
        description="POPE label file, e.g. output/coco/coco_pope_adversarial.json (JSON Lines: question_id, image, text, label)."
    )
    parser: Literal["pope", "strict"] = Field(
        default="pope",
        description="How an answer becomes yes/no: pope = POPE's evaluate.py rule (comparable with published numbers); "
        "strict = first word must be yes/no, anything else is counted as unparseable.",
    )
    output: Annotated[Path | None, flag("--output", "-o")] = Field(
        default=None, description="Also write the metrics JSON to this file (atomically)."
    )

    @model_validator(mode="after")
    def _check_paths(self) -> ScoreSettings:
        if str(self.labels) == STDIN and str(self.answers) == STDIN:
            raise ValueError("answers and labels cannot both be read from stdin (-)")
        if self.output is not None:
            if str(self.output) == STDIN:
                raise ValueError("--output: use --json to print to stdout; --output takes a file name")
            for name in ("answers", "labels"):
                source = getattr(self, name)
                # Writing over an input would destroy the data the numbers came from.
                if str(source) != STDIN and _same_file(source, self.output):
                    raise ValueError(f"--output would overwrite the {name} file {source}")
        return self


def _same_file(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()
