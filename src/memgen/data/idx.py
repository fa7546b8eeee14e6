"""MNIST / Fashion-MNIST training images from the idx files (LeCun's format, torchvision's layout).

Hand-written rather than calling torchvision.datasets.MNIST: torchvision insists on its processed/ cache
or a download, whereas we only want to *read* the raw file where the user put it. The parsing follows
torchvision's ``read_sn3_pascalvincent_tensor``: a big-endian header ``0 0 <type> <ndim>``, ``ndim``
uint32 sizes, then the raw bytes. We accept only what the training images are: ubyte (0x08), 3 dims.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ._errors import DataFormatError

IMAGES = "train-images-idx3-ubyte"
FOLDERS = {"mnist": "MNIST", "fmnist": "FashionMNIST"}
UBYTE, NDIM = 0x08, 3


def candidates(name: str, root: Path, path: str | None = None) -> list[Path]:
    """Where the image file may live, in lookup order (torchvision layout first, then a direct folder)."""
    base = Path(root) / path if path else Path(root)
    folders = [base / FOLDERS[name] / "raw", base / "raw", base]
    return [f / (IMAGES + gz) for f in folders for gz in ("", ".gz")]


def locate(name: str, root: Path, path: str | None = None) -> Path:
    base = Path(root) / path if path else Path(root)
    if base.is_file():  # `path` may name the idx file itself
        return base
    for cand in candidates(name, root, path):
        if cand.is_file():
            return cand
    expected = Path(root) / (path or "") / FOLDERS[name] / "raw" / IMAGES
    raise DataFormatError(
        f"{name}: training images not found. Expected the idx file {expected} (or {expected}.gz), "
        f"torchvision's layout, or {IMAGES}[.gz] directly in {base}. "
        "Get it with torchvision.datasets."
        f"{'MNIST' if name == 'mnist' else 'FashionMNIST'}(root='{root}', download=True) on a machine "
        "with internet, then copy the folder."
    )


def parse(blob: bytes, where: Path) -> np.ndarray:
    """Bytes of an idx3-ubyte file -> uint8 array (N, H, W); every inconsistency is an error."""
    if len(blob) < 4:
        raise DataFormatError(f"{where}: truncated idx file ({len(blob)} bytes)")
    if blob[0] != 0 or blob[1] != 0 or blob[2] != UBYTE or blob[3] != NDIM:
        magic = int.from_bytes(blob[:4], "big")
        raise DataFormatError(
            f"{where}: wrong magic number 0x{magic:08x}; an idx image file starts with 0x00000803 "
            "(unsigned bytes, 3 dimensions). Is this the labels file or a different format?"
        )
    if len(blob) < 4 + 4 * NDIM:
        raise DataFormatError(f"{where}: truncated idx file ({len(blob)} bytes, header needs 16)")
    dims = np.frombuffer(blob, dtype=">u4", count=NDIM, offset=4).astype(np.int64)
    if dims.min() <= 0:
        raise DataFormatError(f"{where}: idx header declares an empty array {tuple(dims)}")
    expected = 16 + int(np.prod(dims))
    if len(blob) != expected:
        what = "truncated" if len(blob) < expected else "has trailing bytes"
        raise DataFormatError(
            f"{where}: idx file {what}: header says {tuple(int(d) for d in dims)} images "
            f"({expected} bytes) but the file holds {len(blob)} bytes. Re-download or re-copy it."
        )
    return np.frombuffer(blob, dtype=np.uint8, offset=16).reshape(*dims)


def read(name: str, root: Path, path: str | None = None, limit: int | None = None) -> np.ndarray:
    """uint8 (N, 28, 28, 1) in file order."""
    file = locate(name, root, path)
    try:
        if file.suffix == ".gz":
            with gzip.open(file, "rb") as fh:
                blob = fh.read()
        else:
            blob = file.read_bytes()
    except (OSError, EOFError) as err:  # corrupt / truncated gzip stream
        raise DataFormatError(
            f"{file}: cannot decompress ({err}); expected a gzipped idx file"
        ) from err
    images = parse(blob, file)
    if limit is not None:
        images = images[:limit]
    return np.ascontiguousarray(images)[..., None]


def files(name: str, root: Path, path: str | None = None) -> list[Path]:
    return [locate(name, root, path)]
