"""A user's folder of png/jpg images (sorted file names), e.g. for one's own data set.

All images must share one size unless ``resize`` is given, in which case each is ADM-centre-cropped to
resize x resize (the LSUN preprocessing). Grey-scale folders give 1 channel, anything else RGB.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ._errors import DataFormatError
from .crop import adm_center_crop

EXTENSIONS = {".png", ".jpg", ".jpeg"}
_GREY = {"1", "L"}
_COLOUR = {"P", "RGB", "RGBA", "LA", "CMYK", "YCbCr", "PA"}


def locate(root: Path, path: str | None = None) -> Path:
    folder = Path(root) / (path or "")
    if not folder.is_dir():
        raise DataFormatError(
            f"folder: {folder} is not a directory; expected a folder of .png/.jpg images "
            "(set images.<E>.path relative to data_root)"
        )
    return folder


def files(root: Path, path: str | None = None) -> list[Path]:
    folder = locate(root, path)
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in EXTENSIONS)
    if not found:
        raise DataFormatError(f"folder: no .png/.jpg images in {folder}")
    return found


def read(
    root: Path, path: str | None = None, limit: int | None = None, resize: int | None = None
) -> np.ndarray:
    """uint8 (N, H, W, C) in sorted file-name order."""
    paths = files(root, path)[:limit]
    meta = [_header(p) for p in paths]  # (size, mode) without decoding or keeping files open
    modes = {mode for _, mode in meta}
    bad = modes - _GREY - _COLOUR
    if bad:
        raise DataFormatError(
            f"folder: unsupported image mode(s) {sorted(bad)}; use 8-bit grey or RGB"
        )
    mode = "L" if modes <= _GREY else "RGB"
    if resize is None and len({size for size, _ in meta}) > 1:
        first = {}
        for p, (size, _) in zip(paths, meta):
            first.setdefault(size, p.name)
        listing = ", ".join(f"{w}x{h} (e.g. {name})" for (w, h), name in sorted(first.items()))
        raise DataFormatError(
            f"folder: images in {paths[0].parent} have different sizes: {listing}. "
            "Resize them to one size or pass a resize option (ADM centre crop)."
        )
    out = []
    for p in paths:
        try:
            with Image.open(p) as im:
                im = im.convert(mode)
        except OSError as err:  # truncated/corrupt pixel data shows up only when decoding
            raise DataFormatError(f"folder: cannot decode {p} ({err})") from err
        arr = adm_center_crop(im, resize) if resize is not None else np.asarray(im)
        out.append(arr.reshape(arr.shape[0], arr.shape[1], -1))
    return np.stack(out).astype(np.uint8, copy=False)


def _header(p: Path) -> tuple[tuple[int, int], str]:
    try:
        with Image.open(p) as im:
            return im.size, im.mode
    except (UnidentifiedImageError, OSError) as err:
        raise DataFormatError(f"folder: {p} is not a readable png/jpg image ({err})") from err
