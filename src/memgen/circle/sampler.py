"""Euler–Maruyama for the reverse VE SDE dx = -σ² s(x, t) dt + σ dW̄ (SPEC §2.2)."""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np
import torch
from tqdm import tqdm


def euler_maruyama(
    score: Callable[[torch.Tensor, float], torch.Tensor],
    n: int,
    steps: int,
    t_end: float,
    prior_std: float,
    seed: int,
    sigma: float = 1.0,
    dtype: torch.dtype = torch.float32,
    device: str = "cpu",
    progress: bool = True,
) -> np.ndarray:
    """Integrate from t = 1 to ``t_end`` on linspace(1, t_end, steps); x_1 ~ N(0, prior_std² I).

    Each step is x_mean = x + σ² s(x, t) Δ, x = x_mean + σ sqrt(Δ) z; the LAST step returns the
    mean without noise (pitfall P1: noise there alone caps copies at ~72 % even for the exact
    score). Returns (n, 2) float64.
    """
    if steps < 2:
        raise ValueError(f"sampling steps must be >= 2, got {steps}")
    if not 0 < t_end < 1:
        raise ValueError(f"sample t_end must be in (0, 1), got {t_end}")
    gen = torch.Generator().manual_seed(seed)
    x = (torch.randn(n, 2, generator=gen, dtype=torch.float64) * prior_std).to(dtype).to(device)
    times = np.linspace(1.0, t_end, steps)
    dt = (1.0 - t_end) / (steps - 1)
    x_mean = x
    with torch.no_grad():
        for t in tqdm(times, file=sys.stderr, disable=not progress, mininterval=5.0, desc="EM"):
            x_mean = x + sigma**2 * score(x, float(t)) * dt
            z = torch.randn(n, 2, generator=gen, dtype=torch.float64).to(dtype).to(device)
            x = x_mean + sigma * np.sqrt(dt) * z
    return x_mean.detach().cpu().double().numpy()
