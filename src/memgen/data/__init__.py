"""Image data sets: readers for the paper's data (no downloads), user arrays and layout helpers.

Every reader returns float32 (N, H, W, C) in [-1, 1]; models work in (B, C, H, W): use to_nchw/to_nhwc.
The on-disk layout each reader expects under ``data_root`` is listed in ``DATASETS`` and docs/data.md.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import cifar, digits, folder, idx, lsun
from ._errors import DataFormatError
from .normalize import digits_to_unit, uint8_to_unit

__all__ = [
    "DATASETS",
    "DataFormatError",
    "Dataset",
    "data_files",
    "load_dataset",
    "load_image_array",
    "load_raw",
    "to_nchw",
    "to_nhwc",
]


@dataclass(frozen=True)
class Dataset:
    """How to read one data set: raw uint8 reader, its normaliser, and the expected layout (docs)."""

    read: Callable[..., np.ndarray]  # (root, path, limit, **options) -> uint8 (N, H, W, C)
    files: Callable[..., list[Path]]  # (root, path) -> the files whose content defines the data
    to_unit: Callable[[np.ndarray], np.ndarray]  # uint8 -> float32 [-1, 1]
    layout: str
    options: tuple[str, ...] = ()  # extra keyword options the reader accepts


DATASETS: dict[str, Dataset] = {
    "mnist": Dataset(
        lambda root, path, limit: idx.read("mnist", root, path, limit),
        lambda root, path: idx.files("mnist", root, path),
        uint8_to_unit,
        "<data_root>/<path>/MNIST/raw/train-images-idx3-ubyte[.gz] (torchvision layout)",
    ),
    "fmnist": Dataset(
        lambda root, path, limit: idx.read("fmnist", root, path, limit),
        lambda root, path: idx.files("fmnist", root, path),
        uint8_to_unit,
        "<data_root>/<path>/FashionMNIST/raw/train-images-idx3-ubyte[.gz] (torchvision layout)",
    ),
    "cifar10": Dataset(
        cifar.read,
        cifar.files,
        uint8_to_unit,
        "<data_root>/<path or cifar-10-batches-py>/data_batch_1..5 (python pickle batches)",
    ),
    "lsun_church": Dataset(
        lsun.read,
        lsun.files,
        uint8_to_unit,
        "<data_root>/<path or church_outdoor_train_lmdb>/data.mdb (LSUN lmdb, webp values)",
    ),
    "folder": Dataset(
        folder.read,
        folder.files,
        uint8_to_unit,
        "<data_root>/<path>/*.png|*.jpg (one size unless resized)",
        options=("resize",),
    ),
    "digits": Dataset(
        lambda root, path, limit: digits.read(limit),
        lambda root, path: [],
        digits_to_unit,
        "none: scikit-learn's load_digits (ships with scikit-learn)",
    ),
}


def _get(name: str) -> Dataset:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset '{name}'; choose one of {', '.join(sorted(DATASETS))}")
    return DATASETS[name]


def load_raw(
    name: str, root: str | os.PathLike, path: str | None = None, limit: int | None = None, **options
) -> np.ndarray:
    """The data set as stored: uint8 (N, H, W, C) (digits: grey levels 0..16). ``options``: resize (folder)."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    dataset = _get(name)
    unknown = sorted(k for k, v in options.items() if v is not None and k not in dataset.options)
    if unknown:
        raise ValueError(f"dataset '{name}' does not take option(s) {unknown}")
    options = {k: v for k, v in options.items() if v is not None}
    return dataset.read(Path(root), path or None, limit, **options)


def load_dataset(
    name: str, root: str | os.PathLike, path: str | None = None, limit: int | None = None, **options
) -> np.ndarray:
    """float32 (N, H, W, C) in [-1, 1]: (x/255 - 0.5)/0.5 as torchvision, digits x/8 - 1."""
    return _get(name).to_unit(load_raw(name, root, path, limit, **options))


def data_files(name: str, root: str | os.PathLike, path: str | None = None) -> list[Path]:
    """The files whose content defines the data set (empty for digits); raises if missing."""
    return _get(name).files(Path(root), path or None)


def to_nchw(x):
    """(N, H, W, C) -> (N, C, H, W) for numpy arrays (a view) and torch tensors (a permuted view)."""
    return x.permute(0, 3, 1, 2) if hasattr(x, "permute") else np.transpose(x, (0, 3, 1, 2))


def to_nhwc(x):
    """(N, C, H, W) -> (N, H, W, C) for numpy arrays (a view) and torch tensors (a permuted view)."""
    return x.permute(0, 2, 3, 1) if hasattr(x, "permute") else np.transpose(x, (0, 2, 3, 1))


def load_image_array(
    path: str | os.PathLike,
    chunk: int = 4096,
    *,
    what: str = "",
    hint: str = "",
    images: bool = False,
    as_stored: bool = False,
    vector_range: bool = True,
    limit: int | None = None,
) -> np.ndarray:
    """A .npy of images (N, H, W, C) or vectors (N, D), memory-mapped and checked: the one loader
    of image arrays (the pipeline's own pools and samples and a user's files alike).

    uint8 is mapped from [0, 255] to float32 [-1, 1]; float arrays must already lie in [-1, 1]
    (float32 is returned as the memory map itself, other floats are converted); ``as_stored``
    returns the checked memory map unconverted, whatever its dtype. NaN/inf or out-of-range values are errors, checked in chunks so a large file is
    never fully loaded for the check. ``what`` names the array in errors ("training pool"),
    ``hint`` says how to make a missing file ("run the split stage first"); ``images`` refuses
    vectors; ``vector_range=False`` accepts vectors (embeddings) outside [-1, 1]; ``limit``:
    only rows [:limit] (the K-subset of a pool) are checked and returned.
    """
    path = Path(path)
    name = f"{what} {path}" if what else str(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{name}: no such .npy file "
            + (f"({hint})" if hint else "(expected an array (N, H, W, C) or (N, D))")
        )
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as err:
        raise DataFormatError(f"{name}: not a numeric .npy array ({err})") from err
    shapes = (4,) if images else (2, 4)
    if arr.ndim not in shapes or arr.shape[0] == 0:
        expected = "images (N, H, W, C)" + ("" if images else " or vectors (N, D)")
        raise DataFormatError(
            f"{name}: shape {arr.shape}; expected {expected} with N >= 1"
            + (" (add a channel axis for grey images: (N, H, W, 1))" if arr.ndim == 3 else "")
        )
    if limit is not None:
        if limit > arr.shape[0]:
            raise ValueError(f"K={limit} exceeds the size {arr.shape[0]} of {name}; lower K")
        arr = arr[:limit]
    if arr.dtype == np.uint8:
        return arr if as_stored else uint8_to_unit(arr)
    if arr.dtype.kind != "f":
        raise DataFormatError(
            f"{name}: dtype {arr.dtype}; expected uint8 [0, 255] or float in [-1, 1]"
        )
    for start in range(0, arr.shape[0], chunk):
        part = np.asarray(arr[start : start + chunk])
        if not np.isfinite(part).all():
            bad = start + int(np.flatnonzero(~np.isfinite(part).reshape(len(part), -1).all(1))[0])
            raise DataFormatError(f"{name}: NaN or inf values (first in row {bad})")
        if arr.ndim == 2 and not vector_range:
            continue
        lo, hi = float(part.min()), float(part.max())
        if lo < -1.0 or hi > 1.0:
            raise DataFormatError(
                f"{name}: values in [{lo:g}, {hi:g}] around rows {start}..; float images must lie "
                "in [-1, 1] (map [0, 1] data with 2x - 1, or save uint8 [0, 255])"
            )
    return arr if as_stored or arr.dtype == np.float32 else arr.astype(np.float32)
