"""The default threshold rule: a quantile of the real pool's leave-one-out nearest-neighbour distances.

Ground truth: brute-force prefix minima for the null ladder; planted synthetic sets whose classes are known
(copies of training points, duplicate groups far from every training point, novel draws from the data
distribution) at small, transition and large K; the exact empirical-score model (must be 100 % memorized)
and a Gaussian fit of real digits (must be ~0 % memorized)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from memgen.classify import classify_distances, duplicate_groups, n_groups
from memgen.cli import main
from memgen.io import read_parquet, write_parquet
from memgen.neighbors import search
from memgen.null import PoolNull, closest_pairs, ladder_sizes, pool_null_table
from memgen.thresholds import NullConfig, choose_thresholds

ALPHA = 0.005


def _pool(n=1200, d=16, seed=0):
    """A 'real data set': a Gaussian mixture in d dimensions, in a random (permutation) order."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3.0, size=(24, d))
    return _draw(rng, centres, n), centres, rng


def _draw(rng, centres, n):
    return (centres[rng.integers(len(centres), size=n)] + rng.normal(size=(n, centres.shape[1]))).astype(
        np.float32
    )


def _nearest(queries, reference, exclude_self=False):
    df, _ = search(reference, None if exclude_self else queries, "l2", 1, exclude_self=exclude_self,
                   progress=False)
    df = df[df["rank"] == 1].sort_values("query")
    return df["distance"].to_numpy(float), df["ref_index"].to_numpy()


def test_ladder_is_the_brute_force_prefix_leave_one_out_minimum():
    rng = np.random.default_rng(1)
    pool = rng.normal(size=(40, 5)).astype(np.float32)
    sizes = ladder_sizes(40, min_size=4)
    assert sizes == [40, 20, 10, 5]
    table = pool_null_table(pool, "l2", sizes, progress=False)
    full = np.linalg.norm(pool[:, None].astype(float) - pool[None].astype(float), axis=-1)
    np.fill_diagonal(full, np.inf)
    for n in sizes:
        got = table[table["n"] == n].sort_values("query")
        np.testing.assert_allclose(got["distance"], full[:n, :n].min(1), rtol=1e-5)
        np.testing.assert_array_equal(got["ref_index"], full[:n, :n].argmin(1))
    pairs = closest_pairs(table, 3)
    i, j = np.unravel_index(np.argmin(full), full.shape)
    assert {int(pairs["a"][0]), int(pairs["b"][0])} == {int(i), int(j)}
    assert pairs["distance"].is_monotonic_increasing and (pairs["a"] < pairs["b"]).all()


def test_quantile_rate_and_exact_duplicates():
    pool, _, _ = _pool(n=400, d=8)
    pool[1] = pool[0]  # an exact duplicate pair inside the data set, twice
    pool[3] = pool[2]
    table = pool_null_table(pool, "l2", ladder_sizes(400), progress=False)
    dropped = PoolNull.from_table(table, drop_duplicates=True)
    kept = PoolNull.from_table(table, drop_duplicates=False)
    assert dropped.n_duplicates == kept.n_duplicates == 4
    assert dropped.closest > 0 and kept.closest == 0
    d = np.sort(table.loc[table["n"] == 400, "distance"].to_numpy())[4:]
    assert dropped.quantile(0.1) == pytest.approx(np.quantile(d, 0.1))
    delta = dropped.quantile(ALPHA)
    assert dropped.rate(delta) == pytest.approx(np.mean(d <= delta))
    assert dropped.rate(0.5 * dropped.closest) == 0.0
    # Within-set distances shrink with the set size: the quantile falls and the rate rises with n.
    qs = [dropped.quantile(0.05, n) for n in dropped.sizes]
    assert all(a > b for a, b in zip(qs, qs[1:])), qs
    assert dropped.rate(delta, 50) < dropped.rate(delta, 400)
    assert dropped.extrapolated(1600) and not dropped.extrapolated(400)


def test_null_needs_the_table_unless_both_thresholds_are_given():
    d = {2: np.array([0.1, 0.2]), 8: np.array([1.0, 2.0])}
    with pytest.raises(ValueError, match="pool null table"):
        choose_thresholds(d, d, method="null-quantile")
    rows = choose_thresholds(d, d, 0.5, 0.5, method="null-quantile")
    assert {r["method"] for r in rows} == {"manual"}


def _planted(pool, centres, rng, k, n_samples, frac_copy, frac_spu, delta, group=4):
    """A synthetic set of n_samples for a model trained on pool[:k]: copies (tiny noise around a
    training point), spurious groups (fresh points of the data distribution, so far from every training
    point, each with `group` members close to each other) and novel fresh draws."""
    n_copy = int(round(frac_copy * n_samples))
    n_spu = int(round(frac_spu * n_samples)) // group * group
    n_new = n_samples - n_copy - n_spu
    d = pool.shape[1]
    copies = pool[rng.integers(k, size=n_copy)] + rng.normal(size=(n_copy, d)) * 0.02 * delta / np.sqrt(d)
    centres_spu = _draw(rng, centres, n_spu // group)
    spurious = np.repeat(centres_spu, group, axis=0) + rng.normal(size=(n_spu, d)) * 0.2 * delta / np.sqrt(d)
    novel = _draw(rng, centres, n_new)
    samples = np.concatenate([copies, spurious, novel]).astype(np.float32)
    truth = np.array(["memorized"] * n_copy + ["spurious"] * n_spu + ["generalized"] * n_new)
    return samples, truth, n_spu // group


# (K, |S|, copies, spurious): all copies at small K, a mixed transition, novel samples at K = N.
PLANTED = [(4, 16, 1.0, 0.0), (30, 120, 0.9, 0.05), (150, 600, 0.4, 0.35), (400, 800, 0.1, 0.45),
           (1200, 800, 0.0, 0.0)]


def test_default_rule_recovers_planted_classes_at_every_k():
    pool, centres, rng = _pool()
    null = PoolNull.from_table(pool_null_table(pool, "l2", ladder_sizes(len(pool)), progress=False))
    delta = null.quantile(ALPHA)
    d_train, d_synth, truth, synth_nn, planted = {}, {}, {}, {}, {}
    for k, n, fc, fs in PLANTED:
        samples, truth[k], planted[k] = _planted(pool, centres, rng, k, n, fc, fs, delta)
        d_train[k], _ = _nearest(samples, pool[:k])
        d_synth[k], _ = _nearest(samples, samples, exclude_self=True)
        synth_nn[k], _ = search(samples, None, "l2", 5, exclude_self=True, progress=False)
    rows = {r["K"]: r for r in choose_thresholds(d_train, d_synth, method="null-quantile", null=null)}
    for k, *_ in PLANTED:
        r = rows[k]
        assert r["delta_m"] == r["delta_s"] == pytest.approx(delta)
        assert r["method"] == "null-quantile"
        cls = classify_distances(d_train[k], d_synth[k], r["delta_m"], r["delta_s"])
        recovered = np.mean(cls == truth[k])
        assert recovered >= 0.95, (k, recovered, pd.crosstab(truth[k], cls))
        # Each planted group is found as one group (a few members may fall to another class).
        found = n_groups(duplicate_groups(cls, synth_nn[k], r["delta_s"]))
        assert abs(found - planted[k]) <= max(1, 0.05 * planted[k]), (k, found, planted[k])
    # Under the null "the model samples like the data" the rate is about alpha at K = N, less below.
    assert rows[1200]["fpr_m"] == pytest.approx(ALPHA, abs=0.003)
    assert rows[4]["fpr_m"] <= rows[150]["fpr_m"] < rows[1200]["fpr_m"]
    assert not rows[1200]["fpr_s_extrapolated"]
    assert rows[1200]["null_n"] == 1200 and rows[1200]["null_alpha"] == ALPHA


def test_adding_k_values_does_not_change_delta():
    pool, centres, rng = _pool(n=600, d=12, seed=3)
    null = PoolNull.from_table(pool_null_table(pool, "l2", ladder_sizes(len(pool)), progress=False))
    grid_a, grid_b = [4, 100, 600], [4, 20, 50, 100, 200, 300, 600]
    d_train, d_synth = {}, {}
    for k in grid_b:
        fc = max(0.0, 1 - k / 200)
        samples, _, _ = _planted(pool, centres, rng, k, min(4 * k, 400), fc, min(0.2, 1 - fc), 1.0)
        d_train[k], _ = _nearest(samples, pool[:k])
        d_synth[k], _ = _nearest(samples, samples, exclude_self=True)
    for cfg in (NullConfig(ALPHA, "pool"), NullConfig(ALPHA, "size-matched")):
        a = {r["K"]: r for r in choose_thresholds({k: d_train[k] for k in grid_a},
                                                  {k: d_synth[k] for k in grid_a},
                                                  method="null-quantile", null=null, null_cfg=cfg)}
        b = {r["K"]: r for r in choose_thresholds(d_train, d_synth, method="null-quantile", null=null,
                                                  null_cfg=cfg)}
        for k in grid_a:
            assert a[k]["delta_m"] == b[k]["delta_m"] and a[k]["delta_s"] == b[k]["delta_s"], (cfg, k)
            assert a[k]["fpr_m"] == b[k]["fpr_m"] and a[k]["fpr_s"] == b[k]["fpr_s"]
    # size-matched delta_s: larger for the small sets (sparser), the pool value for |S| >= N.
    sm = {r["K"]: r for r in choose_thresholds(d_train, d_synth, method="null-quantile", null=null,
                                               null_cfg=NullConfig(ALPHA, "size-matched"))}
    assert sm[4]["delta_s"] > sm[600]["delta_s"] >= sm[600]["delta_m"] - 1e-12
    assert sm[4]["method_s"] == "null-size-matched" and sm[4]["method_m"] == "null-quantile"


def test_pool_null_cli_lpips_uses_the_neighbour_search(tmp_path):
    rng = np.random.default_rng(0)
    pool = rng.uniform(-1, 1, size=(12, 32, 32, 3)).astype(np.float32)
    pool[5] = pool[2]
    np.save(tmp_path / "pool.npy", pool)
    out, nn = tmp_path / "null.parquet", tmp_path / "nn.parquet"
    common = ["--random-backbone"]
    section = {"metric": "lpips-alex", "device": "cpu"}
    torch.manual_seed(0)  # the random backbone is drawn from torch's generator: the same in both
    assert main(["pool-null", "--pool", str(tmp_path / "pool.npy"), "--min-size", "3",
                 "--neighbors-config", json.dumps(section),
                 "--experiment", "x", "--out", str(out), *common]) == 0
    torch.manual_seed(0)
    assert main(["neighbors", "--reference", str(tmp_path / "pool.npy"), "--exclude-self",
                 "--neighbors-config", json.dumps({**section, "k": 1}), "--experiment", "x", "--k", "12",
                 "--out", str(nn), *common]) == 0
    null, ref = read_parquet(out), read_parquet(nn)
    assert sorted(null["n"].unique()) == [3, 6, 12]
    assert set(null["metric"]) == {"lpips-alex"} and set(null["experiment"]) == {"x"}
    full = null[null["n"] == 12].sort_values("query")
    np.testing.assert_allclose(full["distance"], ref.sort_values("query")["distance"], atol=1e-6)
    assert full.set_index("query").loc[2, "ref_index"] == 5
    assert PoolNull.from_table(null).n_duplicates == 2


def test_thresholds_cli_with_null_and_manual_fpr(tmp_path):
    pool, centres, rng = _pool(n=300, d=8, seed=5)
    table = pool_null_table(pool, "l2", ladder_sizes(len(pool)), progress=False)
    write_parquet(table, tmp_path / "null.parquet")
    for k in (4, 300):
        samples, _, _ = _planted(pool, centres, rng, k, min(4 * k, 200), 1.0 if k == 4 else 0.0, 0.0, 1.0)
        for name, ref, ex in (("t", pool[:k], False), ("s", samples, True)):
            df, _ = search(ref, None if ex else samples, "l2", 2, exclude_self=ex, progress=False)
            df["K"] = k
            write_parquet(df, tmp_path / f"{name}{k}.parquet")
    base = ["thresholds", "--experiment", "e", "--train-nn", str(tmp_path / "t4.parquet"), str(tmp_path / "t300.parquet"),
            "--sample-nn", str(tmp_path / "s4.parquet"), str(tmp_path / "s300.parquet"),
            "--null", str(tmp_path / "null.parquet")]
    assert main([*base, "--out", str(tmp_path / "auto.parquet")]) == 0
    th = read_parquet(tmp_path / "auto.parquet").set_index("K")
    delta = PoolNull.from_table(table).quantile(ALPHA)
    assert (th["delta_m"] == delta).all() and (th["delta_s"] == delta).all()
    assert set(th["method"]) == {"null-quantile"}
    assert {"fpr_m", "fpr_s", "valley_delta_m", "null_closest", "null_quantile"} <= set(th.columns)
    # A manual value below the closest real pair has a false-positive rate of exactly 0.
    small = 0.5 * th["null_closest"].iloc[0]
    assert main([*base, "--thresholds-config", json.dumps({"delta_m": small, "delta_s": small}),
                 "--out", str(tmp_path / "manual.parquet")]) == 0
    man = read_parquet(tmp_path / "manual.parquet")
    assert set(man["method"]) == {"manual"} and (man["fpr_m"] == 0).all() and (man["fpr_s"] == 0).all()


@pytest.fixture(scope="module")
def digits_pool():
    from sklearn.datasets import load_digits

    x = (load_digits().images / 8.0 - 1.0).astype(np.float32)[..., None]
    return x[np.random.default_rng(3407).permutation(len(x))]


def test_exact_empirical_model_is_all_memorized_and_a_gaussian_fit_is_not(digits_pool):
    from memgen.models.empirical import EmpiricalEpsModel
    from memgen.samplers import ddpm_ancestral

    null = PoolNull.from_table(pool_null_table(digits_pool, "l2", ladder_sizes(len(digits_pool)),
                                               progress=False))
    delta = null.quantile(ALPHA)
    assert 0.9 < delta < 1.2  # distinct real digits are rarely closer than ~1 (L2 on x/8 - 1)
    k = 32
    train = torch.as_tensor(digits_pool[:k]).permute(0, 3, 1, 2)
    gen = torch.Generator().manual_seed(0)
    emp = ddpm_ancestral(EmpiricalEpsModel(train), (128, 1, 8, 8), generator=gen, progress=False,
                         steps=100)
    emp = emp.permute(0, 2, 3, 1).numpy().astype(np.float32)
    flat = digits_pool.reshape(len(digits_pool), -1).astype(np.float64)
    gauss = np.random.default_rng(0).multivariate_normal(flat.mean(0), np.cov(flat.T), size=1000)
    gauss = np.clip(gauss, -1, 1).astype(np.float32).reshape(-1, 8, 8, 1)
    fractions = {}
    for name, samples, ref in (("empirical", emp, digits_pool[:k]), ("gaussian", gauss, digits_pool)):
        d_tr, _ = _nearest(samples, ref)
        d_sy, _ = _nearest(samples, samples, exclude_self=True)
        cls = classify_distances(d_tr, d_sy, delta, delta)
        fractions[name] = {c: float(np.mean(cls == c)) for c in ("memorized", "spurious")}
    assert fractions["empirical"]["memorized"] == 1.0, fractions
    assert fractions["gaussian"]["memorized"] <= 0.01, fractions
    assert fractions["gaussian"]["spurious"] <= 0.01, fractions
