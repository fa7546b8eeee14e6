"""Classification stage (memgen.classify, memgen.cli.classify): docs/method.md §5.3 rule on hand-made tables
(ties at the thresholds), docs/method.md §5.5 ranks, bootstrap CIs, sensitivity, and the CLI end to end."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from memgen.classify import (
    add_class_ranks,
    classify_distances,
    classify_table,
    fractions_with_ci,
    histogram_rows,
    sensitivity,
)
from memgen.cli import main
from memgen.io import read_parquet, write_parquet


def nn_table(d1, k=None, experiment=None, shuffle=True, n_ranks=3):
    """Neighbour table with rank-1 distance d1[q] for query q and larger distances at ranks 2..."""
    rows = []
    n = len(d1)
    for q, d in enumerate(d1):
        for r in range(1, n_ranks + 1):  # ref_index is a valid row of a set of n images
            rows.append({"query": q, "rank": r, "ref_index": (q + r) % n, "distance": d + (r - 1)})
    df = pd.DataFrame(rows)
    if shuffle:  # the rule must use rank 1, not row order
        df = df.sample(frac=1.0, random_state=0).reset_index(drop=True)
    if k is not None:
        df["K"] = k
    if experiment is not None:
        df["experiment"] = experiment
    df["metric"] = "l2"
    return df


# ---------------------------------------------------------------- the rule (docs/method.md §5.3)

DM, DS = 0.5, 0.25  # exactly representable, so "== delta" is a real tie
CASES = [  # (d_train, d_synth, expected)
    (0.5, 9.0, "memorized"),  # d_train == delta_m -> memorized (inclusive <=)
    (0.0, 0.0, "memorized"),  # exact copy
    (0.5, 0.25, "memorized"),  # memorized wins over spurious
    (0.75, 0.25, "spurious"),  # d_train > delta_m, d_synth == delta_s -> spurious
    (np.nextafter(0.5, 1), 0.25, "spurious"),  # just above delta_m
    (0.75, np.nextafter(0.25, 1), "generalized"),  # just above delta_s
    (0.75, 0.0, "spurious"),
    (3.0, 4.0, "generalized"),
]


def test_rule_with_ties_at_the_thresholds():
    d_train = np.array([c[0] for c in CASES])
    d_synth = np.array([c[1] for c in CASES])
    expected = [c[2] for c in CASES]
    assert list(classify_distances(d_train, d_synth, DM, DS)) == expected
    out = classify_table(nn_table(d_train), nn_table(d_synth), DM, DS)
    assert list(out["sample"]) == list(range(len(CASES)))
    np.testing.assert_array_equal(out["d_train"], d_train)
    np.testing.assert_array_equal(out["d_synth"], d_synth)
    assert list(out["class"]) == expected
    assert (out["delta_m"] == DM).all() and (out["delta_s"] == DS).all()


def test_delta_m_zero_counts_only_exact_copies():
    cls = classify_distances([0.0, 1e-9, 2.0], [5.0, 0.1, 5.0], 0.0, 0.2)
    assert list(cls) == ["memorized", "spurious", "generalized"]


@pytest.mark.parametrize(
    "dm, ds, msg",
    [
        (0.5, 0.0, "delta_s must be > 0"),
        (0.5, -1.0, "delta_s must be > 0"),
        (-0.1, 0.5, "delta_m must be >= 0"),
    ],
)
def test_rule_rejects_bad_thresholds(dm, ds, msg):
    with pytest.raises(ValueError, match=msg):
        classify_distances([1.0], [1.0], dm, ds)


def test_table_errors():
    good = nn_table([0.1, 0.2, 3.0])
    with pytest.raises(ValueError, match="lacks columns"):
        classify_table(good.drop(columns=["distance"]), good, DM, DS)
    with pytest.raises(ValueError, match="different queries"):
        classify_table(good, nn_table([0.1, 0.2]), DM, DS)
    with pytest.raises(ValueError, match="NaN"):
        classify_table(nn_table([0.1, np.nan, 3.0]), good, DM, DS)
    with pytest.raises(ValueError, match="NaN"):
        classify_table(good, nn_table([0.1, 0.2, np.inf]), DM, DS)
    dup = pd.concat([good, good[good["rank"] == 1]])
    with pytest.raises(ValueError, match="several rank-1"):
        classify_table(dup, good, DM, DS)


# ---------------------------------------------------------------- ranks (docs/method.md §5.5)


def test_rank_in_class_order():
    df = pd.DataFrame(
        {
            "sample": np.arange(9),
            "d_train": [0.3, 0.1, 0.2, 0.9, 0.8, 0.7, 2.0, 3.0, 2.5],
            "d_synth": [0.0, 0.0, 0.0, 0.20, 0.05, 0.05, 1.0, 4.0, 2.0],
        }
    )
    df["class"] = classify_distances(df["d_train"], df["d_synth"], 0.5, 0.25)
    assert list(df["class"]) == ["memorized"] * 3 + ["spurious"] * 3 + ["generalized"] * 3
    r = add_class_ranks(df).set_index("sample")["rank_in_class"]
    # memorized by d_train ascending
    assert [r[1], r[2], r[0]] == [0, 1, 2]
    # spurious by d_synth ascending, ties broken by sample index
    assert [r[4], r[5], r[3]] == [0, 1, 2]
    # generalized by d_synth descending (official code, default) ...
    assert [r[7], r[8], r[6]] == [0, 1, 2]
    # ... or ascending (the paper's wording)
    r_asc = add_class_ranks(df, "asc").set_index("sample")["rank_in_class"]
    assert [r_asc[6], r_asc[8], r_asc[7]] == [0, 1, 2]
    assert [r_asc[1], r_asc[2], r_asc[0]] == [0, 1, 2]
    # every class is ranked 0..n-1 exactly once
    ranked = add_class_ranks(df)
    for _, g in ranked.groupby("class"):
        assert sorted(g["rank_in_class"]) == list(range(len(g)))


# ---------------------------------------------------------------- fractions, CIs, sensitivity


def _classes(n, p_mem=0.3, p_spu=0.2, seed=0):
    rng = np.random.default_rng(seed)
    return pd.Series(
        rng.choice(
            ["memorized", "spurious", "generalized"], size=n, p=[p_mem, p_spu, 1 - p_mem - p_spu]
        )
    )


def test_bootstrap_ci_contains_estimate_and_narrows():
    widths = {}
    for n in (40, 4000):
        cls = _classes(n)
        rows = {r["class"]: r for r in fractions_with_ci(cls, n_resamples=400, seed=1)}
        assert set(rows) == {"memorized", "spurious", "generalized"}
        assert abs(sum(r["fraction"] for r in rows.values()) - 1) < 1e-12
        for c, r in rows.items():
            assert r["fraction"] == pytest.approx(float((cls == c).mean()))
            assert r["ci_low"] <= r["fraction"] <= r["ci_high"]
            assert 0 <= r["ci_low"] and r["ci_high"] <= 1
            assert r["n"] == n
        widths[n] = rows["memorized"]["ci_high"] - rows["memorized"]["ci_low"]
    # width ~ 1/sqrt(n): 10x narrower for 100x the samples; demand at least 4x
    assert widths[4000] < widths[40] / 4
    assert 0.01 < widths[4000] < 0.05  # 2 * 1.96 * sqrt(.3 * .7 / 4000) = 0.028


def test_ci_degenerate_when_all_in_one_class():
    rows = {r["class"]: r for r in fractions_with_ci(pd.Series(["memorized"] * 8))}
    assert rows["memorized"]["fraction"] == rows["memorized"]["ci_low"] == 1.0
    assert rows["spurious"]["fraction"] == rows["spurious"]["ci_high"] == 0.0


def test_sensitivity_table():
    df = pd.DataFrame(
        {
            "d_train": [0.45, 0.55, 0.65, 2.0],
            "d_synth": [9.0, 0.22, 0.28, 9.0],
            "delta_m": 0.5,
            "delta_s": 0.25,
        }
    )
    rows = {(r["scaled"], r["scale"]): r for r in sensitivity(df, (0.8, 1.2))}
    assert set(rows) == {
        ("base", 1.0),
        ("delta_m", 0.8),
        ("delta_m", 1.2),
        ("delta_s", 0.8),
        ("delta_s", 1.2),
    }
    base = rows[("base", 1.0)]
    assert (base["f_memorized"], base["f_spurious"], base["f_generalized"]) == (0.25, 0.25, 0.5)
    m08 = rows[("delta_m", 0.8)]  # delta_m 0.4: sample 0 becomes generalized
    assert m08["delta_m"] == pytest.approx(0.4) and m08["delta_s"] == 0.25
    assert (m08["f_memorized"], m08["f_spurious"], m08["f_generalized"]) == (0.0, 0.25, 0.75)
    m12 = rows[("delta_m", 1.2)]  # delta_m 0.6: samples 0 and 1 memorized
    assert (m12["f_memorized"], m12["f_spurious"], m12["f_generalized"]) == (0.5, 0.0, 0.5)
    s12 = rows[("delta_s", 1.2)]  # delta_s 0.3: samples 1 and 2 spurious
    assert (s12["f_memorized"], s12["f_spurious"], s12["f_generalized"]) == (0.25, 0.5, 0.25)
    s08 = rows[("delta_s", 0.8)]  # delta_s 0.2: nothing spurious
    assert (s08["f_memorized"], s08["f_spurious"], s08["f_generalized"]) == (0.25, 0.0, 0.75)


def test_histogram_rows_count_everything():
    df = pd.DataFrame({"d_train": [0.0, 0.1, 1.0, 10.0], "d_synth": [0.2, 0.2, 0.3, 5.0]})
    edges = np.linspace(-4.5, 1.5, 13)
    rows = pd.DataFrame(histogram_rows(df, edges, floor=1e-4))
    assert set(rows["distance"]) == {"d_train", "d_synth"}
    assert rows.groupby("distance")["count"].sum().to_dict() == {"d_train": 4, "d_synth": 4}
    # the exact copy (d = 0) lands in the floor bin log10(1e-4) = -4
    first = rows[
        (rows["distance"] == "d_train") & (rows["log10_lo"] <= -4) & (rows["log10_hi"] > -4)
    ]
    assert int(first["count"].iloc[0]) == 1


# ---------------------------------------------------------------- CLI end to end

KS = [2, 8, 32]


def _write_run(tmp_path):
    """nn tables per K with known classes: K=2 all memorized, K=8 mixed, K=32 all generalized."""
    rng = np.random.default_rng(0)
    paths = {}
    truth = {}
    for k in KS:
        n = 4 * k
        if k == 2:
            kinds = ["memorized"] * n
        elif k == 8:
            kinds = ["memorized"] * 12 + ["spurious"] * 8 + ["generalized"] * 12
        else:
            kinds = ["generalized"] * n
        dt = np.array(
            [rng.uniform(0.1, 0.3) if c == "memorized" else rng.uniform(1.8, 3.0) for c in kinds]
        )
        ds = np.array(
            [rng.uniform(1.8, 3.0) if c == "generalized" else rng.uniform(0.1, 0.3) for c in kinds]
        )
        kdir = tmp_path / "digits" / f"K{k}"
        tn, sn = kdir / "nn_train.parquet", kdir / "nn_synth.parquet"
        write_parquet(nn_table(dt, k=k, experiment="digits", n_ranks=5), tn)
        write_parquet(nn_table(ds, k=k, experiment="digits", n_ranks=5), sn)
        paths[k] = (tn, sn)
        truth[k] = kinds
    return paths, truth


def test_cli_end_to_end(tmp_path):
    paths, truth = _write_run(tmp_path)
    exp = tmp_path / "digits"
    th_path = exp / "thresholds.parquet"
    rc = main(
        [
            "thresholds",
            "--experiment",
            "digits",
            "--thresholds-config",
            '{"method": "valley"}',
            "--train-nn",
            *[str(paths[k][0]) for k in KS],
            "--sample-nn",
            *[str(paths[k][1]) for k in KS],
            "--out",
            str(th_path),
        ]
    )
    assert rc == 0
    th = read_parquet(th_path)
    for col in ("experiment", "K", "delta_m", "delta_s", "method", "n_peaks_m", "warning_m"):
        assert col in th.columns, col
    assert list(th["K"]) == KS and set(th["experiment"]) == {"digits"}
    assert th["delta_m"].nunique() == 1 and th["delta_s"].nunique() == 1
    assert 0.3 < th["delta_m"].iloc[0] < 1.8 and 0.3 < th["delta_s"].iloc[0] < 1.8
    assert set(th["method"]) == {"pooled-valley"}

    cls_paths = []
    for k in KS:
        out = exp / f"K{k}" / "classes.parquet"
        rc = main(
            [
                "classify",
                "--experiment",
                "digits",
                "--k",
                str(k),
                "--train-nn",
                str(paths[k][0]),
                "--sample-nn",
                str(paths[k][1]),
                "--thresholds",
                str(th_path),
                "--out",
                str(out),
            ]
        )
        assert rc == 0
        df = read_parquet(out)
        for col in (
            "experiment",
            "K",
            "sample",
            "d_train",
            "d_synth",
            "class",
            "rank_in_class",
            "delta_m",
            "delta_s",
        ):
            assert col in df.columns, col
        assert (df["K"] == k).all() and len(df) == 4 * k
        assert list(df["class"]) == truth[k]
        cls_paths.append(str(out))

    fr_p, se_p, hi_p = (
        exp / "fractions.parquet",
        exp / "sensitivity.parquet",
        exp / "histograms.parquet",
    )
    rc = main(
        [
            "fractions",
            "--experiment",
            "digits",
            "--classify-config",
            '{"n_bootstrap": 200}',
            "--thresholds-config",
            '{"sweep": [0.8, 1.0, 1.2]}',
            "--classes",
            *cls_paths,
            "--out",
            str(fr_p),
            "--sensitivity-out",
            str(se_p),
            "--histograms-out",
            str(hi_p),
            "--sweep-out",
            str(exp / "sweep.parquet"),
        ]
    )
    assert rc == 0
    sweep = read_parquet(exp / "sweep.parquet")
    assert len(sweep) == 3 * len(KS) and set(sweep["scale"]) == {0.8, 1.0, 1.2}
    at_one = sweep[sweep["scale"] == 1.0].set_index("K")
    assert at_one.loc[8, "f_spurious"] == pytest.approx(8 / 32) and (at_one["K_peak"] == 8).all()
    fr = read_parquet(fr_p)
    assert {"experiment", "K", "class", "fraction", "ci_low", "ci_high", "n"} <= set(fr.columns)
    f = fr.set_index(["K", "class"])["fraction"]
    assert f[(2, "memorized")] == 1.0 and f[(32, "generalized")] == 1.0
    assert f[(8, "spurious")] == pytest.approx(8 / 32)
    # gap ratio d1/d2 = d/(d+1): < 1/3 exactly for the planted copies (d <= 0.3), never for d >= 1.8
    assert f[(2, "memorized_gap")] == 1.0 and f[(32, "memorized_gap")] == 0.0
    assert f[(8, "memorized_gap")] == pytest.approx(12 / 32)
    # the 8 spurious samples of K = 8 are one chain of nearest neighbours: one duplicate group
    groups = fr[fr["class"] == "spurious"].set_index("K")["groups"]
    assert groups[8] == 1 and groups[2] == 0 and groups[32] == 0
    assert ((fr["ci_low"] <= fr["fraction"]) & (fr["fraction"] <= fr["ci_high"])).all()
    se = read_parquet(se_p)
    assert {
        "experiment",
        "K",
        "scaled",
        "scale",
        "delta_m",
        "delta_s",
        "f_memorized",
        "f_spurious",
        "f_generalized",
    } <= set(se.columns)
    assert len(se) == 5 * len(KS)
    hi = read_parquet(hi_p)
    assert {"experiment", "K", "distance", "log10_lo", "log10_hi", "count"} <= set(hi.columns)
    assert (
        hi.groupby(["K", "distance"])["count"].sum()
        == hi.groupby(["K", "distance"])["K"].first() * 4
    ).all()

    # classify-figure with tiny .npy images
    rng = np.random.default_rng(1)
    pool = exp / "train_pool.npy"
    np.save(pool, rng.uniform(-1, 1, size=(400, 6, 6, 1)).astype(np.float32))
    samples = []
    for k in KS:
        p = exp / f"K{k}" / "samples.npy"
        np.save(p, rng.uniform(-1, 1, size=(4 * k, 6, 6, 1)).astype(np.float32))
        samples.append(str(p))
    figs = tmp_path / "figures"
    null = exp / "pool_null.parquet"
    assert main(["pool-null", "--experiment", "digits", "--pool", str(pool), "--out", str(null)]) == 0
    rc = main(
        [
            "classify-figure",
            "--sweep-table",
            str(exp / "sweep.parquet"),
            "--null",
            str(null),
            "--experiment",
            "digits",
            "--fractions",
            str(fr_p),
            "--histograms",
            str(hi_p),
            "--thresholds",
            str(th_path),
            "--classes",
            *cls_paths,
            "--train-nn",
            *[str(paths[k][0]) for k in KS],
            "--sample-nn",
            *[str(paths[k][1]) for k in KS],
            "--samples",
            *samples,
            "--pool",
            str(pool),
            "--critical-k",
            "8",
            "--plots-config",
            '{"dpi": 50}',
            "--out-dir",
            str(figs),
        ]
    )
    assert rc == 0
    for stem in ("fig3_hist_digits", "fig4a_fractions_digits", "fig1b_examples_digits"):
        for ext in ("png", "pdf"):
            assert (figs / f"{stem}.{ext}").stat().st_size > 0


def test_cli_manual_thresholds_and_overrides(tmp_path):
    paths, truth = _write_run(tmp_path)
    out = tmp_path / "th.parquet"
    rc = main(
        [
            "thresholds",
            "--experiment",
            "digits",
            "--thresholds-config",
            '{"delta_m": [0.05, "auto", 0.5], "delta_s": 0.2, "method": "valley"}',
            "--train-nn",
            *[str(paths[k][0]) for k in KS],
            "--sample-nn",
            *[str(paths[k][1]) for k in KS],
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    th = read_parquet(out).set_index("K")
    assert th.loc[2, "delta_m"] == 0.05 and th.loc[32, "delta_m"] == 0.5
    assert th.loc[8, "method_m"] == "pooled-valley" and th.loc[2, "method_m"] == "manual"
    assert (th["delta_s"] == 0.2).all()
    # classify with explicit deltas, no thresholds table
    cls = tmp_path / "c.parquet"
    assert (
        main(
            [
                "classify",
                "--experiment",
                "digits",
                "--k",
                "8",
                "--thresholds-config",
                '{"delta_m": 0.5, "delta_s": 0.5}',
                "--train-nn",
                str(paths[8][0]),
                "--sample-nn",
                str(paths[8][1]),
                "--out",
                str(cls),
            ]
        )
        == 0
    )
    assert list(read_parquet(cls)["class"]) == truth[8]


def test_cli_plain_tables_without_k_column(tmp_path):
    """A user's own tables without a K column: the K is given (--ks, --k) and written out."""
    tn, sn = tmp_path / "a.parquet", tmp_path / "b.parquet"
    write_parquet(nn_table([0.1, 0.2, 2.0, 2.5, 0.15, 3.0]), tn)
    write_parquet(nn_table([0.1, 0.1, 2.0, 0.2, 0.1, 3.0]), sn)
    th = tmp_path / "th.parquet"
    assert (
        main(
            [
                "thresholds",
                "--experiment",
                "mine",
                "--thresholds-config",
                '{"delta_m": 1.0, "delta_s": 1.0}',
                "--train-nn",
                str(tn),
                "--sample-nn",
                str(sn),
                "--ks",
                "6",
                "--out",
                str(th),
            ]
        )
        == 0
    )
    assert list(read_parquet(th)["K"]) == [6]
    cls = tmp_path / "c.parquet"
    assert (
        main(
            [
                "classify",
                "--experiment",
                "mine",
                "--k",
                "6",
                "--train-nn",
                str(tn),
                "--sample-nn",
                str(sn),
                "--thresholds",
                str(th),
                "--out",
                str(cls),
            ]
        )
        == 0
    )
    assert list(read_parquet(cls)["class"]) == [
        "memorized",
        "memorized",
        "generalized",
        "spurious",
        "memorized",
        "generalized",
    ]


# ---------------------------------------------------------------- bad inputs -> exit 2, no output


def _bad_tables(tmp_path):
    good_t = tmp_path / "good_t.parquet"
    good_s = tmp_path / "good_s.parquet"
    write_parquet(nn_table([0.1, 2.0, 3.0], k=8), good_t)
    write_parquet(nn_table([0.1, 0.2, 3.0], k=8), good_s)
    nocol = tmp_path / "nocol.parquet"
    write_parquet(nn_table([0.1, 2.0, 3.0], k=8).drop(columns=["distance"]), nocol)
    other_q = tmp_path / "other_q.parquet"
    write_parquet(nn_table([0.1, 2.0], k=8), other_q)
    nan = tmp_path / "nan.parquet"
    write_parquet(nn_table([0.1, np.nan, 3.0], k=8), nan)
    return good_t, good_s, nocol, other_q, nan


def _th(**cfg):
    """--thresholds-config of one bad-input case (classify: with the K of the tables)."""
    import json

    return ["--thresholds-config", json.dumps(cfg)]


K8 = ["--k", "8"]
BAD = [
    ("classify", "good_t", "good_s", [*K8, *_th(delta_m=0.5, delta_s=0)], "delta_s must be > 0"),
    ("classify", "good_t", "good_s", [*K8, *_th(delta_m=0.5, delta_s=-1)], "delta_s must be > 0"),
    # the schema's rule for a configured delta_m (exclusiveMinimum 0), checked before any work
    ("classify", "good_t", "good_s", [*K8, *_th(delta_m=-0.1, delta_s=1)], "delta_m must be > 0"),
    ("classify", "nocol", "good_s", [*K8, *_th(delta_m=0.5, delta_s=1)], "lacks columns"),
    ("classify", "good_t", "other_q", [*K8, *_th(delta_m=0.5, delta_s=1)], "different queries"),
    ("classify", "nan", "good_s", [*K8, *_th(delta_m=0.5, delta_s=1)], "NaN"),
    ("classify", "good_t", "nan", [*K8, *_th(delta_m=0.5, delta_s=1)], "NaN"),
    ("classify", "good_t", "good_s", K8, "give --thresholds"),
    ("classify", "good_t", "good_s", ["--k", "9", *_th(delta_m=0.5, delta_s=1)], "holds K = 8"),
    ("thresholds", "good_t", "good_s", _th(delta_s=0), "> 0"),
    ("thresholds", "good_t", "good_s", _th(delta_m=-1), "> 0"),
    ("thresholds", "nocol", "good_s", [], "lacks columns"),
    ("thresholds", "nan", "good_s", [], "NaN"),
    ("thresholds", "good_t", "nan", [], "NaN"),
    ("thresholds", "good_t", "good_s", _th(delta_m=[1, 2]), "1 K values"),
    ("thresholds", "good_t", "good_s", _th(delta_m="big"), "'auto', a number"),
    ("thresholds", "good_t", "good_s", _th(delta_mm=1), "unknown images.<E>.thresholds config keys ['delta_mm']"),
    ("thresholds", "good_t", "missing", [], "not found"),
]


@pytest.mark.parametrize("cmd, a, b, extra, msg", BAD, ids=[f"{c[0]}-{c[4]}" for c in BAD])
def test_bad_inputs_exit_2_without_output(tmp_path, capsys, cmd, a, b, extra, msg):
    good_t, good_s, nocol, other_q, nan = _bad_tables(tmp_path)
    files = dict(
        good_t=good_t,
        good_s=good_s,
        nocol=nocol,
        other_q=other_q,
        nan=nan,
        missing=tmp_path / "missing.parquet",
    )
    out = tmp_path / "out" / "result.parquet"
    rc = main(
        [cmd, "--experiment", "e", "--train-nn", str(files[a]), "--sample-nn", str(files[b]), *extra,
         "--out", str(out)]  # fmt: skip
    )
    err = capsys.readouterr().err
    assert rc == 2
    assert f"memgen {cmd}: error:" in err and msg in err, err
    assert not out.exists()
    assert not list(out.parent.glob("*")) if out.parent.exists() else True


def test_fractions_missing_table_exit_2(tmp_path, capsys):
    out = tmp_path / "fr.parquet"
    rc = main(["fractions", "--experiment", "e", "--classes", str(tmp_path / "nope.parquet"),
               "--out", str(out)])  # fmt: skip
    assert rc == 2 and "not found" in capsys.readouterr().err
    assert not out.exists()


# ---------------------------------------------------------------- gap ratio, duplicate groups, sweep


def test_gap_ratio_criterion_and_fraction():
    from memgen.classify import GAP_CLASS, gap_fraction, gap_ratio

    rows = []
    for q, (d1, d2) in enumerate([(0.1, 0.5), (0.3, 0.5), (0.0, 0.0), (0.2, 0.6)]):
        rows += [{"query": q, "rank": 1, "ref_index": 0, "distance": d1},
                 {"query": q, "rank": 2, "ref_index": 1, "distance": d2}]
    ratio = gap_ratio(pd.DataFrame(rows))
    np.testing.assert_allclose(ratio.to_numpy(), [0.2, 0.6, 0.0, 1 / 3])
    # strict < 1/3: 0.2 and the double exact copy count, 0.6 and exactly 1/3 do not
    row = gap_fraction(pd.DataFrame({"gap_ratio": ratio.to_numpy()}), n_resamples=200)
    assert row["class"] == GAP_CLASS and row["fraction"] == 0.5 and row["n"] == 4
    # no second neighbour (K = 1): undefined, not "memorized"
    one = gap_ratio(pd.DataFrame(rows[:1]))
    assert np.isnan(one.iloc[0])
    assert np.isnan(gap_fraction(pd.DataFrame({"gap_ratio": one.to_numpy()}))["fraction"])


def test_duplicate_groups_count_states_not_samples():
    from memgen.classify import duplicate_groups, n_groups

    # samples 0-1 a pair, 2-3-4 a chain (2~3, 3~4), 5 alone, 6 memorized next to 5
    classes = np.array(["spurious"] * 6 + ["memorized"])
    edges = [(0, 1, 0.1), (1, 0, 0.1), (2, 3, 0.2), (3, 4, 0.2), (4, 3, 0.2), (5, 6, 0.1),
             (0, 2, 5.0)]  # the last link is farther than delta_s: no merge
    nn = pd.DataFrame(edges, columns=["query", "ref_index", "distance"])
    groups = duplicate_groups(classes, nn, delta_s=1.0)
    assert n_groups(groups) == 3
    assert groups[0] == groups[1] and groups[2] == groups[3] == groups[4] and groups[6] == -1
    assert len({groups[0], groups[2], groups[5]}) == 3
    # one mutual pair is one group however many samples the set has
    pair = np.array(["spurious", "spurious"] + ["generalized"] * 98)
    nn = pd.DataFrame([(0, 1, 0.1), (1, 0, 0.1)], columns=["query", "ref_index", "distance"])
    assert n_groups(duplicate_groups(pair, nn, 1.0)) == 1


def test_delta_sweep_scales_both_thresholds():
    from memgen.classify import delta_sweep

    t = {
        2: pd.DataFrame({"d_train": [0.1, 0.1], "d_synth": [0.1, 0.1], "delta_m": 1.0, "delta_s": 1.0}),
        8: pd.DataFrame({"d_train": [2.0, 2.0, 2.0, 0.5], "d_synth": [0.8, 1.1, 3.0, 0.5],
                         "delta_m": 1.0, "delta_s": 1.0}),
        32: pd.DataFrame({"d_train": [3.0, 1.2], "d_synth": [3.0, 3.0], "delta_m": 1.0, "delta_s": 1.0}),
    }
    rows = pd.DataFrame(delta_sweep(t, [0.5, 1.0, 1.25]))
    base = rows[rows["scale"] == 1.0].set_index("K")
    assert base.loc[8, "f_spurious"] == 0.25 and base.loc[8, "f_memorized"] == 0.25
    assert base.loc[8, "spurious_peak"] == 0.25 and base.loc[8, "K_peak"] == 8
    assert base.loc[32, "false_positive_kmax"] == 0.0
    wide = rows[rows["scale"] == 1.25].set_index("K")
    assert wide.loc[8, "f_spurious"] == 0.5 and wide.loc[32, "false_positive_kmax"] == 0.5
    narrow = rows[rows["scale"] == 0.5].set_index("K")
    assert narrow.loc[8, "f_spurious"] == 0.0 and narrow.loc[8, "delta_s"] == 0.5
