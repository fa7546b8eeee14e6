"""Euler–Maruyama sampling of the circle's reverse VE SDE, and the ``circle.sample`` section."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from memgen.circle.perk import PerK, each
from memgen.noise import VESDE
from memgen.sections import Section, section


@section("circle.sample")
@dataclass(frozen=True)
class CircleSampleConfig(PerK, Section):
    """The ``circle.sample`` section: sampling the trained network (``n_samples`` is per K)."""

    PER_K = ("n_samples",)

    n_samples: int | list[int] = 10_000
    steps: int = 1000
    t_end: float = 1e-3
    prior_std: float = 1.0
    seed: int = 0
    device: str = "auto"

    def __post_init__(self):
        if any(n < 0 for n in each(self.n_samples)):
            raise ValueError(f"circle.sample.n_samples must be >= 0, got {self.n_samples}")
        if self.steps < 2:
            raise ValueError(f"circle.sample.steps must be >= 2, got {self.steps}")
        if not 0 < self.t_end < 1:
            raise ValueError(f"circle.sample.t_end must be in (0, 1), got {self.t_end}")
        if self.prior_std <= 0:
            raise ValueError(f"circle.sample.prior_std must be > 0, got {self.prior_std}")


def euler_maruyama(
    score: Callable[[torch.Tensor, float], torch.Tensor],
    n: int,
    steps: int,
    t_end: float,
    prior_std: float,
    seed: int,
    process: VESDE | None = None,
    dtype: torch.dtype = torch.float32,
    device: str = "cpu",
    progress: bool = True,
) -> np.ndarray:
    """Integrate from t = 1 to ``t_end`` on linspace(1, t_end, steps); x_1 ~ N(0, prior_std² I).

    Each step is the process's reverse-SDE step x_mean = x + σ² s(x, t) Δ, x = x_mean + σ sqrt(Δ) z;
    the LAST step returns the mean without noise (noise there alone would cap the copies of even
    the exact score at ~72 %). Returns (n, 2) float64.
    """
    if steps < 2:
        raise ValueError(f"sampling steps must be >= 2, got {steps}")
    if not 0 < t_end < 1:
        raise ValueError(f"sample t_end must be in (0, 1), got {t_end}")
    process = process or VESDE()
    gen = torch.Generator().manual_seed(seed)
    x = (torch.randn(n, 2, generator=gen, dtype=torch.float64) * prior_std).to(dtype).to(device)
    times = np.linspace(1.0, t_end, steps)
    dt = (1.0 - t_end) / (steps - 1)
    x_mean = x
    with torch.no_grad():
        for t in tqdm(times, file=sys.stderr, disable=not progress, mininterval=5.0, desc="EM"):
            s = score(x, float(t))
            z = torch.randn(n, 2, generator=gen, dtype=torch.float64).to(dtype).to(device)
            x, x_mean = process.reverse_sde_step(x, s, dt, z)
    return x_mean.detach().cpu().double().numpy()
