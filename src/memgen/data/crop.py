"""The ADM centre crop (guided-diffusion ``center_crop_arr``, docs/method.md §4.1) used for LSUN and resized folders."""

from __future__ import annotations

import numpy as np
from PIL import Image


def adm_center_crop(image: Image.Image, size: int) -> np.ndarray:
    """PIL image -> uint8 array (size, size, channels).

    Halve with BOX while the short side is >= 2*size (cheap anti-aliasing), then scale the short side
    to ``size`` with BICUBIC (other side rounded), then take the central size x size window.
    """
    while min(image.size) >= 2 * size:
        image = image.resize(tuple(s // 2 for s in image.size), resample=Image.BOX)
    scale = size / min(image.size)
    image = image.resize(tuple(round(s * scale) for s in image.size), resample=Image.BICUBIC)
    arr = np.asarray(image)
    top = (arr.shape[0] - size) // 2
    left = (arr.shape[1] - size) // 2
    return arr[top : top + size, left : left + size]
