"""Algorithm 1 (docs/method.md §6) against ground truth on the exact empirical-score model."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch

from memgen.basins import (
    BasinConfig,
    candidate_times,
    critical_times,
    ddim_evals,
    l2_distance,
    log_ball_volume,
    radii,
)
from memgen.models.empirical import EmpiricalEpsModel
from memgen.schedules import DDPMSchedule

torch.set_num_threads(1)
SCHED = DDPMSchedule()
CFG = BasinConfig(metric="l2", delta=0.5, trials=6, stride=25, ddim_steps=20, stop_prob=0.9)


@pytest.fixture(scope="module")
def three_points():
    g = torch.Generator().manual_seed(0)
    # Three well-separated 1x4x4 "images" in [-1, 1] (pairwise distance ~ 4-6).
    return torch.rand((3, 1, 4, 4), generator=g) * 2 - 1


def test_candidate_times_and_eval_count():
    times = candidate_times(25)
    assert times[0] == 1 and times[-1] == 976 and len(times) == 40
    # DDIM from t with min(20, t) steps, stride ceil(t/n): t=1 -> 1 eval, t=976 -> 20 evals (stride 49).
    assert ddim_evals(1, 20) == 1 and ddim_evals(976, 20) == 20 and ddim_evals(26, 20) == 13


def test_training_point_outlasts_midpoint(three_points):
    model = EmpiricalEpsModel(three_points, SCHED)
    mid = (three_points[0] + three_points[1]) / 2
    x = torch.stack([three_points[0], mid])
    ct = critical_times(model, x, l2_distance, CFG, SCHED)
    t_train, t_mid = ct.t_c[0].mean(), ct.t_c[1].mean()
    # The exact model collapses the midpoint onto a or b (|a-b|/2 >> delta) already at t = 1.
    assert t_mid == 1 and ct.failed_at_first[1]
    assert t_train > 100 > t_mid and not ct.failed_at_first[0]


def test_per_image_stopping_is_batch_independent(three_points):
    model = EmpiricalEpsModel(three_points, SCHED)
    mid = (three_points[0] + three_points[2]) / 2
    x = torch.stack([three_points[0], mid, three_points[1]])
    ids = np.array([10, 11, 12])
    together = critical_times(model, x, l2_distance, CFG, SCHED, ids)
    small_batches = critical_times(model, x, l2_distance, BasinConfig(**{**CFG.__dict__, "batch_size": 1}), SCHED, ids)
    alone = [critical_times(model, x[i : i + 1], l2_distance, CFG, SCHED, ids[i : i + 1]) for i in range(3)]
    for i in range(3):
        np.testing.assert_array_equal(together.t_c[i], alone[i].t_c[0])
        assert together.evals[i] == alone[i].evals[0]
    np.testing.assert_array_equal(together.t_c, small_batches.t_c)
    # The failing midpoint stops after one candidate: 6 trials x 1 eval (no batch-wide continuation, docs/method.md §10.8).
    assert together.evals[1] == CFG.trials * ddim_evals(1, 20)


@pytest.mark.parametrize("d", [2, 64, 784, 3072, 12288])
@pytest.mark.parametrize("r", [0.05, 1.0, 37.5])
def test_log_volume_closed_form(d, r):
    mpmath.mp.dps = 50
    exact = d / 2 * mpmath.log(mpmath.pi) + d * mpmath.log(r) - mpmath.loggamma(mpmath.mpf(d) / 2 + 1)
    got_np = float(log_ball_volume(np.array([r]), d)[0])
    got_t = float(log_ball_volume(torch.tensor([r], dtype=torch.float64), d)[0])
    for got in (got_np, got_t):
        assert math.isfinite(got)
        assert abs(got - float(exact)) <= 1e-9 * max(1.0, abs(float(exact)))
    if d == 2:  # plain area pi r^2
        assert math.isclose(math.exp(got_np), math.pi * r * r, rel_tol=1e-12)


def test_radius_rms_and_code_agree_in_expectation():
    x = torch.rand((2, 3, 8, 8), generator=torch.Generator().manual_seed(1)) * 2 - 1
    t_c = np.array([[100] * 10, [400] * 10])
    code = radii(x, t_c, BasinConfig(radius="code", trials=10), SCHED, np.array([0, 1]))
    rms = radii(x, t_c, BasinConfig(radius="rms", trials=10), SCHED, np.array([0, 1]))
    a = SCHED.alphas_cumprod.double()[torch.tensor([100, 400])]
    xs = x.flatten(1).double()
    expect = ((1 - a.sqrt()) ** 2 * (xs**2).sum(1) + (1 - a) * 192).sqrt().numpy()
    np.testing.assert_allclose(rms[:, 0], expect, rtol=1e-12)
    np.testing.assert_allclose(code.mean(1), expect, rtol=0.05)
