"""The yes/no parsers: POPE's rule reproduced exactly, odd cases included, and the strict rule."""

import pytest

from hadpo_cli.metrics.pope import parse_pope, parse_strict


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yes.", "yes"),
        ("Yes, there is a dog in the image.", "yes"),
        ("No.", "no"),
        ("No, there is not.", "no"),
        ("There is not a dog.", "no"),
        ("no", "no"),
        # Case matters in POPE's rule: only "No", "not" and "no" are negations.
        ("NO", "yes"),
        ("Not really", "yes"),
        # Punctuation other than "." and "," stays glued to the word.
        ("No!", "yes"),
        ("No; there is none", "yes"),
        ("no\n", "yes"),
        # Only single spaces split: a tab or newline keeps "No" inside a larger piece.
        ("No\tthere is none", "yes"),
        ("Yes\nno", "yes"),
        # Only the first sentence counts.
        ("Yes. There is no cat.", "yes"),
        ("There is a dog. No cat.", "yes"),
        ("", "yes"),
        (".No", "yes"),
        ("Nope", "yes"),
        ("I do not see one", "no"),
        ("Yes,no", "yes"),  # commas are deleted, giving "Yesno"
        ("Yes, no", "no"),
        ("  No  ", "no"),
    ],
)
def test_pope_rule(text, expected):
    assert parse_pope(text) == expected


def _pope_evaluate_py(text: str) -> str:
    """The loop body of POPE's evaluate.py, copied in spirit line by line."""
    if text.find(".") != -1:
        text = text.split(".")[0]
    text = text.replace(",", "")
    words = text.split(" ")
    if "No" in words or "not" in words or "no" in words:
        return "no"
    return "yes"


@pytest.mark.parametrize(
    "text",
    ["No, there is not.", "NO", "Yes.", "", "a.b.c", "No,,", "not,", "x no. y", "No...", " no", "is it? no"],
)
def test_pope_rule_matches_the_original_loop(text):
    assert parse_pope(text) == _pope_evaluate_py(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yes", "yes"),
        ("yes.", "yes"),
        ("YES, there is.", "yes"),
        ("No", "no"),
        ("NO", "no"),
        ("No!", "no"),
        ("  no, there is not", "no"),
        ("**Yes**", "yes"),
        ("No-one is there", "no"),
        ("There is not a dog.", None),
        ("Nope", None),
        ("Yesterday", None),
        ("Yes123", None),
        ("2 dogs", None),
        ("", None),
        ("...", None),
        ("I think yes", None),
    ],
)
def test_strict_rule(text, expected):
    assert parse_strict(text) == expected
