"""The memorization analysis over training time: one synthetic set per EMA snapshot, classified with
the experiment's final thresholds, and threshold-free cross-checks against the exact model.

Per (experiment, K, snapshot step):

- a synthetic set drawn exactly like the final one (same sampler, same per-shard seeds), of the
  final set's size capped at ``snapshots.sample_max``; exact nearest neighbours among the K
  training images and among the other samples; memorized / spurious / generalized with the δ_m, δ_s
  of the experiment's thresholds table for that K (so the fractions compare with the final ones);
- the *exact-score agreement*: ``agreement_samples`` draws of the snapshot and of the exact
  empirical-score model (the optimum of the training loss on the same K images, which can only
  reproduce training images) from the same initial and per-step noise; their root-mean-square
  pixel distance needs no threshold. It is ~0 where the network has learnt the empirical score
  (memorization) and grows where it generalizes.

Per experiment: fractions with bootstrap CIs per (K, step); per K the first step at which the
memorized fraction exceeds ``snapshots.level`` (τ_mem) and the step and height of the spurious
maximum; the log-log slope of τ_mem against K with its confidence interval (a linear law,
τ_mem ∝ K, has slope 1).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import torch
from scipy import stats

from memgen.classify import classify_table, fractions_with_ci, gap_fraction

FRACTIONS_SCHEMA = pa.schema(
    [("experiment", pa.string()), ("K", pa.int64()), ("step", pa.int64()), ("class", pa.string()),
     ("fraction", pa.float64()), ("ci_low", pa.float64()), ("ci_high", pa.float64()),
     ("n", pa.int64())]
)  # fmt: skip
AGREEMENT_SCHEMA = pa.schema(
    [("experiment", pa.string()), ("K", pa.int64()), ("step", pa.int64()),
     ("reference", pa.string()), ("mean", pa.float64()), ("ci_low", pa.float64()),
     ("ci_high", pa.float64()), ("median", pa.float64()), ("n", pa.int64())]
)  # fmt: skip
TAU_SCHEMA = pa.schema(
    [("experiment", pa.string()), ("K", pa.int64()), ("level", pa.float64()),
     ("tau_mem", pa.float64()), ("tau_mem_interp", pa.float64()), ("memorized_final", pa.float64()),
     ("spurious_peak_step", pa.int64()), ("spurious_peak", pa.float64()),
     ("spurious_peak_ci_low", pa.float64()), ("spurious_peak_ci_high", pa.float64()),
     ("n_steps", pa.int64())]
)  # fmt: skip
FIT_SCHEMA = pa.schema(
    [("experiment", pa.string()), ("level", pa.float64()), ("slope", pa.float64()),
     ("slope_ci_low", pa.float64()), ("slope_ci_high", pa.float64()), ("intercept", pa.float64()),
     ("r2", pa.float64()), ("n_points", pa.int64()), ("ks", pa.string())]
)  # fmt: skip
CLASSES_SCHEMA = pa.schema(
    [("experiment", pa.string()), ("K", pa.int64()), ("step", pa.int64()), ("sample", pa.int64()),
     ("d_train", pa.float64()), ("d_synth", pa.float64()), ("nn_train_index", pa.int64()),
     ("nn_synth_index", pa.int64()), ("gap_ratio", pa.float64()), ("class", pa.string()),
     ("duplicate_group", pa.int64()), ("delta_m", pa.float64()), ("delta_s", pa.float64()),
     ("rank_in_class", pa.int64())]
)  # fmt: skip
PER_SAMPLE_AGREEMENT_SCHEMA = pa.schema(
    [("experiment", pa.string()), ("K", pa.int64()), ("step", pa.int64()), ("sample", pa.int64()),
     ("reference", pa.string()), ("distance", pa.float64())]
)  # fmt: skip


# ------------------------------------------------------------------------------------ drawing
def agreement_seed(seed: int, k: int) -> int:
    """Seed of the agreement draws of model K (shared by the snapshots and the exact model)."""
    return int(hashlib.sha256(f"memgen-agreement/{seed}/{k}".encode()).hexdigest()[:15], 16)


def draw(model, sample_cfg, shape: tuple[int, ...], seed: int, device) -> np.ndarray:
    """``shape`` = (n, C, H, W) samples of ``model`` with the sample section's sampler and ``seed``,
    as NHWC float32. Two models given the same seed see the same initial and per-step noise."""
    from memgen.sample import _draw

    x = _draw(model, sample_cfg, shape, seed, torch.device(device))
    return x.permute(0, 2, 3, 1).contiguous().float().cpu().numpy()


def synthetic_set(model, sample_cfg, n: int, k: int, chw: tuple[int, int, int], device) -> np.ndarray:
    """``n`` samples in the shards and per-shard seeds of the sample stage (NHWC float32)."""
    from memgen.sample import shard_seed

    parts = []
    for s in range(math.ceil(n / sample_cfg.shard_size)):
        size = min(sample_cfg.shard_size, n - s * sample_cfg.shard_size)
        parts.append(draw(model, sample_cfg, (size, *chw), shard_seed(sample_cfg.seed, k, s), device))
    return np.concatenate(parts)


def exact_agreement_samples(train_nhwc: np.ndarray, sample_cfg, n: int, device="cpu") -> np.ndarray:
    """The exact empirical-score model's agreement draws for the K images ``train_nhwc``."""
    from memgen.models.empirical import EmpiricalEpsModel

    train = torch.from_numpy(np.ascontiguousarray(train_nhwc.transpose(0, 3, 1, 2)))
    model = EmpiricalEpsModel(train).to(device)
    k = int(train.shape[0])
    return draw(model, sample_cfg, (n, *train.shape[1:]), agreement_seed(sample_cfg.seed, k), device)


def rms_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Root-mean-square pixel difference per sample (images in [-1, 1]; 0 = identical)."""
    if a.shape != b.shape:
        raise ValueError(f"agreement draws differ in shape: {a.shape} vs {b.shape}")
    diff = (a.astype(np.float64) - b.astype(np.float64)).reshape(len(a), -1)
    return np.sqrt((diff**2).mean(1))


# --------------------------------------------------------------------------- per snapshot
def classify_samples(
    train_nhwc: np.ndarray, samples: np.ndarray, delta_m: float, delta_s: float, metric: str,
    k_synth: int = 1, device: str = "auto", progress: bool = False,
) -> pd.DataFrame:  # fmt: skip
    """Exact neighbours of ``samples`` among the training images and among each other, classified."""
    from memgen.neighbors import search

    if len(samples) < 2:
        raise ValueError(f"a snapshot's synthetic set needs >= 2 samples (d_synth), got {len(samples)}")
    k_train = min(2, len(train_nhwc))
    train_nn, _ = search(train_nhwc, samples, metric, k_train, device=device, progress=progress)
    synth_nn, _ = search(samples, None, metric, max(1, min(k_synth, len(samples) - 1)),
                         exclude_self=True, device=device, progress=progress)  # fmt: skip
    return classify_table(train_nn, synth_nn, delta_m, delta_s)


def thresholds_of(table: pd.DataFrame, k: int, path: str = "thresholds table") -> tuple[float, float]:
    row = table[table["K"] == int(k)]
    if row.empty:
        raise ValueError(f"{path} has no row for K = {k}; run the thresholds stage for this K")
    return float(row["delta_m"].iloc[0]), float(row["delta_s"].iloc[0])


# ------------------------------------------------------------------------------ summaries
def fraction_rows(classes: pd.DataFrame, n_bootstrap: int, confidence: float, seed: int) -> list[dict]:
    """Class fractions with bootstrap CIs, plus the threshold-free gap-ratio memorized fraction."""
    rows = fractions_with_ci(classes["class"], n_bootstrap, confidence, seed)
    rows.append(gap_fraction(classes, n_bootstrap, confidence, seed))
    return rows


def mean_ci(values: np.ndarray, n_bootstrap: int, confidence: float, seed: int) -> tuple[float, float, float]:
    values = np.asarray(values, dtype=float)
    mean = float(values.mean()) if len(values) else float("nan")
    if len(values) < 2 or np.all(values == values[0]):
        return mean, mean, mean
    res = stats.bootstrap((values,), np.mean, n_resamples=n_bootstrap, confidence_level=confidence,
                          method="percentile", rng=np.random.default_rng(seed))  # fmt: skip
    return mean, float(res.confidence_interval.low), float(res.confidence_interval.high)


def agreement_rows(per_sample: pd.DataFrame, n_bootstrap: int, confidence: float, seed: int) -> pd.DataFrame:
    rows = []
    for (e, k, step, ref), g in per_sample.groupby(["experiment", "K", "step", "reference"], sort=True):
        d = g["distance"].to_numpy(float)
        mean, lo, hi = mean_ci(d, n_bootstrap, confidence, seed)
        rows.append({"experiment": e, "K": int(k), "step": int(step), "reference": ref, "mean": mean,
                     "ci_low": lo, "ci_high": hi, "median": float(np.median(d)), "n": len(d)})  # fmt: skip
    return pd.DataFrame(rows, columns=AGREEMENT_SCHEMA.names)


def tau_rows(fractions: pd.DataFrame, level: float) -> pd.DataFrame:
    """Per K: τ_mem (first snapshot step with memorized fraction > level; NaN if none), its
    log-interpolated crossing, the final memorized fraction, and the spurious maximum over steps."""
    rows = []
    for (e, k), g in fractions.groupby(["experiment", "K"], sort=True):
        mem = g[g["class"] == "memorized"].sort_values("step")
        spu = g[g["class"] == "spurious"].sort_values("step")
        steps, f = mem["step"].to_numpy(np.int64), mem["fraction"].to_numpy(float)
        above = np.flatnonzero(f > level)
        tau = interp = float("nan")
        if len(above):
            i = int(above[0])
            tau = interp = float(steps[i])
            if i > 0:  # the crossing between the last step below and the first above, in log step
                s0, s1, f0, f1 = math.log(steps[i - 1]), math.log(steps[i]), f[i - 1], f[i]
                interp = float(math.exp(s0 + (level - f0) / (f1 - f0) * (s1 - s0)))
        peak = spu.loc[spu["fraction"].idxmax()] if len(spu) else None
        rows.append({
            "experiment": e, "K": int(k), "level": float(level), "tau_mem": tau,
            "tau_mem_interp": interp, "memorized_final": float(f[-1]) if len(f) else float("nan"),
            "spurious_peak_step": int(peak["step"]) if peak is not None else -1,
            "spurious_peak": float(peak["fraction"]) if peak is not None else float("nan"),
            "spurious_peak_ci_low": float(peak["ci_low"]) if peak is not None else float("nan"),
            "spurious_peak_ci_high": float(peak["ci_high"]) if peak is not None else float("nan"),
            "n_steps": len(steps),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=TAU_SCHEMA.names)


def tau_fit(tau: pd.DataFrame, confidence: float = 0.95, column: str = "tau_mem_interp") -> dict:
    """Least-squares fit log τ_mem = a + b log K over the K with a finite τ_mem; b with its
    t-distribution confidence interval (NaN with fewer than 3 points)."""
    ok = tau[np.isfinite(tau[column].to_numpy(float)) & (tau[column] > 0)]
    ks = ok["K"].to_numpy(float)
    out = {"experiment": str(tau["experiment"].iloc[0]) if len(tau) else "",
           "level": float(tau["level"].iloc[0]) if len(tau) else float("nan"),
           "slope": float("nan"), "slope_ci_low": float("nan"), "slope_ci_high": float("nan"),
           "intercept": float("nan"), "r2": float("nan"), "n_points": len(ok),
           "ks": " ".join(str(int(k)) for k in ks)}  # fmt: skip
    if len(ok) < 2 or len(np.unique(ks)) < 2:
        return out
    fit = stats.linregress(np.log(ks), np.log(ok[column].to_numpy(float)))
    out.update(slope=float(fit.slope), intercept=float(fit.intercept), r2=float(fit.rvalue**2))
    if len(ok) >= 3:
        t = stats.t.ppf(0.5 + confidence / 2, len(ok) - 2)
        out.update(slope_ci_low=float(fit.slope - t * fit.stderr),
                   slope_ci_high=float(fit.slope + t * fit.stderr))  # fmt: skip
    return out


def summarize(
    classes: Sequence[pd.DataFrame], agreement: Sequence[pd.DataFrame], level: float,
    n_bootstrap: int, confidence: float, seed: int,
) -> dict[str, pd.DataFrame]:  # fmt: skip
    """The four tables of an experiment from its per-(K, step) classes and agreement tables."""
    rows = []
    for t in classes:
        e, k, step = str(t["experiment"].iloc[0]), int(t["K"].iloc[0]), int(t["step"].iloc[0])
        for r in fraction_rows(t, n_bootstrap, confidence, seed):
            rows.append({"experiment": e, "K": k, "step": step, **r})
    fractions = pd.DataFrame(rows, columns=FRACTIONS_SCHEMA.names)
    per_sample = pd.concat(list(agreement), ignore_index=True) if agreement else pd.DataFrame(
        columns=PER_SAMPLE_AGREEMENT_SCHEMA.names)  # fmt: skip
    tau = tau_rows(fractions, level)
    fit = pd.DataFrame([tau_fit(tau, confidence)], columns=FIT_SCHEMA.names)
    return {"fractions": fractions, "agreement": agreement_rows(per_sample, n_bootstrap, confidence, seed),
            "tau": tau, "fit": fit}  # fmt: skip



def write_typed(df: pd.DataFrame, schema: pa.Schema, path, provenance: dict, sort_by: list[str]):
    """Write ``df`` atomically with exactly ``schema`` (same column types also when empty)."""
    import json

    import pyarrow.parquet as pq

    from memgen.io import PROVENANCE_KEY, atomic_path

    df = df.sort_values(sort_by, kind="stable") if len(df) else df
    table = pa.Table.from_pandas(df[schema.names].reset_index(drop=True), schema=schema,
                                 preserve_index=False)  # fmt: skip
    meta = {PROVENANCE_KEY: json.dumps(provenance, sort_keys=True, default=str).encode()}
    table = table.replace_schema_metadata(meta)
    with atomic_path(path, ".parquet") as tmp:
        pq.write_table(table, tmp)
    return path
