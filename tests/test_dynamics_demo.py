"""The training-dynamics pattern on the digits CPU demo: at the smallest snapshot K the memorized
fraction rises with training step, tau_mem increases with K, and the distance to the exact
empirical-score model is ~0 at the smallest K and grows with K.

Reads the finished demo run (`make demo`, or MEMGEN_DEMO_DIR=<run>/digits); it does not run it.
The checks are functions, so the planted tables below show each one failing on a wrong pattern."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from memgen.io import read_parquet

REPO = Path(__file__).resolve().parents[1]
DEMO = Path(os.environ.get("MEMGEN_DEMO_DIR", REPO / "results" / "demo" / "digits")) / "snapshots"
EXACT_NEAR_ZERO = 0.05  # RMS pixel distance (images in [-1, 1]) at the smallest K, last snapshot


def check_dynamics(fr: pd.DataFrame, tau: pd.DataFrame, ag: pd.DataFrame) -> None:
    ks = sorted(fr["K"].unique())
    mem = fr[(fr["class"] == "memorized") & (fr["K"] == ks[0])].sort_values("step")
    f = mem["fraction"].to_numpy()
    assert f[-1] > f[0] and f[-1] >= 0.9, f"memorized fraction over steps at K = {ks[0]}: {f}"
    assert np.all(np.diff(f) >= -0.1), f"memorized fraction at K = {ks[0]} drops over steps: {f}"

    t = tau.sort_values("K")
    reached = t[np.isfinite(t["tau_mem_interp"])]
    assert len(reached) >= 2, f"tau_mem defined at fewer than 2 K:\n{t}"
    assert reached["K"].iloc[0] == ks[0], f"the smallest K never memorizes:\n{t}"
    vals = reached["tau_mem_interp"].to_numpy()
    assert np.all(np.diff(vals) >= 0) and vals[-1] > vals[0], f"tau_mem does not grow with K:\n{t}"

    ex = ag[ag["reference"] == "exact"]
    last = ex.loc[ex.groupby("K")["step"].idxmax()].sort_values("K")
    d = last["mean"].to_numpy()
    assert d[0] <= EXACT_NEAR_ZERO, f"exact-model distance at K = {ks[0]} is {d[0]:.3f}"
    assert d[-1] > 4 * max(d[0], 0.01), f"exact-model distance does not grow with K: {d}"


@pytest.mark.slow
def test_digits_demo_training_dynamics():
    if not (DEMO / "fractions.parquet").exists():
        pytest.skip(f"{DEMO}/fractions.parquet is absent: run `make demo` first")
    check_dynamics(*(read_parquet(DEMO / f"{n}.parquet") for n in ("fractions", "tau", "agreement")))


def _planted(mem_small, taus, dists):
    steps = [100, 1000, 10000]
    fr = [{"K": 2, "step": s, "class": "memorized", "fraction": m} for s, m in zip(steps, mem_small)]
    fr += [{"K": 50, "step": s, "class": "memorized", "fraction": 0.0} for s in steps]
    tau = pd.DataFrame({"K": [2, 10, 50], "tau_mem_interp": taus})
    ag = pd.DataFrame({"K": [2, 10, 50], "step": 10000, "reference": "exact", "mean": dists})
    return pd.DataFrame(fr), tau, ag


def test_the_checks_reject_wrong_patterns():
    check_dynamics(*_planted([0.2, 0.7, 1.0], [300, 3000, np.nan], [0.01, 0.2, 0.4]))
    with pytest.raises(AssertionError, match="memorized fraction over steps"):
        check_dynamics(*_planted([0.9, 0.5, 0.3], [300, 3000, np.nan], [0.01, 0.2, 0.4]))
    with pytest.raises(AssertionError, match="tau_mem does not grow"):
        check_dynamics(*_planted([0.2, 0.7, 1.0], [3000, 300, np.nan], [0.01, 0.2, 0.4]))
    with pytest.raises(AssertionError, match="exact-model distance at K = 2"):
        check_dynamics(*_planted([0.2, 0.7, 1.0], [300, 3000, np.nan], [0.3, 0.2, 0.4]))
