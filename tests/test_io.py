"""Atomic writers: a failure mid-write leaves the target untouched and no temp file behind."""

import numpy as np
import pandas as pd
import pytest

from memgen.io import atomic_path, read_parquet, read_provenance, save_npy, write_parquet


def test_parquet_roundtrip_with_provenance(tmp_path):
    df = pd.DataFrame({"K": [8, 2], "x": [0.5, 1.5]})
    path = write_parquet(df, tmp_path / "t.parquet", provenance={"experiment": "e", "K": 2}, sort_by=["K"])
    back = read_parquet(path)
    assert back["K"].tolist() == [2, 8]
    assert read_provenance(path) == {"experiment": "e", "K": 2}


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "a.npy"
    save_npy(np.arange(3), target)
    with pytest.raises(RuntimeError):
        with atomic_path(target, ".npy") as tmp:
            np.save(tmp, np.arange(10))
            raise RuntimeError("killed mid-write")
    assert np.load(target).tolist() == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy"]
