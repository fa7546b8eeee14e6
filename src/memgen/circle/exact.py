"""Closed-form circle energies, the exact empirical score, and the ``circle.exact`` section."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.special import i0e, i1e, logsumexp

from memgen.circle.perk import PerK, each
from memgen.sections import Section, section


@section("circle.exact")
@dataclass(frozen=True)
class CircleExactConfig(PerK, Section):
    """The ``circle.exact`` section: the exact empirical-score sampler as its own model.

    Its end time, prior and seed are those of ``circle.sample``; ``n_samples`` is per K.
    """

    PER_K = ("n_samples",)

    ks: list[int] = field(default_factory=lambda: [2, 9])
    n_samples: int | list[int] = 10_000
    steps: int = 1000

    def __post_init__(self):
        if any(n < 0 for n in each(self.n_samples)):
            raise ValueError(f"circle.exact.n_samples must be >= 0, got {self.n_samples}")
        if self.steps < 2:
            raise ValueError(f"circle.exact.steps must be >= 2, got {self.steps}")


def log_i0(z: np.ndarray) -> np.ndarray:
    """log I0(z) without overflow: log(i0e(z)) + |z|."""
    z = np.asarray(z, dtype=np.float64)
    return np.log(i0e(z)) + np.abs(z)


def circle_energy(r: np.ndarray, beta: float) -> np.ndarray:
    """K -> inf energy E(R) = R² + 1 - (1/β) log I0(2βR) (uniform measure on the unit circle)."""
    r = np.maximum(np.asarray(r, dtype=np.float64), 1e-6)
    return r**2 + 1.0 - log_i0(2.0 * beta * r) / beta


def circle_score(xy: np.ndarray, beta: float) -> np.ndarray:
    """-β ∇E = 2β (I1(2βR)/I0(2βR) - R) x/R, shape (N, 2)."""
    xy = np.asarray(xy, dtype=np.float64)
    r = np.maximum(np.linalg.norm(xy, axis=-1), 1e-6)
    ratio = i1e(2 * beta * r) / i0e(2 * beta * r)
    return (2.0 * beta * (ratio - r) / r)[:, None] * xy


def finite_energy(
    xy: np.ndarray, memories: np.ndarray, beta: float, mean: bool = True
) -> np.ndarray:
    """Log-sum-exp energy -(1/β) log Σ_μ exp(-β‖x - ξ_μ‖²) (``mean``: log of the average instead,
    which is what the K -> inf closed form is the limit of)."""
    xy = np.asarray(xy, dtype=np.float64)
    d2 = ((xy[:, None, :] - np.asarray(memories, np.float64)[None, :, :]) ** 2).sum(-1)
    lse = logsumexp(-beta * d2, axis=1)
    if mean:
        lse = lse - np.log(len(memories))
    return -lse / beta


class ExactScore:
    """Score of the K-point Gaussian mixture p_t = (1/K) Σ N(ξ_μ, t I) (σ = 1), in float64.

    s(x, t) = (softmax(-‖x - ξ‖² / 2t) · Ξ - x) / t — what a perfectly trained network learns on
    K points; used as its own "model" by the sampler.
    """

    def __init__(self, memories: np.ndarray, chunk: int = 4096):
        self.xi = torch.tensor(np.array(memories, dtype=np.float64))
        self.chunk = chunk

    def __call__(self, x: torch.Tensor, t: float) -> torch.Tensor:
        out = []
        xd = x.to(torch.float64)
        for part in torch.split(xd, self.chunk):
            d2 = torch.cdist(part, self.xi).pow(2)
            w = torch.softmax(-d2 / (2.0 * t), dim=1)
            out.append((w @ self.xi - part) / t)
        return torch.cat(out).to(x.dtype)


def energy_grid(n: int, extent: float) -> np.ndarray:
    """(n*n, 2) grid over [-extent, extent]² in torch linspace + meshgrid(indexing='ij') order."""
    g = torch.linspace(-extent, extent, n, dtype=torch.float64)
    gx, gy = torch.meshgrid(g, g, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1).numpy()
