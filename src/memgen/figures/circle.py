"""Paper Fig 2: samples, clusters and energy landscapes for the circle experiment.

Row 1: trained-network samples per K over the training points, coloured by Ward cluster, with
cluster centres; the title gives the copy fraction under the end-time-matched copy criterion and
that criterion's rate on fresh circle points, or, where the training set is too dense for copies
to mean anything, ring statistics. Row 2: learned energies E = -2 t_E log p (min-subtracted) with
the learned score at t_E; centres annotated with their energy computed at the centre by the same
likelihood, min-subtracted over centres. Row 3: the exact model: exact empirical-score samples
(per exact K) and the closed-form K -> inf energy.

Colour scales span the energies within radius 1.25 (the data region); the far corners saturate.
Energies at different temperatures are not comparable on one colour scale: the energy panels share
one colour bar only when all are at the same temperature (t_E of every K equal and the closed form's
β = 1/(2 t_E)); otherwise every energy panel gets its own colour bar and its temperature in the title.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from memgen.circle.data import train_points
from memgen.classes import CLASSES

LABEL_MARKER = {"memorized": "X", "spurious": "P", "generalized": "X"}
LABEL_COLOR = {"memorized": "yellow", "spurious": "cyan", "generalized": "yellow"}
FEW_POINTS = 50  # up to this many training points get star markers; more are a faint ring
FEW_CLUSTERS = 20  # up to this many centres get big annotated markers; more get small ones
COLOR_RADIUS = 1.25  # the colour scale spans the energies within this radius (the data region)


@dataclass
class CircleTables:
    """The tables Fig 2 is drawn from: the split, and per K (dicts keyed by K) the network's
    samples, clusters, energy grid and centre energies, the exact-score samples and clusters per
    exact K, and the closed-form K -> inf energy grid."""

    split: pd.DataFrame
    ks: list[int]
    samples_net: dict[int, pd.DataFrame]
    clusters_net: dict[int, pd.DataFrame]
    energy: dict[int, pd.DataFrame]
    energy_centres: dict[int, pd.DataFrame]
    exact_ks: list[int]
    samples_exact: dict[int, pd.DataFrame]
    clusters_exact: dict[int, pd.DataFrame]
    energy_exact: pd.DataFrame
    max_points: int = 3000  # samples drawn per panel
    seed: int = 0  # seed of the drawn subset


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
    ax.add_patch(Circle((0, 0), 1.0, fill=False, ls="--", lw=0.6, color="0.5"))


def _train_overlay(ax, pts, on_energy=False):
    if len(pts) <= FEW_POINTS:
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
        # A dense training set is a faint ring UNDER the samples (and thin over the energy), so
        # it does not hide the ring the model learned.
        ax.scatter(
            pts[:, 0],
            pts[:, 1],
            marker=".",
            s=1.5,
            c="red",
            alpha=0.35 if on_energy else 0.5,
            linewidths=0,
            zorder=3 if on_energy else 1,
            label="training points",
            rasterized=True,
        )


def copy_text(clusters: pd.DataFrame) -> str:
    """What the samples of one model say about copying: the copy fraction with the criterion's
    radius and false-positive rate, or ring statistics where the copy test is not meaningful."""
    if clusters.empty or "sample_copy_radius" not in clusters:
        return "no copy statistics"
    c = clusters.iloc[0]
    if bool(c["sample_copy_meaningful"]):
        return (
            f"{100 * c['sample_copy_fraction']:.0f} % copies (d ≤ {c['sample_copy_radius']:.3f})\n"
            f"fresh circle points: {100 * c['sample_copy_null_rate']:.0f} %"
        )
    return (
        f"ring: |r−1| = {c['sample_mean_abs_r_minus_1']:.3f}, "
        f"{100 * c['sample_angle_coverage']:.0f} % of angle bins\n"
        f"angular NN gap {c['sample_angle_nn_ratio']:.2f}× fresh points'"
    )


def _corner_text(ax, text, top=False):
    ax.text(
        0.02,
        0.98 if top else 0.02,
        text,
        transform=ax.transAxes,
        fontsize=6,
        va="top" if top else "bottom",
        bbox=dict(fc="white", alpha=0.75, lw=0),
        zorder=8,
    )


def _samples_panel(ax, samples, clusters, pts, max_points, seed):
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(samples), min(max_points, len(samples)), replace=False))
    cl = np.full(len(samples), -1)
    for c, members in zip(clusters["cluster"], clusters["members"]):
        cl[np.asarray(members, dtype=int)] = c
    s = samples.iloc[keep]
    cmap = matplotlib.colormaps["tab20"]
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
    share = clusters.groupby("label")["size"].sum() / max(1, clusters["size"].sum())
    txt = ", ".join(
        f"{counts.get(lab, 0)} {lab[:3]}. ({100 * share.get(lab, 0):.0f} %)"
        for lab in CLASSES
    )
    _corner_text(ax, f"{len(clusters)} clusters: {txt}")
    _corner_text(ax, copy_text(clusters), top=True)


def _centres(ax, clusters, energies=None, on_energy=False):
    # Many centres (a ring of clusters) are small and translucent, under the samples, so they do
    # not hide the ring the model learned.
    many = len(clusters) > FEW_CLUSTERS
    for lab in LABEL_MARKER:
        m = clusters["label"] == lab
        if m.any():
            ax.scatter(
                clusters.loc[m, "cx"],
                clusters.loc[m, "cy"],
                marker=LABEL_MARKER[lab],
                s=8 if many else 70,
                c=LABEL_COLOR[lab],
                edgecolors="k" if not many else "none",
                linewidths=0.7,
                alpha=0.5 if many else 1.0,
                zorder=(4 if on_energy else 1.5) if many else 6,
            )
    if energies is not None and not many:
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
    return cs


def centre_energies(clusters: pd.DataFrame, centres: pd.DataFrame) -> np.ndarray:
    """Energy of each cluster centre (in the clusters table's order), min-subtracted over centres,
    from the centre-energy table; a centre missing from it is an error, not a silent blank."""
    e = centres.set_index("cluster")["energy"]
    missing = sorted(set(clusters["cluster"]) - set(e.index))
    if missing:
        raise ValueError(
            f"centre energies lack clusters {missing[:5]}; rerun circle-energy-centres on the "
            "current clusters table"
        )
    v = e.loc[clusters["cluster"]].to_numpy(dtype=np.float64)
    return v - v.min() if len(v) else v


def color_max(df: pd.DataFrame) -> float:
    """Top of an energy panel's colour scale: its highest energy within COLOR_RADIUS, so the
    basins near the circle are resolved and only the far corners saturate."""
    inside = np.hypot(df["x"], df["y"]) <= COLOR_RADIUS
    e = df.loc[inside, "energy_rel"] if inside.any() else df["energy_rel"]
    return max(float(e.max()), 1e-12)


def temperature(t_e: float) -> str:
    return f"t$_E$ = {t_e:g}, β = {1 / (2 * t_e):.3g}"


def same_temperature(t_es) -> bool:
    t_es = [float(t) for t in t_es]
    return all(math.isclose(t, t_es[0], rel_tol=1e-9) for t in t_es)


def circle_figure(inp: CircleTables) -> Figure:
    """Paper Fig 2 from its tables (see the module docstring for the rows)."""
    split = inp.split
    energies = {k: inp.energy[k] for k in inp.ks}
    exact = inp.energy_exact
    t_learned = {k: float(energies[k]["t_E"].iloc[0]) for k in inp.ks}
    beta = float(exact["beta"].iloc[0])
    t_exact = 1.0 / (2.0 * beta)
    shared = same_temperature(list(t_learned.values()) + [t_exact])
    vmax_all = max(color_max(d) for d in [*energies.values(), exact])
    ncol = max(len(inp.ks), len(inp.exact_ks) + 1)
    fig = Figure(figsize=(3.2 * ncol + 0.8, 9.6))
    axes = fig.subplots(
        3,
        ncol,
        squeeze=False,
        gridspec_kw={"hspace": 0.34, "wspace": 0.28 if not shared else 0.12},
    )
    cs = None

    def colorbar(cs, axs, label):
        cbar = fig.colorbar(cs, ax=axs, fraction=0.025 if shared else 0.046, pad=0.02)
        cbar.set_label(label, fontsize=7)
        cbar.set_ticks(np.linspace(0, cs.levels[-1], 5))
        cbar.ax.yaxis.set_major_formatter("{x:.2f}")
        cbar.ax.tick_params(labelsize=6)

    for col, k in enumerate(inp.ks):
        pts = train_points(split, k)
        samples = inp.samples_net[k]
        clusters = inp.clusters_net[k]
        ax = axes[0, col]
        _frame(ax)
        _samples_panel(ax, samples, clusters, pts, inp.max_points, inp.seed)
        ax.set_title(f"K = {k}: network samples", fontsize=8.5)
        ax = axes[1, col]
        edf = energies[k]
        cs = _energy_panel(ax, edf, vmax_all if shared else color_max(edf))
        _frame(ax)
        _train_overlay(ax, pts, on_energy=True)
        energy_c = centre_energies(clusters, inp.energy_centres[k])
        _centres(ax, clusters, energy_c, on_energy=True)
        ax.set_title(f"K = {k}: learned energy\n{temperature(t_learned[k])}", fontsize=8)
        if not shared:
            colorbar(cs, ax, "energy − min")
    for col in range(len(inp.ks), ncol):
        axes[0, col].axis("off")
        axes[1, col].axis("off")
    for col, k in enumerate(inp.exact_ks):
        ax = axes[2, col]
        _frame(ax)
        clusters = inp.clusters_exact[k]
        _samples_panel(
            ax,
            inp.samples_exact[k],
            clusters,
            train_points(split, k),
            inp.max_points,
            inp.seed,
        )
        ax.set_title(f"exact score, K = {k}: samples", fontsize=8.5)
    ax = axes[2, len(inp.exact_ks)]
    cs_exact = _energy_panel(ax, exact, vmax_all if shared else color_max(exact))
    _frame(ax)
    _train_overlay(ax, train_points(split, max(inp.ks))[:1000], on_energy=True)
    ax.set_title(f"exact, K → ∞: E(R)\n{temperature(t_exact)}", fontsize=8)
    for col in range(len(inp.exact_ks) + 1, ncol):
        axes[2, col].axis("off")
    if shared:
        energy_axes = [axes[1, c] for c in range(len(inp.ks))] + [axes[2, len(inp.exact_ks)]]
        colorbar(cs_exact, energy_axes, f"energy − min ({temperature(t_exact)})")
        note = f"all energies at one temperature, {temperature(t_exact)}"
    else:
        colorbar(cs_exact, ax, "energy − min")
        note = "energies at different temperatures: separate colour scales"
    fig.suptitle(
        "Circle (paper Fig 2): memorization → spurious states → generalization\n" + note,
        fontsize=10,
        y=0.965,
    )
    return fig
