"""Circle data: a pool of points on the unit circle and nested prefix subsets (docs/method.md §3.1)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from memgen.sections import Section, section

EXPERIMENT = "circle"


@section("circle")
@dataclass(frozen=True)
class CircleDataConfig(Section):
    """The data keys of the ``circle`` section (its sub-sections have their own dataclasses)."""

    pool_size: int = 60_000
    pool_seed: int = 9
    split_seed: int = 42
    ks: list[int] = field(default_factory=lambda: [2, 9, 1000])
    impl_version: int = 1


def make_pool(n: int, seed: int) -> pd.DataFrame:
    """``n`` points with uniform angles on the unit circle.

    Uses the legacy ``RandomState(seed).uniform(0, 2π, n)`` stream, so seed 9 reproduces the
    official code's pool (toy_example.py:28-33).
    """
    if n < 1:
        raise ValueError(f"circle pool size must be >= 1, got {n}")
    phi = np.random.RandomState(seed).uniform(0.0, 2.0 * np.pi, n)
    return pd.DataFrame(
        {"index": np.arange(n, dtype=np.int64), "angle": phi, "x": np.cos(phi), "y": np.sin(phi)}
    )


def permutation(n: int, seed: int) -> np.ndarray:
    """Fixed permutation of the pool; subset_K = pool[perm[:K]] (torch randperm as in the code)."""
    import torch  # here: the split readers (cluster, figure jobs) need no torch

    return torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()


def subset_hash(points: np.ndarray) -> str:
    """Content hash of a subset (float64 coordinates, row order matters)."""
    arr = np.ascontiguousarray(np.asarray(points, dtype=np.float64))
    return hashlib.sha256(arr.tobytes()).hexdigest()[:16]


def make_split(pool: pd.DataFrame, ks: list[int], seed: int) -> pd.DataFrame:
    """Long table (K, position, index, x, y, subset_hash): the first K permuted pool points per K.

    Every smaller subset is a prefix of every larger one by construction.
    """
    n = len(pool)
    if list(ks) != sorted(set(ks)):
        raise ValueError(f"circle.ks must be strictly increasing, got {ks}")
    if ks and ks[-1] > n:
        raise ValueError(
            f"circle.ks contains K={ks[-1]} > pool size {n}; lower K or raise pool_size"
        )
    perm = permutation(n, seed)
    xy = pool[["x", "y"]].to_numpy()
    frames = []
    for k in ks:
        idx = perm[:k]
        frames.append(
            pd.DataFrame(
                {
                    "K": k,
                    "position": np.arange(k, dtype=np.int64),
                    "index": idx.astype(np.int64),
                    "x": xy[idx, 0],
                    "y": xy[idx, 1],
                    "subset_hash": subset_hash(xy[idx]),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def train_points(split: pd.DataFrame, k: int) -> np.ndarray:
    """(K, 2) float64 training points of subset K from a split table."""
    rows = split[split["K"] == k].sort_values("position")
    if rows.empty:
        raise ValueError(
            f"K={k} not in the split table (has {sorted(split['K'].unique())}); "
            "add it to circle.ks and rerun circle-data"
        )
    return rows[["x", "y"]].to_numpy(dtype=np.float64)


def split_ks(split: pd.DataFrame) -> list[int]:
    """The K values of a split table, increasing (what per-K config lists are aligned with)."""
    return sorted(int(k) for k in split["K"].unique())


def min_pairwise_distance(points: np.ndarray) -> float:
    """Smallest distance between two distinct rows (inf for fewer than two points)."""
    if len(points) < 2:
        return float("inf")
    d = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=-1)
    np.fill_diagonal(d, np.inf)
    return float(d.min())
