"""K grids: the sparse sweep, the K1/K2 rule on planted fraction curves, the dense 38-value grid."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from memgen.kgrid import (
    KGridConfig,
    critical_ks,
    dense_grid,
    grid_from_table,
    kgrid_table,
    sparse_grid,
)

REPO = Path(__file__).resolve().parents[1]
# The 38-value CIFAR-10 grid for K1 = 2000, K2 = 16000, N = 50000 (10 / 20 / 10 points).
CIFAR_GRID = [
    2, 224, 446, 668, 890, 1112, 1334, 1556, 1778, 2000, 2737, 3474, 4211, 4947, 5684, 6421, 7158,
    7895, 8632, 9368, 10105, 10842, 11579, 12316, 13053, 13789, 14526, 15263, 16000, 19778, 23556,
    27333, 31111, 34889, 38667, 42444, 46222, 50000,
]  # fmt: skip
# Memorized fraction of the sweep models, shaped like the paper's Fig 4A (UNet-128), and the
# (K1, K2, N) of the paper's Table 1 they must give.
PAPER_SHAPED = {
    "mnist": ({500: 1.0, 1000: 0.99, 2000: 0.97, 4000: 0.92, 8000: 0.55, 16000: 0.15, 32000: 0.03,
               60000: 0.0}, (4000, 32000, 60000)),
    "fmnist": ({500: 0.99, 1000: 0.99, 2000: 0.95, 4000: 0.90, 8000: 0.35, 16000: 0.04, 32000: 0.0,
                60000: 0.0}, (4000, 16000, 60000)),
    "cifar10": ({500: 1.0, 1000: 0.98, 2000: 0.93, 4000: 0.62, 8000: 0.25, 16000: 0.04, 32000: 0.01,
                 50000: 0.0}, (2000, 16000, 50000)),
    "church": ({500: 0.98, 1000: 0.97, 2000: 0.90, 4000: 0.5, 8000: 0.2, 16000: 0.03, 32000: 0.01,
                64000: 0.0, 126227: 0.0}, (2000, 16000, 126227)),
}  # fmt: skip


def test_sparse_sweep_doubles_from_the_start_and_ends_at_n():
    assert sparse_grid(50000) == [500, 1000, 2000, 4000, 8000, 16000, 32000, 50000]
    assert sparse_grid(126227) == [500, 1000, 2000, 4000, 8000, 16000, 32000, 64000, 126227]
    assert sparse_grid(60000, 250) == [250, 500, 1000, 2000, 4000, 8000, 16000, 32000, 60000]
    assert sparse_grid(1000, 500) == [500, 1000]  # 1000 is N, not 2 * 500 twice
    with pytest.raises(ValueError, match="sparse_start = 50000 is not below the data set size"):
        sparse_grid(50000, 50000)
    with pytest.raises(ValueError, match="sparse_start must be >= 1"):
        sparse_grid(50000, 0)


def test_dense_grid_is_the_38_value_cifar_example():
    grid = dense_grid(2000, 16000, 50000)
    assert grid == CIFAR_GRID and len(grid) == 38


def test_dense_grid_reproduces_the_paper_grids_of_config_yaml():
    # the hand-written grids of the four UNet-128 experiments follow the same rule from Table 1
    images = yaml.safe_load((REPO / "config.yaml").read_text())["images"]
    for name, n in (("mnist", 60000), ("fmnist", 60000), ("cifar10", 50000), ("church", 126227)):
        k1, k2 = images[name]["critical_k"]
        assert dense_grid(k1, k2, n) == images[name]["ks"], name


@pytest.mark.parametrize("name", sorted(PAPER_SHAPED))
def test_k1_k2_rule_reproduces_table1_on_paper_shaped_curves(name):
    curve, (k1, k2, n) = PAPER_SHAPED[name]
    ks = list(curve)
    assert ks == sparse_grid(n)  # the curves are on the default sweep
    assert critical_ks(ks, list(curve.values())) == (k1, k2)


def test_k1_k2_rule_on_planted_curves():
    ks = [10, 20, 40, 80, 160, 320, 500]
    # K1: the last K within 90 % of the maximum (0.8 >= 0.9 * 0.85); K2: first K within 0.05 of min
    assert critical_ks(ks, [0.85, 0.84, 0.80, 0.5, 0.3, 0.12, 0.10]) == (40, 320)
    # a floor far above 0 (memorization never vanishes) is found relative to the minimum
    assert critical_ks(ks, [0.9, 0.9, 0.6, 0.45, 0.42, 0.41, 0.40]) == (20, 80)
    # a K below K1 that dips to the floor does not become K2
    assert critical_ks(ks, [0.2, 1.0, 0.95, 0.6, 0.2, 0.2, 0.2]) == (40, 160)
    # the factors are parameters
    assert critical_ks(ks, [1.0, 0.95, 0.85, 0.5, 0.2, 0.1, 0.0], 0.8, 0.15) == (40, 320)


def test_k1_k2_rule_errors_name_the_fix():
    ks = [500, 1000, 2000, 4000]
    with pytest.raises(ValueError, match="hardly changes over the sweep.*kgrid.k1 and kgrid.k2"):
        critical_ks(ks, [0.5, 0.52, 0.49, 0.51])
    with pytest.raises(ValueError, match="no sweep K above K1 = 4000.*set kgrid.k2"):
        critical_ks(ks, [0.0, 0.1, 0.5, 1.0])
    with pytest.raises(ValueError, match="at least 3 sweep models"):
        critical_ks([500, 1000], [1.0, 0.0])
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        critical_ks(ks, [1.0, 0.5, 0.2, -0.1])


def test_dense_grid_errors():
    with pytest.raises(ValueError, match="k_min < K1 < K2 < N"):
        dense_grid(16000, 2000, 50000)
    with pytest.raises(ValueError, match="repeated values after rounding"):
        dense_grid(5, 1000, 5000)
    with pytest.raises(ValueError, match="n_mid must be >= 2"):
        dense_grid(2000, 16000, 50000, n_mid=1)


def fractions_frame(curve: dict[int, float]) -> pd.DataFrame:
    rows = []
    for k, f in curve.items():
        rows += [{"K": k, "class": "memorized", "fraction": f},
                 {"K": k, "class": "spurious", "fraction": (1 - f) / 2},
                 {"K": k, "class": "generalized", "fraction": (1 - f) / 2}]  # fmt: skip
    return pd.DataFrame(rows)


def test_kgrid_table_rule_and_overrides():
    curve, (k1, k2, n) = PAPER_SHAPED["cifar10"]
    df = kgrid_table("cifar10_nf64", fractions_frame(curve), n, KGridConfig(), sweep_ks=list(curve))
    assert grid_from_table(df) == CIFAR_GRID
    assert set(df["K1"]) == {2000} and set(df["K2"]) == {16000} and set(df["N"]) == {50000}
    assert set(df["K1_source"]) == {"sweep rule"}
    sweep = df[df["in_sweep"]].set_index("K")
    assert sweep["sweep_f_memorized"].to_dict() == curve
    assert df.loc[~df["in_sweep"], "sweep_f_memorized"].isna().all()
    assert set(df["K"]) == set(CIFAR_GRID) | set(curve)
    # an override replaces the rule's value (here both, so no rule is needed at all)
    over = kgrid_table("e", fractions_frame(curve), n, KGridConfig(k1=1000, k2=8000))
    assert (over["K1"].iloc[0], over["K2"].iloc[0]) == (1000, 8000)
    assert set(over["K1_source"]) == {"config"}
    assert grid_from_table(over) == dense_grid(1000, 8000, 50000)
    with pytest.raises(ValueError, match="expected the sweep K"):
        kgrid_table("e", fractions_frame(curve), n, KGridConfig(), sweep_ks=[500, 1000])
    with pytest.raises(ValueError, match=r"unknown images\.<E>\.kgrid config keys \[.sparse_begin.\]"):
        KGridConfig.from_dict({"sparse_begin": 500})


def test_gpu_hour_plan_counts_the_sweep_and_the_copied_models():
    from memgen.plan import plan_from_files

    table = plan_from_files([REPO / "config.yaml"], results_md=REPO / "nonexistent.md")
    rows = table.set_index("experiment")
    sweep, dense = rows.loc["cifar10_nf64_sweep"], rows.loc["cifar10_nf64"]
    assert sweep["models"] == 8 and dense["models"] == 38
    sps = sweep["steps_per_s"]
    # 8 sweep models trained; of the 38 dense ones 3 (K1 = 2000, K2 = 16000, N) are the sweep's
    assert sweep["train_gpu_h"] == pytest.approx(8 * 500_000 / sps / 3600, abs=0.1)
    assert dense["train_gpu_h"] == pytest.approx(35 * 500_000 / sps / 3600, abs=0.1)
    assert "K grid assumed (K1=2000, K2=16000)" in dense["source"]
    assert rows.loc["cifar10", "models"] == 38 and "assumed" not in rows.loc["cifar10", "source"]


def test_kgrid_command_writes_table_and_json(tmp_path, capsys):
    import json

    from memgen.cli import main
    from memgen.io import read_provenance

    curve, _ = PAPER_SHAPED["cifar10"]
    fractions_frame(curve).to_parquet(tmp_path / "fractions.parquet")
    args = ["kgrid", "--experiment", "cifar10_nf64", "--fractions", str(tmp_path / "fractions.parquet"),
            "--n", "50000", "--sweep-ks", *map(str, curve), "--kgrid-config", '{"sparse_start": 500}',
            "--out", str(tmp_path / "kgrid.parquet"), "--json-out", str(tmp_path / "kgrid.json")]  # fmt: skip
    assert main(args) == 0
    info = json.loads((tmp_path / "kgrid.json").read_text())
    assert (info["K1"], info["K2"], info["N"], info["ks"]) == (2000, 16000, 50000, CIFAR_GRID)
    assert info["sweep_ks"] == list(curve)
    assert read_provenance(tmp_path / "kgrid.parquet")["experiment"] == "cifar10_nf64"
    # a sweep whose fractions are flat: exit 2, a message naming the fix, no output
    flat = {k: 0.5 for k in curve}
    fractions_frame(flat).to_parquet(tmp_path / "flat.parquet")
    args[4] = str(tmp_path / "flat.parquet")
    args[-3], args[-1] = str(tmp_path / "flat_kgrid.parquet"), str(tmp_path / "flat.json")
    assert main(args) == 2
    assert "set kgrid.k1 and kgrid.k2" in capsys.readouterr().err
    assert not (tmp_path / "flat_kgrid.parquet").exists() and not (tmp_path / "flat.json").exists()
