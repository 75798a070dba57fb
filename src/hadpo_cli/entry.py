"""The ``hadpo`` console script: the CLI's imports happen inside ``main``, so that a Ctrl-C in
the first second (while typer, pydantic and the command modules load) is one line and exit
130, not a traceback from deep inside an import."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from hadpo_cli.__main__ import main as run
    except KeyboardInterrupt:
        sys.stderr.write("interrupted (while starting); nothing was done\n")
        sys.exit(130)
    run()
