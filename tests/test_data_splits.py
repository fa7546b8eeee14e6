"""Nested splits, the `memgen split` stage and detection of changed data (docs/method.md §4.1, §10.15)."""

from __future__ import annotations

import hashlib
import logging

import numpy as np
import pandas as pd
import pytest
import torch

from memgen.cli import main as memgen
from memgen.data import load_dataset
from memgen.data.splits import (
    image_hashes,
    make_split,
    permutation,
    subset_indices,
    verify_split,
)
from memgen.io import read_provenance

torch.set_num_threads(1)


def write_mnist(root, images: np.ndarray) -> None:
    folder = root / "MNIST" / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    header = bytes([0, 0, 8, 3]) + np.array(images.shape, ">u4").tobytes()
    (folder / "train-images-idx3-ubyte").write_bytes(header + images.tobytes())


def images(n=30, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28), dtype=np.uint8)


def split_args(root, out, max_k=12, seed=3407, dataset="mnist"):
    return [
        "split", "--dataset", dataset, "--data-root", str(root), "--split-seed", str(seed),
        "--experiment", "exp", "--max-k", str(max_k),
        "--out-split", str(out / "exp" / "split.parquet"),
        "--out-pool", str(out / "exp" / "train_pool.npy"),
    ]  # fmt: skip


def test_permutation_is_the_papers_randperm_and_deterministic():
    expected = torch.randperm(1797, generator=torch.Generator().manual_seed(3407)).numpy()
    np.testing.assert_array_equal(permutation(1797, 3407), expected)
    np.testing.assert_array_equal(permutation(1797, 3407), permutation(1797, 3407))
    assert not np.array_equal(permutation(1797, 3407), permutation(1797, 1))
    assert sorted(permutation(50, 0)) == list(range(50))


def test_subsets_are_nested_prefixes():
    x = np.random.default_rng(1).standard_normal((200, 2, 2, 1)).astype(np.float32)
    hashes = image_hashes(x)
    table, prov = make_split(hashes, x.shape, 3407, "e", 150)
    ks = [1, 2, 7, 50, 150, 200]
    subsets = [subset_indices(table, k) for k in ks]
    for small, big in zip(subsets, subsets[1:]):
        assert set(small) <= set(big)
        np.testing.assert_array_equal(big[: len(small)], small)
    assert sorted(subsets[-1]) == list(range(200))  # K = N: the whole pool
    # the permutation does not depend on max K: a larger grid keeps every earlier subset
    other, _ = make_split(hashes, x.shape, 3407, "e", 200)
    pd.testing.assert_frame_equal(table.drop(columns="K"), other.drop(columns="K"))
    assert prov["dataset_hash"] == table["dataset_hash"].iloc[0]


def test_content_hash_is_sha256_of_float32_bytes():
    x = np.random.default_rng(2).standard_normal((3, 4, 4, 3)).astype(np.float32)
    assert image_hashes(x)[1] == hashlib.sha256(x[1].tobytes()).hexdigest()[:16]


def test_max_k_larger_than_data_is_an_error():
    with pytest.raises(ValueError, match="largest K = 11 but the data set holds 10"):
        make_split(["0"] * 10, (10, 1), 0, "e", 11)


def test_verify_split_names_changed_images():
    x = np.random.default_rng(3).standard_normal((20, 3, 3, 1)).astype(np.float32)
    table, _ = make_split(image_hashes(x), x.shape, 3407, "e", 10)
    verify_split(table, x)  # unchanged: no error
    y = x.copy()
    y[4, 0, 0, 0] += 1e-3
    pos = int(table.loc[table["index"] == 4, "position"].iloc[0])
    with pytest.raises(
        ValueError,
        match=rf"data file changed since split.*1 changed \[index 4 \(position {pos}\)\]",
    ):
        verify_split(table, y)
    with pytest.raises(ValueError, match="data file changed since split.*1 removed"):
        verify_split(table, x[:19])


def test_split_stage_writes_table_and_pool(tmp_path):
    raw = images()
    write_mnist(tmp_path / "data", raw)
    out = tmp_path / "R"
    assert memgen(split_args(tmp_path / "data", out, max_k=12)) == 0
    table = pd.read_parquet(out / "exp" / "split.parquet")
    assert list(table.columns) == [
        "experiment",
        "K",
        "seed",
        "position",
        "index",
        "content_hash",
        "dataset_hash",
    ]
    assert len(table) == 30 and (table["experiment"] == "exp").all()
    perm = torch.randperm(30, generator=torch.Generator().manual_seed(3407)).numpy()
    np.testing.assert_array_equal(table["index"], perm)
    np.testing.assert_array_equal(table["position"], np.arange(30))
    pool = np.load(out / "exp" / "train_pool.npy", mmap_mode="r")
    assert pool.shape == (12, 28, 28, 1) and pool.dtype == np.float32  # exactly max K rows
    full = load_dataset("mnist", tmp_path / "data")
    np.testing.assert_array_equal(pool, full[perm[:12]])  # subset K = rows [:K]
    assert table["content_hash"].tolist() == [image_hashes(full)[i] for i in perm]
    prov = read_provenance(out / "exp" / "split.parquet")
    assert prov["split_seed"] == 3407 and prov["max_k"] == 12 and prov["n_images"] == 30
    # deterministic: a second run gives the same bytes
    first = (out / "exp" / "train_pool.npy").read_bytes()
    assert memgen(split_args(tmp_path / "data", out, max_k=12)) == 0
    assert (out / "exp" / "train_pool.npy").read_bytes() == first
    assert sorted(p.name for p in (out / "exp").iterdir()) == [
        "scratch",
        "split.parquet",
        "train_pool.npy",
    ]


def test_changed_data_is_detected(tmp_path, caplog, capsys):
    raw = images()
    write_mnist(tmp_path / "data", raw)
    out = tmp_path / "R"
    assert memgen(split_args(tmp_path / "data", out)) == 0
    check = ["split-check", "--dataset", "mnist", "--data-root", str(tmp_path / "data"),
             "--split", str(out / "exp" / "split.parquet"), "--out", str(out / "check.json")]  # fmt: skip
    assert memgen(check) == 0 and (out / "check.json").exists()
    changed = raw.copy()
    changed[5, 10, 10] ^= 0xFF
    write_mnist(tmp_path / "data", changed)
    (out / "check.json").unlink()
    assert memgen(check) == 2
    assert "data file changed since split" in capsys.readouterr().err
    assert not (out / "check.json").exists()
    # Snakemake deletes outputs before rerunning: the warning must still fire (scratch copy)
    (out / "exp" / "split.parquet").unlink()
    with caplog.at_level(logging.WARNING, logger="memgen.data"):
        assert memgen(split_args(tmp_path / "data", out)) == 0
    warning = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "DATA CHANGED" in warning and "1 changed [index 5" in warning


@pytest.mark.parametrize(
    "setup, message",
    [
        ("missing", "MNIST/raw/train-images-idx3-ubyte"),
        ("truncated", "truncated"),
        ("too-small", "largest K = 12 but the data set holds 5"),
    ],
)
def test_split_failures_write_nothing(tmp_path, capsys, setup, message):
    if setup == "truncated":
        write_mnist(tmp_path / "data", images())
        f = tmp_path / "data" / "MNIST" / "raw" / "train-images-idx3-ubyte"
        f.write_bytes(f.read_bytes()[:-10])
    elif setup == "too-small":
        write_mnist(tmp_path / "data", images(5))
    out = tmp_path / "R"
    assert memgen(split_args(tmp_path / "data", out, max_k=12)) == 2
    assert message in capsys.readouterr().err
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))
