"""The SHR judge prompt: the default template, user templates, and how the parts are written.

A template holds three placeholders, ``{regions}``, ``{facts}`` and ``{sentences}``; they are
replaced as plain text (not ``str.format``), so a template may contain other braces.
The parts are written exactly as the published script writes them, so a user who pastes the
published prompt into a ``--judge-prompt`` file sends the published text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from hadpo_cli.data.visual_genome import Region
from hadpo_cli.errors import UserError
from hadpo_cli.io import open_text

PLACEHOLDERS = ("{regions}", "{facts}", "{sentences}")
SENTENCES_HEADER = "Sentences to judge:"  # the local judge reads the numbered sentences below it
_PLACEHOLDER_RE = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS))

DEFAULT_JUDGE_PROMPT = """\
You are checking a description of a photo, sentence by sentence, for hallucinations: \
statements about the photo that are not true of it.

You get two kinds of ground truth about the photo.
Region descriptions, one per line as "[x1, y1, x2, y2]: phrase", where the box corners are \
fractions of the image width and height. Boxes that overlap a lot usually show the same object.
Facts written by people who looked at the photo. They are accurate, but they only cover \
what is visible, not mood, style or atmosphere.

Label each numbered sentence using only this ground truth:
- hallucination: the ground truth contradicts the sentence, or the sentence names an object, \
count, attribute or relation that the ground truth does not support.
- correct: the ground truth supports the sentence.
- cannot judge: the sentence is subjective (mood, style, atmosphere, intent) or the ground \
truth cannot settle it either way.

Region descriptions:
{regions}
Facts:
{facts}
Sentences to judge:
{sentences}
Reply with the line "Judgement:" and then exactly one line per sentence, in order:
N. hallucination|correct|cannot judge: reason
where N is the sentence number and the reason is short. Write nothing else.
"""

assert SENTENCES_HEADER in DEFAULT_JUDGE_PROMPT  # keep the local judge able to read the prompt

REASK_NOTE = """

Your previous reply to this request could not be used: {problem}. \
Reply again with the line "Judgement:" followed by exactly {n} lines, numbered 1 to {n}, \
each "N. hallucination|correct|cannot judge: reason".
"""


def load_template(path: str | Path | None) -> str:
    """The default template, or a user's file checked for all three placeholders."""
    if path is None:
        return DEFAULT_JUDGE_PROMPT
    p = Path(path)
    with open_text(p) as fh:  # not found, a directory, not UTF-8: one line each
        text = fh.read()
    missing = [ph for ph in PLACEHOLDERS if ph not in text]
    if missing:
        raise UserError(f"{p}: judge prompt lacks the placeholder(s) {', '.join(missing)}")
    return text


def format_regions(regions: Sequence[Region], width: int, height: int) -> str:
    """``[x1, y1, x2, y2]: phrase`` lines, box normalised by the image size, two decimals."""
    lines = []
    for r in regions:
        if not r.phrase:
            continue  # the published script skips regions without a phrase
        box = [
            float(f"{v:.2f}")
            for v in (r.x / width, r.y / height, (r.x + r.width) / width, (r.y + r.height) / height)
        ]
        lines.append(f"{box}: {r.phrase}\n")
    return "".join(lines)


def format_facts(facts: Sequence[str]) -> str:
    return "".join(f"{fact}\n" for fact in facts)


def format_sentences(sentences: Sequence[str]) -> str:
    return "".join(f"{i}. {s}\n" for i, s in enumerate(sentences, start=1))


def build_prompt(template: str, *, regions: str, facts: str, sentences: str) -> str:
    # One regex pass, so text inserted for one placeholder (a phrase containing "{facts}")
    # is never expanded again.
    parts = {"{regions}": regions, "{facts}": facts, "{sentences}": sentences}
    return _PLACEHOLDER_RE.sub(lambda m: parts[m.group(0)], template)


def reask_prompt(prompt: str, problem: str, n: int) -> str:
    """The original prompt plus a note on what was wrong, so a deterministic judge can change its reply."""
    return prompt + REASK_NOTE.format(problem=problem, n=n)
