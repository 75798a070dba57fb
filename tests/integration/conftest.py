"""Session-wide tiny model and demo data: built once, offline, shared read-only by the tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hadpo_cli.models.tiny import save_tiny_instructblip

    return save_tiny_instructblip(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory: pytest.TempPathFactory):
    from hadpo_cli.data.synthetic import write_demo_data

    return write_demo_data(tmp_path_factory.mktemp("demo") / "data")
