"""Curvature and energy figures: Fig 5A-style spectra (each class across K; training points coloured by K,
rainbow purple -> red; and the classes compared at fixed K, the paper's claim), Fig 6-style relative energy gap
vs K with std bands, Fig 25-style Delta u(alpha)."""

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
    n_cls = {k: ok.loc[(ok["K"] == k) & ok["class"].isin(SAMPLE_CLASSES), "class"].nunique() for k in ks}
    full = [k for k in ks if n_cls[k] == len(SAMPLE_CLASSES)]
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
    for cls in SAMPLE_CLASSES + ("training",):
        d = ok[(ok["class"] == cls) & (ok["K"] == k)]
        if not d.empty:
            out[cls] = _mean_spectrum(d, drop_top)
    return out


def curvature_figure(paths, experiment: str, out, drop_top: int = 5, fixed_ks=None) -> list[Path]:
    """Top row: each sample class across K, and the training points across K. Bottom row: at each fixed K
    (``fixed_k_choice``), the class mean spectra overlaid, so the classes compare at the same K."""
    df = _read_all(paths)
    ok = df[~df["skipped"]]
    ks = sorted(df["K"].unique())
    colors = _k_colors(ks)
    chosen = fixed_k_choice(ok, fixed_ks)
    ncol = max(4, len(chosen))
    fig, axes = plt.subplots(2, ncol, figsize=(4 * ncol, 7.8), sharey=False, squeeze=False)
    for ax, cls in zip(axes[0, :3], SAMPLE_CLASSES):
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
        d = ok[(ok["class"] == "training") & (ok["K"] == k)]
        if not d.empty:
            r, mu, _ = _mean_spectrum(d, drop_top)
            ax.plot(r, mu, color=colors[k], lw=1.2, label=f"K={k}")
    ax.set_title("training points, across K")
    for col in range(4, ncol):
        axes[0, col].axis("off")
    for ax, k in zip(axes[1], chosen):
        counts = ok[ok["K"] == k].groupby("class")["point"].nunique()
        for cls, (r, mu, sd) in fixed_k_spectra(ok, k, drop_top).items():
            style = {"ls": "--", "lw": 1.0} if cls == "training" else {"lw": 1.4}
            ax.plot(r, mu, color=COLORS[cls], label=f"{cls} (n={counts.get(cls, 0)})", **style)
            if cls != "training":
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
