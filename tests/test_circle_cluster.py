"""Ward clustering with the sample-count-rescaled threshold and cluster labels (docs/method.md §3.4)."""

import numpy as np
import pytest

from memgen.circle.cluster import CircleClusterConfig, cluster_samples, memory_groups, resolution


def blobs(centres, n_each, std, seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([c + std * rng.normal(size=(n_each, 2)) for c in np.asarray(centres)])


def test_memorized_and_spurious_labels():
    train = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    x = blobs([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], 500, 0.005)  # third blob: a novel state
    per_sample, cl = cluster_samples(x, train, CircleClusterConfig(tau=2.0), t_end=1e-3)
    assert len(cl) == 3
    lab = dict(zip(cl["train_position"], cl["label"]))
    spurious = cl[cl["label"] == "spurious"]
    assert len(spurious) == 1 and np.hypot(spurious["cx"], spurious["cy"]).iloc[0] < 0.01
    assert lab[0] == "memorized" and lab[1] == "memorized"
    assert cl["size"].sum() == len(x) == len(per_sample)


def test_fresh_ring_points_are_generalized_not_memorized():
    rng = np.random.default_rng(1)
    phi_t, phi_s = rng.uniform(0, 2 * np.pi, 1000), rng.uniform(0, 2 * np.pi, 3000)
    train = np.c_[np.cos(phi_t), np.sin(phi_t)]
    x = np.c_[np.cos(phi_s), np.sin(phi_s)]
    _, cl = cluster_samples(x, train, CircleClusterConfig(tau=0.45), t_end=1e-3)
    assert (cl["label"] == "generalized").all()  # every point is within 0.05 of train (docs/method.md §3.4) anyway


def test_tau_rescaling_makes_cluster_count_sample_size_independent():
    centres = [[np.cos(a), np.sin(a)] for a in np.linspace(0, 2 * np.pi, 9, endpoint=False)]
    train = np.array(centres)
    counts = []
    for n_each in (30, 300):
        _, cl = cluster_samples(
            blobs(centres, n_each, 0.01), train, CircleClusterConfig(tau=2.0), t_end=1e-3
        )
        counts.append(len(cl))
    assert counts == [9, 9]


def test_subsampled_ward_assigns_every_sample():
    train = np.array([[1.0, 0.0], [-1.0, 0.0]])
    x = blobs(train, 1500, 0.01)
    per_sample, cl = cluster_samples(
        x, train, CircleClusterConfig(tau=3.0, max_points=500), t_end=1e-3
    )
    assert len(cl) == 2 and len(per_sample) == 3000
    assert sorted(cl["size"]) == [1500, 1500]


def test_near_duplicates_merge_into_one_memory():
    train = np.array([[1.0, 0.0], [np.cos(0.02), np.sin(0.02)], [-1.0, 0.0]])
    res = resolution(2.0, 9, 10000)
    assert res == pytest.approx(0.06)
    assert list(memory_groups(train, res)) == [0, 0, 1]
