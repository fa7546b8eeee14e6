"""K grids of the image experiments: the sparse sweep, the K1/K2 rule and the dense grid.

The paper locates, per data set and network, the training-set size K1 where memorization starts to
drop and K2 where it has reached its floor, then trains its models on a dense grid that is densest
between them. When K1/K2 are not known (e.g. smaller networks, whose transition moves to smaller K)
they come from a sparse sweep:

1. ``sparse_grid``: K = K0, 2 K0, 4 K0, ... (< N), plus N.
2. ``critical_ks``: from the memorized fraction f(K) of the sweep models,
   K1 = the largest sweep K with f(K) >= 0.9 max f, and K2 = the smallest sweep K above K1 with
   f(K) <= min f + 0.05 (both factors configurable; K1 and K2 can be overridden).
3. ``dense_grid``: n_low values on [k_min, K1], n_mid on [K1, K2], n_high on [K2, N], linearly
   spaced, rounded half up, shared endpoints counted once (10 / 20 / 10 -> 38 models).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from memgen.classes import CLASSES
from memgen.sections import Section, section

# Pool sizes N of the readers whose size is known without reading the data (official train splits).
POOL_SIZES = {"digits": 1797, "mnist": 60000, "fmnist": 60000, "cifar10": 50000,
              "lsun_church": 126227}  # fmt: skip


@section("images.*.kgrid")
@dataclass(frozen=True)
class KGridConfig(Section):
    """The ``kgrid`` config section (defaults: the paper's 38-model grid from a sweep started at 500)."""

    sparse_start: int = 500
    n_low: int = 10
    n_mid: int = 20
    n_high: int = 10
    k_min: int = 2
    k1: int | None = None
    k2: int | None = None
    pool_size: int | None = None  # N; None: the data set's official size (the workflow's business)
    k1_fraction_of_max: float = 0.9
    k2_above_min: float = 0.05
    impl_version: int = 1


def sparse_grid(n: int, start: int = KGridConfig.sparse_start) -> list[int]:
    """The sweep K = start * 2^j below ``n``, plus ``n`` itself."""
    n, start = int(n), int(start)
    if start < 1:
        raise ValueError(f"kgrid.sparse_start must be >= 1, got {start}")
    if start >= n:
        raise ValueError(
            f"kgrid.sparse_start = {start} is not below the data set size N = {n}: the sweep would "
            f"hold N only; choose a start below N (e.g. {max(1, n // 64)})"
        )
    ks, k = [], start
    while k < n:
        ks.append(k)
        k *= 2
    return ks + [n]


def critical_ks(
    ks: Sequence[int],
    memorized: Sequence[float],
    fraction_of_max: float = 0.9,
    above_min: float = 0.05,
) -> tuple[int, int]:
    """(K1, K2) from the memorized fraction of the sweep models (see the module docstring)."""
    ks = np.asarray(ks, dtype=np.int64)
    f = np.asarray(memorized, dtype=np.float64)
    if ks.ndim != 1 or ks.shape != f.shape or len(ks) < 3:
        raise ValueError(
            f"need the memorized fraction of at least 3 sweep models, got {len(ks)} K and "
            f"{f.size} fractions"
        )
    if np.any(np.diff(ks) <= 0):
        raise ValueError(f"sweep K must be strictly increasing, got {ks.tolist()}")
    if not np.isfinite(f).all() or f.min() < 0 or f.max() > 1:
        raise ValueError(f"memorized fractions must lie in [0, 1], got {f.tolist()}")
    if f.max() - f.min() <= above_min:
        raise ValueError(
            f"the memorized fraction hardly changes over the sweep ({f.min():.3f}..{f.max():.3f} "
            f"for K = {ks.tolist()}): no transition to place K1/K2 on. Start the sweep lower "
            "(kgrid.sparse_start) or set kgrid.k1 and kgrid.k2"
        )
    k1_idx = int(np.nonzero(f >= fraction_of_max * f.max())[0].max())
    after = np.nonzero((f <= f.min() + above_min) & (np.arange(len(ks)) > k1_idx))[0]
    if len(after) == 0:
        raise ValueError(
            f"no sweep K above K1 = {ks[k1_idx]} has a memorized fraction within {above_min} of "
            f"its minimum {f.min():.3f} (fractions {dict(zip(ks.tolist(), f.round(3).tolist()))}); "
            "set kgrid.k2"
        )
    return int(ks[k1_idx]), int(ks[after[0]])


def _segment(lo: int, hi: int, count: int) -> list[int]:
    # round half up (np.rint would round ties to even)
    return [int(math.floor(v + 0.5)) for v in np.linspace(lo, hi, count)]


def dense_grid(
    k1: int,
    k2: int,
    n: int,
    n_low: int = KGridConfig.n_low,
    n_mid: int = KGridConfig.n_mid,
    n_high: int = KGridConfig.n_high,
    k_min: int = KGridConfig.k_min,
) -> list[int]:
    """Linearly spaced K on [k_min, K1], [K1, K2], [K2, N]; n_low + n_mid + n_high - 2 values."""
    if not k_min < k1 < k2 < n:
        raise ValueError(
            f"the K grid needs k_min < K1 < K2 < N, got k_min = {k_min}, K1 = {k1}, K2 = {k2}, "
            f"N = {n}"
        )
    for name, count in (("n_low", n_low), ("n_mid", n_mid), ("n_high", n_high)):
        if count < 2:
            raise ValueError(f"kgrid.{name} must be >= 2 (both ends of its interval), got {count}")
    ks = _segment(k_min, k1, n_low) + _segment(k1, k2, n_mid)[1:] + _segment(k2, n, n_high)[1:]
    if any(b <= a for a, b in zip(ks, ks[1:])):
        raise ValueError(
            f"the K grid has repeated values after rounding ({ks}): an interval is too short for "
            f"its count (K1 = {k1}, K2 = {k2}, N = {n}); lower kgrid.n_low/n_mid/n_high"
        )
    return ks


def kgrid_table(
    experiment: str,
    fractions: pd.DataFrame,
    n: int,
    cfg: KGridConfig,
    sweep_ks: Sequence[int] | None = None,
) -> pd.DataFrame:
    """One row per K of the sweep or of the dense grid: the sweep fractions, K1, K2, N, membership.

    ``fractions`` is the sweep experiment's fractions table (columns K, class, fraction). With
    ``sweep_ks`` given, its K must be exactly those (a stale or partial sweep is refused).
    """
    missing = {"K", "class", "fraction"} - set(fractions.columns)
    if missing:
        raise ValueError(f"fractions table lacks columns {sorted(missing)}")
    wide = fractions.pivot_table(index="K", columns="class", values="fraction", aggfunc="first")
    if "memorized" not in wide.columns:
        raise ValueError("fractions table has no 'memorized' class rows")
    wide = wide.sort_index()
    ks = [int(k) for k in wide.index]
    if sweep_ks is not None and ks != [int(k) for k in sweep_ks]:
        raise ValueError(
            f"the sweep fractions are for K = {ks}, expected the sweep K = {list(sweep_ks)} "
            "(rerun the sweep experiment's classification)"
        )
    f_mem = wide["memorized"].fillna(0.0).to_numpy()
    if cfg.k1 is None or cfg.k2 is None:
        rule_k1, rule_k2 = critical_ks(ks, f_mem, cfg.k1_fraction_of_max, cfg.k2_above_min)
    k1 = cfg.k1 if cfg.k1 is not None else rule_k1
    k2 = cfg.k2 if cfg.k2 is not None else rule_k2
    grid = dense_grid(k1, k2, n, cfg.n_low, cfg.n_mid, cfg.n_high, cfg.k_min)
    all_ks = sorted(set(grid) | set(ks))
    df = pd.DataFrame({"experiment": experiment, "K": all_ks})
    df["in_grid"] = df["K"].isin(grid)
    df["in_sweep"] = df["K"].isin(ks)
    for cls in CLASSES:
        col = wide[cls] if cls in wide.columns else pd.Series(0.0, index=wide.index)
        df[f"sweep_f_{cls}"] = df["K"].map(col.fillna(0.0).to_dict()).astype(float)
    df["K1"], df["K2"], df["N"] = int(k1), int(k2), int(n)
    df["K1_source"] = "config" if cfg.k1 is not None else "sweep rule"
    df["K2_source"] = "config" if cfg.k2 is not None else "sweep rule"
    return df


def grid_from_table(df: pd.DataFrame) -> list[int]:
    """The dense K grid stored in a kgrid table."""
    return sorted(int(k) for k in df.loc[df["in_grid"], "K"])
