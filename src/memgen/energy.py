"""Relative energy along a spherical path (docs/method.md §8, App E).

Potential of the reverse VP SDE: grad u(x, t) = -1/2 beta_t x + beta_t eps(x, t) / sqrt(1 - abar_t), with
abar = cumprod(1 - beta) (``legacy_sigma`` reproduces the official code's sqrt(1 - prod(beta)), docs/method.md §10.2,
for comparison only). Path x(a) = cos a x_a + sin a x_b, a in [0, pi/2]; the line integral of grad u . x'(a)
uses the trapezoid rule (torch.cumulative_trapezoid; the official code's rectangle sum is a defect, docs/method.md §10.3).
U(x_a) = u(x_a) - u(x_b) = -Delta u_total. Discrete beta_t is used in place of beta(t) = T beta_t (a positive
constant factor on every U; signs and orderings unchanged).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import torch

from memgen.per_class import TableSpec, concat_frames, per_class_table
from memgen.schedules import DDPMSchedule
from memgen.sections import Section, section


def sigma_for(schedule: DDPMSchedule, t: int, legacy_sigma: bool = False) -> float:
    if legacy_sigma:  # official code: sqrt(1 - prod(beta)) ~ 1 (docs/method.md §10.2)
        return float(torch.sqrt(1.0 - torch.prod(schedule.betas[: t + 1].double())))
    return float(schedule.sigmas.double()[t])


@torch.no_grad()
def grad_u(
    model, x: torch.Tensor, t: int, schedule: DDPMSchedule, legacy_sigma: bool = False
) -> torch.Tensor:
    beta = float(schedule.betas.double()[t])
    tt = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
    eps = model(x, tt).double()
    return -0.5 * beta * x.double() + beta * eps / sigma_for(schedule, t, legacy_sigma)


@torch.no_grad()
def relative_energy(
    model,
    xa: torch.Tensor,
    xb: torch.Tensor,
    t: int,
    schedule: DDPMSchedule,
    n_alpha: int = 20,
    legacy_sigma: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """U = u(x_a) - u(x_b) (B,) and the curve Delta u(alpha_k) = u(x(alpha_k)) - u(x_a) (B, n_alpha).

    xa (B, C, H, W); xb (C, H, W) or (B, C, H, W).
    """
    if n_alpha < 2:
        raise ValueError(f"energy.n_alpha must be >= 2 (trapezoid rule), got {n_alpha}")
    alphas = torch.linspace(0.0, math.pi / 2, n_alpha, dtype=torch.float64)
    xa64, xb64 = xa.double(), xb.double().expand_as(xa)
    g = []
    for a in alphas.tolist():
        x = math.cos(a) * xa64 + math.sin(a) * xb64
        dx = -math.sin(a) * xa64 + math.cos(a) * xb64
        gu = grad_u(model, x.to(xa.dtype), t, schedule, legacy_sigma)
        g.append((gu * dx).flatten(1).sum(1))
    g = torch.stack(g, dim=1)  # (B, n_alpha)
    curve = torch.cumulative_trapezoid(g, alphas, dim=1)
    curve = torch.cat([torch.zeros_like(curve[:, :1]), curve], dim=1)
    return (-curve[:, -1]).cpu().numpy(), curve.cpu().numpy()


def reference_indices(n_pool: int, n_refs: int, seed: int) -> np.ndarray:
    """Reference rows drawn from the whole training pool (fixed across K: depends on the pool and seed only)."""
    if n_refs > n_pool:
        raise ValueError(f"energy.n_refs={n_refs} exceeds the pool size {n_pool}")
    return np.sort(np.random.default_rng(seed).choice(n_pool, size=n_refs, replace=False))


def energy_gaps(df: pd.DataFrame) -> pd.DataFrame:
    """gap_c(K) = mean U(class c) - mean U(training), per (experiment, K, ref, class), with std of U over c."""
    ok = df[~df["skipped"]]
    stats = (
        ok.groupby(["experiment", "K", "ref", "class"])["U"]
        .agg(["mean", "std", "count"])
        .reset_index()
    )
    train = stats[stats["class"] == "training"][["experiment", "K", "ref", "mean"]].rename(
        columns={"mean": "train_mean"}
    )
    out = stats.merge(train, on=["experiment", "K", "ref"], how="left")
    out["gap"] = out["mean"] - out["train_mean"]
    return out


@section("images.*.energy")
@dataclass(frozen=True)
class EnergyConfig(Section):
    """The ``energy`` config section (defaults = the official code's: 20 nodes at t = 0)."""

    enabled: bool = True
    n_alpha: int = 20
    t: int = 0
    n_refs: int = 5
    ref_seed: int = 0
    legacy_sigma: bool = False
    plot_abs: bool = False  # figure: |gap| instead of the signed gap
    max_points: int = 512
    batch_size: int = 64
    device: str = "auto"
    impl_version: int = 1

    def __post_init__(self) -> None:
        if self.n_alpha < 2:
            raise ValueError(f"energy.n_alpha must be >= 2 (trapezoid rule), got {self.n_alpha}")


ENERGY = TableSpec(
    "energy",
    constants=(
        pa.field("t", pa.int64()),
        pa.field("n_alpha", pa.int64()),
        pa.field("legacy_sigma", pa.bool_()),
    ),
    per_point=(
        pa.field("ref", pa.int64()),
        pa.field("point", pa.int64()),
        pa.field("U", pa.float64()),
        pa.field("curve", pa.list_(pa.float64())),
    ),
)


def energy_table(
    model,
    pool: np.ndarray,
    samples: np.ndarray,
    classes,
    k: int,
    experiment: str,
    acfg,
    cfg: EnergyConfig,
    schedule: DDPMSchedule | None = None,
    device: str | torch.device = "cpu",
) -> pd.DataFrame:
    """One row per (class, ref, point): U and the Delta u(alpha) curve; one row per skipped class
    (schema ``ENERGY``)."""
    from memgen.data import to_nchw
    from memgen.selection import gather_images

    schedule = schedule or DDPMSchedule()
    refs = reference_indices(pool.shape[0], int(cfg.n_refs), int(cfg.ref_seed))
    batch = int(cfg.batch_size)

    def point_rows(sel) -> pd.DataFrame:
        x = torch.as_tensor(to_nchw(gather_images(sel, pool[:k], samples))).float().to(device)
        frames = []
        for ref in refs:
            xb = torch.as_tensor(to_nchw(pool[ref : ref + 1])).float().to(device)[0]
            for s in range(0, x.shape[0], batch):
                U, curve = relative_energy(
                    model, x[s : s + batch], xb, int(cfg.t), schedule, int(cfg.n_alpha),
                    bool(cfg.legacy_sigma),
                )  # fmt: skip
                frames.append(
                    pd.DataFrame(
                        {
                            "ref": int(ref),
                            "point": sel.index[s : s + len(U)],
                            "U": U,
                            "curve": list(curve),
                        }
                    )
                )
        return concat_frames(frames, ENERGY.point_columns)

    constants = {
        "experiment": experiment,
        "t": int(cfg.t),
        "n_alpha": int(cfg.n_alpha),
        "legacy_sigma": bool(cfg.legacy_sigma),
    }
    return per_class_table(ENERGY, classes, k, acfg, int(cfg.max_points), constants, point_rows)
