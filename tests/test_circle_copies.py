"""The per-sample copy criterion: matched to the sampler's end time, with its false-positive rate,
and ring statistics where the training set is too dense for copies to mean anything."""

import numpy as np
import pytest
import torch

from memgen.circle.cluster import CircleClusterConfig, cluster_samples
from memgen.circle.copies import (
    copy_criterion,
    copy_radius,
    copy_summary,
    nearest,
    null_copy_rate,
    ring_statistics,
)
from memgen.circle.data import make_pool, make_split, train_points
from memgen.circle.exact import ExactScore
from memgen.circle.sampler import euler_maruyama

torch.set_num_threads(1)


def paper_points(k, split_seed=42):
    return train_points(make_split(make_pool(60000, 9), [2, 9, 1000], split_seed), k)


def circle(phi):
    return np.c_[np.cos(phi), np.sin(phi)]


@pytest.mark.parametrize("t_end, q", [(1e-3, 0.999), (2e-3, 0.99), (0.01, 0.9)])
def test_radius_holds_quantile_of_a_perfect_memorizer(t_end, q):
    """Training point + N(0, t_end I): exactly a fraction q lies within the radius."""
    rng = np.random.default_rng(0)
    noise = np.sqrt(t_end) * rng.normal(size=(400_000, 2))
    r = copy_radius(t_end, q)
    assert np.mean(np.linalg.norm(noise, axis=1) <= r) == pytest.approx(q, abs=2e-3)


def test_null_rate_is_the_fresh_point_copy_rate():
    """Closed-form arc coverage = Monte Carlo rate of fresh circle points passing the test."""
    fresh = circle(np.random.default_rng(1).uniform(0, 2 * np.pi, 50_000))
    for k, r in ((2, 0.166), (9, 0.166), (9, 0.05), (1000, 0.05), (1000, 0.004)):
        pts = paper_points(k)
        mc = np.mean(nearest(fresh, pts)[0] <= r)
        assert null_copy_rate(pts, r) == pytest.approx(mc, abs=6e-3), (k, r)
    # two antipodal points: each covers an arc of 2 * 2 arcsin(r / 2)
    assert null_copy_rate(circle(np.array([0.0, np.pi])), 0.1) == pytest.approx(
        2 * 4 * np.arcsin(0.05) / (2 * np.pi)
    )
    assert null_copy_rate(paper_points(1000), 0.166) == 1.0
    with pytest.raises(ValueError, match="unit circle"):
        null_copy_rate(np.array([[0.5, 0.0]]), 0.1)


@pytest.mark.parametrize(
    "k, t_end, steps",
    [(2, 2e-3, 1000), (9, 2e-3, 1000), (2, 1e-3, 1000), (9, 1e-3, 1000)],
)
def test_exact_score_sampler_reads_all_copies(k, t_end, steps):
    """The exact empirical score memorizes exactly: ~100 % copies under the end-time criterion
    (demo settings t_end = 0.002 with 1000 steps leave residual spread ~sqrt(t_end)/2, which a
    fixed 0.05 radius cuts: that read 86 %)."""
    pts = paper_points(k)
    x = euler_maruyama(
        ExactScore(pts), 4000, steps, t_end, 1.2247, seed=1, dtype=torch.float64, progress=False
    )
    crit = copy_criterion(pts, t_end)
    assert crit.meaningful and crit.null_rate < 0.35
    frac = copy_summary(x, pts, crit)["sample_copy_fraction"]
    assert frac >= 0.998
    if t_end == 2e-3:
        assert np.mean(nearest(x, pts)[0] < 0.05) < 0.93  # the old fixed radius undercounts
    # the clusters' members pass the same criterion: every big cluster is memorized
    _, cl = cluster_samples(x, pts, CircleClusterConfig(tau=3.0 if k == 2 else 2.0), t_end)
    assert (cl.loc[cl["size"] >= 40, "label"] == "memorized").all()
    assert (cl["sample_copy_radius"] == crit.radius).all()


def test_fresh_points_read_the_null_rate_not_copies():
    """A model that generalizes perfectly (fresh circle points) at K = 9 is called a copy only at
    the criterion's false-positive rate."""
    pts = paper_points(9)
    crit = copy_criterion(pts, 2e-3)
    fresh = circle(np.random.default_rng(5).uniform(0, 2 * np.pi, 50_000))
    assert copy_summary(fresh, pts, crit)["sample_copy_fraction"] == pytest.approx(
        crit.null_rate, abs=0.01
    )


def test_dense_training_set_switches_to_ring_statistics():
    """K = 1000: neighbours ~0.006 apart, every circle point passes; ring statistics separate a
    generalizing ring from copies."""
    pts = paper_points(1000)
    crit = copy_criterion(pts, 2e-3)
    assert not crit.meaningful and crit.null_rate == 1.0
    rng = np.random.default_rng(2)
    ring = circle(rng.uniform(0, 2 * np.pi, 5000)) * (1 + 0.01 * rng.normal(size=(5000, 1)))
    copies = pts[rng.integers(0, 1000, 5000)] + 1e-4 * rng.normal(size=(5000, 2))
    blob = 0.3 * rng.normal(size=(5000, 2))
    s_ring, s_copy = ring_statistics(ring, pts), ring_statistics(copies, pts)
    assert s_ring["angle_nn_ratio"] == pytest.approx(1.0, abs=0.1)
    assert s_copy["angle_nn_ratio"] < 0.1
    assert s_ring["mean_abs_r_minus_1"] == pytest.approx(0.01 * np.sqrt(2 / np.pi), rel=0.1)
    assert s_ring["angle_coverage"] == 1.0
    assert ring_statistics(blob, pts)["mean_abs_r_minus_1"] > 0.5
    # a half ring covers half the angle bins
    half = circle(rng.uniform(0, np.pi, 5000))
    assert ring_statistics(half, pts)["angle_coverage"] == pytest.approx(0.5, abs=1 / 36)


def test_bad_settings_named():
    pts = paper_points(2)
    with pytest.raises(ValueError, match="copy_quantile"):
        copy_criterion(pts, 1e-3, quantile=1.0)
    with pytest.raises(ValueError, match="t_end"):
        copy_criterion(pts, 0.0)
    with pytest.raises(ValueError, match="copy_max_null"):
        copy_criterion(pts, 1e-3, max_null=0.0)
