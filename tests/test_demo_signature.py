"""The paper's signature on the digits CPU demo, with automatic thresholds (issue 5, "what must hold"):
memorized at the smallest K, generalized at the largest K, and a spurious bump in between.

Reads the finished demo run; it does not run it (`make demo`, about 10-20 CPU minutes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from memgen.io import read_parquet

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "results" / "demo" / "digits"
FRACTIONS = DEMO / "fractions.parquet"
THRESHOLDS = DEMO / "thresholds.parquet"


@pytest.mark.slow
def test_digits_demo_signature():
    if not FRACTIONS.exists():
        pytest.skip(f"{FRACTIONS.relative_to(REPO)} is absent: run `make demo` first")
    fr = read_parquet(FRACTIONS)
    f = fr.pivot_table(index="K", columns="class", values="fraction").sort_index()
    ks = list(f.index)
    assert len(ks) >= 3, f"need at least 3 K values for the signature, got {ks}"
    table = f.round(3).to_string()

    # Automatic thresholds: the same (automatic) delta for every K.
    if THRESHOLDS.exists():
        th = read_parquet(THRESHOLDS)
        assert th["delta_m"].nunique() == 1 and th["delta_s"].nunique() == 1, th

    assert f.loc[ks[0], "memorized"] > 0.9, f"memorized at K = {ks[0]}:\n{table}"
    assert f.loc[ks[-1], "generalized"] > 0.9, f"generalized at K = {ks[-1]}:\n{table}"
    spurious = f["spurious"]
    inner = spurious.loc[ks[1:-1]]
    k_peak = inner.idxmax()
    assert inner.max() > spurious.loc[ks[0]] and inner.max() > spurious.loc[ks[-1]], (
        f"spurious fraction must peak at an intermediate K (peak {inner.max():.3f} at K = {k_peak}):\n"
        f"{table}"
    )
    assert spurious.idxmax() == k_peak, f"spurious maximum is at an end of the K grid:\n{table}"
