"""Human output goes to stderr so that stdout stays clean for ``--json`` pipelines."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

err = Console(stderr=True, highlight=False)


def print_json(obj: Any) -> None:
    """One JSON document on stdout, newline-terminated."""
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()
