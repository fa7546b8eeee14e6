"""The analysis over training time on planted cases: tau_mem and its crossing, the spurious maximum,
the log-log slope against closed forms, the exact-model agreement (0 for the exact model itself),
classification of planted copies / shared states / new samples, typed tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from memgen.dynamics import (
    FIT_SCHEMA,
    FRACTIONS_SCHEMA,
    classify_samples,
    draw,
    exact_agreement_samples,
    rms_distance,
    summarize,
    tau_fit,
    tau_rows,
    write_typed,
)
from memgen.models.empirical import EmpiricalEpsModel
from memgen.sample import SampleConfig

torch.set_num_threads(1)
FAST = SampleConfig(sampler="ddpm", steps=50, shard_size=16, seed=1)


def _fractions(k: int, steps, memorized, spurious) -> list[dict]:
    rows = []
    for s, m, sp in zip(steps, memorized, spurious):
        for cls, f in (("memorized", m), ("spurious", sp), ("generalized", 1 - m - sp)):
            rows.append({"experiment": "x", "K": k, "step": s, "class": cls, "fraction": f,
                         "ci_low": f - 0.05, "ci_high": f + 0.05, "n": 100})  # fmt: skip
    return rows


def test_tau_mem_is_the_first_step_above_the_level_with_a_log_crossing():
    fr = pd.DataFrame(
        _fractions(2, [10, 100, 1000], [0.1, 0.6, 0.9], [0.0, 0.3, 0.05])
        + _fractions(50, [10, 100, 1000], [0.0, 0.1, 0.2], [0.1, 0.4, 0.2])
    )
    tau = tau_rows(fr, 0.5).set_index("K")
    assert tau.loc[2, "tau_mem"] == 100
    # crossing of 0.5 between (log 10, 0.1) and (log 100, 0.6): 10^(1 + 0.4/0.5)
    assert tau.loc[2, "tau_mem_interp"] == pytest.approx(10 ** 1.8)
    assert (tau.loc[2, "spurious_peak_step"], tau.loc[2, "spurious_peak"]) == (100, 0.3)
    assert math.isnan(tau.loc[50, "tau_mem"])  # never memorizes
    assert tau.loc[50, "spurious_peak_step"] == 100 and tau.loc[50, "memorized_final"] == 0.2


def test_log_log_fit_recovers_a_planted_power_law():
    ks = np.array([2, 8, 32, 128])
    tau = pd.DataFrame({"experiment": "x", "K": ks, "level": 0.5, "tau_mem": 3.0 * ks**1.0,
                        "tau_mem_interp": 3.0 * ks**1.0})  # fmt: skip
    fit = tau_fit(tau)
    assert fit["slope"] == pytest.approx(1.0) and fit["intercept"] == pytest.approx(math.log(3))
    assert fit["n_points"] == 4 and fit["r2"] == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    noisy = tau.assign(tau_mem_interp=3.0 * ks**1.5 * np.exp(rng.normal(0, 0.05, len(ks))))
    fit = tau_fit(noisy)
    assert fit["slope_ci_low"] < 1.5 < fit["slope_ci_high"]
    assert fit["slope_ci_high"] - fit["slope_ci_low"] < 0.3
    two = tau_fit(tau.iloc[:2])  # two points: a slope, no interval
    assert two["slope"] == pytest.approx(1.0) and math.isnan(two["slope_ci_low"])


def test_exact_model_agrees_with_itself_and_copies_training_images():
    rng = np.random.default_rng(3)
    train = rng.uniform(-1, 1, (2, 4, 4, 1)).astype(np.float32)
    exact = exact_agreement_samples(train, FAST, 12)
    # every exact draw is one of the two training images (the empirical score memorizes)
    d = np.sqrt(((exact[:, None] - train[None]) ** 2).reshape(12, 2, -1).mean(-1)).min(1)
    assert d.max() < 0.02
    # the same model from the same noise: distance 0; another set of images: far
    model = EmpiricalEpsModel(torch.from_numpy(train.transpose(0, 3, 1, 2)))
    from memgen.dynamics import agreement_seed

    again = draw(model, FAST, (12, 1, 4, 4), agreement_seed(FAST.seed, 2), "cpu")
    assert rms_distance(again, exact).max() == 0.0
    other = EmpiricalEpsModel(torch.from_numpy(-train.transpose(0, 3, 1, 2)))
    far = draw(other, FAST, (12, 1, 4, 4), agreement_seed(FAST.seed, 2), "cpu")
    assert rms_distance(far, exact).min() > 0.1


def test_planted_copies_shared_states_and_new_samples_are_classified():
    rng = np.random.default_rng(1)
    train = rng.uniform(-1, 1, (5, 4, 4, 1)).astype(np.float32)
    state = rng.uniform(-1, 1, (4, 4, 1)).astype(np.float32)
    samples = np.concatenate([
        train[:3] + 1e-4,  # copies of training images
        np.stack([state, state + 1e-4]),  # one shared state, twice
        rng.uniform(-1, 1, (3, 4, 4, 1)).astype(np.float32),  # new, far apart
    ]).astype(np.float32)  # fmt: skip
    cl = classify_samples(train, samples, delta_m=0.05, delta_s=0.05, metric="l2", device="cpu")
    assert list(cl["class"]) == ["memorized"] * 3 + ["spurious"] * 2 + ["generalized"] * 3


def test_summary_tables_have_their_schema_also_when_empty(tmp_path):
    import pyarrow.parquet as pq

    classes = [pd.DataFrame({"experiment": "x", "K": 2, "step": s, "sample": np.arange(4),
                             "class": ["memorized"] * m + ["generalized"] * (4 - m),
                             "gap_ratio": 0.1}) for s, m in ((10, 1), (100, 4))]  # fmt: skip
    agree = [pd.DataFrame({"experiment": "x", "K": 2, "step": s, "sample": np.arange(3),
                           "reference": "exact", "distance": [d, d, d]})
             for s, d in ((10, 0.4), (100, 0.0))]  # fmt: skip
    out = summarize(classes, agree, 0.5, 200, 0.95, 0)
    fr = out["fractions"].set_index(["step", "class"])["fraction"]
    assert fr[(10, "memorized")] == 0.25 and fr[(100, "memorized")] == 1.0
    assert fr[(100, "memorized_gap")] == 1.0  # the threshold-free criterion rides along
    assert list(out["agreement"]["mean"]) == pytest.approx([0.4, 0.0])
    assert out["tau"]["tau_mem"].iloc[0] == 100
    write_typed(out["fractions"], FRACTIONS_SCHEMA, tmp_path / "f.parquet", {}, ["step"])
    assert pq.read_schema(tmp_path / "f.parquet").remove_metadata() == FRACTIONS_SCHEMA
    write_typed(pd.DataFrame(columns=FIT_SCHEMA.names), FIT_SCHEMA, tmp_path / "e.parquet", {}, [])
    assert pq.read_schema(tmp_path / "e.parquet").remove_metadata() == FIT_SCHEMA
