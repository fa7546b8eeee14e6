"""Nested training subsets (docs/method.md §4.1, §10.15): one seeded permutation per data set.

The subset for K is the first K positions of ``torch.randperm(N, generator=manual_seed(split_seed))``,
so every smaller subset lies inside every larger one. Decision for K = N: the paper's code trains on the
pool in its original order there; we use the permutation's prefix for every K (K = N included). It is the
same *set* of images, and training draws batches at random, so only the row order of the array differs;
in exchange "rows [:K] of train_pool.npy" holds for every K without a special case.

The split table records, for every image of the data set, its ``index`` (row in the original data),
``position`` (rank in the permutation; image in subset K iff position < K) and ``content_hash``
(sha256 of its float32 bytes), plus the hash of the whole data set, so a data file that changed since
the split was made is detected instead of silently used.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
import pandas as pd

HASH_CHARS = 16  # 64 bits per image: collisions are irrelevant at 10^5 images


def permutation(n: int, seed: int) -> np.ndarray:
    """The paper's permutation of range(n) (int64), identical to the official code's torch.randperm call."""
    import torch

    return torch.randperm(n, generator=torch.Generator().manual_seed(int(seed))).numpy()


def image_hashes(images: np.ndarray) -> list[str]:
    """Short sha256 of each image's float32 C-order bytes (images: float32 (N, ...))."""
    images = np.ascontiguousarray(images, dtype=np.float32)
    return [hashlib.sha256(row.tobytes()).hexdigest()[:HASH_CHARS] for row in images]


def dataset_hash(hashes: Iterable[str], shape: tuple[int, ...]) -> str:
    """One hash for the whole data set: its shape and the per-image hashes in original order."""
    blob = (",".join(str(s) for s in shape) + ";" + ",".join(hashes)).encode()
    return hashlib.sha256(blob).hexdigest()[:HASH_CHARS]


def make_split(
    hashes: list[str], shape: tuple[int, ...], seed: int, experiment: str, max_k: int
) -> tuple[pd.DataFrame, dict]:
    """Split table (one row per image of the data set, sorted by position) and its provenance."""
    n = len(hashes)
    if not 1 <= max_k <= n:
        raise ValueError(
            f"experiment {experiment}: largest K = {max_k} but the data set holds {n} images; "
            "lower images.<E>.ks or point the config at the full data set"
        )
    perm = permutation(n, seed)
    total = dataset_hash(hashes, shape)
    table = pd.DataFrame(
        {
            "experiment": experiment,
            "K": np.int64(max_k),  # the largest K this split serves (train_pool.npy has K rows)
            "seed": np.int64(seed),
            "position": np.arange(n, dtype=np.int64),
            "index": perm.astype(np.int64),
            "content_hash": [hashes[i] for i in perm],
            "dataset_hash": total,
        }
    )
    provenance = {
        "experiment": experiment,
        "split_seed": int(seed),
        "max_k": int(max_k),
        "n_images": n,
        "image_shape": list(shape[1:]),
        "dataset_hash": total,
    }
    return table, provenance


def subset_indices(split: pd.DataFrame, k: int) -> np.ndarray:
    """Original-data row indices of the subset for K, in permutation order."""
    return split.sort_values("position")["index"].to_numpy()[:k]


def changed_images(old: pd.DataFrame, hashes: list[str]) -> dict[str, list[int]]:
    """Compare a stored split with the current data: indices whose content changed, added, removed."""
    old_hash = dict(zip(old["index"].astype(int), old["content_hash"]))
    changed = sorted(i for i, h in old_hash.items() if i < len(hashes) and hashes[i] != h)
    removed = sorted(i for i in old_hash if i >= len(hashes))
    added = list(range(len(old_hash), len(hashes)))
    return {"changed": changed, "added": added, "removed": removed}


def describe_changes(diff: dict[str, list[int]], old: pd.DataFrame | None = None) -> str:
    """One line: how many images changed and which (first few indices, with their positions)."""
    pos = {} if old is None else dict(zip(old["index"].astype(int), old["position"].astype(int)))
    parts = []
    for what, idxs in diff.items():
        if idxs:
            shown = ", ".join(
                f"{i}" + (f" (position {pos[i]})" if i in pos else "") for i in idxs[:10]
            )
            parts.append(f"{len(idxs)} {what} [index {shown}{', ...' if len(idxs) > 10 else ''}]")
    text = "; ".join(parts) or "shape or order differs"
    if old is not None and "K" in old and pos:
        max_k = int(old["K"].iloc[0])
        hit = sum(pos.get(i, max_k) < max_k for i in diff["changed"] + diff["removed"])
        text += f" — {hit} of them in the training pool (position < max K = {max_k})"
    return text


def verify_hashes(split: pd.DataFrame, hashes: list[str], shape: tuple[int, ...], where="") -> str:
    """Raise ValueError naming the changed images when ``hashes`` differ from the stored split."""
    stored = str(split["dataset_hash"].iloc[0])
    current = dataset_hash(hashes, shape)
    if current != stored:
        raise ValueError(
            f"data file changed since split {where} was made (dataset hash {stored} -> {current}): "
            f"{describe_changes(changed_images(split, hashes), split)}. If the change is intended, "
            "rerun the split stage (snakemake --forcerun split) and everything downstream; "
            "otherwise restore the original data."
        )
    return current


def verify_split(split: pd.DataFrame, images: np.ndarray, where: str = "") -> str:
    """verify_hashes for float32 images (N, ...) in original order; returns the dataset hash."""
    return verify_hashes(split, image_hashes(images), images.shape, where)
