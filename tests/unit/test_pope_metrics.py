"""pope_metrics against hand-computed values, zero denominators, unparseable answers, the table."""

import io

import pytest
from rich.console import Console

from hadpo_cli.console import print_table
from hadpo_cli.metrics.pope import METRIC_KEYS, format_pope_table, pope_metrics


def test_hand_computed_counts_and_rates():
    # labels: yes yes yes no no no ; preds: yes yes no yes no no
    # TP=2 (1,2) FN=1 (3) FP=1 (4) TN=2 (5,6)
    preds = ["yes", "yes", "no", "yes", "no", "no"]
    labels = ["yes", "yes", "yes", "no", "no", "no"]
    m = pope_metrics(preds, labels)
    assert (m["tp"], m["fp"], m["tn"], m["fn"], m["n"], m["unparseable"]) == (2, 1, 2, 1, 6, 0)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["yes_ratio"] == pytest.approx(3 / 6)


def test_asymmetric_case():
    # TP=3, FP=2, TN=0, FN=1: precision and recall differ, so F1 is their harmonic mean.
    preds = ["yes", "yes", "yes", "no", "yes", "yes"]
    labels = ["yes", "yes", "yes", "yes", "no", "no"]
    m = pope_metrics(preds, labels)
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (3, 2, 0, 1)
    precision, recall = 3 / 5, 3 / 4
    assert m["precision"] == pytest.approx(precision)
    assert m["recall"] == pytest.approx(recall)
    assert m["f1"] == pytest.approx(2 * precision * recall / (precision + recall))
    assert m["accuracy"] == pytest.approx(3 / 6)
    assert m["yes_ratio"] == pytest.approx(5 / 6)


def test_keys_and_types():
    m = pope_metrics(["yes", "no"], ["yes", "yes"])
    assert list(m) == list(METRIC_KEYS)
    for key in ("accuracy", "precision", "recall", "f1", "yes_ratio"):
        assert type(m[key]) is float and 0.0 <= m[key] <= 1.0
    for key in ("tp", "fp", "tn", "fn", "n", "unparseable"):
        assert type(m[key]) is int


def test_zero_denominators_give_zero_not_a_crash():
    m = pope_metrics(["no", "no"], ["no", "no"])  # no yes predicted, no yes label
    assert (m["precision"], m["recall"], m["f1"], m["yes_ratio"]) == (0.0, 0.0, 0.0, 0.0)
    assert m["accuracy"] == 1.0
    empty = pope_metrics([], [])
    assert empty["n"] == 0 and empty["accuracy"] == 0.0


def test_unparseable_is_its_own_class_and_always_wrong():
    # q1 yes->yes (TP), q2 yes->None (miss), q3 no->None (miss), q4 no->no (TN)
    m = pope_metrics(["yes", None, None, "no"], ["yes", "yes", "no", "no"])
    assert (m["tp"], m["fp"], m["tn"], m["fn"], m["unparseable"], m["n"]) == (1, 0, 1, 0, 2, 4)
    assert m["accuracy"] == pytest.approx(2 / 4)
    assert m["precision"] == pytest.approx(1.0)  # the one yes it gave was right
    assert m["recall"] == pytest.approx(1 / 2)  # one of two yes questions answered yes
    assert m["yes_ratio"] == pytest.approx(1 / 4)  # never silently a yes


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="predictions"):
        pope_metrics(["yes"], ["yes", "no"])
    with pytest.raises(ValueError, match="label"):
        pope_metrics(["yes"], ["Yes"])
    with pytest.raises(ValueError, match="prediction"):
        pope_metrics(["maybe"], ["yes"])


def test_table_has_one_row_per_split_and_two_decimals():
    rows = {
        "random": pope_metrics(["yes", "no", "no"], ["yes", "no", "yes"]),
        "adversarial": pope_metrics(["yes", "yes", "no"], ["yes", "no", "no"]),
    }
    console = Console(width=60, record=True, file=io.StringIO())
    print_table(format_pope_table(rows), console)
    text = console.export_text()
    assert "random" in text and "adversarial" in text
    assert "66.67" in text and "100.00" in text  # accuracy 2/3 and precision 1/1, not cut
    assert "Unparseable" not in text
    table = format_pope_table(rows, show_unparseable=True)
    assert [c.header for c in table.columns][-1] == "Unparseable"
    assert table.row_count == 2
