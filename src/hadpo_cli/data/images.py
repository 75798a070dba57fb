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
            return to_rgb(image)
    except FileNotFoundError:
        raise UserError(f"{path}: image file not found") from None
    except UnidentifiedImageError:
        raise UserError(f"{path}: not an image file (or a format Pillow cannot read)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise UserError(f"{path}: corrupt or unreadable image ({exc})") from None


# What transparent pixels become: the white a viewer shows them on.
BACKGROUND = (255, 255, 255)


def to_rgb(image: Image.Image) -> Image.Image:
    """Any mode Pillow opens, as 8-bit RGB that looks like the picture.

    ``Image.convert("RGB")`` clips 16-bit and 32-bit greyscale to 255 (a 16-bit scan turns all
    white) and drops alpha onto black; here high-bit-depth data is scaled, alpha is composited
    on white, palette and CMYK go through Pillow's own conversions.
    """
    from PIL import Image

    mode = image.mode
    if mode == "RGB":
        return image
    if mode.startswith("I") or mode == "F":
        return Image.fromarray(_to_8bit(image), mode="L").convert("RGB")
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _to_8bit(image: Image.Image):  # noqa: ANN202 - a numpy array; numpy is imported lazily
    import numpy as np

    data = np.asarray(image, dtype=np.float64)
    if image.mode == "F":
        top = 1.0 if data.size and data.max() <= 1.0 else 255.0
    elif image.mode.startswith("I;16") or (data.size and data.max() > 255):
        top = 65535.0  # 16-bit samples (Pillow may open a 16-bit PNG as mode "I")
    else:
        top = 255.0
    return np.clip(np.rint(data / top * 255.0), 0, 255).astype(np.uint8)
