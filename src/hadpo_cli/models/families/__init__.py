"""Model families as plug-ins: one module each, registered under its transformers ``model_type``.

A family module defines a :class:`~hadpo_cli.models.families.base.VLMFamily` subclass and
decorates it with :func:`register`. Importing this package imports every module in it (they
are light: torch and transformers are imported inside their methods), so adding a family is
adding one file. Nothing outside the family modules names a family.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hadpo_cli.errors import UserError

if TYPE_CHECKING:
    from hadpo_cli.models.families.base import VLMFamily

_REGISTRY: dict[str, type[VLMFamily]] = {}
_LOADED = False


def register(cls: type[VLMFamily]) -> type[VLMFamily]:
    """Class decorator: make ``cls`` the family of configs whose ``model_type`` is ``cls.model_type``."""
    if cls.model_type in _REGISTRY and _REGISTRY[cls.model_type] is not cls:
        raise RuntimeError(f"two families register model type {cls.model_type!r}")
    _REGISTRY[cls.model_type] = cls
    return cls


def _load_all() -> None:
    global _LOADED
    if _LOADED:
        return
    from hadpo_cli.plugins import import_all

    import_all(__name__, __path__, skip=("base",))
    _LOADED = True


def families() -> dict[str, type[VLMFamily]]:
    """Every registered family by name, in registration order (InstructBLIP, the first, first)."""
    _load_all()
    ordered = sorted(_REGISTRY.values(), key=lambda cls: (cls.order, cls.name))
    return {cls.name: cls for cls in ordered}


def names() -> list[str]:
    return list(families())


def by_name(name: str) -> type[VLMFamily]:
    known = families()
    if name not in known:
        raise UserError(f"unknown model family {name!r} (known: {', '.join(known)})")
    return known[name]


def for_model_type(model_type: str, *, what: str = "model") -> type[VLMFamily]:
    _load_all()
    if model_type not in _REGISTRY:
        supported = ", ".join(sorted(_REGISTRY))
        raise UserError(f"{what}: model type {model_type!r} is not supported (supported: {supported})")
    return _REGISTRY[model_type]


def for_config(config: Any, *, what: str = "model") -> type[VLMFamily]:
    return for_model_type(str(getattr(config, "model_type", "")), what=what)


def is_vlm_config(config: Any) -> bool:
    _load_all()
    return str(getattr(config, "model_type", "")) in _REGISTRY


def recipe_note(field: str, benchmark: str | None = None) -> str:
    """``"Recipe: instructblip 64, llava 128."`` for a setting the families' recipes decide
    (training when ``benchmark`` is None, else that benchmark's decoding); "" otherwise."""
    parts = []
    for name, cls in families().items():
        recipe = cls.train_recipe if benchmark is None else cls.eval_recipe.get(benchmark, {})
        if field in recipe:
            value = recipe[field]
            shown = (
                ",".join(value)
                if isinstance(value, list)
                else f"{value:g}"
                if isinstance(value, float)
                else value
            )
            parts.append(f"{name} {shown}")
    return f"Default from the model family's published recipe: {', '.join(parts)}." if parts else ""
