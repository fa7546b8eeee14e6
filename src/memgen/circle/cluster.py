"""Ward clustering of samples and memorized / spurious / generalized labels.

Ward's merge cost between two tight groups of sizes n1, n2 at centroid distance D is
sqrt(2 n1 n2 / (n1 + n2)) · D, so it grows like sqrt(n): the paper's thresholds (3.0, 2.0, 0.45)
were tuned on 10 000 samples and are rescaled by sqrt(n / tau_reference_n) here.
With the samples spread evenly over K memories this gives a spatial resolution
tau · sqrt(K / tau_reference_n): training points closer than that are indistinguishable to the
clustering and count as one memory.

A cluster is memorized when its centre sits at a training point (within ``copy_radius``; a centre
averages its members, so the sampler's per-sample noise hardly moves it) and its members are copies
by the per-sample criterion of ``memgen.circle.copies``, whose radius follows from the sampler's end
time. Where the training set is so dense that fresh circle points pass that criterion too, members
must instead sit much closer to their training point than the training set's spacing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.sparse.csgraph import connected_components
from sklearn.cluster import AgglomerativeClustering

from memgen.circle.copies import CopyCriterion, copy_criterion, nearest
from memgen.circle.perk import PerK, each
from memgen.classes import CLASSES
from memgen.sections import Section, section

LABELS = CLASSES


@section("circle.cluster")
@dataclass(frozen=True)
class CircleClusterConfig(PerK, Section):
    """The ``circle.cluster`` section (``tau`` is per K: the authors' 3.0, 2.0, 0.45 for 2, 9, 1000)."""

    PER_K = ("tau",)

    tau: float | list[float] = field(default_factory=lambda: [3.0, 2.0, 0.45])
    tau_reference_n: int = 10_000
    max_points: int = 10_000
    copy_radius: float = 0.05  # centre-to-training-point distance of a memorized cluster
    copy_quantile: float = 0.999
    copy_max_null: float = 0.5
    copy_fraction: float = 0.1
    impl_version: int = 2

    def __post_init__(self):
        if any(v <= 0 for v in each(self.tau)):
            raise ValueError(f"circle.cluster.tau must be > 0, got {self.tau}")
        if self.tau_reference_n < 1 or self.max_points < 2:
            raise ValueError("circle.cluster.tau_reference_n must be >= 1 and max_points >= 2")
        if self.copy_radius <= 0 or self.copy_fraction <= 0:
            raise ValueError("circle.cluster.copy_radius and copy_fraction must be > 0")

    def criterion(self, train: np.ndarray, t_end: float) -> CopyCriterion:
        """Per-sample copy criterion for a sampler ending at ``t_end``."""
        return copy_criterion(train, t_end, self.copy_quantile, self.copy_max_null)


def resolution(tau: float, k: int, tau_reference_n: int) -> float:
    """Centroid distance below which Ward (rescaled tau) merges two memories of equal mass."""
    return tau * np.sqrt(k / tau_reference_n)


def memory_groups(train: np.ndarray, radius: float) -> np.ndarray:
    """Group id per training point: connected components of the 'closer than radius' graph."""
    d = np.linalg.norm(train[:, None, :] - train[None, :, :], axis=-1)
    _, labels = connected_components(d < radius, directed=False)
    return labels


def nn_spacing(train: np.ndarray) -> float:
    """Median nearest-neighbour distance among training points (inf for K = 1)."""
    if len(train) < 2:
        return float("inf")
    d = np.linalg.norm(train[:, None, :] - train[None, :, :], axis=-1)
    np.fill_diagonal(d, np.inf)
    return float(np.median(d.min(1)))


def cluster_samples(
    samples: np.ndarray, train: np.ndarray, cfg: CircleClusterConfig, t_end: float, seed: int = 0
):
    """Cluster ``samples`` (N, 2) of a sampler that ended at ``t_end`` against ``train`` (K, 2).

    ``cfg`` must be resolved for this K (``cfg.at_k``). Returns (per-sample table, per-cluster
    table). Ward runs on at most ``max_points`` samples (a subset drawn with ``seed``; the O(n²)
    memory of Ward is the limit); the other samples join the cluster of their nearest centre.

    Cluster labels, with r the per-sample copy radius of ``cfg.criterion(train, t_end)``:
    - memorized: centre within copy_radius of a training point AND the members' median distance
      to their nearest training point is below r, or, when the training set is so dense that the
      per-sample criterion is not meaningful (fresh circle points pass it), below copy_fraction ×
      the training set's median NN spacing (members are copies, not fresh points near a dense set);
    - spurious: not memorized and the centre is farther than copy_radius from every training
      point (a novel state the sampler returns repeatedly);
    - generalized: otherwise (on the data manifold, not copies).
    """
    cfg.check_resolved()
    n = len(samples)
    rng = np.random.default_rng(seed)
    fit_idx = np.sort(rng.choice(n, cfg.max_points, replace=False)) if n > cfg.max_points else None
    fit = samples if fit_idx is None else samples[fit_idx]
    tau_eff = cfg.tau * np.sqrt(len(fit) / cfg.tau_reference_n)
    if len(fit) < 2:
        fit_labels = np.zeros(len(fit), dtype=np.int64)
    else:
        ward = AgglomerativeClustering(n_clusters=None, distance_threshold=tau_eff, linkage="ward")
        fit_labels = ward.fit_predict(fit)
    n_cl = int(fit_labels.max()) + 1
    centres = np.stack([fit[fit_labels == c].mean(0) for c in range(n_cl)])
    labels = fit_labels if fit_idx is None else nearest(samples, centres)[1]
    centres = np.stack([samples[labels == c].mean(0) for c in range(n_cl)])

    k = len(train)
    res = resolution(cfg.tau, k, cfg.tau_reference_n)
    groups = memory_groups(train, res)
    d_train, nn_idx = nearest(samples, train)
    d_centre, c_idx = nearest(centres, train)
    spacing = nn_spacing(train)
    crit = cfg.criterion(train, t_end)
    # Members are copies when they sit within the copy radius of their training point -- unless
    # the training set is so dense that fresh circle points do too (K = 1000: spacing 0.006); then
    # only a fraction of the spacing distinguishes a copy from a fresh point on the circle.
    copy_limit = crit.radius if crit.meaningful else cfg.copy_fraction * spacing
    rows = []
    for c in range(n_cl):
        m = labels == c
        spread = float(np.sqrt(((samples[m] - centres[c]) ** 2).sum(1).mean()))
        med = float(np.median(d_train[m]))
        if d_centre[c] <= cfg.copy_radius and med <= copy_limit:
            label = "memorized"
        elif d_centre[c] > cfg.copy_radius:
            label = "spurious"
        else:
            label = "generalized"
        rows.append(
            {
                "cluster": c,
                "size": int(m.sum()),
                "cx": centres[c, 0],
                "cy": centres[c, 1],
                "spread": spread,
                "d_train": float(d_centre[c]),
                "train_position": int(c_idx[c]),
                "memory_group": int(groups[c_idx[c]]),
                "median_member_d_train": med,
                "label": label,
            }
        )
    clusters = pd.DataFrame(rows)
    clusters["tau"] = cfg.tau
    clusters["tau_effective"] = tau_eff
    clusters["resolution"] = res
    clusters["n_memory_groups"] = int(groups.max()) + 1
    clusters["copy_radius"] = cfg.copy_radius
    clusters["sample_copy_radius"] = crit.radius
    clusters["sample_copy_quantile"] = crit.quantile
    clusters["sample_copy_null_rate"] = crit.null_rate
    clusters["sample_copy_meaningful"] = crit.meaningful
    per_sample = pd.DataFrame(
        {
            "sample": np.arange(n, dtype=np.int64),
            "cluster": labels.astype(np.int64),
            "d_train": d_train,
            "train_position": nn_idx,
        }
    )
    return per_sample, clusters


def recovered_groups(clusters: pd.DataFrame) -> set[int]:
    """Memory groups hit by at least one memorized cluster."""
    return set(clusters.loc[clusters["label"] == "memorized", "memory_group"].astype(int))
