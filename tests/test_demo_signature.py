"""The paper's signature on the digits CPU demo with the default thresholds (no manual value):
memorized at the smallest K, a spurious peak at an interior K made of many distinct duplicate groups
(not one pair of loose copies), and neither memorized nor spurious samples at the largest K.

Reads the finished demo run; it does not run it (`make demo`, about 10-20 CPU minutes)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from memgen.io import read_parquet

REPO = Path(__file__).resolve().parents[1]
DEMO = Path(os.environ.get("MEMGEN_DEMO_DIR", REPO / "results" / "demo" / "digits"))
FRACTIONS = DEMO / "fractions.parquet"
THRESHOLDS = DEMO / "thresholds.parquet"
MIN_GROUPS = 10  # distinct duplicate groups at the spurious peak


@pytest.mark.slow
def test_digits_demo_signature():
    if not FRACTIONS.exists():
        pytest.skip(f"{FRACTIONS} is absent: run `make demo` first")
    fr = read_parquet(FRACTIONS)
    f = fr.pivot_table(index="K", columns="class", values="fraction").sort_index()
    ks = list(f.index)
    assert len(ks) >= 3, f"need at least 3 K values for the signature, got {ks}"
    table = f.round(3).to_string()

    # The default rule: one data-calibrated delta for both thresholds and every K.
    th = read_parquet(THRESHOLDS)
    assert set(th["method"]) == {"null-quantile"}, th[["K", "method"]]
    assert th["delta_m"].nunique() == 1 and th["delta_s"].nunique() == 1, th

    assert f.loc[ks[0], "memorized"] >= 0.95, f"memorized at K = {ks[0]}:\n{table}"
    assert f.loc[ks[-1], "generalized"] >= 0.9, f"generalized at K = {ks[-1]}:\n{table}"
    false_pos = f.loc[ks[-1], "memorized"] + f.loc[ks[-1], "spurious"]
    assert false_pos <= 0.01, f"memorized + spurious at K = {ks[-1]}:\n{table}"
    spurious = f["spurious"]
    k_peak = spurious.idxmax()
    assert k_peak not in (ks[0], ks[-1]), f"spurious maximum is at an end of the K grid:\n{table}"
    groups = fr[(fr["K"] == k_peak) & (fr["class"] == "spurious")]["groups"].iloc[0]
    assert groups >= MIN_GROUPS, (
        f"the spurious peak at K = {k_peak} ({spurious[k_peak]:.3f}) is only {groups} distinct "
        f"duplicate group(s), not a spurious phase:\n{table}"
    )
