"""Memorized / spurious / generalized classes, fractions with bootstrap CIs, sensitivity, histograms.

Rule (paper Eqs. 9-11, docs/method.md §5.3, inclusive ≤ as the official code):
    memorized   if d_train ≤ δ_m
    spurious    if not memorized and d_synth ≤ δ_s
    generalized otherwise
d_train is the distance of a sample to its nearest training image of its model's subset, d_synth the
distance to its nearest *other* sample (rank-1 rows of the neighbour tables).

Beside it, the gap-ratio criterion of the memorization literature (Gu et al. 2023; Bonnaire et al. 2025):
a sample is memorized when its nearest training image is much closer than the second nearest,
d_1 / d_2 < 1/3 (class `memorized_gap` in the fractions table, an independent criterion, not a fourth
class: it needs no threshold, so its fractions compare directly with those papers).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from memgen.classes import CLASSES
from memgen.sections import Section, section
from memgen.thresholds import ThresholdsConfig

GAP_CLASS = "memorized_gap"  # the gap-ratio criterion's memorized fraction (fractions table only)
GAP_RATIO = 1 / 3
NN_COLUMNS = {"query", "rank", "ref_index", "distance"}


@section("images.*.classify")
@dataclass(frozen=True)
class ClassifyConfig(Section):
    """The ``classify`` config section: class ranking, bootstrap of the fractions, histograms."""

    generalized_order: str = "desc"  # desc = most generalized first (official code) | asc
    n_bootstrap: int = 1000
    confidence: float = 0.95
    seed: int = 0
    hist_bins: int = 60
    examples_per_class: int = 1
    impl_version: int = 2

    def __post_init__(self):
        if self.generalized_order not in ("desc", "asc"):
            raise ValueError(
                f"classify.generalized_order must be 'desc' or 'asc', got {self.generalized_order!r}"
            )


def nearest_distance(nn: pd.DataFrame, what: str) -> pd.Series:
    """Rank-1 distance per query from a neighbour table (query, rank, ref_index, distance)."""
    missing = NN_COLUMNS - set(nn.columns)
    if missing:
        raise ValueError(
            f"{what} neighbour table lacks columns {sorted(missing)}; expected {sorted(NN_COLUMNS)}"
        )
    first = nn[nn["rank"] == 1].set_index("query")["distance"].sort_index()
    if first.index.has_duplicates:
        raise ValueError(f"{what} neighbour table has several rank-1 rows for one query")
    if not np.all(np.isfinite(first.to_numpy(dtype=float))):
        # NaN would silently fall through both <= tests and be counted as generalized.
        raise ValueError(
            f"{what} neighbour table has NaN or inf distances; recompute the neighbour table"
        )
    return first


def nearest_index(nn: pd.DataFrame) -> pd.Series:
    """Rank-1 reference index per query (the neighbour a sample is a near-duplicate of)."""
    return nn[nn["rank"] == 1].set_index("query")["ref_index"].sort_index()


def gap_ratio(nn: pd.DataFrame) -> pd.Series:
    """d_1 / d_2 per query from a training neighbour table; NaN where there is no second neighbour
    (K = 1). 0 / 0 (a sample equal to two identical training images) counts as 0: a copy."""
    first = nn[nn["rank"] == 1].set_index("query")["distance"].sort_index()
    second = nn[nn["rank"] == 2].set_index("query")["distance"].reindex(first.index)
    d1, d2 = first.to_numpy(float), second.to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(d2 > 0, d1 / d2, np.where(d1 == 0, 0.0, np.inf))
    ratio = np.where(np.isnan(d2), np.nan, ratio)
    return pd.Series(ratio, index=first.index)


def duplicate_groups(
    classes: np.ndarray, sample_nn: pd.DataFrame, delta_s: float, cls: str = "spurious"
) -> np.ndarray:
    """Group id per sample (-1 outside ``cls``): connected components of the graph linking two samples
    of the class when one is among the other's stored nearest samples within delta_s. One pair of
    near-identical samples is one group, however large a fraction it makes; the number of distinct
    groups says whether a spurious fraction is many shared states or a single duplicate."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    classes = np.asarray(classes)
    n = len(classes)
    member = classes == cls
    groups = np.full(n, -1, dtype=np.int64)
    if not member.any():
        return groups
    q, r = sample_nn["query"].to_numpy(), sample_nn["ref_index"].to_numpy()
    keep = (sample_nn["distance"].to_numpy(float) <= delta_s) & (q < n) & (r < n)
    q, r = q[keep], r[keep]
    both = member[q] & member[r]
    graph = coo_matrix((np.ones(both.sum()), (q[both], r[both])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    _, ids = np.unique(labels[member], return_inverse=True)
    groups[member] = ids
    return groups


def n_groups(groups) -> int:
    groups = np.asarray(groups)
    return int(len(np.unique(groups[groups >= 0])))


def classify_distances(d_train, d_synth, delta_m: float, delta_s: float) -> np.ndarray:
    if delta_m < 0:
        raise ValueError(f"delta_m must be >= 0, got {delta_m}")
    if delta_s <= 0:
        raise ValueError(f"delta_s must be > 0, got {delta_s}")
    d_train = np.asarray(d_train, dtype=float)
    d_synth = np.asarray(d_synth, dtype=float)
    memorized = d_train <= delta_m
    spurious = ~memorized & (d_synth <= delta_s)
    return np.where(memorized, "memorized", np.where(spurious, "spurious", "generalized"))


def classify_table(
    train_nn: pd.DataFrame,
    sample_nn: pd.DataFrame,
    delta_m: float,
    delta_s: float,
    generalized_order: str = ClassifyConfig.generalized_order,
) -> pd.DataFrame:
    """One row per sample: d_train, d_synth, class and its rank inside the class (docs/method.md §5.5)."""
    d_train = nearest_distance(train_nn, "training")
    d_synth = nearest_distance(sample_nn, "sample")
    if not d_train.index.equals(d_synth.index):
        raise ValueError(
            "the training and sample neighbour tables cover different queries "
            f"({len(d_train)} vs {len(d_synth)}); were they computed on the same samples?"
        )
    df = pd.DataFrame(
        {
            "sample": d_train.index.astype(np.int64),
            "d_train": d_train.values,
            "d_synth": d_synth.values,
        }
    )
    df["nn_train_index"] = nearest_index(train_nn).to_numpy(np.int64)
    df["nn_synth_index"] = nearest_index(sample_nn).to_numpy(np.int64)
    df["gap_ratio"] = gap_ratio(train_nn).to_numpy(float)
    df["class"] = classify_distances(df["d_train"], df["d_synth"], delta_m, delta_s)
    # Samples are numbered 0..n-1 (queries of the neighbour tables), so row position = sample id.
    if (df["sample"].to_numpy() == np.arange(len(df))).all():
        df["duplicate_group"] = duplicate_groups(df["class"].to_numpy(), sample_nn, delta_s)
    else:
        df["duplicate_group"] = -1
    df["delta_m"] = float(delta_m)
    df["delta_s"] = float(delta_s)
    return add_class_ranks(df, generalized_order)


def add_class_ranks(
    df: pd.DataFrame, generalized_order: str = ClassifyConfig.generalized_order
) -> pd.DataFrame:
    """rank_in_class (0 = most typical): memorized by d_train asc, spurious by d_synth asc,
    generalized by d_synth desc (official code; `asc` = the paper's wording)."""
    df = df.copy()
    df["rank_in_class"] = -1
    keys = {
        "memorized": ("d_train", True),
        "spurious": ("d_synth", True),
        "generalized": ("d_synth", generalized_order == "asc"),
    }
    for cls, (col, ascending) in keys.items():
        idx = df.index[df["class"] == cls]
        order = (
            df.loc[idx]
            .sort_values([col, "sample"], ascending=[ascending, True], kind="stable")
            .index
        )
        df.loc[order, "rank_in_class"] = np.arange(len(order))
    return df


def fractions_with_ci(
    classes: pd.Series,
    n_resamples: int = ClassifyConfig.n_bootstrap,
    confidence: float = ClassifyConfig.confidence,
    seed: int = ClassifyConfig.seed,
    classes_order=CLASSES,
) -> list[dict]:
    """Fraction of each class with a percentile bootstrap CI over samples (scipy.stats.bootstrap)."""
    rows = []
    n = len(classes)
    for i, cls in enumerate(classes_order):
        indicator = (np.asarray(classes) == cls).astype(float)
        frac = float(indicator.mean()) if n else float("nan")
        if n >= 2 and 0 < indicator.sum() < n:
            res = stats.bootstrap(
                (indicator,),
                np.mean,
                n_resamples=n_resamples,
                confidence_level=confidence,
                method="percentile",
                rng=np.random.default_rng(seed + i),
            )
            lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
        else:  # all or none in the class: every resample gives the same fraction
            lo = hi = frac
        rows.append({"class": cls, "fraction": frac, "ci_low": lo, "ci_high": hi, "n": n})
    return rows


def gap_fraction(
    df: pd.DataFrame,
    n_resamples: int = ClassifyConfig.n_bootstrap,
    confidence: float = ClassifyConfig.confidence,
    seed: int = ClassifyConfig.seed,
) -> dict:
    """Fractions row of the gap-ratio criterion (d_1/d_2 < 1/3); NaN without a second neighbour."""
    ratio = df["gap_ratio"].to_numpy(float) if "gap_ratio" in df.columns else np.array([np.nan])
    if len(ratio) == 0 or np.isnan(ratio).any():
        nan = float("nan")
        return {"class": GAP_CLASS, "fraction": nan, "ci_low": nan, "ci_high": nan, "n": len(df)}
    labels = np.where(ratio < GAP_RATIO, GAP_CLASS, "other")
    rows = fractions_with_ci(pd.Series(labels), n_resamples, confidence, seed, (GAP_CLASS,))
    return rows[0]


def delta_sweep(tables: dict[int, pd.DataFrame], scales) -> list[dict]:
    """Both thresholds scaled together by each factor: fractions per K, the spurious peak and its K,
    and memorized + spurious at the largest K (false positives where the model should generalize)."""
    ks = sorted(tables)
    rows = []
    for scale in scales:
        per_k = []
        for k in ks:
            t = tables[k].copy()
            dm, ds = float(t["delta_m"].iloc[0]) * scale, float(t["delta_s"].iloc[0]) * scale
            t["class"] = classify_distances(t["d_train"], t["d_synth"], dm, ds)
            f = {c: float(np.mean(t["class"] == c)) if len(t) else float("nan") for c in CLASSES}
            per_k.append({"K": k, "delta_m": dm, "delta_s": ds, **{f"f_{c}": f[c] for c in CLASSES}})
        peak = max(per_k, key=lambda r: (r["f_spurious"], -r["K"]))
        last = per_k[-1]
        for r in per_k:
            r.update(
                scale=float(scale),
                spurious_peak=peak["f_spurious"],
                K_peak=peak["K"],
                false_positive_kmax=last["f_memorized"] + last["f_spurious"],
            )
        rows += per_k
    return rows


def sensitivity(df: pd.DataFrame, scales=None) -> list[dict]:
    """Fractions with each threshold scaled (the other fixed), plus the base thresholds (scale 1).

    ``scales``: the factors (default: the thresholds section's ``sensitivity``)."""
    if scales is None:
        scales = ThresholdsConfig().sensitivity
    dm, ds = float(df["delta_m"].iloc[0]), float(df["delta_s"].iloc[0])
    rows = []
    variants = [("base", 1.0, dm, ds)]
    variants += [("delta_m", s, dm * s, ds) for s in scales]
    variants += [("delta_s", s, dm, ds * s) for s in scales]
    for which, scale, m, s in variants:
        cls = classify_distances(df["d_train"], df["d_synth"], m, s)
        row = {"scaled": which, "scale": scale, "delta_m": m, "delta_s": s}
        for c in CLASSES:
            row[f"f_{c}"] = float(np.mean(cls == c)) if len(cls) else float("nan")
        rows.append(row)
    return rows


def histogram_rows(
    df: pd.DataFrame, edges: np.ndarray, floor: float = ThresholdsConfig.floor
) -> list[dict]:
    """Counts of log10 d_train (olive) and log10 d_synth (grey) in shared bins."""
    rows = []
    for col in ("d_train", "d_synth"):
        counts, _ = np.histogram(np.log10(np.maximum(df[col].to_numpy(float), floor)), bins=edges)
        for lo, hi, c in zip(edges[:-1], edges[1:], counts):
            rows.append(
                {"distance": col, "log10_lo": float(lo), "log10_hi": float(hi), "count": int(c)}
            )
    return rows
