"""Ground truth for the relative energy: the exact empirical-score model has a closed-form log-density."""

import numpy as np
import pandas as pd
import torch

from memgen.energy import energy_gaps, reference_indices, relative_energy
from memgen.models.empirical import EmpiricalEpsModel
from memgen.schedules import DDPMSchedule

torch.set_num_threads(1)
SCHED = DDPMSchedule()


def _u(model, x, t):
    """Closed form of docs/method.md §8.1: u = -1/4 beta |x|^2 - beta log p_t(x)."""
    beta = SCHED.betas.double()[t]
    tt = torch.full((x.shape[0],), t, dtype=torch.long)
    return (-0.25 * beta * x.double().flatten(1).pow(2).sum(1) - beta * model.log_density(x, tt)).numpy()


def _train(k=3, seed=0):
    return torch.rand(k, 1, 2, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 2 - 1


def test_alpha_bar_is_cumprod_of_one_minus_beta():
    b = SCHED.betas.double()
    abar = SCHED.alphas_cumprod.double()
    np.testing.assert_allclose(abar.numpy(), np.cumprod(1 - b.numpy()), rtol=1e-5)
    assert abar[0] > 0.999 and abar[-1] < 1e-3  # cumprod(beta) would be ~1e-4 at t = 0


def test_line_integral_matches_closed_form():
    t = 300
    train = _train()
    model = EmpiricalEpsModel(train, SCHED)
    xa = torch.cat([train[:1], torch.randn(2, 1, 2, 2, dtype=torch.float64) * 0.5])
    xb = train[2]
    U, curve = relative_energy(model, xa, xb, t, SCHED, n_alpha=400)
    truth = _u(model, xa, t) - _u(model, xb[None], t)
    np.testing.assert_allclose(U, truth, rtol=1e-3)
    assert curve.shape == (3, 400) and np.all(curve[:, 0] == 0) and np.allclose(-curve[:, -1], U)
    # the trapezoid rule converges: the paper's 20 points are already in the right ballpark
    U20, _ = relative_energy(model, xa, xb, t, SCHED, n_alpha=20)
    assert np.all(np.abs(U20 - truth) < np.abs(U - truth).max() + 0.2 * np.abs(truth).max())


def test_training_point_lower_than_midpoint():
    t = 50
    train = _train(seed=3)
    model = EmpiricalEpsModel(train, SCHED)
    mid = 0.5 * (train[0] + train[1])
    U, _ = relative_energy(model, torch.stack([train[0], mid]), train[2], t, SCHED, n_alpha=400)
    assert U[0] < U[1]


def test_legacy_sigma_differs_and_references_fixed():
    train = _train()
    model = EmpiricalEpsModel(train, SCHED)
    a, _ = relative_energy(model, train[:1], train[1], 0, SCHED, n_alpha=50)
    b, _ = relative_energy(model, train[:1], train[1], 0, SCHED, n_alpha=50, legacy_sigma=True)
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(reference_indices(100, 3, 7), reference_indices(100, 3, 7))


def test_gap_is_class_mean_minus_training_mean():
    df = pd.DataFrame({"experiment": "e", "K": 2, "ref": 0, "skipped": [False] * 4 + [True],
                       "class": ["training", "training", "memorized", "memorized", "spurious"],
                       "U": [1.0, 3.0, 5.0, 7.0, np.nan]})
    gaps = energy_gaps(df).set_index("class")
    assert gaps.loc["memorized", "gap"] == 4.0 and gaps.loc["training", "gap"] == 0.0
    assert "spurious" not in gaps.index
