"""Paired statistics for "is the candidate better than the baseline on the same items?".

Both tests come from SciPy rather than being written here:

* :func:`mcnemar_exact`: McNemar's exact test is a two-sided binomial test on the discordant
  pairs (items one side got right and the other wrong), ``scipy.stats.binomtest``.
* :func:`paired_bootstrap`: percentile intervals of ``metric(candidate) - metric(baseline)``
  from ``scipy.stats.bootstrap(..., paired=True)``, which draws the same items for both sides
  in every resample. Percentile rather than BCa: metrics such as F1 are ratios of sums, and a
  delta that is the same in every resample (identical answers) gives a zero-width interval
  instead of BCa's NaN.

Metrics are plain functions of per-item columns: ``metric(columns, axis) -> array`` where each
column is a NumPy array with the items along ``axis``, so SciPy can hand them a whole batch
of resamples at once.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from hadpo_cli.metrics import DEFAULT_RESAMPLES

Columns = Mapping[str, np.ndarray]
MetricFn = Callable[[Columns, int], np.ndarray]

CONFIDENCE = 0.95


def mcnemar_exact(baseline_right: Sequence[bool], candidate_right: Sequence[bool]) -> float:
    """Two-sided exact McNemar p-value for two paired 0/1 outcome vectors.

    ``b`` = baseline right, candidate wrong; ``c`` = the reverse. Under "no difference" each
    discordant item is a fair coin, so ``p = binomtest(c, b + c, 0.5)``; no discordant item
    means no evidence of a difference (p = 1).
    """
    base = np.asarray(baseline_right, dtype=bool)
    cand = np.asarray(candidate_right, dtype=bool)
    if base.shape != cand.shape:
        raise ValueError(f"{base.size} baseline outcomes but {cand.size} candidate outcomes")
    b = int(np.sum(base & ~cand))
    c = int(np.sum(~base & cand))
    return mcnemar_from_counts(b, c)


def mcnemar_from_counts(b: int, c: int) -> float:
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got b={b}, c={c}")
    if b + c == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(c, b + c, 0.5, alternative="two-sided").pvalue)


@dataclass(frozen=True)
class Interval:
    delta: float | None  # metric(candidate) - metric(baseline) on all shared items
    low: float | None
    high: float | None


def paired_bootstrap(
    baseline: Columns,
    candidate: Columns,
    metrics: Mapping[str, MetricFn],
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
    batch: int = 256,
) -> dict[str, Interval]:
    """Percentile intervals of every metric's delta, all metrics from the same resamples.

    Every column of ``baseline`` and ``candidate`` is an array over the same items in the same
    order (row i of each is one item); the two sides may carry different columns (an SHR run
    judged three times against one judged once). A metric undefined on the full data (zero
    denominator) gets ``None`` throughout; resamples where it is undefined are dropped from
    its interval.
    """
    names = list(metrics)
    base_keys, cand_keys = sorted(baseline), sorted(candidate)
    sizes = {len(np.asarray(v)) for v in [*baseline.values(), *candidate.values()]}
    if len(sizes) != 1:
        raise ValueError(f"columns of different lengths: {sorted(sizes)}")
    n = sizes.pop()
    k = len(base_keys)
    data = tuple(np.asarray(baseline[c], dtype=float) for c in base_keys) + tuple(
        np.asarray(candidate[c], dtype=float) for c in cand_keys
    )

    def deltas(*arrays: np.ndarray, axis: int = -1) -> np.ndarray:
        base = dict(zip(base_keys, arrays[:k], strict=True))
        cand = dict(zip(cand_keys, arrays[k:], strict=True))
        return np.stack([metrics[m](cand, axis) - metrics[m](base, axis) for m in names])

    full = deltas(*data)
    out = {m: Interval(_num(full[i]), None, None) for i, m in enumerate(names)}
    if n < 2 or all(iv.delta is None for iv in out.values()):
        return out  # one item (every resample is that item) or nothing defined to measure

    from scipy.stats import DegenerateDataWarning, bootstrap

    # NaN resamples are handled below; SciPy's warning about them would only alarm the user.
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateDataWarning)
        result = bootstrap(
            data,
            deltas,
            paired=True,
            vectorized=True,
            n_resamples=n_resamples,
            batch=batch,
            method="percentile",
            confidence_level=confidence,
            rng=np.random.default_rng(seed),
        )
    # SciPy's percentile over resamples with NaN (an empty class in a resample) would give
    # NaN for the whole interval; take the percentiles of the defined resamples instead.
    dist = np.asarray(result.bootstrap_distribution)
    tail = 100 * (1 - confidence) / 2
    for i, m in enumerate(names):
        if out[m].delta is None:
            continue
        row = dist[i][np.isfinite(dist[i])]
        if row.size == 0:
            continue
        low, high = np.percentile(row, [tail, 100 - tail])
        out[m] = Interval(out[m].delta, float(low), float(high))
    return out


def _num(x: float) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


# -- column arithmetic the benchmark metrics share -----------------------------------------------
def col_sum(cols: Columns, name: str, axis: int) -> np.ndarray:
    return np.sum(cols[name], axis=axis)


def ratio_of_sums(cols: Columns, num: str, den: str, axis: int, *, empty: float = float("nan")) -> np.ndarray:
    """``sum(num) / sum(den)`` over the items; ``empty`` (NaN: undefined) where the denominator is 0."""
    top = np.asarray(col_sum(cols, num, axis), dtype=float)
    bottom = np.asarray(col_sum(cols, den, axis), dtype=float)
    return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1), empty)


def col_mean(cols: Columns, name: str, axis: int) -> np.ndarray:
    return np.mean(cols[name], axis=axis)
