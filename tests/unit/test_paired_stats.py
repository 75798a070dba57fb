"""McNemar and the paired bootstrap against figures worked out by hand or in closed form."""

import math

import numpy as np
import pytest

from hadpo_cli.metrics.paired import (
    col_mean,
    mcnemar_exact,
    mcnemar_from_counts,
    paired_bootstrap,
    ratio_of_sums,
)


def _outcomes(both_right: int, b: int, c: int, both_wrong: int) -> tuple[list[bool], list[bool]]:
    """Paired outcomes with ``b`` baseline-only-right and ``c`` candidate-only-right items."""
    base = [True] * both_right + [True] * b + [False] * c + [False] * both_wrong
    cand = [True] * both_right + [False] * b + [True] * c + [False] * both_wrong
    return base, cand


def test_mcnemar_b1_c6_by_hand():
    # 7 discordant pairs, 1 of them for the baseline: p = 2 * (C(7,0) + C(7,1)) / 2^7 = 16/128.
    base, cand = _outcomes(both_right=20, b=1, c=6, both_wrong=5)
    assert mcnemar_exact(base, cand) == pytest.approx(0.125)


def test_mcnemar_is_symmetric_and_ignores_concordant_items():
    assert mcnemar_from_counts(6, 1) == pytest.approx(0.125)
    a = mcnemar_exact(*_outcomes(0, 2, 3, 0))
    b = mcnemar_exact(*_outcomes(500, 2, 3, 400))
    assert a == pytest.approx(b)


def test_mcnemar_b0_c5_by_hand():
    # All 5 discordant pairs favour one side: p = 2 / 2^5.
    assert mcnemar_from_counts(0, 5) == pytest.approx(2 / 32)


def test_mcnemar_no_discordant_pair_is_p_one():
    assert mcnemar_exact([True, False], [True, False]) == 1.0


def test_mcnemar_balanced_discordance_is_p_one():
    assert mcnemar_from_counts(4, 4) == pytest.approx(1.0)


def test_mcnemar_refuses_unequal_lengths():
    with pytest.raises(ValueError):
        mcnemar_exact([True], [True, False])


def _mean(cols, axis):
    return col_mean(cols, "x", axis)


def test_constant_deltas_give_a_zero_width_interval():
    rng = np.random.default_rng(1)
    x = rng.normal(size=50)
    out = paired_bootstrap({"x": x}, {"x": x + 0.25}, {"mean": _mean}, n_resamples=500)
    iv = out["mean"]
    assert iv.delta == pytest.approx(0.25)
    assert iv.low == pytest.approx(0.25)
    assert iv.high == pytest.approx(0.25)


def test_large_sample_mean_delta_matches_the_normal_interval():
    # The delta of means is the mean of the paired differences d; for large n the bootstrap
    # percentile interval approaches mean(d) +- 1.96 * sd(d) / sqrt(n).
    rng = np.random.default_rng(7)
    n = 4000
    base = rng.normal(0.0, 1.0, size=n)
    cand = base + rng.normal(0.1, 0.5, size=n)
    d = cand - base
    half = 1.959964 * d.std(ddof=1) / math.sqrt(n)
    iv = paired_bootstrap({"x": base}, {"x": cand}, {"mean": _mean}, n_resamples=4000, seed=3)["mean"]
    assert iv.delta == pytest.approx(d.mean())
    assert iv.low == pytest.approx(d.mean() - half, abs=0.15 * half)
    assert iv.high == pytest.approx(d.mean() + half, abs=0.15 * half)


def test_pairing_removes_the_shared_item_variance():
    # Huge per-item spread shared by both sides: paired, the interval of a constant +1 shift
    # stays tight; an unpaired resampling would be hundreds wide.
    base = np.linspace(-1000, 1000, 200)
    cand = base + 1 + np.tile([-0.1, 0.1], 100)
    iv = paired_bootstrap({"x": base}, {"x": cand}, {"mean": _mean}, n_resamples=1000)["mean"]
    assert 0.97 < iv.low < 1.0 < iv.high < 1.03


def test_same_seed_same_interval_other_seed_other_interval():
    rng = np.random.default_rng(0)
    base, cand = rng.random(100), rng.random(100)
    args = ({"x": base}, {"x": cand}, {"mean": _mean})
    a = paired_bootstrap(*args, n_resamples=300, seed=5)["mean"]
    b = paired_bootstrap(*args, n_resamples=300, seed=5)["mean"]
    c = paired_bootstrap(*args, n_resamples=300, seed=6)["mean"]
    assert (a.low, a.high) == (b.low, b.high)
    assert (a.low, a.high) != (c.low, c.high)


def test_ratio_metric_undefined_on_the_data_is_none():
    cols = {"num": np.zeros(5), "den": np.zeros(5)}

    def ratio(c, axis):
        return ratio_of_sums(c, "num", "den", axis)

    iv = paired_bootstrap(cols, cols, {"r": ratio}, n_resamples=100)["r"]
    assert (iv.delta, iv.low, iv.high) == (None, None, None)


def test_resamples_with_an_empty_denominator_are_left_out_not_nan():
    # One item of 20 carries the whole denominator: many resamples miss it (NaN ratio),
    # the interval comes from the others and is still a number.
    den = np.zeros(20)
    den[0] = 1
    base = {"num": den * 0.0, "den": den}
    cand = {"num": den * 1.0, "den": den}

    def ratio(c, axis):
        return ratio_of_sums(c, "num", "den", axis)

    iv = paired_bootstrap(base, cand, {"r": ratio}, n_resamples=400)["r"]
    assert iv.delta == 1.0
    assert iv.low == 1.0 and iv.high == 1.0
