"""Energy figures: the relative energy gap vs K per class with a std band (Fig 6 / 26, first
reference image; Figs 27-30, one panel per reference image) and the mean Delta u(alpha) along the
spherical path per class and K (Fig 25).

Input: the energy table of every K of one experiment (``memgen.energy.ENERGY``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from memgen.classes import CLASSES, TRAINING
from memgen.energy import energy_gaps
from memgen.palette import CLASS_COLORS as COLORS

MAX_K_LABELS = 12  # the paper's 38-value K grids get matplotlib's own (decade) ticks instead


def _done(energy: pd.DataFrame) -> pd.DataFrame:
    return energy[~energy["skipped"]]


def _refs(energy: pd.DataFrame) -> list[int]:
    return sorted(int(r) for r in _done(energy)["ref"].unique())


def _t(energy: pd.DataFrame):
    ok = _done(energy)
    return ok["t"].iloc[0] if len(ok) else "?"


def _gap_panel(ax, g: pd.DataFrame, plot_abs: bool, k_log: bool) -> None:
    """Gap vs K per sample class with a +-std band (one reference image's rows of `energy_gaps`)."""
    for cls in CLASSES:
        s = g[g["class"] == cls].sort_values("K")
        if s.empty:
            continue
        y = s["gap"].abs() if plot_abs else s["gap"]
        sd = s["std"].fillna(0)
        ks = s["K"].to_numpy()
        ax.plot(ks, y.to_numpy(), color=COLORS[cls], marker="o", ms=4, label=cls)
        ax.fill_between(ks, (y - sd).to_numpy(), (y + sd).to_numpy(), color=COLORS[cls], alpha=0.2)
    ax.axhline(0, color="k", lw=0.8)
    if k_log:
        ax.set_xscale("log")
    ks = sorted(g["K"].unique())
    if len(ks) <= MAX_K_LABELS:  # a short grid: label its K values themselves, not decades
        ax.set_xticks(ks, [str(k) for k in ks], fontsize=7, rotation=45)
        ax.minorticks_off()
    ax.set_xlabel("K (training-set size)")
    ax.grid(alpha=0.3)


def _gap_label(plot_abs: bool) -> str:
    return ("|gap|" if plot_abs else "gap") + r" = $\langle U\rangle_c - \langle U\rangle_{train}$ (discrete $\beta_t$)"


def energy_gap_figure(
    energy: pd.DataFrame, experiment: str, plot_abs: bool = False, k_log: bool = True
) -> Figure:
    """Fig 6 / 26: gap vs K per sample class for the first reference image."""
    gaps = energy_gaps(energy)
    refs = _refs(energy)
    first = gaps[gaps["ref"] == refs[0]] if refs else gaps.iloc[:0]
    fig = Figure(figsize=(5.5, 4))
    ax = fig.subplots()
    _gap_panel(ax, first, plot_abs, k_log)
    ax.set_ylabel(_gap_label(plot_abs))
    ref_txt = f"reference pool index {refs[0]}" if refs else "no reference"
    ax.set_title(f"{experiment}: relative energy gap (t={_t(energy)}, {ref_txt})", fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def energy_refs_figure(
    energy: pd.DataFrame, experiment: str, plot_abs: bool = False, k_log: bool = True
) -> Figure:
    """Figs 27-30: one gap panel per reference image (the paper repeats Fig 26 with other
    references)."""
    gaps = energy_gaps(energy)
    refs = _refs(energy)
    n = max(1, len(refs))
    fig = Figure(figsize=(4 * n, 3.6))
    axes = fig.subplots(1, n, sharey=True, squeeze=False)
    for ax, ref in zip(axes[0], refs):
        _gap_panel(ax, gaps[gaps["ref"] == ref], plot_abs, k_log)
        ax.set_title(f"reference pool index {ref}", fontsize=9)
    axes[0][0].set_ylabel(_gap_label(plot_abs))
    if axes[0][0].get_legend_handles_labels()[0]:
        axes[0][0].legend(fontsize=7)
    fig.suptitle(
        f"{experiment}: relative energy gap with {len(refs)} reference images (t={_t(energy)})"
    )
    fig.tight_layout()
    return fig


def energy_path_figure(energy: pd.DataFrame, experiment: str) -> Figure:
    """Fig 25: mean Delta u(alpha) along x(a) = cos a x + sin a x_ref per class (band = std),
    one panel per K."""
    ok = _done(energy)
    ks = sorted(ok["K"].unique())
    n = max(1, len(ks))
    fig = Figure(figsize=(3 * n, 3))
    axes = fig.subplots(1, n, sharey=False, squeeze=False)
    for ax, k in zip(axes[0], ks):
        for cls in (TRAINING, *CLASSES):
            d = ok[(ok["K"] == k) & (ok["class"] == cls)]
            if d.empty:
                continue
            c = np.stack(d["curve"].to_numpy())
            a = np.linspace(0, np.pi / 2, c.shape[1])
            ax.plot(a, c.mean(0), color=COLORS[cls], label=cls)
            ax.fill_between(
                a, c.mean(0) - c.std(0), c.mean(0) + c.std(0), color=COLORS[cls], alpha=0.15
            )
        ax.set_title(f"K={k}")
        ax.set_xlabel(r"$\alpha$")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(r"$\Delta u(\alpha) = u(x(\alpha)) - u(x_a)$")
    if axes[0][0].get_legend_handles_labels()[0]:
        axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{experiment}: energy along x(a) = cos a x + sin a x_ref")
    fig.tight_layout()
    return fig
