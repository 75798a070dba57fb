"""Session-wide tiny models and demo data: built once, offline, shared read-only by the tests.

Every test that takes ``tiny_model_dir`` runs once per registered model family.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hadpo_cli.models.families import by_name, names


@pytest.fixture(scope="session", params=names())
def family(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def tiny_model_dir(family: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return by_name(family).save_tiny(tmp_path_factory.mktemp(f"tiny-{family}") / "model")


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory: pytest.TempPathFactory):
    from hadpo_cli.data.synthetic import write_demo_data

    return write_demo_data(tmp_path_factory.mktemp("demo") / "data")
