"""Ground truth for the curvature estimators: Gaussian data has a linear score s = -Sigma_t^-1 (x - sqrt(abar) mu)."""

import numpy as np
import pytest
import torch

from memgen.curvature import (
    jacobian_batch,
    jacobian_batch_loop,
    jacobian_spectra,
    lanczos_topk,
    score_matrix_spectrum,
)
from memgen.schedules import DDPMSchedule

torch.set_num_threads(1)
SCHED = DDPMSchedule()


class GaussianEps(torch.nn.Module):
    """Exact eps for data N(mu, Sigma0): eps = sigma_t Sigma_t^-1 (x - sqrt(abar) mu), Sigma_t = abar Sigma0 + (1-abar) I."""

    def __init__(self, mu, cov0):
        super().__init__()
        self.mu, self.cov0 = mu.double(), cov0.double()

    def prec(self, t):
        abar = SCHED.alphas_cumprod.double()[t]
        return torch.linalg.inv(abar * self.cov0 + (1 - abar) * torch.eye(len(self.mu), dtype=torch.float64))

    def forward(self, x, t):
        abar = SCHED.alphas_cumprod.double()[t[0]]
        xf = x.reshape(x.shape[0], -1).double() - abar.sqrt() * self.mu
        eps = (1 - abar).sqrt() * xf @ self.prec(t[0]).T
        return eps.to(x.dtype).reshape(x.shape)


def _model(d=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    lam = torch.logspace(-3, 0, d, dtype=torch.float64)  # data variances from tiny to 1
    return GaussianEps(torch.randn(d, generator=g, dtype=torch.float64) * 0.3, q @ torch.diag(lam) @ q.T)


def _truth(model, t):
    return np.sort(torch.linalg.eigvalsh(model.prec(t)).numpy())[::-1]


@pytest.mark.parametrize("t", [10, 100])
def test_jacobian_recovers_precision_eigenvalues(t):
    model = _model()
    x0 = torch.randn(3, 1, 2, 3, dtype=torch.float64)
    sv = jacobian_spectra(model, x0, t, SCHED, batch_size=2)
    assert sv.shape == (3, 6)
    np.testing.assert_allclose(sv, np.broadcast_to(_truth(model, t), sv.shape), rtol=1e-4)


def test_loop_and_vmap_jacobians_agree():
    model = _model()
    x0 = torch.randn(4, 1, 2, 3, dtype=torch.float64)
    torch.testing.assert_close(jacobian_batch(model, x0, 10, SCHED), jacobian_batch_loop(model, x0, 10, SCHED))


def test_lanczos_topk_matches_truth():
    model = _model(d=12)
    sv = lanczos_topk(model, torch.randn(1, 3, 4, dtype=torch.float64), 10, SCHED, k=4)
    np.testing.assert_allclose(sv, _truth(model, 10)[:4], rtol=1e-4)


def test_score_matrix_within_marchenko_pastur_tolerance():
    d, m_factor, t = 6, 400, 10
    model = _model(d)
    x0 = model.mu.reshape(1, 2, 3)  # at the mean the constant row s(x0) vanishes
    sv = score_matrix_spectrum(model, x0, t, SCHED, m=m_factor * d, generator=torch.Generator().manual_seed(1),
                               center=True)
    tol = 2 * (1 / m_factor) ** 0.5  # documented tolerance: MP edges 1 +- sqrt(d/M), with margin
    np.testing.assert_allclose(sv, _truth(model, t), rtol=tol)
    # centring matters away from the mean: one extra large component from s(x0)
    far = (model.mu + 3.0).reshape(1, 2, 3)
    raw = score_matrix_spectrum(model, far, t, SCHED, m=m_factor * d, generator=torch.Generator().manual_seed(1))
    assert raw[0] > 1.5 * _truth(model, t)[0]
