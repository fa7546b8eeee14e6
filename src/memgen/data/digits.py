"""scikit-learn's 8x8 handwritten digits (ships with scikit-learn, no download): the CPU demo set."""

from __future__ import annotations

import numpy as np


def read(limit: int | None = None) -> np.ndarray:
    """uint8 (1797, 8, 8, 1) with grey levels 0..16 (normalised with x / 8 - 1)."""
    from sklearn.datasets import load_digits

    images = load_digits().images[:limit]
    return images.astype(np.uint8)[..., None]
