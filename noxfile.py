"""nox sessions. They run in the environment nox itself runs in (set up with
scripts/install.sh), so nox never pulls a second multi-GB torch into a fresh virtualenv."""

import sys

import nox

nox.options.sessions = ["lint", "tests"]


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """Unit and integration tests (the tiny model runs offline)."""
    session.env["HF_HUB_OFFLINE"] = "1"
    session.run(sys.executable, "-m", "pytest", *session.posargs)


@nox.session(venv_backend="none")
def unit(session: nox.Session) -> None:
    """Only the fast tests that need no model."""
    session.env["HF_HUB_OFFLINE"] = "1"
    session.run(sys.executable, "-m", "pytest", "-m", "not integration", *session.posargs)


@nox.session(venv_backend="none")
def lint(session: nox.Session) -> None:
    session.run(sys.executable, "-m", "ruff", "check", "src", "tests", "benchmarks", "noxfile.py")
    session.run(sys.executable, "-m", "ruff", "format", "--check", "src", "tests", "benchmarks", "noxfile.py")
