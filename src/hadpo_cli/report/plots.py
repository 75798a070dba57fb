"""Charts as inline SVG from matplotlib (Agg, no display): text stays text, so the page is
small and searchable, and nothing is fetched when it opens."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from hadpo_cli.report.training import CURVES, TrainingRun

_TITLES = {
    "loss": "DPO loss",
    "rewards/margins": "reward margin (chosen - rejected)",
    "rewards/accuracies": "reward accuracy",
    "logps/chosen": "log-prob, chosen",
    "logps/rejected": "log-prob, rejected",
    "learning_rate": "learning rate",
}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams.update(
        {
            "svg.fonttype": "none",  # <text>, not glyph paths: several times smaller
            "svg.hashsalt": "hadpo",  # stable element ids: the same inputs give the same page
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )
    import matplotlib.pyplot as plt

    return plt


def to_svg(fig: Any) -> str:
    plt = _pyplot()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and doctype: it sits inside HTML


def training_curves(runs: Sequence[TrainingRun], labels: Sequence[str]) -> str:
    plt = _pyplot()
    fig, axes = plt.subplots(2, 3, figsize=(10.5, 5.4))
    for ax, key in zip(axes.flat, CURVES, strict=True):
        drawn = False
        for run, label in zip(runs, labels, strict=True):
            steps, values = run.curve(key)
            if steps:
                ax.plot(steps, values, marker="." if len(steps) < 30 else None, label=label, linewidth=1.4)
                drawn = True
        ax.set_title(_TITLES[key])
        ax.set_xlabel("step")
        if not drawn:
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes, color="0.5")
        if key == "learning_rate":
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    handles, names = axes.flat[0].get_legend_handles_labels()
    if len(runs) > 1 and handles:
        fig.legend(handles, names, loc="lower center", ncol=min(len(runs), 3), frameon=False)
        fig.tight_layout(rect=(0, 0.08, 1, 1))
    else:
        fig.tight_layout()
    return to_svg(fig)


def metric_bars(metrics: Sequence[str], runs: Sequence[str], values: Sequence[Sequence[float | None]]) -> str:
    """Grouped bars: one group per metric, one bar per run; ``values[run][metric]`` in percent."""
    plt = _pyplot()
    width = 0.8 / max(len(runs), 1)
    fig, ax = plt.subplots(figsize=(min(1.1 * len(metrics) * max(len(runs), 1) + 2, 10), 2.8))
    for i, (run, row) in enumerate(zip(runs, values, strict=True)):
        xs = [m + (i - (len(runs) - 1) / 2) * width for m in range(len(metrics))]
        heights = [v if v is not None else 0.0 for v in row]
        bars = ax.bar(xs, heights, width=width * 0.95, label=run)
        ax.bar_label(bars, labels=[f"{v:.1f}" if v is not None else "-" for v in row], fontsize=7, padding=1)
    ax.set_xticks(range(len(metrics)), metrics)
    ax.set_ylabel("%")
    ax.set_ylim(0, 105)
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return to_svg(fig)


def delta_intervals(
    labels: Sequence[str], deltas: Sequence[float], lows: Sequence[float], highs: Sequence[float]
) -> str:
    """Each delta (percentage points) with its 95 % interval, and the zero line to judge it by."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 0.35 * len(labels) + 0.9))
    ys = list(range(len(labels)))[::-1]
    for y, d, lo, hi in zip(ys, deltas, lows, highs, strict=True):
        colour = "tab:green" if lo > 0 else "tab:red" if hi < 0 else "0.4"
        ax.errorbar([d], [y], xerr=[[d - lo], [hi - d]], fmt="o", color=colour, capsize=3, markersize=4)
    ax.axvline(0, color="0.6", linewidth=0.8, linestyle="--")
    ax.set_yticks(ys, labels)
    ax.set_xlabel("candidate - baseline (points; 95% paired-bootstrap interval)")
    fig.tight_layout()
    return to_svg(fig)
