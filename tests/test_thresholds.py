"""Automatic thresholds (memgen.thresholds): equal-weight pooled log-distance valley, Otsu fallback,
per-K overrides. Ground truth: synthetic distances with a known empty gap between the two modes."""

from __future__ import annotations

import numpy as np
import pytest

from memgen.classify import classify_distances
from memgen.thresholds import ValleyConfig, choose_thresholds, pooled_valley, resolve_override

KS = [2, 8, 32, 100, 250, 500, 1000]
# Fraction of near-copies per K: everything memorized at the small end, nothing at the large end.
MEM_FRAC = {2: 1.0, 8: 1.0, 32: 0.9, 100: 0.6, 250: 0.2, 500: 0.0, 1000: 0.0}
# The two modes live in disjoint log10 ranges; the true gap is (GAP_LO, GAP_HI).
GAP_LO, GAP_HI = 0.4, 1.5


def _truncated_lognormal(rng, n, center, lo, hi, sigma=0.12):
    """n distances with log10 ~ N(log10 center, sigma), clipped into [lo, hi] (a hard gap)."""
    v = rng.normal(np.log10(center), sigma, size=n)
    return 10 ** np.clip(v, np.log10(lo), np.log10(hi))


def bimodal(seed=0, n_cap=2000, ks=KS, mem_frac=MEM_FRAC):
    """Per-K d_train, d_synth and true labels; n = min(4K, n_cap) samples per K (as in the demo)."""
    rng = np.random.default_rng(seed)
    d_train, d_synth, truth = {}, {}, {}
    for k in ks:
        n = min(4 * k, n_cap)
        n_mem = int(round(mem_frac[k] * n))
        mem = _truncated_lognormal(rng, n_mem, 0.2, 0.05, GAP_LO)
        gen = _truncated_lognormal(rng, n - n_mem, 2.2, GAP_HI, 6.0)
        d_train[k] = np.concatenate([mem, gen])
        # Memorized samples are also close to each other (copies of the same training image).
        d_synth[k] = np.concatenate(
            [
                _truncated_lognormal(rng, n_mem, 0.15, 0.05, GAP_LO),
                _truncated_lognormal(rng, n - n_mem, 2.0, GAP_HI, 6.0),
            ]
        )
        truth[k] = np.array(["memorized"] * n_mem + ["generalized"] * (n - n_mem))
    return d_train, d_synth, truth


def _in_gap(value):
    return GAP_LO < value < GAP_HI


def test_pooled_valley_recovers_the_gap():
    d_train, d_synth, _ = bimodal()
    for per_k in (d_train, d_synth):
        th = pooled_valley(per_k)
        assert th.method == "pooled-valley"
        assert _in_gap(th.value), th
        # Near the geometric middle of the gap (the gap is flat after smoothing, the valley is its middle).
        assert abs(np.log10(th.value) - np.log10(np.sqrt(GAP_LO * GAP_HI))) < 0.2, th
        assert th.diagnostics["n_peaks"] >= 2
        assert th.diagnostics["peak_low"] < GAP_LO < GAP_HI < th.diagnostics["peak_high"]
        assert th.diagnostics["warning"] == ""


def test_equal_weight_keeps_small_k_memorized_mode():
    """K = 2..32 contribute 8..128 samples against 2000 per large K; equal weighting still sees both modes."""
    ks = [2, 8, 32, 1000, 2000, 4000]
    frac = {2: 1.0, 8: 1.0, 32: 1.0, 1000: 0.0, 2000: 0.0, 4000: 0.0}
    d_train, _, _ = bimodal(seed=3, n_cap=4000, ks=ks, mem_frac=frac)
    th = pooled_valley(d_train)
    assert th.method == "pooled-valley"
    assert _in_gap(th.value)


def test_one_mode_ends_get_the_pooled_threshold_for_every_k():
    d_train, d_synth, truth = bimodal(seed=1)
    rows = choose_thresholds(d_train, d_synth)
    assert [r["K"] for r in rows] == KS
    dm = {r["delta_m"] for r in rows}
    ds = {r["delta_s"] for r in rows}
    assert len(dm) == 1 and len(ds) == 1, "the same delta must apply to every K"
    delta_m, delta_s = dm.pop(), ds.pop()
    assert _in_gap(delta_m) and _in_gap(delta_s)
    for r in rows:
        assert r["method"] == "pooled-valley"
        assert r["n_samples"] == len(d_train[r["K"]])
        assert r["auto_delta_m"] == delta_m
    # With the pooled thresholds the classes are recovered exactly, including at the one-mode ends.
    for k in KS:
        cls = classify_distances(d_train[k], d_synth[k], delta_m, delta_s)
        np.testing.assert_array_equal(cls, truth[k])
    smallest = classify_distances(d_train[KS[0]], d_synth[KS[0]], delta_m, delta_s)
    largest = classify_distances(d_train[KS[-1]], d_synth[KS[-1]], delta_m, delta_s)
    assert np.all(smallest == "memorized")
    assert np.all(largest == "generalized")


def test_exact_copies_distance_zero_use_the_floor():
    d_train, d_synth, _ = bimodal(seed=2)
    for k in (2, 8, 32):  # exact copies of training images (empirical-score sampler)
        d_train[k] = np.where(d_train[k] < GAP_LO, 0.0, d_train[k])
    th = pooled_valley(d_train, ValleyConfig(floor=1e-4))
    assert np.isfinite(th.value) and th.value > 1e-4
    assert th.method == "pooled-valley"
    assert th.value < GAP_HI


def test_unimodal_falls_back_to_otsu_with_a_warning():
    rng = np.random.default_rng(5)
    per_k = {k: 10 ** rng.normal(np.log10(2.0), 0.1, size=min(4 * k, 500)) for k in KS}
    th = pooled_valley(per_k)
    assert th.method == "pooled-otsu-fallback"
    assert "unimodal" in th.diagnostics["warning"] and "Otsu" in th.diagnostics["warning"]
    allv = np.concatenate(list(per_k.values()))
    assert allv.min() < th.value < allv.max()
    rows = choose_thresholds(per_k, per_k)
    assert all(r["method"] == "pooled-otsu-fallback" for r in rows)
    assert all("unimodal" in r["warning_m"] and "unimodal" in r["warning_s"] for r in rows)


def test_overrides_per_k():
    ks = [2, 8, 32]
    d_train, d_synth, _ = bimodal(seed=4, ks=ks, mem_frac={2: 1.0, 8: 0.5, 32: 0.0})
    auto = choose_thresholds(d_train, d_synth)[0]
    rows = {
        r["K"]: r
        for r in choose_thresholds(d_train, d_synth, delta_m=[0.3, "auto", 0.5], delta_s=0.25)
    }
    assert rows[2]["delta_m"] == 0.3 and rows[2]["method_m"] == "manual"
    assert rows[8]["delta_m"] == auto["delta_m"] and rows[8]["method_m"] == "pooled-valley"
    assert rows[32]["delta_m"] == 0.5 and rows[32]["method_m"] == "manual"
    assert all(r["delta_s"] == 0.25 and r["method_s"] == "manual" for r in rows.values())
    assert rows[8]["method"] == "pooled-valley/manual"
    assert rows[2]["method"] == "manual"
    # The automatic value stays visible as a diagnostic next to an override.
    assert rows[2]["auto_delta_m"] == auto["delta_m"]


def test_resolve_override_forms_and_errors():
    ks = [2, 8, 32]
    assert resolve_override("auto", ks, 8) is None
    assert resolve_override(None, ks, 8) is None
    assert resolve_override(0.7, ks, 8) == 0.7
    assert resolve_override([1, "auto", 3], ks, 2) == 1.0
    assert resolve_override([1, "auto", 3], ks, 8) is None
    with pytest.raises(ValueError, match="3 K values"):
        resolve_override([1, 2], ks, 2)
    with pytest.raises(ValueError, match="> 0"):
        resolve_override(0.0, ks, 2)
    with pytest.raises(ValueError, match="> 0"):
        resolve_override([1, -1, 3], ks, 8)


def test_bad_distances_rejected():
    with pytest.raises(ValueError, match="NaN"):
        pooled_valley({2: np.array([0.1, np.nan, 2.0])})
    with pytest.raises(ValueError, match="NaN or inf"):
        pooled_valley({2: np.array([0.1, np.inf, 2.0])})
    with pytest.raises(ValueError, match="non-negative"):
        pooled_valley({2: np.array([0.1, -0.5, 2.0])})
    with pytest.raises(ValueError, match="no distances"):
        pooled_valley({2: np.array([])})
    with pytest.raises(ValueError, match="different K"):
        choose_thresholds({2: np.ones(3)}, {8: np.ones(3)})
