"""When is a circle sample a copy of a training point, and what to report when that cannot be told.

The Euler-Maruyama sampler stops at t_end, so even a model that memorizes perfectly returns its
training point plus noise of per-coordinate std at most sqrt(t_end) (the last, noise-free step only
shrinks it). Its distance to the training point is then Rayleigh distributed with scale sqrt(t_end),
so the radius holding a fraction q of a perfect memorizer's samples is sqrt(-2 t_end ln(1 - q)): a
copy criterion matched to the sampler's end time, with a stated true-positive rate q.

The criterion is only informative while a model that does NOT copy would rarely pass it. Its false-
positive rate ("null rate") is the fraction of fresh points of the data distribution (uniform on the
unit circle) within the copy radius of some training point. For K = 2 or 9 that is 10-35 %; for
K = 1000 (neighbours ~0.006 apart) every point of the circle passes and the copy fraction says
nothing. Above ``max_null`` the figure reports ring statistics instead: mean |r - 1|, angular
coverage, and the samples' angular distance to the nearest training point relative to fresh points'.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ANGLE_BINS = 36


def nearest(
    points: np.ndarray, ref: np.ndarray, chunk: int = 2048
) -> tuple[np.ndarray, np.ndarray]:
    """(distance, index) of the nearest row of ``ref`` for each row of ``points``."""
    dist = np.empty(len(points))
    idx = np.empty(len(points), dtype=np.int64)
    for s in range(0, len(points), chunk):
        d = np.linalg.norm(points[s : s + chunk, None, :] - ref[None, :, :], axis=-1)
        idx[s : s + chunk] = d.argmin(1)
        dist[s : s + chunk] = d[np.arange(len(d)), idx[s : s + chunk]]
    return dist, idx


@dataclass(frozen=True)
class CopyCriterion:
    radius: float  # a sample within this distance of a training point is a copy
    quantile: float  # fraction of a perfect memorizer's samples inside the radius
    null_rate: float  # fraction of fresh circle points inside it (false-positive rate)
    meaningful: bool  # null_rate <= max_null: the copy fraction separates copying from not


def copy_radius(t_end: float, quantile: float) -> float:
    """Radius holding ``quantile`` of training point + N(0, t_end I) samples (2-D Rayleigh)."""
    if not 0 < t_end < 1:
        raise ValueError(f"sampler end time t_end must be in (0, 1), got {t_end}")
    if not 0 < quantile < 1:
        raise ValueError(f"circle.cluster.copy_quantile must be in (0, 1), got {quantile}")
    return math.sqrt(-2.0 * t_end * math.log1p(-quantile))


def null_copy_rate(train: np.ndarray, radius: float) -> float:
    """Exact fraction of the unit circle within ``radius`` (Euclidean) of a training point.

    The training points lie on the circle, so a fresh point is within ``radius`` of one iff their
    angular separation is at most a = 2 arcsin(radius / 2); each gap g between angular neighbours
    contributes min(g, 2a) to the covered arc.
    """
    train = np.asarray(train, dtype=np.float64)
    r = np.linalg.norm(train, axis=1)
    if len(train) == 0 or np.abs(r - 1).max() > 1e-6:
        raise ValueError("null_copy_rate needs training points on the unit circle")
    if radius >= 2.0:
        return 1.0
    half = 2.0 * math.asin(radius / 2.0)
    ang = np.sort(np.arctan2(train[:, 1], train[:, 0]))
    gaps = np.diff(np.r_[ang, ang[0] + 2 * np.pi])
    return float(min(1.0, np.minimum(gaps, 2 * half).sum() / (2 * np.pi)))


def copy_criterion(
    train: np.ndarray, t_end: float, quantile: float = 0.999, max_null: float = 0.5
) -> CopyCriterion:
    """The per-sample copy criterion of a training set for a sampler ending at ``t_end``."""
    if not 0 < max_null <= 1:
        raise ValueError(f"circle.cluster.copy_max_null must be in (0, 1], got {max_null}")
    r = copy_radius(t_end, quantile)
    null = null_copy_rate(train, r)
    return CopyCriterion(radius=r, quantile=quantile, null_rate=null, meaningful=null <= max_null)


def _angle_gap(a: np.ndarray, ref_sorted: np.ndarray) -> np.ndarray:
    """Angular distance of each angle in ``a`` to the nearest angle of ``ref_sorted`` (sorted)."""
    ext = np.r_[ref_sorted[-1] - 2 * np.pi, ref_sorted, ref_sorted[0] + 2 * np.pi]
    pos = np.searchsorted(ext, a)
    return np.minimum(np.abs(a - ext[pos - 1]), np.abs(ext[pos] - a))


def ring_statistics(
    samples: np.ndarray, train: np.ndarray, n_fresh: int = 20000, seed: int = 0
) -> dict:
    """Generalization on the circle: mean |r - 1|, fraction of ANGLE_BINS angle bins hit, and
    the samples' median angular distance to the nearest training point / that of fresh circle
    points (~1: angles like new points of the data distribution; << 1: copies). Angles, not 2-D
    distances, so the samples' radial spread does not count as novelty."""
    samples = np.asarray(samples, dtype=np.float64)
    train = np.asarray(train, dtype=np.float64)
    r = np.linalg.norm(samples, axis=1)
    ang = np.arctan2(samples[:, 1], samples[:, 0])
    bins = np.floor((ang + np.pi) / (2 * np.pi) * ANGLE_BINS).astype(int) % ANGLE_BINS
    ref = np.sort(np.arctan2(train[:, 1], train[:, 0]))
    fresh = np.random.default_rng(seed).uniform(-np.pi, np.pi, n_fresh)
    return {
        "mean_abs_r_minus_1": float(np.mean(np.abs(r - 1))),
        "angle_coverage": len(np.unique(bins)) / ANGLE_BINS,
        "angle_nn_ratio": float(
            np.median(_angle_gap(ang, ref)) / max(np.median(_angle_gap(fresh, ref)), 1e-300)
        ),
    }


def copy_summary(samples: np.ndarray, train: np.ndarray, crit: CopyCriterion) -> dict:
    """Per-model summary (keys sample_*): the fraction of samples that are copies under ``crit``
    and the ring statistics."""
    d = nearest(np.asarray(samples, dtype=np.float64), train)[0]
    stats = {"copy_fraction": float(np.mean(d <= crit.radius)), **ring_statistics(samples, train)}
    return {"sample_" + k: v for k, v in stats.items()}
