"""The judge's structured replies in ``hadpo pairs``, checked: JSON with a fixed shape, or a
:class:`MalformedReply` saying what is wrong (the judge is then asked again, a bounded number of times).

Detection reply::

    {"sentences": [{"n": 1, "verdict": "correct|hallucination|unsure", "problem": "..."}, ...],
     "hallucinated_objects": ["dog"], "present_objects": ["cat"], "corrected": "..."}

Rewrite reply: ``{"rewrite": "..."}``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

VERDICTS = ("correct", "hallucination", "unsure")


class MalformedReply(ValueError):
    """The reply cannot be used; the message says why (it is sent back to the judge)."""


@dataclass(frozen=True)
class Detection:
    verdicts: list[tuple[str, str]]  # (verdict, problem) per sentence, in order
    hallucinated_objects: list[str]
    present_objects: list[str]
    corrected: str

    @property
    def hallucinated(self) -> bool:
        return any(verdict == "hallucination" for verdict, _ in self.verdicts)

    def to_json(self) -> dict[str, Any]:
        return {
            "sentences": [
                {"n": n, "verdict": v, "problem": p} for n, (v, p) in enumerate(self.verdicts, start=1)
            ],
            "hallucinated_objects": self.hallucinated_objects,
            "present_objects": self.present_objects,
            "corrected": self.corrected,
        }


_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)


def json_object(reply: str) -> dict[str, Any]:
    """The JSON object of a reply; code fences and text around the braces are tolerated."""
    text = _FENCE.sub("", reply.strip())
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise MalformedReply("the reply holds no JSON object")
    try:
        obj = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise MalformedReply(f"the reply is not valid JSON ({exc.msg})") from None
    if not isinstance(obj, dict):
        raise MalformedReply("the reply is not a JSON object")
    return obj


def objects(value: Any, key: str) -> list[str]:
    """A list of object names, lowercased, repeats dropped."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MalformedReply(f'"{key}" must be a list of strings')
    return list(dict.fromkeys(v.strip().lower() for v in value if v.strip()))


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


def parse_detection(reply: str, n_sentences: int, original: str) -> Detection:
    obj = json_object(reply)
    entries = obj.get("sentences")
    if not isinstance(entries, list):
        raise MalformedReply('"sentences" must be a list')
    found: dict[int, tuple[str, str]] = {}
    for entry in entries:
        if (
            not isinstance(entry, dict)
            or isinstance(entry.get("n"), bool)
            or not isinstance(entry.get("n"), int)
        ):
            raise MalformedReply('each entry of "sentences" needs a whole number "n"')
        n, verdict = entry["n"], entry.get("verdict")
        if not 1 <= n <= n_sentences:
            raise MalformedReply(f"it numbers a sentence {n}, but there are {n_sentences}")
        if n in found:
            raise MalformedReply(f"it judges sentence {n} twice")
        if verdict not in VERDICTS:
            raise MalformedReply(f"sentence {n} has verdict {verdict!r}, not one of {', '.join(VERDICTS)}")
        problem = entry.get("problem", "")
        found[n] = (verdict, problem if isinstance(problem, str) else str(problem))
    if len(found) != n_sentences:
        raise MalformedReply(f"it judges {len(found)} of {n_sentences} sentences")
    corrected = obj.get("corrected", "")
    if not isinstance(corrected, str):
        raise MalformedReply('"corrected" must be a string')
    detection = Detection(
        verdicts=[found[n] for n in range(1, n_sentences + 1)],
        hallucinated_objects=objects(obj.get("hallucinated_objects", []), "hallucinated_objects"),
        present_objects=objects(obj.get("present_objects", []), "present_objects"),
        corrected=corrected.strip(),
    )
    if detection.hallucinated:
        bad = next(n for n, (v, _) in enumerate(detection.verdicts, start=1) if v == "hallucination")
        if not detection.corrected:
            raise MalformedReply(f'sentence {bad} is a hallucination, but "corrected" is empty')
        if _same_text(detection.corrected, original):
            raise MalformedReply(f'sentence {bad} is a hallucination, but "corrected" repeats the original')
    return detection


def parse_rewrite(reply: str) -> str:
    text = json_object(reply).get("rewrite")
    if not isinstance(text, str) or not text.strip():
        raise MalformedReply('"rewrite" must be a non-empty string')
    return text.strip()
