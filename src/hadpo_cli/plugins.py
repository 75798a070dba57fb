"""Plug-in packages: a package whose every module registers something when imported (model
families, benchmark result readers). Adding a plug-in is adding a module; nothing lists them."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable


def import_all(package_name: str, path: Iterable[str], *, skip: tuple[str, ...] = ()) -> None:
    """Import every module of the package (in name order), except ``skip`` and ``_private`` ones."""
    for info in sorted(pkgutil.iter_modules(path), key=lambda i: i.name):
        if info.name not in skip and not info.name.startswith("_"):
            importlib.import_module(f"{package_name}.{info.name}")
