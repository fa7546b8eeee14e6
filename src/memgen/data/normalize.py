"""uint8 -> float32 in [-1, 1], bit-identical to torchvision's ToTensor + Normalize(0.5, 0.5)."""

from __future__ import annotations

import numpy as np

_F = np.float32


def uint8_to_unit(raw: np.ndarray) -> np.ndarray:
    """(x / 255 - 0.5) / 0.5 in float32, the same operations in the same order as torchvision."""
    return (raw.astype(_F) / _F(255.0) - _F(0.5)) / _F(0.5)


def digits_to_unit(raw: np.ndarray) -> np.ndarray:
    """scikit-learn digits have 17 grey levels 0..16: x / 8 - 1 maps them onto [-1, 1] exactly."""
    return raw.astype(_F) / _F(8.0) - _F(1.0)
