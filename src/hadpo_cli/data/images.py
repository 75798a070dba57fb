"""Lazy image loading: files are opened only when a batch needs them, never up front."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hadpo_cli.errors import UserError

if TYPE_CHECKING:
    from PIL import Image


def load_image(path: Path) -> Image.Image:
    """Decode ``path`` fully as RGB; a missing or corrupt file is a :class:`UserError` naming it."""
    # PIL is imported here so that reading the data files (and `hadpo --help`) never pays for it.
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            # Image.open only reads the header; load() decodes now, so a truncated file fails
            # here with its name rather than deep inside the processor.
            image.load()
            return image.convert("RGB")
    except FileNotFoundError:
        raise UserError(f"{path}: image file not found") from None
    except UnidentifiedImageError:
        raise UserError(f"{path}: not an image file (or a format Pillow cannot read)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise UserError(f"{path}: corrupt or unreadable image ({exc})") from None
