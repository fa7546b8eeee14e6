"""The real-data null of the near-duplicate thresholds: how close distinct real images are to each other.

A generated sample is a near-duplicate (of a training image, or of another sample) only if it is closer
than distinct real images of the data set almost ever are. The null distribution is the leave-one-out
nearest-neighbour distance of the real pool, d_LOO(x) = min over y != x of d(x, y), with the experiment's
own metric and the exact neighbour search of the neighbour stage, and the default threshold is its small
quantile alpha.

Within-set nearest-neighbour distances shrink as the set grows, so the null is computed on a *ladder* of
nested real subsets: the first n pool images for n = N, N/2, N/4, ... (N = pool size). The ladder gives
  - the false-positive rate of a threshold for a model of K training images (a real image's distance to
    K other real images, n = K + 1) and for a synthetic set of |S| samples (n = min(|S|, N)), by
    interpolation in log n;
  - the size-matched alternative for delta_s (the alpha-quantile at n = min(|S|, N)).
The ladder depends only on the pool, never on the K grid, so adding models never moves the threshold.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

log = logging.getLogger("memgen.null")
MIN_LADDER = 8  # below this a subset's nearest-neighbour distances are too few to estimate a rate
NULL_COLUMNS = {"n", "query", "ref_index", "distance"}


def ladder_sizes(n_pool: int, min_size: int = MIN_LADDER) -> list[int]:
    """Nested subset sizes N, N/2, N/4, ... (at least min_size, at least 2), largest first."""
    if n_pool < 2:
        raise ValueError(f"the null needs at least 2 real images, the pool has {n_pool}")
    sizes, n = [], n_pool
    while n >= max(2, min_size) or not sizes:
        sizes.append(int(n))
        n = n // 2
    return sizes


def pool_null_table(pool: np.ndarray, metric: str, sizes: list[int], **search_kw) -> pd.DataFrame:
    """Leave-one-out nearest neighbour of each of the first n pool images among the first n, per n."""
    from .neighbors import search

    frames = []
    for n in sizes:
        df, _ = search(pool, None, metric, 1, exclude_self=True, reference_limit=n, **search_kw)
        df.insert(0, "n", int(n))
        frames.append(df[["n", "query", "ref_index", "distance"]])
    return pd.concat(frames, ignore_index=True)


def closest_pairs(table: pd.DataFrame, count: int = 10) -> pd.DataFrame:
    """The closest distinct pairs of the full pool (each pair once): where near-duplicates show up."""
    full = table[table["n"] == table["n"].max()]
    a = np.minimum(full["query"], full["ref_index"])
    b = np.maximum(full["query"], full["ref_index"])
    pairs = pd.DataFrame({"a": a, "b": b, "distance": full["distance"]}).drop_duplicates(["a", "b"])
    return pairs.nsmallest(count, "distance").reset_index(drop=True)


@dataclass
class PoolNull:
    """The ladder of leave-one-out distances; exact duplicates (d <= floor) optionally left out."""

    sizes: np.ndarray  # ascending
    distances: dict[int, np.ndarray]  # size -> sorted LOO distances (duplicates dropped if asked)
    n_duplicates: int  # full-pool images whose nearest other image is an exact duplicate
    closest: float  # smallest distance kept in the full-pool null

    @classmethod
    def from_table(cls, table: pd.DataFrame, drop_duplicates: bool = True, floor: float = 1e-4):
        missing = NULL_COLUMNS - set(table.columns)
        if missing:
            raise ValueError(
                f"pool null table lacks columns {sorted(missing)}; recompute it with `memgen pool-null`"
            )
        dist = table["distance"].to_numpy(float)
        if len(dist) == 0 or not np.all(np.isfinite(dist)):
            raise ValueError("pool null table is empty or has NaN/inf distances; recompute it")
        sizes = np.sort(table["n"].unique())
        out, n_dup = {}, 0
        for n in sizes:
            d = np.sort(table.loc[table["n"] == n, "distance"].to_numpy(float))
            dup = d <= floor
            if n == sizes[-1]:
                n_dup = int(dup.sum())
            if drop_duplicates and dup.any():
                d = d[~dup]
            if len(d) == 0:
                raise ValueError(
                    f"every image of the size-{n} null subset has an exact duplicate; "
                    "the data set cannot calibrate a threshold (set thresholds.null_duplicates: keep)"
                )
            out[int(n)] = d
        full = out[int(sizes[-1])]
        return cls(sizes.astype(int), out, n_dup, float(full[0]))

    @property
    def n_pool(self) -> int:
        return int(self.sizes[-1])

    def quantile(self, alpha: float, n: int | None = None) -> float:
        """alpha-quantile of the null at subset size n (default: the full pool), log-n interpolated."""
        if not 0 < alpha < 1:
            raise ValueError(f"null alpha must be in (0, 1), got {alpha}")
        return self._interpolate(lambda d: float(np.quantile(d, alpha)), n)

    def rate(self, delta: float, n: int | None = None) -> float:
        """False-positive rate of delta: fraction of the size-n null at or below it."""
        return self._interpolate(lambda d: float(np.searchsorted(d, delta, side="right") / len(d)), n)

    def _interpolate(self, stat, n):
        n = self.n_pool if n is None else n
        values = np.array([stat(self.distances[int(s)]) for s in self.sizes])
        if len(self.sizes) == 1:
            return float(values[0])
        # Clamped at both ends: below the smallest subset the rate only falls (larger distances),
        # above the pool it can only rise; the caller flags that case (`extrapolated`).
        return float(np.interp(np.log(n), np.log(self.sizes), values))

    def extrapolated(self, n: int) -> bool:
        return n > self.n_pool

    def summary(self, alpha: float) -> dict:
        full = self.distances[self.n_pool]
        return {
            "null_n": self.n_pool,
            "null_alpha": float(alpha),
            "null_quantile": self.quantile(alpha),
            "null_q001": float(np.quantile(full, 0.001)),
            "null_q01": float(np.quantile(full, 0.01)),
            "null_median": float(np.median(full)),
            "null_closest": self.closest,
            "null_n_duplicates": self.n_duplicates,
        }
