"""PF-ODE likelihood energies against analytic log-densities."""

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.special import logsumexp

from memgen.circle.energy import energy_from_logp, pf_ode_log_likelihood
from memgen.circle.exact import ExactScore

torch.set_num_threads(1)


class PointMassScore(torch.nn.Module):
    """Exact score of a single memory at the origin: p_t = N(0, t I)."""

    def forward(self, x, t):
        return -x / t[:, None]


class MixtureScore(torch.nn.Module):
    def __init__(self, mem):
        super().__init__()
        self.exact = ExactScore(mem)

    def forward(self, x, t):
        return self.exact(x, float(t[0]))


def gauss_logpdf(x, var):
    return -0.5 * (x**2).sum(1) / var - np.log(2 * np.pi * var)


def test_point_mass_likelihood_is_exact_with_gaussian_prior():
    x = np.array([[0.0, 0.0], [0.3, -0.2], [1.0, 1.0]])
    logp, nfev = pf_ode_log_likelihood(PointMassScore(), x, 0.05, rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(logp, gauss_logpdf(x, 0.05), atol=1e-4)
    assert nfev > 0


def test_mixture_prior_recovers_two_point_mixture_density():
    mem = np.array([[1.0, 0.0], [-0.5, 0.5]])
    x = np.array([[0.9, 0.1], [0.0, 0.0], [-0.4, 0.6]])
    t_e = 0.1
    logp, _ = pf_ode_log_likelihood(
        MixtureScore(mem), x, t_e, rtol=1e-7, atol=1e-7, prior="mixture", memories=mem
    )
    d2 = ((x[:, None] - mem[None]) ** 2).sum(-1)
    exact = logsumexp(-d2 / (2 * t_e), axis=1) - np.log(2) - np.log(2 * np.pi * t_e)
    np.testing.assert_allclose(logp, exact, atol=1e-3)


def test_energy_scale_is_two_sigma2_t():
    assert energy_from_logp(np.array([-1.0]), 0.05)[0] == 0.1  # not 4t (docs/method.md §10.11)


def test_centre_energies_are_the_likelihood_at_the_centres_not_grid_interpolation():
    """Planted case: two memories off the grid nodes, t_E = 0.01 (basin std 0.1, less than the
    20 x 20 grid spacing 0.16). With the exact score and the exact mixture prior the PF-ODE
    likelihood is the mixture density itself, so the centre energies have a closed form; the grid
    interpolation of the same energies misses the basins' bottoms."""
    from scipy.interpolate import RegularGridInterpolator

    from memgen.circle.energy import point_energies
    from memgen.circle.exact import energy_grid, finite_energy
    from memgen.figures.circle import centre_energies

    # mid-cell of the grid: -1.5 + (i + 1/2) * 3 / 19
    mem = -1.5 + (np.array([[13, 14], [3, 7]]) + 0.5) * 3 / 19
    t_e = 0.01
    net = MixtureScore(mem)
    logp, e, nfev = point_energies(net, mem, t_e, 1e-5, 1e-5, "mixture", mem)
    truth = (
        -2
        * t_e
        * (
            logsumexp(-((mem[:, None] - mem[None]) ** 2).sum(-1) / (2 * t_e), axis=1)
            - np.log(2)
            - np.log(2 * np.pi * t_e)
        )
    )
    np.testing.assert_allclose(e, truth, atol=2e-4)  # solver tolerance, in energy units
    assert nfev > 0
    # same as a tight-tolerance solve of the same points
    _, e_tight, _ = point_energies(net, mem, t_e, 1e-8, 1e-8, "mixture", mem)
    np.testing.assert_allclose(e, e_tight, atol=2e-4)
    # the grid (same likelihood, same tolerances) interpolated at the centres is far off
    grid = energy_grid(20, 1.5)
    _, e_grid, _ = point_energies(net, grid, t_e, 1e-5, 1e-5, "mixture", mem)
    axis = np.linspace(-1.5, 1.5, 20)
    interp = RegularGridInterpolator((axis, axis), e_grid.reshape(20, 20))(mem)
    assert np.isfinite(e_grid).all()
    # E ~ |x - xi|^2 + const near a memory: corners 0.079 away in x and y lie 0.0125 higher
    assert np.all(interp - e > 0.01)
    # the figure takes them from the centre table by cluster id, min-subtracted over centres
    clusters = pd.DataFrame({"cluster": [1, 0]})
    table = pd.DataFrame({"cluster": [0, 1], "energy": e})
    np.testing.assert_allclose(centre_energies(clusters, table), [e[1] - e.min(), e[0] - e.min()])
    with pytest.raises(ValueError, match="rerun circle-energy-centres"):
        centre_energies(pd.DataFrame({"cluster": [0, 7]}), table)
    # the closed-form finite-K energy agrees up to the mixture's normalisation constant
    fk = finite_energy(mem, mem, 1 / (2 * t_e))
    np.testing.assert_allclose(e - e.min(), fk - fk.min(), atol=2e-4)
