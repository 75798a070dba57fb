"""Settings of ``hadpo demo``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from hadpo_cli.settings.base import Settings


class DemoSettings(Settings):
    """Every stage on a tiny built-in model and synthetic data, offline."""

    workdir: Path = Field(
        Path("hadpo-demo"),
        description="Directory for the tiny model (model/), the synthetic data (data/) and each stage's output.",
    )
    setup_only: bool = Field(False, description="Only write the model and the data; run no stage.")
    json: bool = Field(False, description="Print the summary as one JSON object on stdout.")
