"""Basin figures (SPEC §9): mean log-volume vs K per class (Fig 4B; with training data as Figs 16-17)
and mean critical time vs K (Figs 18-19). Error bars: standard error over points × trials."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from memgen.basins import summarize  # noqa: E402
from memgen.io import read_parquet, save_figure  # noqa: E402
from memgen.palette import CLASS_COLORS as COLORS  # noqa: E402


def _stem(path: str | Path) -> Path:
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".png", ".pdf") else p


def _panel(ax, summary: pd.DataFrame, classes, value: str, ylabel: str, k_log: bool) -> None:
    for cls in classes:
        s = summary[summary["class"] == cls].sort_values("K")
        if s.empty:
            continue
        ax.errorbar(
            s["K"],
            s[f"{value}_mean"],
            yerr=s[f"{value}_se"],
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


def basins_figures(inputs, experiment: str, out_volume, out_time, k_log: bool = True) -> None:
    df = pd.concat([read_parquet(p) for p in inputs], ignore_index=True)
    summary = summarize(df)
    skipped = df[df["skipped"]].groupby("K")["class"].apply(lambda c: ", ".join(sorted(c)))
    note = "; ".join(f"K={k}: {v}" for k, v in skipped.items())

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    _panel(
        axes[0],
        summary,
        ("memorized", "spurious", "generalized"),
        "log_volume",
        "mean log-volume log V",
        k_log,
    )
    axes[0].set_title(f"{experiment}: basin log-volume per class (Fig 4B)")
    _panel(
        axes[1],
        summary,
        ("training", "memorized", "spurious", "generalized"),
        "log_volume",
        "mean log-volume log V",
        k_log,
    )
    axes[1].set_title("incl. training data (Figs 16-17)")
    if note:
        fig.text(
            0.01,
            -0.02,
            textwrap.fill(f"skipped classes (too few samples, see basins.parquet `reason`): {note}", 140),
            fontsize=7,
            ha="left",
            va="top",
        )
    save_figure(fig, _stem(out_volume))
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5.5, 4), constrained_layout=True)
    _panel(
        ax,
        summary,
        ("training", "memorized", "spurious", "generalized"),
        "critical_time",
        "mean critical time T_c (DDPM index)",
        k_log,
    )
    ax.set_title(f"{experiment}: critical time (Figs 18-19)")
    save_figure(fig, _stem(out_time))
    plt.close(fig)
