"""Automatic memorization (δ_m) and spurious (δ_s) thresholds from nearest-neighbour distances.

The paper chose δ_m between the two modes of the olive histogram (distance of each sample to its
nearest training image) and δ_s between the two modes of the grey one (distance to the nearest
*other* sample), by hand for every K. We automate the same criterion, robustly:

1. Work on log10 distances with a floor (exact copies have distance 0, whose log is -inf).
2. Pool all K of an experiment, **weighting every K equally** (each K's histogram is normalised before
   averaging). Per-K valleys are meaningless at the ends of the K grid, where one mode is missing
   (everything memorized, or nothing), and a plain pooled histogram is dominated by the large-K sets
   (4K samples each) so it loses the memorized mode; the digits study found the equal-weight pooled
   valley stable and pooled Otsu unstable (shared/notes/digits-demo-study.md §4).
3. Smooth the averaged histogram with a Gaussian kernel, find its peaks (scipy.signal.find_peaks with a
   minimum prominence), take the two highest, and put the threshold at the lowest point between them.
4. If the pooled histogram is unimodal (e.g. a run that never memorizes), fall back to Otsu's split of
   the pooled log-distances and say so in `method` and `warning`.

The same δ applies to every K of the experiment (that is what makes fractions comparable across K);
config can override any value per K (`delta_m`/`delta_s`: "auto", a number, or a list aligned with ks
whose entries are numbers or "auto").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import find_peaks


@dataclass(frozen=True)
class ValleyConfig:
    floor: float = 1e-4  # distances below this count as exact copies (log10 floor)
    bins: int = 80
    smoothing: float = 2.0  # Gaussian sigma, in bins
    min_prominence: float = 0.05  # relative to the highest peak


@dataclass
class Threshold:
    value: float
    method: str
    diagnostics: dict = field(default_factory=dict)


def _log_distances(d: np.ndarray, floor: float) -> np.ndarray:
    d = np.asarray(d, dtype=np.float64)
    if d.size and not np.all(np.isfinite(d)):
        raise ValueError("distances contain NaN or inf; recompute the neighbour tables")
    if d.size and d.min() < 0:
        raise ValueError("distances must be non-negative")
    return np.log10(np.maximum(d, floor))


def _otsu(values: np.ndarray, edges: np.ndarray) -> float:
    hist, _ = np.histogram(values, bins=edges)
    centers = 0.5 * (edges[:-1] + edges[1:])
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centers)
    mu0 = np.divide(m0, w0, out=np.zeros_like(m0, dtype=float), where=w0 > 0)
    mu1 = np.divide(m0[-1] - m0, w1, out=np.zeros_like(m0, dtype=float), where=w1 > 0)
    between = w0 * w1 * (mu0 - mu1) ** 2
    return float(edges[1:][np.argmax(between)])


def pooled_valley(per_k: dict[int, np.ndarray], cfg: ValleyConfig = ValleyConfig()) -> Threshold:
    """One threshold from the equal-weight pooled log-distance histogram of all K (see module doc)."""
    logs = {k: _log_distances(d, cfg.floor) for k, d in per_k.items() if len(d)}
    if not logs:
        raise ValueError("no distances to choose a threshold from")
    allv = np.concatenate(list(logs.values()))
    lo, hi = float(allv.min()), float(allv.max())
    if hi - lo < 1e-9:
        hi = lo + 1.0
    pad = 0.05 * (hi - lo)
    edges = np.linspace(lo - pad, hi + pad, cfg.bins + 1)
    density = np.zeros(cfg.bins)
    for v in logs.values():
        h, _ = np.histogram(v, bins=edges)
        density += h / h.sum()
    density /= len(logs)
    smooth = gaussian_filter1d(density, cfg.smoothing, mode="constant")
    centers = 0.5 * (edges[:-1] + edges[1:])
    peaks, props = find_peaks(
        np.concatenate([[0.0], smooth, [0.0]]), prominence=cfg.min_prominence * smooth.max()
    )
    peaks = peaks - 1
    diag = {"n_k": len(logs), "n_samples": int(allv.size), "n_peaks": int(len(peaks))}
    if len(peaks) >= 2:
        top = np.sort(peaks[np.argsort(smooth[peaks])[-2:]])
        between = np.arange(top[0], top[1] + 1)
        # Middle of the lowest stretch, not its first bin: an empty gap between the modes is flat.
        low = between[smooth[between] <= smooth[between].min() + 1e-6 * smooth.max()]
        valley = int(np.round(np.median(low)))
        diag.update(
            peak_low=float(10 ** centers[top[0]]),
            peak_high=float(10 ** centers[top[1]]),
            valley_depth=float(smooth[valley] / min(smooth[top[0]], smooth[top[1]])),
            warning="",
        )
        return Threshold(float(10 ** centers[valley]), "pooled-valley", diag)
    value = float(10 ** _otsu(allv, edges))
    diag.update(
        peak_low=float("nan"),
        peak_high=float("nan"),
        valley_depth=float("nan"),
        warning="log-distance histogram is unimodal: no valley, fell back to Otsu's split",
    )
    return Threshold(value, "pooled-otsu-fallback", diag)


def resolve_override(spec, ks: list[int], k: int):
    """Config value for K: None when automatic, else the number. spec: "auto" | number | list."""
    if isinstance(spec, list):
        if len(spec) != len(ks):
            raise ValueError(
                f"per-K threshold list has {len(spec)} entries but there are {len(ks)} K values"
            )
        spec = spec[ks.index(k)]
    if spec is None or spec == "auto":
        return None
    value = float(spec)
    if value <= 0:
        raise ValueError(f"thresholds must be > 0, got {value} for K = {k}")
    return value


def choose_thresholds(
    d_train: dict[int, np.ndarray],
    d_synth: dict[int, np.ndarray],
    delta_m="auto",
    delta_s="auto",
    cfg: ValleyConfig = ValleyConfig(),
) -> list[dict]:
    """Rows (one per K) with delta_m, delta_s, method and diagnostics."""
    ks = sorted(d_train)
    if sorted(d_synth) != ks:
        raise ValueError(f"train and sample tables cover different K: {ks} vs {sorted(d_synth)}")
    auto_m = pooled_valley(d_train, cfg)
    auto_s = pooled_valley(d_synth, cfg)
    rows = []
    for k in ks:
        man_m = resolve_override(delta_m, ks, k)
        man_s = resolve_override(delta_s, ks, k)
        row = {
            "K": int(k),
            "delta_m": man_m if man_m is not None else auto_m.value,
            "delta_s": man_s if man_s is not None else auto_s.value,
            "method_m": "manual" if man_m is not None else auto_m.method,
            "method_s": "manual" if man_s is not None else auto_s.method,
            "n_samples": int(len(d_train[k])),
        }
        row["method"] = (
            row["method_m"]
            if row["method_m"] == row["method_s"]
            else f"{row['method_m']}/{row['method_s']}"
        )
        for tag, th in (("m", auto_m), ("s", auto_s)):
            for key, val in th.diagnostics.items():
                row[f"{key}_{tag}"] = val
            row[f"auto_delta_{tag}"] = th.value
        rows.append(row)
    return rows
