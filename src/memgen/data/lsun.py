"""LSUN church_outdoor (train) from its lmdb database, as torchvision's LSUNClass reads it.

Keys are visited in lmdb's (sorted) cursor order, each value is an encoded image (webp in the official
release; jpeg/png also work) decoded by PIL and converted to RGB, then ADM-centre-cropped to 64x64.
The database is streamed one record at a time (readahead off), so only the decoded 64x64 pool is held
in memory (126,227 x 64 x 64 x 3 uint8 = 1.5 GB), never the 2.3 GB of encoded images.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from ._errors import DataFormatError
from .crop import adm_center_crop

FOLDER = "church_outdoor_train_lmdb"
RESOLUTION = 64


def locate(root: Path, path: str | None = None) -> Path:
    base = Path(root) / (path or FOLDER)
    if (base / "data.mdb").is_file():
        return base
    raise DataFormatError(
        f"lsun_church: no lmdb database at {base} (expected {base}/data.mdb). Get "
        "church_outdoor_train_lmdb.zip from the LSUN site (https://github.com/fyu/lsun: "
        "`python download.py -c church_outdoor`) and unzip it into data_root."
    )


def read(
    root: Path, path: str | None = None, limit: int | None = None, size: int = RESOLUTION
) -> np.ndarray:
    """uint8 (N, size, size, 3) in key order."""
    import lmdb

    folder = locate(root, path)
    try:
        env = lmdb.open(
            str(folder), max_readers=1, readonly=True, lock=False, readahead=False, meminit=False
        )
    except lmdb.Error as err:
        raise DataFormatError(f"{folder}: cannot open as an lmdb database ({err})") from err
    with env:
        n = env.stat()["entries"]
        if n == 0:
            raise DataFormatError(f"{folder}: the lmdb database is empty")
        n = min(n, limit) if limit is not None else n
        out = np.empty((n, size, size, 3), dtype=np.uint8)
        with env.begin(write=False) as txn:
            cursor = txn.cursor()
            for i, (key, value) in enumerate(
                tqdm(cursor.iternext(), total=n, desc="lsun decode", mininterval=10)
            ):
                if i >= n:
                    break
                try:
                    image = Image.open(io.BytesIO(value)).convert("RGB")
                except (UnidentifiedImageError, OSError) as err:
                    raise DataFormatError(
                        f"{folder}: record {i} (key {key[:40]!r}) is not an encoded image "
                        f"(webp/jpeg/png) ({err})"
                    ) from err
                out[i] = adm_center_crop(image, size)
    return out


def files(root: Path, path: str | None = None) -> list[Path]:
    return [locate(root, path) / "data.mdb"]
