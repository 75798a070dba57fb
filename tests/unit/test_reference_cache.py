"""The reference log-prob file's key: it must change whenever the pairs do."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from hadpo_cli.data.preference import PreferencePair
from hadpo_cli.training.reference_cache import pairs_digest


def test_pairs_digest_follows_text_and_order_of_the_pairs():
    a = PreferencePair(
        Path("vg/1.jpg"), "Describe this image in detail.", "A cat.On a mat.", "A dog.", "desc", 1
    )
    b = PreferencePair(Path("vg/2.jpg"), "Is there a cat?", "No.", "Yes.", "pope", 2)
    assert pairs_digest([a, b]) == pairs_digest([a, b])
    # Same files and seed but differently cleaned or drawn text: a new key, so no stale reuse.
    assert pairs_digest([a, b]) != pairs_digest([dataclasses.replace(a, chosen="A cat. On a mat."), b])
    assert pairs_digest([a, b]) != pairs_digest([dataclasses.replace(a, prompt="Is there a cat?"), b])
    assert pairs_digest([a, b]) != pairs_digest([b, a])
