"""Paper Fig 2: samples, clusters and energy landscapes for the circle experiment.

Row 1: trained-network samples per K over the training points, coloured by Ward cluster, with
cluster centres. Row 2: learned energies E = -2 t_E log p (min-subtracted) with the learned score
at t_E; centres annotated with their (grid-interpolated) energy, min-subtracted over centres.
Row 3: the exact model: exact empirical-score samples (per exact K) and the closed-form K -> inf
energy. One colour bar is shared by all energy panels.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.interpolate import RegularGridInterpolator  # noqa: E402

from memgen.circle.data import train_points  # noqa: E402
from memgen.io import read_parquet  # noqa: E402

LABEL_MARKER = {"memorized": "X", "spurious": "P", "generalized": "X"}
LABEL_COLOR = {"memorized": "yellow", "spurious": "cyan", "generalized": "yellow"}


@dataclass
class FigureInputs:
    split: str
    ks: list[int]
    samples_net: dict
    clusters_net: dict
    energy: dict
    exact_ks: list[int]
    samples_exact: dict
    clusters_exact: dict
    energy_exact: str
    max_points: int = 3000
    seed: int = 0


def _grid(df: pd.DataFrame):
    n = int(df["i"].max()) + 1
    df = df.sort_values(["i", "j"])
    gx = df["x"].to_numpy().reshape(n, n)
    gy = df["y"].to_numpy().reshape(n, n)
    return gx, gy, n, df


def _frame(ax, extent=1.5):
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    ax.set_aspect("equal")
    ax.set_xticks([-1, 0, 1])
    ax.set_yticks([-1, 0, 1])
    ax.tick_params(labelsize=7)
    ax.add_patch(plt.Circle((0, 0), 1.0, fill=False, ls="--", lw=0.6, color="0.5"))


def _train_overlay(ax, pts):
    if len(pts) <= 50:
        ax.scatter(
            pts[:, 0],
            pts[:, 1],
            marker="*",
            s=140,
            c="red",
            edgecolors="k",
            linewidths=0.5,
            zorder=5,
            label="training points",
        )
    else:
        ax.scatter(
            pts[:, 0], pts[:, 1], marker=".", s=3, c="red", zorder=4, label="training points"
        )


def _samples_panel(ax, samples, clusters, pts, max_points, seed):
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(samples), min(max_points, len(samples)), replace=False))
    cl = np.full(len(samples), -1)
    for c, members in zip(clusters["cluster"], clusters["members"]):
        cl[np.asarray(members, dtype=int)] = c
    s = samples.iloc[keep]
    cmap = plt.get_cmap("tab20")
    ax.scatter(
        s["x"],
        s["y"],
        s=2,
        c=[cmap(c % 20) for c in cl[keep]],
        alpha=0.6,
        zorder=2,
        rasterized=True,
    )
    _train_overlay(ax, pts)
    _centres(ax, clusters)
    counts = clusters["label"].value_counts()
    txt = ", ".join(
        f"{counts.get(lab, 0)} {lab[:3]}." for lab in ("memorized", "spurious", "generalized")
    )
    ax.text(
        0.02,
        0.02,
        f"{len(clusters)} clusters: {txt}",
        transform=ax.transAxes,
        fontsize=6,
        va="bottom",
        bbox=dict(fc="white", alpha=0.7, lw=0),
    )


def _centres(ax, clusters, energies=None):
    for lab in LABEL_MARKER:
        m = clusters["label"] == lab
        if m.any():
            ax.scatter(
                clusters.loc[m, "cx"],
                clusters.loc[m, "cy"],
                marker=LABEL_MARKER[lab],
                s=70,
                c=LABEL_COLOR[lab],
                edgecolors="k",
                linewidths=0.7,
                zorder=6,
            )
    if energies is not None and len(clusters) <= 12:
        for (x, y), e in zip(clusters[["cx", "cy"]].to_numpy(), energies):
            ax.annotate(
                f"{e:.2f}",
                (x, y),
                xytext=(4, 4),
                textcoords="offset points",
                fontsize=6.5,
                color="white",
                zorder=7,
                bbox=dict(fc="black", alpha=0.5, lw=0, pad=0.5),
            )


def _energy_panel(ax, df, vmax, quiver=True):
    gx, gy, n, df = _grid(df)
    e = df["energy_rel"].to_numpy().reshape(n, n)
    cs = ax.contourf(gx, gy, e, levels=np.linspace(0, vmax, 101), cmap="inferno", extend="max")
    if quiver:
        sx = df["score_x"].to_numpy().reshape(n, n)
        sy = df["score_y"].to_numpy().reshape(n, n)
        norm = np.hypot(sx, sy) + 1e-12
        ax.quiver(gx, gy, sx / norm, sy / norm, color="white", alpha=0.55, scale=32, width=0.004)
    return cs, gx[:, 0], df


def _centre_energy(clusters, axis, df):
    n = len(axis)
    e = df["energy"].to_numpy().reshape(n, n)
    f = RegularGridInterpolator((axis, axis), e)
    xy = np.clip(clusters[["cx", "cy"]].to_numpy(), axis[0], axis[-1])
    v = f(xy)
    return v - v.min() if len(v) else v


def make_figure(inp: FigureInputs):
    split = read_parquet(inp.split)
    energies = {k: read_parquet(inp.energy[k]) for k in inp.ks}
    exact = read_parquet(inp.energy_exact)
    vmax = max(
        [float(d["energy_rel"].max()) for d in energies.values()]
        + [float(exact["energy_rel"].max())]
    )
    ncol = max(len(inp.ks), len(inp.exact_ks) + 1)
    fig, axes = plt.subplots(
        3,
        ncol,
        figsize=(3.0 * ncol + 0.8, 9.2),
        squeeze=False,
        gridspec_kw={"hspace": 0.28, "wspace": 0.12},
    )
    cs = None
    for col, k in enumerate(inp.ks):
        pts = train_points(split, k)
        samples = read_parquet(inp.samples_net[k])
        clusters = read_parquet(inp.clusters_net[k])
        ax = axes[0, col]
        _frame(ax)
        _samples_panel(ax, samples, clusters, pts, inp.max_points, inp.seed)
        within = 100 * np.mean(samples["d_train"] < 0.05)
        ax.set_title(f"K = {k}: network ({within:.0f}% copies, d < 0.05)", fontsize=8)
        ax = axes[1, col]
        cs, axis, edf = _energy_panel(ax, energies[k], vmax)
        _frame(ax)
        _train_overlay(ax, pts)
        _centres(ax, clusters, _centre_energy(clusters, axis, edf))
        t_e = float(energies[k]["t_E"].iloc[0])
        ax.set_title(f"K = {k}: learned energy (t$_E$ = {t_e:g})", fontsize=8.5)
    for col in range(len(inp.ks), ncol):
        axes[0, col].axis("off")
        axes[1, col].axis("off")
    for col, k in enumerate(inp.exact_ks):
        ax = axes[2, col]
        _frame(ax)
        samples = read_parquet(inp.samples_exact[k])
        _samples_panel(
            ax,
            samples,
            read_parquet(inp.clusters_exact[k]),
            train_points(split, k),
            inp.max_points,
            inp.seed,
        )
        within = 100 * np.mean(samples["d_train"] < 0.05)
        ax.set_title(f"exact score, K = {k} ({within:.0f}% copies)", fontsize=8)
    ax = axes[2, len(inp.exact_ks)]
    cs, _, _ = _energy_panel(ax, exact, vmax)
    _frame(ax)
    big = train_points(split, max(inp.ks))[:1000]
    _train_overlay(ax, big)
    beta = float(exact["beta"].iloc[0])
    ax.set_title(f"Exact, K → ∞: E(R), β = {beta:g}", fontsize=8.5)
    for col in range(len(inp.exact_ks) + 1, ncol):
        axes[2, col].axis("off")
    cbar = fig.colorbar(cs, ax=axes[1:, :].ravel().tolist(), fraction=0.025, pad=0.02)
    cbar.set_label("energy − min", fontsize=8)
    cbar.set_ticks(np.linspace(0, vmax, 5))
    cbar.ax.tick_params(labelsize=7)
    fig.suptitle(
        "Circle (paper Fig 2): memorization → spurious states → generalization", fontsize=11, y=0.93
    )
    return fig
