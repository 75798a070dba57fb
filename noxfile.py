"""nox sessions. They run in the current environment (set up with scripts/install.sh),
so nox never pulls a second multi-GB torch into a fresh virtualenv."""

import nox

nox.options.sessions = ["lint", "tests"]


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """Unit and integration tests (the tiny model runs offline)."""
    session.env["HF_HUB_OFFLINE"] = "1"
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(venv_backend="none")
def unit(session: nox.Session) -> None:
    """Only the fast tests that need no model."""
    session.env["HF_HUB_OFFLINE"] = "1"
    session.run("python", "-m", "pytest", "-m", "not integration", *session.posargs)


@nox.session(venv_backend="none")
def lint(session: nox.Session) -> None:
    session.run("ruff", "check", "src", "tests", "benchmarks", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "benchmarks", "noxfile.py")
