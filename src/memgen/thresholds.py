"""Memorization (δ_m) and spurious (δ_s) thresholds from nearest-neighbour distances.

Default (`method: null-quantile`): calibrated on the data, not on the model's samples or on the K grid. A
generated sample is a near-duplicate (of a training image, or of another sample) only if it is closer
than distinct real images of the data set almost ever are to each other: δ = the alpha-quantile (default
0.5 %) of the real pool's leave-one-out nearest-neighbour distances (memgen.null), the same δ for δ_m and
δ_s and for every K. Under the null "the model samples like the data", a threshold set this way labels at
most about alpha of the samples memorized at K = N (fewer at smaller K, whose training sets are sparser),
and the table reports that false-positive rate per K for both thresholds. `delta_s_null: size-matched`
instead takes δ_s per K from the null of a real set of min(|S|, N) images.

Alternative (`method: valley`), the paper's "between the two modes" criterion made automatic:
1. Work on log10 distances with a floor (exact copies have distance 0, whose log is -inf).
2. Pool all K of an experiment, weighting every K equally (each K's histogram is normalised before
   averaging); a per-K valley is meaningless at the ends of the K grid, where one mode is missing.
3. Smooth the averaged histogram with a Gaussian kernel, find its peaks (scipy.signal.find_peaks with a
   minimum prominence), take the two highest, and put the threshold at the lowest point between them.
4. If the pooled histogram is unimodal, fall back to Otsu's split and say so in `method` and `warning`.
The valley depends on the K grid and sits at the lower edge of the transition models when the transition
is a continuous shift (no valley per K), so it is kept as a diagnostic (`valley_delta_*`), not a default.

Config can override any value per K (`delta_m`/`delta_s`: "auto", a number, or a list aligned with ks
whose entries are numbers or "auto"); `method_m`/`method_s` say which rule made each value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import find_peaks

from memgen.sections import Section, section


@section("images.*.thresholds")
@dataclass(frozen=True)
class ThresholdsConfig(Section):
    """The ``thresholds`` config section: how delta_m / delta_s are chosen, and the scale factors of
    the sensitivity, sweep and band tables that are drawn from them."""

    delta_m: Any = "auto"  # "auto", a number, or a per-K list of numbers / "auto"
    delta_s: Any = "auto"
    method: str = "null-quantile"  # null-quantile | valley
    null_alpha: float = 0.005  # quantile of the real leave-one-out distances
    null_duplicates: str = "drop"  # drop | keep exact duplicate pool images in the null
    delta_s_null: str = "pool"  # "pool": delta_s = delta_m; "size-matched": null of min(|S|, N) images
    sweep: list[float] = field(
        default_factory=lambda: [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5]
    )
    band: list[float] = field(default_factory=lambda: [0.8, 1.2])
    floor: float = 1.0e-4  # distances below this count as exact copies (log10 floor)
    bins: int = 80
    smoothing: float = 2.0  # Gaussian sigma, in bins
    sensitivity: list[float] = field(default_factory=lambda: [0.8, 1.2])
    impl_version: int = 2

    def __post_init__(self):
        choices = {"method": ("null-quantile", "valley"), "null_duplicates": ("drop", "keep"),
                   "delta_s_null": ("pool", "size-matched")}  # fmt: skip
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ValueError(
                    f"thresholds.{key} must be one of {list(allowed)}, got {getattr(self, key)!r}"
                )
        for key in ("delta_m", "delta_s"):
            value = getattr(self, key)
            for v in value if isinstance(value, list) else [value]:
                if v == "auto":
                    continue
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise ValueError(
                        f"thresholds.{key} must be 'auto', a number or a per-K list of numbers / "
                        f"'auto', got {value!r}"
                    )
                if not v > 0:
                    raise ValueError(f"thresholds.{key} must be > 0, got {v}")

    def manual(self, key: str) -> float | None:
        """``delta_m`` / ``delta_s`` when it is one number for every K, else None."""
        value = getattr(self, key)
        return None if value == "auto" or isinstance(value, list) else float(value)

    def valley(self) -> ValleyConfig:
        return ValleyConfig(floor=self.floor, bins=self.bins, smoothing=self.smoothing)

    def null(self) -> NullConfig:
        return NullConfig(alpha=self.null_alpha, delta_s_null=self.delta_s_null)


@dataclass(frozen=True)
class ValleyConfig:
    """Parameters of the pooled-valley rule (the valley keys of :class:`ThresholdsConfig`)."""

    floor: float = ThresholdsConfig.floor
    bins: int = ThresholdsConfig.bins
    smoothing: float = ThresholdsConfig.smoothing
    min_prominence: float = 0.05  # relative to the highest peak (not a config key)


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


@dataclass(frozen=True)
class NullConfig:
    """Parameters of the null-quantile rule (the null keys of :class:`ThresholdsConfig`)."""

    alpha: float = ThresholdsConfig.null_alpha
    delta_s_null: str = ThresholdsConfig.delta_s_null


# Below this ratio of the null's alpha-quantile to its median, the low tail is probably set by
# near-duplicate images inside the data set rather than by distinct images.
NEAR_DUPLICATE_RATIO = 0.25


def null_thresholds(null, n_synth: dict[int, int], cfg: NullConfig = NullConfig()) -> dict:
    """Automatic delta_m (one value) and delta_s per K from the real-pool null."""
    if cfg.delta_s_null not in ("pool", "size-matched"):
        raise ValueError(f"delta_s_null must be 'pool' or 'size-matched', got {cfg.delta_s_null!r}")
    delta = null.quantile(cfg.alpha)
    summary = null.summary(cfg.alpha)
    warning = ""
    if delta < NEAR_DUPLICATE_RATIO * summary["null_median"]:
        warning = (
            f"the null's {cfg.alpha:.2%} quantile ({delta:.4g}) is below {NEAR_DUPLICATE_RATIO} x its "
            f"median ({summary['null_median']:.4g}): near-duplicates inside the data set may set it; "
            "inspect the closest pairs in the pool null table"
        )
    if cfg.delta_s_null == "pool":
        per_k_s = {k: (delta, "null-quantile") for k in n_synth}
    else:
        per_k_s = {
            k: (null.quantile(cfg.alpha, min(n, null.n_pool)), "null-size-matched")
            for k, n in n_synth.items()
        }
    return {"delta_m": delta, "delta_s": per_k_s, "summary": summary, "warning": warning}


def choose_thresholds(
    d_train: dict[int, np.ndarray],
    d_synth: dict[int, np.ndarray],
    delta_m="auto",
    delta_s="auto",
    cfg: ValleyConfig = ValleyConfig(),
    method: str = "valley",
    null=None,
    null_cfg: NullConfig = NullConfig(),
) -> list[dict]:
    """Rows (one per K) with delta_m, delta_s, method (per threshold) and diagnostics.

    method "null-quantile" needs ``null`` (memgen.null.PoolNull); "valley" uses the pooled histograms. The valley
    is computed in both cases as a cross-check (columns ``valley_delta_m/s``); with a null, the implied
    false-positive rates of the thresholds in use are reported per K (``fpr_m``: a real image against K
    other real images; ``fpr_s``: a real set of min(|S|, N) images, ``fpr_s_extrapolated`` when |S| > N).
    """
    ks = sorted(d_train)
    if sorted(d_synth) != ks:
        raise ValueError(f"train and sample tables cover different K: {ks} vs {sorted(d_synth)}")
    if method not in ("null-quantile", "valley"):
        raise ValueError(f"threshold method must be 'null-quantile' or 'valley', got {method!r}")
    manual = {k: (resolve_override(delta_m, ks, k), resolve_override(delta_s, ks, k)) for k in ks}
    all_manual = all(m is not None and s is not None for m, s in manual.values())
    if method == "null-quantile" and null is None and not all_manual:
        raise ValueError(
            "method 'null-quantile' needs the pool null table (`memgen pool-null`, then --null); "
            "or give both thresholds, or use the valley method"
        )
    if null is None:
        method = "valley"  # every value is manual: the valley is only the cross-check
    valley_m = pooled_valley(d_train, cfg)
    valley_s = pooled_valley(d_synth, cfg)
    n_synth = {k: int(len(d_synth[k])) for k in ks}
    auto = null_thresholds(null, n_synth, null_cfg) if method == "null-quantile" else None
    rows = []
    for k in ks:
        man_m, man_s = manual[k]
        if auto is not None:
            auto_m, meth_m = auto["delta_m"], "null-quantile"
            auto_s, meth_s = auto["delta_s"][k]
        else:
            auto_m, meth_m = valley_m.value, valley_m.method
            auto_s, meth_s = valley_s.value, valley_s.method
        row = {
            "K": int(k),
            "delta_m": man_m if man_m is not None else auto_m,
            "delta_s": man_s if man_s is not None else auto_s,
            "method_m": "manual" if man_m is not None else meth_m,
            "method_s": "manual" if man_s is not None else meth_s,
            "n_samples": int(len(d_train[k])),
            "auto_delta_m": auto_m,
            "auto_delta_s": auto_s,
        }
        row["method"] = (
            row["method_m"]
            if row["method_m"] == row["method_s"]
            else f"{row['method_m']}/{row['method_s']}"
        )
        for tag, th in (("m", valley_m), ("s", valley_s)):
            row[f"valley_delta_{tag}"] = th.value
            for key, val in th.diagnostics.items():
                row[f"{key}_{tag}"] = val
        if auto is not None:
            # The valley is only a cross-check here: its warnings must not read as the rule's own.
            for tag in ("m", "s"):
                row[f"valley_warning_{tag}"] = row[f"warning_{tag}"]
                row[f"warning_{tag}"] = auto["warning"]
            row.update(auto["summary"])
        if null is not None:
            n_s = n_synth[k]
            row["fpr_m"] = null.rate(row["delta_m"], min(k + 1, null.n_pool))
            row["fpr_s"] = null.rate(row["delta_s"], min(n_s, null.n_pool))
            row["fpr_s_extrapolated"] = bool(null.extrapolated(n_s))
        rows.append(row)
    return rows
