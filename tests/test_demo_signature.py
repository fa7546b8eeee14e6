"""The paper's signature on the digits CPU demo with the default thresholds (no manual value):
memorized at the smallest K, a spurious peak at an interior K made of many distinct duplicate groups
(not one pair of loose copies), and neither memorized nor spurious samples at the largest K.

Reads the finished demo run; it does not run it (`make demo`, about 10-20 CPU minutes)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from memgen.io import read_parquet

REPO = Path(__file__).resolve().parents[1]
DEMO = Path(os.environ.get("MEMGEN_DEMO_DIR", REPO / "results" / "demo" / "digits"))
FRACTIONS = DEMO / "fractions.parquet"
THRESHOLDS = DEMO / "thresholds.parquet"
MIN_GROUPS = 10  # distinct duplicate groups at the spurious peak


def check_signature(fr, th) -> None:
    """The assertions of the signature on a fractions table and a thresholds table."""
    f = fr.pivot_table(index="K", columns="class", values="fraction").sort_index()
    ks = list(f.index)
    assert len(ks) >= 3, f"need at least 3 K values for the signature, got {ks}"
    table = f.round(3).to_string()

    # The default rule: one data-calibrated delta for both thresholds and every K.
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


@pytest.mark.slow
def test_digits_demo_signature():
    if not FRACTIONS.exists():
        pytest.skip(f"{FRACTIONS} is absent: run `make demo` first")
    check_signature(read_parquet(FRACTIONS), read_parquet(THRESHOLDS))


def _tables(spurious_peak: float, groups: int):
    """A demo-like curve whose spurious peak (at K = 32) is `groups` distinct duplicate groups."""
    ks = [2, 8, 32, 100, 1797]
    mem = [1.0, 1.0, 0.9, 0.3, 0.0]
    spu = [0.0, 0.0, spurious_peak, 0.01, 0.0]
    rows = []
    for k, m, s in zip(ks, mem, spu):
        rows += [
            {"K": k, "class": "memorized", "fraction": m, "groups": -1},
            {"K": k, "class": "spurious", "fraction": s, "groups": groups if k == 32 else 1},
            {"K": k, "class": "generalized", "fraction": 1 - m - s, "groups": -1},
        ]
    th = pd.DataFrame({"K": ks, "delta_m": 1.0, "delta_s": 1.0, "method": "null-quantile"})
    return pd.DataFrame(rows), th


def test_signature_rejects_a_spurious_peak_of_one_pair():
    """The old demo's 'spurious peak' was one mutual pair of loose copies (0.016 at K = 32)."""
    check_signature(*_tables(0.2, 40))
    with pytest.raises(AssertionError, match="only 1 distinct duplicate group"):
        check_signature(*_tables(0.016, 1))
