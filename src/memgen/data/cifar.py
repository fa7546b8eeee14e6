"""CIFAR-10 training images from the python pickle batches (the official cifar-10-python.tar.gz).

Layout: <dir>/data_batch_1 .. data_batch_5, each a pickled dict with b'data' (10000, 3072) uint8, rows
R(1024) G(1024) B(1024) — torchvision's CIFAR10 reads the same files in the same order.
Unpickling runs code named in the file, so we use a restricted unpickler that only rebuilds numpy
arrays and plain containers (a data file should never be able to execute anything).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from ._errors import DataFormatError

FOLDER = "cifar-10-batches-py"
BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
_ALLOWED = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),
}


class _NumpyOnly(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")


def locate(root: Path, path: str | None = None) -> Path:
    base = Path(root) / (path or FOLDER)
    for folder in (base, base / FOLDER):
        if all((folder / b).is_file() for b in BATCHES):
            return folder
    missing = [b for b in BATCHES if not (base / b).is_file()]
    raise DataFormatError(
        f"cifar10: missing {', '.join(missing)} in {base}. Expected the CIFAR-10 python batches "
        f"{base}/data_batch_1 .. data_batch_5 (extract cifar-10-python.tar.gz from "
        "https://www.cs.toronto.edu/~kriz/cifar.html into data_root)."
    )


def _load_batch(file: Path) -> np.ndarray:
    try:
        with open(file, "rb") as fh:
            entry = _NumpyOnly(fh, encoding="latin1").load()
    except Exception as err:
        raise DataFormatError(f"{file}: not a CIFAR-10 python pickle batch ({err})") from err
    data = entry.get("data", entry.get(b"data")) if isinstance(entry, dict) else None
    data = None if data is None else np.asarray(data)
    if data is None or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        shape = None if data is None else (data.shape, data.dtype)
        raise DataFormatError(
            f"{file}: expected a dict with 'data' of shape (n, 3072) uint8, got {shape}"
        )
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def read(root: Path, path: str | None = None, limit: int | None = None) -> np.ndarray:
    """uint8 (N, 32, 32, 3), batches 1..5 concatenated."""
    folder = locate(root, path)
    parts, count = [], 0
    for batch in BATCHES:
        if limit is not None and count >= limit:
            break
        parts.append(_load_batch(folder / batch))
        count += len(parts[-1])
    images = np.concatenate(parts)
    return np.ascontiguousarray(images[:limit] if limit is not None else images)


def files(root: Path, path: str | None = None) -> list[Path]:
    folder = locate(root, path)
    return [folder / b for b in BATCHES]
