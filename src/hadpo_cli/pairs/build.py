"""The pairs themselves, in the formats the HA-DPO release ships (pure functions).

* ``desc_data.json``: ``{"image_id", "chosen": [...], "rejected": [...]}`` per image: the corrected
  description and its rewrites against the original and its rewrites (a training run draws one of
  each, so every chosen is matched in style by a rejected).
* ``pope_data.json``: ``{"image_id", "question", "chosen", "rejected", "correct"}`` per object: a
  hallucinated object gives "Is there a dog in the image?" with the faithful "No" chosen and
  ``"correct": false``; an object the model named rightly gives the "Yes" question marked
  ``"correct": true``, as the released data marks what the model already got right (training skips
  those).
"""

from __future__ import annotations

from typing import Any

from hadpo_cli.pairs.replies import Detection


def article(noun: str) -> str:
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def question(obj: str) -> str:
    return f"Is there {article(obj)} in the image?"


def yes(obj: str) -> str:
    return f"Yes, there is {article(obj)} in the image."


def no(obj: str) -> str:
    return f"No, there is no {obj} in the image."


def pope_items(image_id: int, detection: Detection) -> list[dict[str, Any]]:
    hallucinated = detection.hallucinated_objects
    present = [o for o in detection.present_objects if o not in hallucinated]
    items = [
        {"image_id": image_id, "question": question(o), "chosen": no(o), "rejected": yes(o), "correct": False}
        for o in hallucinated
    ]
    items += [
        {"image_id": image_id, "question": question(o), "chosen": yes(o), "rejected": no(o), "correct": True}
        for o in present
    ]
    return items


def desc_item(
    image_id: int,
    original: str,
    detection: Detection,
    chosen_rewrites: list[str],
    rejected_rewrites: list[str],
) -> dict[str, Any]:
    return {
        "image_id": image_id,
        "chosen": [detection.corrected, *chosen_rewrites],
        "rejected": [original, *rejected_rewrites],
    }
