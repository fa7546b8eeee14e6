"""Basin figures: mean log-volume vs K per class (Fig 4B; with the training points, Figs 16-17) and
mean critical time vs K (Figs 18-19). Error bars: standard error over points × trials.

Input: the basins table of every K of one experiment (``memgen.basins.BASINS``).
"""

from __future__ import annotations

import textwrap

import pandas as pd
from matplotlib.figure import Figure

from memgen.basins import summarize
from memgen.classes import ANALYSIS_CLASSES, CLASSES
from memgen.palette import CLASS_COLORS as COLORS


def _panel(ax, summary: pd.DataFrame, classes, value: str, ylabel: str, k_log: bool) -> None:
    for cls in classes:
        s = summary[summary["class"] == cls].sort_values("K")
        if s.empty:
            continue
        ax.errorbar(
            s["K"].to_numpy(),
            s[f"{value}_mean"].to_numpy(),
            yerr=s[f"{value}_se"].to_numpy(),
            color=COLORS[cls],
            marker="o",
            ms=4,
            capsize=3,
            lw=1.5,
            label=cls,
        )
    if k_log:
        ax.set_xscale("log")
    ax.set_xlabel("K (training-set size)")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)


def skipped_note(basins: pd.DataFrame) -> str:
    """"K=2: generalized, spurious; K=8: ..." for the classes skipped at each K ("" if none)."""
    skipped = basins[basins["skipped"]].groupby("K")["class"].apply(lambda c: ", ".join(sorted(c)))
    return "; ".join(f"K={k}: {v}" for k, v in skipped.items())


def log_volume_figure(basins: pd.DataFrame, experiment: str, k_log: bool = True) -> Figure:
    """Fig 4B (sample classes) beside Figs 16-17 (the same with the training points)."""
    summary = summarize(basins)
    fig = Figure(figsize=(10, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    ylabel = "mean log-volume log V"
    _panel(axes[0], summary, CLASSES, "log_volume", ylabel, k_log)
    axes[0].set_title(f"{experiment}: basin log-volume per class (Fig 4B)")
    _panel(axes[1], summary, ANALYSIS_CLASSES, "log_volume", ylabel, k_log)
    axes[1].set_title("incl. training data (Figs 16-17)")
    note = skipped_note(basins)
    if note:
        text = f"skipped classes (too few samples, see basins.parquet `reason`): {note}"
        fig.text(0.01, -0.02, textwrap.fill(text, 140), fontsize=7, ha="left", va="top")
    return fig


def critical_time_figure(basins: pd.DataFrame, experiment: str, k_log: bool = True) -> Figure:
    """Figs 18-19: mean critical time T_c vs K per class, training points included."""
    summary = summarize(basins)
    fig = Figure(figsize=(5.5, 4), layout="constrained")
    ax = fig.subplots()
    ylabel = "mean critical time T_c (DDPM index)"
    _panel(ax, summary, ANALYSIS_CLASSES, "critical_time", ylabel, k_log)
    ax.set_title(f"{experiment}: critical time (Figs 18-19)")
    return fig
