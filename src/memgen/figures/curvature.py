"""Curvature figure (Fig 5A): score-Jacobian spectra per class. Top row: each sample class across K,
and the training points across K coloured by K (rainbow, purple = small K to red = large K, as the
paper's bottom row). Bottom row: the classes overlaid at fixed K, the paper's claim (memorized and
spurious basins sharper than generalized ones at the same K).

Input: the curvature table of every K of one experiment (``memgen.curvature.CURVATURE``).
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from memgen.classes import CLASSES, TRAINING
from memgen.palette import CLASS_COLORS as COLORS


def _k_colors(ks):
    # rainbow from purple (small K) to red (large K), as Fig 5A's bottom row
    cmap = matplotlib.colormaps["rainbow"]
    return {k: cmap(i / max(1, len(ks) - 1)) for i, k in enumerate(sorted(ks))}


def _mean_spectrum(d: pd.DataFrame, drop_top: int):
    m = d.groupby("rank")["singular_value"].agg(["mean", "std"]).sort_index().iloc[drop_top:]
    return m.index.to_numpy(dtype=np.int64), m["mean"].to_numpy(), m["std"].fillna(0).to_numpy()


def fixed_k_choice(ok: pd.DataFrame, requested=None, max_auto: int = 3) -> list[int]:
    """K values of the fixed-K class-comparison panels.

    ``requested`` (a list of K) must be K values of the table. Automatic (None / "auto"): the K values where
    memorized, spurious and generalized samples all have spectra (the transition), at most ``max_auto`` of them
    evenly spaced; if no K has all three, the K with the most sample classes (the smallest such K).
    """
    ks = sorted(int(k) for k in ok["K"].unique())
    if requested not in (None, "auto") and len(requested):
        bad = [int(k) for k in requested if int(k) not in ks]
        if bad:
            raise ValueError(
                f"curvature.figure_ks {bad} have no curvature spectra (K values present: {ks}); "
                "pick K values of the experiment's ks or use auto"
            )
        return [int(k) for k in requested]
    if not ks:
        return []
    n_cls = {k: ok.loc[(ok["K"] == k) & ok["class"].isin(CLASSES), "class"].nunique() for k in ks}
    full = [k for k in ks if n_cls[k] == len(CLASSES)]
    if not full:
        best = max(n_cls.values())
        return [min(k for k in ks if n_cls[k] == best)]
    if len(full) <= max_auto:
        return full
    pick = np.unique(np.round(np.linspace(0, len(full) - 1, max_auto)).astype(int))
    return [full[i] for i in pick]


def fixed_k_spectra(ok: pd.DataFrame, k: int, drop_top: int) -> dict:
    """{class: (rank, mean, std)} at one K for every sample class with spectra, and the training points."""
    out = {}
    for cls in (*CLASSES, TRAINING):
        d = ok[(ok["class"] == cls) & (ok["K"] == k)]
        if not d.empty:
            out[cls] = _mean_spectrum(d, drop_top)
    return out


def curvature_figure(
    curvature: pd.DataFrame, experiment: str, drop_top: int = 5, fixed_ks=None
) -> Figure:
    """Top row: each sample class across K, and the training points across K. Bottom row: at each
    fixed K (``fixed_k_choice``; ``fixed_ks``: a list of K or None/"auto"), the class mean spectra
    overlaid, so the classes compare at the same K. ``drop_top`` leading values are not drawn."""
    df = curvature
    ok = df[~df["skipped"]]
    ks = sorted(df["K"].unique())
    colors = _k_colors(ks)
    chosen = fixed_k_choice(ok, fixed_ks)
    ncol = max(4, len(chosen))
    fig = Figure(figsize=(4 * ncol, 7.8))
    axes = fig.subplots(2, ncol, sharey=False, squeeze=False)
    for ax, cls in zip(axes[0, :3], CLASSES):
        for k in ks:
            d = ok[(ok["class"] == cls) & (ok["K"] == k)]
            if d.empty:
                continue
            r, mu, sd = _mean_spectrum(d, drop_top)
            ax.plot(r, mu, color=colors[k], lw=1.2, label=f"K={k}")
            ax.fill_between(r, mu - sd, mu + sd, color=colors[k], alpha=0.15)
        ax.set_title(f"{cls} samples, across K")
        if not ax.lines:
            ax.text(
                0.5,
                0.5,
                "no points (class skipped)",
                ha="center",
                va="center",
                transform=ax.transAxes,
            )
    ax = axes[0, 3]
    for k in ks:
        d = ok[(ok["class"] == TRAINING) & (ok["K"] == k)]
        if not d.empty:
            r, mu, _ = _mean_spectrum(d, drop_top)
            ax.plot(r, mu, color=colors[k], lw=1.2, label=f"K={k}")
    ax.set_title("training points, across K")
    for col in range(4, ncol):
        axes[0, col].axis("off")
    for ax, k in zip(axes[1], chosen):
        counts = ok[ok["K"] == k].groupby("class")["point"].nunique()
        for cls, (r, mu, sd) in fixed_k_spectra(ok, k, drop_top).items():
            style = {"ls": "--", "lw": 1.0} if cls == TRAINING else {"lw": 1.4}
            ax.plot(r, mu, color=COLORS[cls], label=f"{cls} (n={counts.get(cls, 0)})", **style)
            if cls != TRAINING:
                ax.fill_between(r, mu - sd, mu + sd, color=COLORS[cls], alpha=0.15)
        ax.set_title(f"K={k}: classes compared")
    for col in range(len(chosen), ncol):
        axes[1, col].axis("off")
    method = ", ".join(sorted(ok["method"].unique())) if not ok.empty else "?"
    t = ok["t"].iloc[0] if not ok.empty else "?"
    for ax in axes.ravel():
        if not ax.axison:
            continue
        ax.set_xlabel(f"rank (top {drop_top} dropped)")
        ax.set_ylabel("singular value of score Jacobian")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6, ncol=2)
    fig.suptitle(
        f"{experiment}: score-Jacobian spectra ({method}, t={t}); mean over points, band = std\n"
        "bottom: the classes at one K (a sharper basin = larger singular values, fewer near zero)"
    )
    fig.tight_layout()
    return fig
