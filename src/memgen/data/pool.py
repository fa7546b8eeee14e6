"""The split stage's work: hash a data set, build its nested split and write the training pool."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..io import atomic_path, preallocate, read_parquet, write_parquet
from . import DATASETS, load_raw
from .splits import changed_images, describe_changes, image_hashes, make_split, verify_hashes

log = logging.getLogger("memgen.data")
CHUNK = 2048  # images converted to float32 at a time (bounded memory for LSUN's 126k images)


def hash_raw(raw: np.ndarray, to_unit) -> list[str]:
    """Per-image content hashes of the *normalised* float32 images, computed chunk by chunk."""
    hashes: list[str] = []
    for start in range(0, len(raw), CHUNK):
        hashes += image_hashes(to_unit(raw[start : start + CHUNK]))
    return hashes


def previous_split(out_split: Path) -> tuple[pd.DataFrame | None, Path | None]:
    """The last split written for this experiment: the output itself, or its undeclared copy.

    Snakemake deletes a job's outputs before rerunning it, so the comparison with the old split
    relies on the copy kept in scratch/ (not a declared output, never deleted by Snakemake).
    """
    for cand in (out_split, history_path(out_split)):
        if cand.is_file():
            return read_parquet(cand), cand
    return None, None


def history_path(out_split: Path) -> Path:
    return out_split.parent / "scratch" / "split_last.parquet"


def write_pool(raw: np.ndarray, order: np.ndarray, to_unit, out_pool: Path) -> None:
    """float32 (len(order), H, W, C) = to_unit(raw[order]), streamed into an atomically renamed .npy.

    Written through an open_memmap instead of io.save_npy so the float32 pool (6 GB for LSUN) is never
    held in memory next to the uint8 data; same temp-file + os.replace guarantee (io.atomic_path).
    """
    shape = (len(order),) + raw.shape[1:]
    with atomic_path(out_pool, ".npy") as tmp:
        pool = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
        preallocate(tmp)
        for start in range(0, len(order), CHUNK):
            pool[start : start + CHUNK] = to_unit(raw[order[start : start + CHUNK]])
        pool.flush()
        del pool


def run_split(
    dataset: str,
    data_root: str | os.PathLike,
    path: str | None,
    seed: int,
    experiment: str,
    max_k: int,
    out_split: str | os.PathLike,
    out_pool: str | os.PathLike,
    resize: int | None = None,
) -> pd.DataFrame:
    out_split, out_pool = Path(out_split), Path(out_pool)
    options = {"resize": resize} if resize else {}
    raw = load_raw(dataset, data_root, path, **options)
    to_unit = DATASETS[dataset].to_unit
    log.info("%s: read %d images of shape %s from %s", dataset, len(raw), raw.shape[1:], data_root)
    hashes = hash_raw(raw, to_unit)
    table, provenance = make_split(hashes, raw.shape, seed, experiment, max_k)
    provenance.update(dataset=dataset, path=path or "", data_root=str(data_root), resize=resize)
    old, where = previous_split(out_split)
    if old is not None and str(old["dataset_hash"].iloc[0]) != provenance["dataset_hash"]:
        log.warning(
            "!!! DATA CHANGED since the split in %s was made (dataset hash %s -> %s): %s. "
            "Every model trained on the old split used different images; rerun everything downstream.",
            where,
            old["dataset_hash"].iloc[0],
            provenance["dataset_hash"],
            describe_changes(changed_images(old, hashes), old),
        )
    order = table["index"].to_numpy()[:max_k]
    write_pool(raw, order, to_unit, out_pool)
    write_parquet(table, history_path(out_split), provenance=provenance)
    write_parquet(table, out_split, provenance=provenance)
    log.info(
        "split %s: %d images, pool of %d (max K) -> %s; dataset hash %s",
        experiment,
        len(raw),
        max_k,
        out_pool,
        provenance["dataset_hash"],
    )
    return table


def check_split(
    dataset: str,
    data_root: str | os.PathLike,
    path: str | None,
    split_path: str | os.PathLike,
    resize: int | None = None,
) -> str:
    """Re-hash the data and compare with a stored split; ValueError naming the changed images."""
    split = read_parquet(split_path)
    options = {"resize": resize} if resize else {}
    raw = load_raw(dataset, data_root, path, **options)
    return verify_hashes(
        split, hash_raw(raw, DATASETS[dataset].to_unit), raw.shape, str(split_path)
    )
