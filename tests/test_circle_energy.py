"""PF-ODE likelihood energies against analytic log-densities (SPEC §2.2, §3.6)."""

import numpy as np
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
    assert energy_from_logp(np.array([-1.0]), 0.05)[0] == 0.1  # not 4t (defect D11)
