"""Learned energy from the probability-flow ODE likelihood.

log p_{t_E}(x) = log p_1(x(1)) + ℓ(1), integrating dx/dt = -½σ² s(x, t) and
dℓ/dt = -½σ² ∇·s(x, t) from t_E to 1 (all points as one stacked system, RK45). The divergence is
exact (2 autograd passes in 2-D). Energy E = -2σ² t_E log p (Boltzmann factor β = 1/(2σ² t_E);
the official code's factor 4t is wrong by 2).

Cluster centres get their energy from the same likelihood evaluated AT the centres, not from the
grid: the 20 x 20 grid's spacing (0.16 over [-1.5, 1.5]) is as wide as a memorized basin at small
t_E, so interpolating it misses the minima the centres sit in.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.integrate import solve_ivp
from scipy.special import logsumexp

from memgen.circle.perk import PerK, each
from memgen.noise import VESDE
from memgen.sections import Section, section

PRIORS = ("gaussian", "mixture")


@section("circle.energy")
@dataclass(frozen=True)
class CircleEnergyConfig(PerK, Section):
    """The ``circle.energy`` section: learned energies by the PF-ODE likelihood (``t`` per K)."""

    PER_K = ("t",)

    t: float | list[float] = 0.05
    grid: int = 20
    extent: float = 1.5
    rtol: float = 1e-5
    atol: float = 1e-5
    prior: str = "gaussian"
    beta_exact: float | str = "auto"
    device: str = "auto"
    impl_version: int = 1

    def __post_init__(self):
        if any(not 0 < v < 1 for v in each(self.t)):
            raise ValueError(f"circle.energy.t must be in (0, 1), got {self.t}")
        if self.prior not in PRIORS:
            raise ValueError(f"circle.energy.prior must be one of {PRIORS}, got {self.prior!r}")
        if self.grid < 2 or self.extent <= 0:
            raise ValueError("circle.energy.grid must be >= 2 and extent > 0")
        if self.beta_exact != "auto" and not (
            isinstance(self.beta_exact, (int, float)) and self.beta_exact > 0
        ):
            raise ValueError(f"circle.energy.beta_exact must be 'auto' or > 0, got {self.beta_exact!r}")

    def beta(self) -> float:
        """Inverse temperature of the K -> inf panel: ``beta_exact``, or (auto) 1 / (2 t_E) of the
        largest K (the last per-K entry), the learned panels' own temperature."""
        if self.beta_exact != "auto":
            return float(self.beta_exact)
        return 1.0 / (2.0 * each(self.t)[-1])


def score_and_divergence(net, x: np.ndarray, t: float, device: str = "cpu", process=None):
    """(score (N, 2), exact divergence (N,)) of ``net`` at (x, t), float64."""
    process = process or VESDE()
    xt = torch.tensor(x, dtype=torch.float64, device=device, requires_grad=True)
    tt = torch.full((len(x),), t, dtype=torch.float64, device=device)
    s = process.score(net(xt, tt), tt)
    div = torch.zeros(len(x), dtype=torch.float64, device=device)
    for i in range(2):
        (g,) = torch.autograd.grad(s[:, i].sum(), xt, retain_graph=i == 0)
        div = div + g[:, i]
    return s.detach().cpu().numpy(), div.cpu().numpy()


def log_prior(x: np.ndarray, kind: str, sigma: float, memories: np.ndarray | None) -> np.ndarray:
    """log p_1: N(0, σ² I) (paper/code) or the exact K-point mixture (1/K) Σ N(ξ_μ, σ² I)."""
    var = sigma**2
    if kind == "gaussian":
        return -0.5 * (x**2).sum(1) / var - math.log(2 * math.pi * var)
    if kind == "mixture":
        if memories is None:
            raise ValueError("energy prior 'mixture' needs the training points")
        d2 = ((x[:, None, :] - memories[None, :, :]) ** 2).sum(-1)
        return (
            logsumexp(-0.5 * d2 / var, axis=1)
            - math.log(len(memories))
            - math.log(2 * math.pi * var)
        )
    raise ValueError(f"circle.energy.prior must be one of {PRIORS}, got {kind!r}")


def pf_ode_log_likelihood(
    net,
    points: np.ndarray,
    t_e: float,
    rtol: float = 1e-5,
    atol: float = 1e-5,
    prior: str = "gaussian",
    memories: np.ndarray | None = None,
    process: VESDE | None = None,
    device: str = "cpu",
) -> tuple[np.ndarray, int]:
    """log p_{t_E}(points) under the learned model; returns (log p (N,), RHS evaluations).

    The probability-flow ODE and the prior at t = 1 are those of ``process`` (default: σ = 1).
    """
    if not 0 < t_e < 1:
        raise ValueError(f"circle.energy.t must be in (0, 1), got {t_e}")
    process = process or VESDE()
    net64 = copy.deepcopy(net).to(device=device, dtype=torch.float64).eval()
    for p in net64.parameters():
        p.requires_grad_(False)
    n = len(points)
    nfev = 0

    def rhs(t, y):
        nonlocal nfev
        nfev += 1
        s, div = score_and_divergence(net64, y[: 2 * n].reshape(n, 2), float(t), device, process)
        # d(log p)/dt along the flow is minus the divergence of the drift.
        return np.concatenate([process.pf_ode_drift(s.reshape(-1)), process.pf_ode_drift(div)])

    y0 = np.concatenate([np.asarray(points, np.float64).reshape(-1), np.zeros(n)])
    sol = solve_ivp(rhs, (t_e, 1.0), y0, method="RK45", rtol=rtol, atol=atol)
    if not sol.success:
        raise RuntimeError(f"PF-ODE integration failed: {sol.message}; loosen rtol/atol")
    y1 = sol.y[:, -1]
    x1 = y1[: 2 * n].reshape(n, 2)
    return log_prior(x1, prior, process.prior_std(), memories) + y1[2 * n :], nfev


def energy_from_logp(logp: np.ndarray, t_e: float, sigma: float = 1.0) -> np.ndarray:
    """E = -2σ² t_E log p."""
    return -2.0 * sigma**2 * t_e * np.asarray(logp)


def learned_score(net, points: np.ndarray, t: float, device: str = "cpu", process=None) -> np.ndarray:
    """Learned score at time t (for the quiver), float64 (N, 2)."""
    process = process or VESDE()
    with torch.no_grad():
        x = torch.tensor(points, dtype=torch.float32, device=device)
        tt = torch.full((len(points),), t, dtype=torch.float32, device=device)
        return process.score(net(x, tt), tt).double().cpu().numpy()


def point_energies(
    net,
    points: np.ndarray,
    t_e: float,
    rtol: float = 1e-5,
    atol: float = 1e-5,
    prior: str = "gaussian",
    memories: np.ndarray | None = None,
    device: str = "cpu",
) -> tuple[np.ndarray, np.ndarray, int]:
    """(log p, energy, RHS evaluations) of the learned model at ``points`` (N, 2), by the same
    PF-ODE likelihood (solver and tolerances) as the energy grid."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(points) == 0:
        return np.empty(0), np.empty(0), 0
    logp, nfev = pf_ode_log_likelihood(
        net, points, t_e, rtol=rtol, atol=atol, prior=prior, memories=memories, device=device
    )
    return logp, energy_from_logp(logp, t_e), nfev
