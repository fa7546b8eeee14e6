"""Figures of the training-dynamics analysis: the phase diagram over K x training step, fractions
against step per K, tau_mem against K with its fit, and the exact-model agreement curves."""

from __future__ import annotations

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from memgen.classify import CLASSES  # noqa: E402
from memgen.palette import CLASS_COLORS  # noqa: E402

CMAPS = {"memorized": "Reds", "spurious": "Greens", "generalized": "Blues"}


def _edges(values: np.ndarray) -> np.ndarray:
    """Cell edges on a log axis: geometric midpoints, half a step beyond the ends."""
    v = np.log(np.asarray(values, dtype=float))
    if len(v) == 1:
        return np.exp([v[0] - 0.5, v[0] + 0.5])
    mid = (v[1:] + v[:-1]) / 2
    return np.exp(np.concatenate([[v[0] - (mid[0] - v[0])], mid, [v[-1] + (v[-1] - mid[-1])]]))


def _plain_log(axis) -> None:
    """Label only the decades of a log axis (the minor labels of a short range overlap)."""
    axis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def _k_colors(ks):
    cmap = plt.get_cmap("viridis")
    return {k: cmap(i / max(1, len(ks) - 1)) for i, k in enumerate(ks)}


def phase_figure(fr: pd.DataFrame, experiment: str):
    """One panel per class: its fraction over (K, training step), both axes logarithmic."""
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), sharey=True)
    ks = np.sort(fr["K"].unique())
    steps = np.sort(fr["step"].unique())
    for ax, cls in zip(axes, CLASSES):
        grid = (fr[fr["class"] == cls].pivot_table(index="step", columns="K", values="fraction")
                .reindex(index=steps, columns=ks))  # fmt: skip
        mesh = ax.pcolormesh(_edges(ks), _edges(steps), np.ma.masked_invalid(grid.to_numpy()),
                             cmap=CMAPS[cls], vmin=0, vmax=1, shading="flat")  # fmt: skip
        ax.set_xscale("log")
        ax.set_yscale("log")
        _plain_log(ax.yaxis)
        ax.set_title(cls, color=CLASS_COLORS[cls], fontsize=10)
        ax.set_xlabel("training-set size K")
        fig.colorbar(mesh, ax=ax, fraction=0.05, pad=0.02)
        for k in ks:  # where the snapshots are (cells between them are not measured)
            ax.plot([k] * len(steps), steps, ".", color="0.3", ms=2)
    axes[0].set_ylabel("training step")
    fig.suptitle(f"{experiment}: class fractions over K and training time", fontsize=10)
    fig.tight_layout()
    return fig


def fractions_vs_step_figure(fr: pd.DataFrame, tau: pd.DataFrame, experiment: str):
    """Fraction of each class against training step, one line per K (CIs as bands); τ_mem marked."""
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), sharey=True)
    ks = sorted(fr["K"].unique())
    colors = _k_colors(ks)
    for ax, cls in zip(axes, CLASSES):
        for k in ks:
            d = fr[(fr["class"] == cls) & (fr["K"] == k)].sort_values("step")
            ax.fill_between(d["step"], d["ci_low"], d["ci_high"], color=colors[k], alpha=0.15, lw=0)
            ax.plot(d["step"], d["fraction"], "o-", color=colors[k], ms=3, lw=1.2, label=f"K={k}")
            if cls == "memorized" and len(tau):
                t = tau[tau["K"] == k]
                if len(t) and np.isfinite(t["tau_mem"].iloc[0]):
                    ax.axvline(t["tau_mem_interp"].iloc[0], color=colors[k], ls=":", lw=0.8)
        if cls == "memorized" and len(tau):
            ax.axhline(float(tau["level"].iloc[0]), color="0.5", ls="--", lw=0.8)
        ax.set_xscale("log")
        _plain_log(ax.xaxis)
        ax.set_ylim(-0.02, 1.04)
        ax.set_title(cls, color=CLASS_COLORS[cls], fontsize=10)
        ax.set_xlabel("training step")
    axes[0].set_ylabel("fraction of samples")
    axes[-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(f"{experiment}: fractions over training time (dotted: τ_mem)", fontsize=10)
    fig.tight_layout()
    return fig


def tau_figure(tau: pd.DataFrame, fit: pd.DataFrame, experiment: str):
    """τ_mem against K (log-log) with the least-squares line and a slope-1 guide (linear law)."""
    fig, ax = plt.subplots(figsize=(5, 3.6))
    ok = tau[np.isfinite(tau["tau_mem_interp"].to_numpy(float))]
    ax.plot(ok["K"], ok["tau_mem_interp"], "o", color=CLASS_COLORS["memorized"],
            label="τ_mem (crossing)")  # fmt: skip
    ax.plot(ok["K"], ok["tau_mem"], "_", color="0.3", ms=10, label="first snapshot above")
    never = tau[~np.isfinite(tau["tau_mem_interp"].to_numpy(float))]
    level = float(tau["level"].iloc[0]) if len(tau) else float("nan")
    for k in never["K"]:
        ax.axvline(k, color="0.8", lw=0.8)
    if len(fit) and np.isfinite(fit["slope"].iloc[0]) and len(ok):
        f = fit.iloc[0]
        kk = np.geomspace(ok["K"].min(), ok["K"].max(), 50)
        ci = (f"[{f['slope_ci_low']:.2f}, {f['slope_ci_high']:.2f}]"
              if np.isfinite(f["slope_ci_low"]) else "(CI needs ≥ 3 K)")  # fmt: skip
        ax.plot(kk, np.exp(f["intercept"]) * kk ** f["slope"], "-", color="0.2",
                label=f"fit: slope {f['slope']:.2f} {ci}")  # fmt: skip
        k0, t0 = float(ok["K"].iloc[0]), float(ok["tau_mem_interp"].iloc[0])
        ax.plot(kk, t0 * kk / k0, "--", color="0.6", lw=1, label="τ ∝ K (slope 1)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training-set size K")
    ax.set_ylabel(f"τ_mem (memorized > {level:g})")
    ax.set_title(f"{experiment}: onset of memorization (grey: never reached)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def agreement_figure(ag: pd.DataFrame, experiment: str):
    """RMS distance to the exact empirical-score model's draw from the same noise: against step per
    K (left) and against K at the last snapshot (right)."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    ex = ag[ag["reference"] == "exact"]
    ks = sorted(ex["K"].unique())
    colors = _k_colors(ks)
    for k in ks:
        d = ex[ex["K"] == k].sort_values("step")
        a1.fill_between(d["step"], d["ci_low"], d["ci_high"], color=colors[k], alpha=0.15, lw=0)
        a1.plot(d["step"], d["mean"], "o-", color=colors[k], ms=3, lw=1.2, label=f"K={k}")
    a1.set_xscale("log")
    _plain_log(a1.xaxis)
    a1.set_xlabel("training step")
    a1.set_ylabel("RMS distance to the exact model")
    a1.legend(fontsize=7)
    last = ex.loc[ex.groupby("K")["step"].idxmax()].sort_values("K") if len(ex) else ex
    err = np.vstack([last["mean"] - last["ci_low"], last["ci_high"] - last["mean"]]) if len(ex) else None
    if len(ex):
        a2.errorbar(last["K"], last["mean"], yerr=np.clip(err, 0, None), fmt="o-", color="0.2",
                    capsize=2, ms=4)  # fmt: skip
    a2.set_xscale("log")
    a2.set_xlabel("training-set size K")
    a2.set_ylabel("RMS distance (last snapshot)")
    for ax in (a1, a2):
        ax.set_ylim(bottom=0)
    fig.suptitle(f"{experiment}: agreement with the exact empirical-score model (same noise)",
                 fontsize=10)  # fmt: skip
    fig.tight_layout()
    return fig
