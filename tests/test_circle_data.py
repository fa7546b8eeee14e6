"""Circle pool and nested subsets (docs/method.md §3.1)."""

import numpy as np
import pytest

from memgen.circle.data import make_pool, make_split, permutation, subset_hash, train_points


def test_pool_on_unit_circle_and_seeded():
    a, b = make_pool(60000, 9), make_pool(60000, 9)
    assert len(a) == 60000
    np.testing.assert_array_equal(a[["x", "y"]].to_numpy(), b[["x", "y"]].to_numpy())
    np.testing.assert_allclose(np.hypot(a["x"], a["y"]), 1.0, atol=1e-12)
    # official code: np.random.seed(9); np.random.uniform(0, 2π, N)
    np.random.seed(9)
    np.testing.assert_array_equal(a["angle"].to_numpy(), np.random.uniform(0, 2 * np.pi, 60000))
    counts = np.histogram(a["angle"], bins=36, range=(0, 2 * np.pi))[0]
    assert counts.min() > 1500  # uniform: 1667 expected per bin


def test_subsets_are_nested_prefixes_with_hashes():
    pool = make_pool(1000, 9)
    split = make_split(pool, [2, 9, 100], 42)
    perm = permutation(1000, 42)
    prev = None
    for k in (2, 9, 100):
        rows = split[split["K"] == k].sort_values("position")
        assert list(rows["index"]) == list(perm[:k])
        pts = train_points(split, k)
        assert rows["subset_hash"].nunique() == 1
        assert rows["subset_hash"].iloc[0] == subset_hash(pts)
        if prev is not None:
            np.testing.assert_array_equal(pts[: len(prev)], prev)
        prev = pts


@pytest.mark.parametrize("ks", [[9, 2], [2, 2000]])
def test_bad_ks_raise(ks):
    with pytest.raises(ValueError, match="ks"):
        make_split(make_pool(1000, 0), ks, 0)
