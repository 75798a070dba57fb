"""Every image mode Pillow opens becomes RGB that looks like the picture (data/images.py)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from hadpo_cli.data.images import BACKGROUND, load_image, to_rgb


def _pixel(image: Image.Image) -> tuple[int, int, int]:
    return image.getpixel((0, 0))


def test_16_bit_greyscale_png_is_scaled_not_clipped_to_white(tmp_path):
    path = tmp_path / "grey16.png"
    data = np.full((4, 4), 32768, dtype=np.uint16)  # mid-grey in 16 bits
    Image.fromarray(data).save(path)
    image = load_image(path)
    assert image.mode == "RGB" and _pixel(image) == (128, 128, 128)
    # What a plain convert does to it: all white.
    with Image.open(path) as raw:
        assert raw.convert("RGB").getpixel((0, 0)) != (128, 128, 128)


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (Image.fromarray(np.full((2, 2), 1000, dtype=np.int32), mode="I"), (4, 4, 4)),  # 16-bit range
        (Image.fromarray(np.full((2, 2), 200, dtype=np.int32), mode="I"), (200, 200, 200)),  # 8-bit range
        (Image.fromarray(np.full((2, 2), 0.5, dtype=np.float32), mode="F"), (128, 128, 128)),
        (Image.new("L", (2, 2), 77), (77, 77, 77)),
        (Image.new("1", (2, 2), 1), (255, 255, 255)),
        (Image.new("RGBA", (2, 2), (255, 0, 0, 0)), BACKGROUND),  # fully transparent: the background
        (Image.new("RGBA", (2, 2), (255, 0, 0, 255)), (255, 0, 0)),
        (Image.new("LA", (2, 2), (0, 0)), BACKGROUND),
        (Image.new("CMYK", (2, 2), (0, 255, 255, 0)), (255, 0, 0)),
    ],
)
def test_each_mode(image, expected):
    out = to_rgb(image)
    assert out.mode == "RGB" and _pixel(out) == expected


def test_palette_with_transparency_is_composited_and_without_kept():
    opaque = Image.new("P", (2, 2), 1)
    opaque.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    assert _pixel(to_rgb(opaque)) == (0, 0, 255)
    clear = opaque.copy()
    clear.info["transparency"] = 1
    assert _pixel(to_rgb(clear)) == BACKGROUND


def test_half_transparent_blends_with_the_background():
    out = to_rgb(Image.new("RGBA", (1, 1), (0, 0, 0, 128)))
    assert all(abs(c - 127) <= 1 for c in _pixel(out))
