"""Settings of ``hadpo compare`` and ``hadpo report``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator

from hadpo_cli.metrics import DEFAULT_RESAMPLES
from hadpo_cli.settings.base import Settings, flag

_SEED = "Seed of the bootstrap resampling: the same seed gives the same intervals."
# Fewer resamples than this and the 2.5 % tails rest on a handful of draws.
MIN_RESAMPLES = 100
_RESAMPLES = f"Paired-bootstrap resamples per benchmark split (at least {MIN_RESAMPLES})."


class CompareSettings(Settings):
    """Is the candidate better than the baseline on the items both evaluated, by more than chance?"""

    baseline: Annotated[Path, flag(argument=True, metavar="BASELINE")] = Field(
        description="Output of `hadpo eval ...` for the baseline model, or a folder holding several."
    )
    candidate: Annotated[Path, flag(argument=True, metavar="CANDIDATE")] = Field(
        description="The same for the candidate model."
    )
    seed: int = Field(default=0, description=_SEED)
    resamples: int = Field(default=DEFAULT_RESAMPLES, ge=MIN_RESAMPLES, description=_RESAMPLES)


class ReportSettings(Settings):
    """One self-contained HTML page from training and evaluation outputs."""

    paths: Annotated[list[Path], flag(argument=True, metavar="PATH")] = Field(
        min_length=1, description="Training output dirs, evaluation outputs, or folders holding several."
    )
    output: Annotated[Path, flag("--output", "-o")] = Field(
        default=Path("report.html"), description="The HTML file to write."
    )
    baseline: Path | None = Field(
        default=None, description="Evaluation output of the baseline: adds the compare deltas and intervals."
    )
    seed: int = Field(default=0, description=_SEED)
    resamples: int = Field(default=DEFAULT_RESAMPLES, ge=MIN_RESAMPLES, description=_RESAMPLES)

    @field_validator("output")
    @classmethod
    def _html(cls, value: Path) -> Path:
        if value.is_dir():
            raise ValueError(f"{value} is a directory; give a file name such as report.html")
        return value
