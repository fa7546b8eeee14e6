"""Curvature and energy figures (SPEC §9): Fig 5A-style spectra (per class and K; training points coloured by
K, rainbow purple -> red), Fig 6-style relative energy gap vs K with std bands, Fig 25-style Delta u(alpha)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from memgen.energy import energy_gaps  # noqa: E402
from memgen.io import read_parquet, save_figure  # noqa: E402
from memgen.palette import CLASS_COLORS as COLORS  # noqa: E402

SAMPLE_CLASSES = ("memorized", "spurious", "generalized")
MAX_K_LABELS = 12  # the paper's 38-value K grids get matplotlib's own (decade) ticks instead


def _stem(path: str | Path) -> Path:
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".png", ".pdf") else p


def _read_all(paths) -> pd.DataFrame:
    return pd.concat([read_parquet(p) for p in paths], ignore_index=True)


def _k_colors(ks):
    # rainbow from purple (small K) to red (large K), as Fig 5A's bottom row
    cmap = plt.get_cmap("rainbow")
    return {k: cmap(i / max(1, len(ks) - 1)) for i, k in enumerate(sorted(ks))}


def _mean_spectrum(d: pd.DataFrame, drop_top: int):
    m = d.groupby("rank")["singular_value"].agg(["mean", "std"]).sort_index().iloc[drop_top:]
    return m.index.to_numpy(), m["mean"].to_numpy(), m["std"].fillna(0).to_numpy()


def curvature_figure(paths, experiment: str, out, drop_top: int = 5) -> list[Path]:
    df = _read_all(paths)
    ok = df[~df["skipped"]]
    ks = sorted(df["K"].unique())
    colors = _k_colors(ks)
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.8), sharey=False)
    for ax, cls in zip(axes[:3], SAMPLE_CLASSES):
        for k in ks:
            d = ok[(ok["class"] == cls) & (ok["K"] == k)]
            if d.empty:
                continue
            r, mu, sd = _mean_spectrum(d, drop_top)
            ax.plot(r, mu, color=colors[k], lw=1.2, label=f"K={k}")
            ax.fill_between(r, mu - sd, mu + sd, color=colors[k], alpha=0.15)
        ax.set_title(f"{cls} samples")
        if not ax.lines:
            ax.text(
                0.5,
                0.5,
                "no points (class skipped)",
                ha="center",
                va="center",
                transform=ax.transAxes,
            )
    ax = axes[3]
    for k in ks:
        d = ok[(ok["class"] == "training") & (ok["K"] == k)]
        if not d.empty:
            r, mu, _ = _mean_spectrum(d, drop_top)
            ax.plot(r, mu, color=colors[k], lw=1.2, label=f"K={k}")
    ax.set_title("training points")
    method = ", ".join(sorted(ok["method"].unique())) if not ok.empty else "?"
    t = ok["t"].iloc[0] if not ok.empty else "?"
    for ax in axes:
        ax.set_xlabel(f"rank (top {drop_top} dropped)")
        ax.set_ylabel("singular value of score Jacobian")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6, ncol=2)
    fig.suptitle(
        f"{experiment}: score-Jacobian spectra ({method}, t={t}); mean over points, band = std"
    )
    fig.tight_layout()
    out_paths = save_figure(fig, _stem(out))
    plt.close(fig)
    return out_paths


def _gap_panel(ax, g: pd.DataFrame, plot_abs: bool, k_log: bool) -> None:
    """Gap vs K per sample class with a +-std band (one reference image's rows of `energy_gaps`)."""
    for cls in SAMPLE_CLASSES:
        s = g[g["class"] == cls].sort_values("K")
        if s.empty:
            continue
        y = s["gap"].abs() if plot_abs else s["gap"]
        sd = s["std"].fillna(0)
        ax.plot(s["K"], y, color=COLORS[cls], marker="o", ms=4, label=cls)
        ax.fill_between(s["K"], y - sd, y + sd, color=COLORS[cls], alpha=0.2)
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


def energy_figure(
    paths, experiment: str, out, out_path=None, out_refs=None, plot_abs: bool = False, k_log: bool = True
) -> list[Path]:
    """Fig 6/26 (gap vs K for the first reference image), Fig 25 (Delta u(alpha) curves) and, with `out_refs`,
    Figs 27-30 (one gap panel per reference image, SPEC §8.3: the paper repeats Fig 26 with other references)."""
    df = _read_all(paths)
    gaps = energy_gaps(df)
    ok = df[~df["skipped"]]
    refs = sorted(int(r) for r in ok["ref"].unique())
    t = ok["t"].iloc[0] if refs else "?"
    first = gaps[gaps["ref"] == refs[0]] if refs else gaps.iloc[:0]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    _gap_panel(ax, first, plot_abs, k_log)
    ax.set_ylabel(_gap_label(plot_abs))
    ref_txt = f"reference pool index {refs[0]}" if refs else "no reference"
    ax.set_title(f"{experiment}: relative energy gap (t={t}, {ref_txt})", fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    written = save_figure(fig, _stem(out))
    plt.close(fig)
    if out_path is not None:
        written += _path_figure(ok, experiment, out_path)
    if out_refs is not None:
        written += _refs_figure(gaps, refs, experiment, t, out_refs, plot_abs, k_log)
    return written


def _refs_figure(gaps, refs, experiment, t, out, plot_abs: bool, k_log: bool) -> list[Path]:
    n = max(1, len(refs))
    fig, axes = plt.subplots(1, n, figsize=(4 * n, 3.6), sharey=True, squeeze=False)
    for ax, ref in zip(axes[0], refs):
        _gap_panel(ax, gaps[gaps["ref"] == ref], plot_abs, k_log)
        ax.set_title(f"reference pool index {ref}", fontsize=9)
    axes[0][0].set_ylabel(_gap_label(plot_abs))
    if axes[0][0].get_legend_handles_labels()[0]:
        axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{experiment}: relative energy gap with {len(refs)} reference images (t={t})")
    fig.tight_layout()
    written = save_figure(fig, _stem(out))
    plt.close(fig)
    return written


def _path_figure(ok: pd.DataFrame, experiment: str, out) -> list[Path]:
    ks = sorted(ok["K"].unique())
    fig, axes = plt.subplots(
        1, max(1, len(ks)), figsize=(3 * max(1, len(ks)), 3), sharey=False, squeeze=False
    )
    for ax, k in zip(axes[0], ks):
        for cls in ("training",) + SAMPLE_CLASSES:
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
    written = save_figure(fig, _stem(out))
    plt.close(fig)
    return written
