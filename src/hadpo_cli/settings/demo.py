"""Settings of ``hadpo demo``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from hadpo_cli.settings.base import Settings


class DemoSettings(Settings):
    """Every stage on a tiny built-in model and synthetic data, offline."""

    workdir: Path = Field(
        Path("hadpo-demo"),
        description="Directory for the tiny model (model/), the synthetic data (data/) and each stage's output.",
    )
    family: str = Field(
        "instructblip",
        description="Model family of the tiny model: any registered family (`hadpo demo --family all` runs each).",
    )
    setup_only: bool = Field(False, description="Only write the model and the data; run no stage.")

    @field_validator("family")
    @classmethod
    def _known_family(cls, value: str) -> str:
        from hadpo_cli.models import families

        if value != "all" and value not in families.names():
            raise ValueError(f"unknown family {value!r} (known: {', '.join(families.names())}, all)")
        return value
