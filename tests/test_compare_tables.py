"""benchmarks/compare_demo_tables.py: two results folders, same tables -> 0, a changed value -> 1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from memgen.io import write_parquet

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "compare_demo_tables.py"


def _write_run(root: Path, run: str, d_train=(0.1, 0.5, 2.0), curve_end=0.3, order=(0, 1, 2)):
    """A tiny results folder: a classes table, a table with a list column and a training log whose
    provenance metadata and timing columns differ between runs (they must be ignored)."""
    classes = pd.DataFrame(
        {
            "experiment": "digits",
            "K": np.int64(8),
            "sample": np.arange(3, dtype=np.int64),
            "d_train": np.array(d_train, dtype=float),
            "d_synth": [0.2, np.nan, 3.0],
            "class": ["memorized", "spurious", "generalized"],
        }
    ).iloc[list(order)]
    write_parquet(classes, root / "digits" / "K8" / "classes.parquet",
                  provenance={"experiment": "digits", "K": 8, "out": f"{run}/classes.parquet"})
    energy = pd.DataFrame({"point": np.arange(2, dtype=np.int64),
                           "curve": [[0.0, 0.1, 0.2], [0.0, 0.2, curve_end]]})
    write_parquet(energy, root / "digits" / "K8" / "energy.parquet", provenance={"run": run})
    log = pd.DataFrame({"step": np.array([100, 200], dtype=np.int64), "loss": [0.5, 0.25],
                        "steps_per_s": np.random.default_rng().uniform(1, 9, 2),
                        "elapsed_s": np.random.default_rng().uniform(1, 9, 2)})
    write_parquet(log, root / "digits" / "K8" / "train_log.parquet", provenance={"started": run})


def _run(*args):
    proc = subprocess.run([sys.executable, str(SCRIPT), *map(str, args)],
                          capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


def test_identical_tables_pass_despite_provenance_and_timings(tmp_path):
    _write_run(tmp_path / "a", "run-a")
    _write_run(tmp_path / "b", "run-b")
    rc, out = _run(tmp_path / "a", tmp_path / "b")
    assert rc == 0, out
    assert "3 tables compared (exact floats): 3 same, 0 different" in out
    assert "ignoring ['elapsed_s', 'steps_per_s']" in out


def test_changed_value_fails_naming_table_and_column(tmp_path):
    _write_run(tmp_path / "a", "run-a")
    _write_run(tmp_path / "b", "run-b", d_train=(0.1, 0.5 + 1e-12, 2.0))
    rc, out = _run(tmp_path / "a", tmp_path / "b")
    assert rc == 1, out
    line = next(ln for ln in out.splitlines() if ln.startswith("DIFFERENT"))
    assert "digits/K8/classes.parquet" in line and "column 'd_train'" in line
    assert "1 of 3 rows differ (first at row 1: 0.5 vs 0.500000000001" in line
    # the same change is within a relative tolerance
    rc, out = _run(tmp_path / "a", tmp_path / "b", "--rtol", "1e-9")
    assert rc == 0, out


def test_list_column_and_row_order(tmp_path):
    _write_run(tmp_path / "a", "run-a")
    _write_run(tmp_path / "b", "run-b", curve_end=0.31, order=(2, 0, 1))
    rc, out = _run(tmp_path / "a", tmp_path / "b")
    assert rc == 1
    lines = {ln.split()[1].rstrip(":"): ln for ln in out.splitlines() if ln.startswith("DIFFERENT")}
    assert "column 'curve'" in lines["digits/K8/energy.parquet"]
    assert "same rows in a different order" in lines["digits/K8/classes.parquet"]


def test_types_missing_tables_and_bad_arguments(tmp_path):
    _write_run(tmp_path / "a", "run-a")
    _write_run(tmp_path / "b", "run-b")
    # K stored as int32 instead of int64: a schema change, unless only values are compared
    df = pd.read_parquet(tmp_path / "b" / "digits" / "K8" / "classes.parquet")
    write_parquet(df.astype({"K": np.int32}), tmp_path / "b" / "digits" / "K8" / "classes.parquet")
    rc, out = _run(tmp_path / "a", tmp_path / "b")
    assert rc == 1 and "column types differ: K: int64 vs int32" in out
    assert _run(tmp_path / "a", tmp_path / "b", "--ignore-types")[0] == 0
    # a table in one folder only is listed, and fails only with --require-same-set
    write_parquet(pd.DataFrame({"x": [1]}), tmp_path / "b" / "digits" / "fractions.parquet")
    rc, out = _run(tmp_path / "a", tmp_path / "b", "--ignore-types")
    assert rc == 0 and "digits/fractions.parquet: only in the second directory" in out
    assert _run(tmp_path / "a", tmp_path / "b", "--ignore-types", "--require-same-set")[0] == 1
    rc, out = _run(tmp_path / "a", tmp_path / "missing")
    assert rc == 2 and "missing is not a directory" in out
