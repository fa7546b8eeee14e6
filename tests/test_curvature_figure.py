"""Fig 5A compares the classes at a fixed K (the paper's claim), besides each class across K: the panel data
are the per-class mean spectra of the curvature table at that K, top singular values dropped."""

import numpy as np
import pandas as pd
import pytest

import memgen.figures.curvature as fx
from memgen.classes import CLASSES
from memgen.curvature import CURVATURE
from memgen.io import write_parquet

RANKS = 8


def _table(classes_per_k, seed=0):
    """Planted curvature table: every (K, class, point) a descending spectrum with a class-specific level."""
    rng = np.random.default_rng(seed)
    level = {"memorized": 3.0, "spurious": 2.0, "generalized": 1.0, "training": 4.0}
    rows = []
    for k, classes in classes_per_k.items():
        for cls in classes:
            for point in range(3 + k % 2):
                sv = np.sort(level[cls] * (1 + 0.1 * rng.random(RANKS)) * np.linspace(2, 0.1, RANKS))[::-1]
                rows += [{"experiment": "e", "K": k, "method": "score_matrix", "t": 10, "class": cls,
                          "point": point, "rank": r, "singular_value": v, "skipped": False, "reason": None}
                         for r, v in enumerate(sv)]
        for cls in set(CLASSES) - set(classes):  # a skipped class leaves one marker row
            rows.append({"experiment": "e", "K": k, "method": "score_matrix", "t": 10, "class": cls, "point": -1,
                         "rank": -1, "singular_value": np.nan, "skipped": True, "reason": "min_class_frac"})
    return pd.DataFrame(rows)


GRID = {
    2: ["memorized", "training"],
    8: ["memorized", "spurious", "generalized", "training"],
    32: ["spurious", "generalized", "training"],
    100: ["generalized", "training"],
}


def test_auto_choice_is_the_transition_k():
    ok = _table(GRID).query("~skipped")
    assert fx.fixed_k_choice(ok) == [8]
    assert fx.fixed_k_choice(ok, [2, 100]) == [2, 100]
    with pytest.raises(ValueError, match=r"figure_ks \[5\].*K values present: \[2, 8, 32, 100\]"):
        fx.fixed_k_choice(ok, [5])
    # no K with all three classes: the K with the most sample classes
    ok2 = _table({k: v for k, v in GRID.items() if k != 8}).query("~skipped")
    assert fx.fixed_k_choice(ok2) == [32]
    # many transition K: at most 3, evenly spaced, ends included
    full = ["memorized", "spurious", "generalized", "training"]
    ok3 = _table({k: full for k in (4, 8, 16, 32, 64)}).query("~skipped")
    assert fx.fixed_k_choice(ok3) == [4, 16, 64]


def test_fixed_k_panel_data_are_the_per_class_means():
    df = _table(GRID)
    fig = fx.curvature_figure(df, "e", drop_top=2)
    panel = [ax for ax in fig.axes if ax.get_title() == "K=8: classes compared"]
    assert len(panel) == 1
    lines = {ln.get_label().split(" ")[0]: ln for ln in panel[0].get_lines()}
    assert set(lines) == {"memorized", "spurious", "generalized", "training"}
    ok = df[~df["skipped"] & (df["K"] == 8)]
    for cls, ln in lines.items():
        d = ok[ok["class"] == cls]
        want = np.stack([g.sort_values("rank")["singular_value"].to_numpy() for _, g in d.groupby("point")]).mean(0)
        np.testing.assert_allclose(ln.get_ydata(), want[2:])  # top 2 dropped
        np.testing.assert_array_equal(ln.get_xdata(), np.arange(2, RANKS))
        assert f"(n={d['point'].nunique()})" in ln.get_label()
    # the planted ordering is what the panel shows: memorized above spurious above generalized
    assert lines["memorized"].get_ydata()[-1] > lines["spurious"].get_ydata()[-1] > lines["generalized"].get_ydata()[-1]
    # the across-K views are kept
    titles = [ax.get_title() for ax in fig.axes]
    assert {"memorized samples, across K", "training points, across K"} <= set(titles)


def test_requested_fixed_ks_get_one_panel_each():
    fig = fx.curvature_figure(_table(GRID), "e", drop_top=1, fixed_ks=[2, 32, 100])
    titles = [ax.get_title() for ax in fig.axes if ax.get_title().endswith("classes compared")]
    assert titles == ["K=2: classes compared", "K=32: classes compared", "K=100: classes compared"]


def _schema_table(df: pd.DataFrame) -> pd.DataFrame:
    """The planted table with the columns of the curvature schema (as the stage writes it)."""
    df = df.assign(source=np.where(df["class"] == "training", "pool", "samples"), class_size=10,
                   sigma_t=0.05, m=9, reason=df["reason"].fillna(""))  # fmt: skip
    df["point"] = df["point"].astype("Int64").mask(df["skipped"])
    df["rank"] = df["rank"].astype("Int64").mask(df["skipped"])
    return df


def test_cli_fixed_ks(tmp_path):
    import argparse
    import json

    from memgen.cli.curvature import register as register_curvature

    write_parquet(_schema_table(_table(GRID)), tmp_path / "curv.parquet", provenance={},
                  schema=CURVATURE.schema)  # fmt: skip
    parser = argparse.ArgumentParser()
    register_curvature(parser.add_subparsers())
    base = ["curvature-figure", "--inputs", str(tmp_path / "curv.parquet"), "--experiment", "e"]
    for ks in ("auto", [2, 100]):
        cfg = json.dumps({"figure_ks": ks})
        args = parser.parse_args(base + ["--out", str(tmp_path / "f"), "--curvature-config", cfg])
        assert args.func(args) == 0 and (tmp_path / "f.png").stat().st_size > 1000
    cfg = json.dumps({"figure_ks": [5]})
    args = parser.parse_args(base + ["--out", str(tmp_path / "g"), "--curvature-config", cfg])
    with pytest.raises(ValueError, match="figure_ks"):
        args.func(args)
    assert not (tmp_path / "g.png").exists()
