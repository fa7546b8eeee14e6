"""Figures of the classification stage: Fig 3 (distance histograms), Fig 4A (fractions vs K) and
Fig 1B (examples of each class with their nearest training images and nearest samples)."""

from __future__ import annotations

import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from memgen.classes import CLASSES
from memgen.palette import CLASS_COLORS

COLORS = {cls: CLASS_COLORS[cls] for cls in CLASSES}  # the three sample classes, in order
OLIVE, GREY = "olive", "grey"


def pick_ks(ks: list[int], n: int = 4) -> list[int]:
    """A few K spread over the grid (first, last and evenly spaced positions in between)."""
    ks = sorted(ks)
    if len(ks) <= n:
        return ks
    idx = np.unique(np.round(np.linspace(0, len(ks) - 1, n)).astype(int))
    return [ks[i] for i in idx]


def _method_label(th) -> str:
    if str(th.get("method_m", "")) == "null-quantile" and "null_alpha" in th:
        return f" (real-pair {float(th['null_alpha']):.2%} quantile)"
    return f" ({th.get('method_m', '')})" if th.get("method_m") else ""


def histograms_figure(
    hist: pd.DataFrame, thresholds: pd.DataFrame, experiment: str, ks=None, null=None
):
    """Olive d_train and grey d_synth per K with the thresholds; ``null`` (the pool's leave-one-out
    distances, full pool) is drawn as a black outline rescaled to the panel's sample count."""
    ks = ks or pick_ks(sorted(hist["K"].unique()))
    fig = Figure(figsize=(3.6 * len(ks), 3.2))
    axes = fig.subplots(1, len(ks), squeeze=False)
    for ax, k in zip(axes[0], ks):
        th = thresholds[thresholds["K"] == k].iloc[0]
        total = 0
        for col, color, label in (
            ("d_train", OLIVE, "to nearest training image"),
            ("d_synth", GREY, "to nearest other sample"),
        ):
            h = hist[(hist["K"] == k) & (hist["distance"] == col)]
            edges = np.r_[h["log10_lo"].to_numpy(), h["log10_hi"].to_numpy()[-1:]]
            total = max(total, int(h["count"].sum()))
            ax.stairs(
                h["count"].to_numpy(), 10**edges, fill=True, alpha=0.55, color=color, label=label
            )
        if null is not None and len(null):
            full = null[null["n"] == null["n"].max()]["distance"].to_numpy(float)
            floor = 10 ** edges[0]
            counts, _ = np.histogram(np.log10(np.maximum(full, floor)), bins=edges)
            ax.stairs(
                counts * total / max(1, counts.sum()), 10**edges, color="black", lw=1.0,
                label=f"real image to nearest other (N = {len(full)}, rescaled)",
            )
        ax.axvline(th["delta_m"], color=OLIVE, ls="--", lw=1.4,
                   label=f"δm = {th['delta_m']:.3g}{_method_label(th)}")
        ax.axvline(th["delta_s"], color="black", ls=":", lw=1.4, label=f"δs = {th['delta_s']:.3g}")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # minor labels overlap
        ax.set_title(f"{experiment}, K = {k}")
        ax.set_xlabel("nearest-neighbour distance")
    axes[0][0].set_ylabel("samples")
    handles, labels = axes[0][-1].get_legend_handles_labels()
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.legend(handles, labels, fontsize=7, loc="lower center", ncol=3, frameon=False)
    return fig


def fractions_figure(
    fr: pd.DataFrame, experiment: str, critical_k=(), k_log: bool = True, sweep=None, band=(0.8, 1.2)
):
    """Fractions vs K with bootstrap CIs (error bars) and, from the delta sweep, the range of each
    fraction when both thresholds are scaled by a factor within ``band`` (shaded)."""
    fig = Figure(figsize=(7.2, 3.6))
    ax = fig.subplots()
    for cls, color in COLORS.items():
        d = fr[fr["class"] == cls].sort_values("K")
        if sweep is not None and len(sweep):
            inside = sweep[(sweep["scale"] >= band[0] - 1e-9) & (sweep["scale"] <= band[1] + 1e-9)]
            rng = inside.groupby("K")[f"f_{cls}"].agg(["min", "max"]).sort_index()
            ax.fill_between(rng.index, rng["min"], rng["max"], color=color, alpha=0.18, lw=0)
        err = np.vstack([d["fraction"] - d["ci_low"], d["ci_high"] - d["fraction"]])
        ax.errorbar(d["K"], d["fraction"], yerr=np.clip(err, 0, None), fmt="o-", color=color,
                    label=cls, ms=4, capsize=2, lw=1.3, elinewidth=0.8)
    if sweep is not None and len(sweep):
        ax.fill_between([], [], [], color="0.5", alpha=0.25, lw=0,
                        label=f"δ × {band[0]:g}–{band[1]:g}")
    gap = fr[fr["class"] == "memorized_gap"].sort_values("K")
    if len(gap) and gap["fraction"].notna().any():
        ax.plot(gap["K"], gap["fraction"], "x:", color=COLORS["memorized"], ms=4, lw=1,
                label="memorized, d₁/d₂ < 1/3")
    for i, kc in enumerate(critical_k):
        ax.axvline(kc, color="0.4", ls="--", lw=1)
        ax.text(kc, 1.02, f"K{i + 1}", ha="center", va="bottom", fontsize=8, color="0.3")
    if k_log:
        ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.08)
    ax.set_xlabel("training-set size K")
    ax.set_ylabel("fraction of samples")
    ax.set_title(f"{experiment}: memorization → spurious → generalization", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: curves cross everywhere
    fig.tight_layout()
    return fig


def _show(ax, img, text):
    img = np.asarray(img, dtype=np.float32)
    img = (np.clip(img, -1, 1) + 1) / 2
    if img.ndim == 3 and img.shape[-1] == 1:
        ax.imshow(img[..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    elif img.ndim == 3:
        ax.imshow(img, interpolation="nearest")
    else:  # a vector (e.g. 2-D points): print it instead
        ax.text(0.5, 0.5, np.array2string(img, precision=2), ha="center", va="center", fontsize=6)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel(text, fontsize=7)


def examples_figure(examples: list[dict], experiment: str, n_neighbors: int = 4):
    """examples: dicts with class, K, sample (image), train (list of (image, dist)), synth (list)."""
    n_rows = max(1, len(examples))
    n_cols = 1 + 2 * n_neighbors
    fig = Figure(figsize=(1.05 * n_cols, 1.35 * n_rows))
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for row, ex in zip(axes, examples):
        _show(row[0], ex["sample"], f"{ex['class']}\nK={ex['K']}")
        row[0].spines[:].set_color(COLORS[ex["class"]])
        row[0].spines[:].set_linewidth(2.5)
        for j in range(n_neighbors):
            for off, key, tag in ((1, "train", "train"), (1 + n_neighbors, "synth", "sample")):
                ax = row[off + j]
                if j < len(ex[key]):
                    img, dist = ex[key][j]
                    _show(ax, img, f"{tag} d={dist:.3g}")
                else:
                    ax.axis("off")
    for ax in axes.ravel()[len(examples) * n_cols :]:
        ax.axis("off")
    if not examples:
        axes[0][0].text(0.5, 0.5, "no samples", ha="center")
    fig.suptitle(
        f"{experiment}: sample | {n_neighbors} nearest training images | {n_neighbors} nearest other samples",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def collect_examples(
    classes: dict[int, pd.DataFrame],
    train_nn: dict[int, pd.DataFrame],
    sample_nn: dict[int, pd.DataFrame],
    samples: dict[int, np.ndarray],
    pool: np.ndarray,
    per_class: int = 1,
    n_neighbors: int = 4,
) -> list[dict]:
    """For each class, the top-ranked samples at the K where that class is most frequent."""
    out = []
    for cls in COLORS:
        counts = {k: int((df["class"] == cls).sum()) for k, df in classes.items()}
        if not counts or max(counts.values()) == 0:
            continue
        k = max(counts, key=lambda kk: (counts[kk], -kk))
        df = classes[k]
        chosen = df[df["class"] == cls].sort_values("rank_in_class").head(per_class)
        for s in chosen["sample"]:
            tn = train_nn[k][train_nn[k]["query"] == s].sort_values("rank").head(n_neighbors)
            sn = sample_nn[k][sample_nn[k]["query"] == s].sort_values("rank").head(n_neighbors)
            out.append(
                {
                    "class": cls,
                    "K": k,
                    "sample": samples[k][int(s)],
                    "train": [(pool[int(i)], d) for i, d in zip(tn["ref_index"], tn["distance"])],
                    "synth": [
                        (samples[k][int(i)], d) for i, d in zip(sn["ref_index"], sn["distance"])
                    ],
                }
            )
    return out
