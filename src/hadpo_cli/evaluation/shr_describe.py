"""The describing step of ``hadpo eval shr --model``: one detailed description per SHR image.

Interface the SHR pipeline relies on: ``describe_images(settings, images, out_path)`` writes
``out_path`` (``OUT/responses.json``, ``{"<image_id>": "<text>"}``) and returns that dict.
``images`` are the SHR images in list order, already checked to exist on disk; the judge's
inputs are read and checked before this is called, so a bad input fails before a model loads.
``out_path``'s directory may not exist yet. The pipeline then checks that every image got a
response, splits sentences and judges, exactly as with ``--responses``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hadpo_cli.data.visual_genome import VGImage
from hadpo_cli.errors import UserError
from hadpo_cli.settings.eval_shr import EvalShrSettings

DESCRIBE_PROMPT = "Describe this image in detail."


def describe_images(settings: EvalShrSettings, images: Sequence[VGImage], out_path: Path) -> dict[str, str]:
    """Not built yet: generation with a model lands with the batched/sharded generation code."""
    raise UserError("describing images with --model is not built yet; pass --responses")
