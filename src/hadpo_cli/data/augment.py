"""The training image augmentation of the published run, drawn once per pair.

HA-DPO trained InstructBLIP with the LAVIS-fork ``blip2_image_train`` processor: a random
resized crop (area 50-100%, aspect 3/4-4/3) and a random horizontal flip, then the resize to
the model's input size. We draw the crop and flip from a generator seeded by the run's seed
and the pair itself, so a pair always gets the same view: reference log-probs precomputed
before training stay valid, a resumed run sees the same pixels, and the two copies of a
repeated POPE pair share one view, as in the original (which processed POPE images once, at
load time).
"""

from __future__ import annotations

import hashlib
import math
import random
from typing import Any

SCALE = (0.5, 1.0)
RATIO = (3 / 4, 4 / 3)


def crop_box(rng: random.Random, width: int, height: int) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of a random resized crop, torchvision's sampling rule."""
    area = width * height
    log_lo, log_hi = math.log(RATIO[0]), math.log(RATIO[1])
    for _ in range(10):
        target = area * rng.uniform(*SCALE)
        aspect = math.exp(rng.uniform(log_lo, log_hi))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = rng.randint(0, height - h)
            left = rng.randint(0, width - w)
            return left, top, left + w, top + h
    # Fall back to the largest centred crop within the aspect range.
    in_ratio = width / height
    if in_ratio < RATIO[0]:
        w, h = width, int(round(width / RATIO[0]))
    elif in_ratio > RATIO[1]:
        h, w = height, int(round(height * RATIO[1]))
    else:
        w, h = width, height
    left, top = (width - w) // 2, (height - h) // 2
    return left, top, left + w, top + h


def pair_rng(seed: int, *identity: object) -> random.Random:
    digest = hashlib.sha256(repr((seed, *identity)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def crop_flip(image: Any, rng: random.Random) -> Any:
    """Apply one random resized crop and, with probability 1/2, a horizontal flip (PIL image)."""
    from PIL import Image

    box = crop_box(rng, *image.size)
    out = image.crop(box)
    if rng.random() < 0.5:
        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return out
