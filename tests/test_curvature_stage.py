"""Stage-level checks: tables per class (skipped class with a reason), CLI errors, figures written."""

import numpy as np
import pandas as pd
import pytest
import torch

from memgen.cli.curvature import register as register_curvature
from memgen.cli.energy import register as register_energy
from memgen.curvature import CURVATURE, CurvatureConfig, curvature_table
from memgen.energy import ENERGY, EnergyConfig, energy_table
from memgen.figures.curvature import curvature_figure
from memgen.figures.energy import energy_gap_figure, energy_path_figure, energy_refs_figure
from memgen.io import read_parquet, save_figure, write_parquet
from memgen.models.empirical import EmpiricalEpsModel
from memgen.per_class import read_tables
from memgen.selection import AnalysisConfig

torch.set_num_threads(1)


def _setup(k=4, n=20, seed=0):
    rng = np.random.default_rng(seed)
    pool = rng.uniform(-1, 1, (10, 3, 3, 1)).astype(np.float32)
    samples = rng.uniform(-1, 1, (n, 3, 3, 1)).astype(np.float32)
    # 12 memorized, 7 generalized, 1 spurious (below 10 % of |S| -> skipped)
    cls = ["memorized"] * 12 + ["generalized"] * 7 + ["spurious"]
    classes = pd.DataFrame({"sample": np.arange(n), "d_train": rng.random(n), "d_synth": rng.random(n), "class": cls})
    model = EmpiricalEpsModel(torch.as_tensor(pool[:k]).permute(0, 3, 1, 2), None)
    acfg = AnalysisConfig(n_train_points=3, max_per_class=5, min_class_frac=0.1)
    return model, pool, samples, classes, acfg


@pytest.mark.parametrize("method", ["jacobian", "score_matrix", "lanczos"])
def test_curvature_table(method):
    model, pool, samples, classes, acfg = _setup()
    cfg = CurvatureConfig.from_dict({"method": method, "t": 10, "max_points": 4, "top_k": 3})
    df = curvature_table(model, pool[:4], samples, classes, 4, "e", acfg, cfg)
    skipped = df[df["skipped"]]
    assert list(skipped["class"]) == ["spurious"] and "min_class_frac" in skipped["reason"].iloc[0]
    ok = df[~df["skipped"]]
    assert ok.groupby("class")["point"].nunique().to_dict() == {"generalized": 4, "memorized": 4, "training": 3}
    r = 3 if method == "lanczos" else 9
    assert ok.groupby(["class", "point"]).size().eq(r).all()
    assert (ok.groupby(["class", "point"])["singular_value"].apply(lambda s: s.is_monotonic_decreasing)).all()
    assert np.isclose(ok["sigma_t"].iloc[0], float(torch.sqrt(1 - torch.cumprod(1 - torch.linspace(1e-4, 0.02, 1000), 0)[10])))


def test_energy_table_and_figures(tmp_path):
    model, pool, samples, classes, acfg = _setup()
    frames = []
    for k in (2, 4):
        m = EmpiricalEpsModel(torch.as_tensor(pool[:k]).permute(0, 3, 1, 2), None)
        df = energy_table(m, pool, samples, classes, k, "e", acfg, EnergyConfig.from_dict({"n_alpha": 8, "t": 5, "n_refs": 2}))
        write_parquet(df, tmp_path / f"energy{k}.parquet", provenance={}, schema=ENERGY.schema)
        frames.append(df)
        cf = curvature_table(m, pool[:k], samples, classes, k, "e", acfg, CurvatureConfig.from_dict({"method": "jacobian"}))
        write_parquet(cf, tmp_path / f"curv{k}.parquet", provenance={}, schema=CURVATURE.schema)
    df = frames[1]
    assert set(df.loc[~df["skipped"], "ref"]) == set(frames[0].loc[~frames[0]["skipped"], "ref"])  # fixed across K
    ok = df[~df["skipped"]]
    assert len(ok) == 2 * (3 + 5 + 5) and all(len(c) == 8 for c in ok["curve"])
    assert len(read_parquet(tmp_path / "energy4.parquet")) == len(df)
    energy = read_tables([tmp_path / "energy2.parquet", tmp_path / "energy4.parquet"], ENERGY)
    out = save_figure(energy_gap_figure(energy, "e"), tmp_path / "fig6")
    out += save_figure(energy_path_figure(energy, "e"), tmp_path / "fig25")
    refs = energy_refs_figure(energy, "e")
    assert len(refs.axes) == 2  # Figs 27-30: one panel per reference
    out += save_figure(refs, tmp_path / "figE")
    curv = read_tables([tmp_path / "curv2.parquet", tmp_path / "curv4.parquet"], CURVATURE)
    out += save_figure(curvature_figure(curv, "e", drop_top=2), tmp_path / "fig5a")
    assert all(p.stat().st_size > 1000 for p in out) and len(out) == 8


def _parser():
    import argparse

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    register_curvature(sub)
    register_energy(sub)
    return parser


def test_cli_missing_model_dir_named(tmp_path):
    _, pool, samples, classes, _ = _setup()
    np.save(tmp_path / "pool.npy", pool)
    np.save(tmp_path / "samples.npy", samples)
    write_parquet(classes, tmp_path / "classes.parquet", provenance={})
    for cmd in ("curvature", "energy"):
        args = _parser().parse_args([cmd, "--model-dir", str(tmp_path / "nomodel"), "--classes",
                                     str(tmp_path / "classes.parquet"), "--pool", str(tmp_path / "pool.npy"),
                                     "--samples", str(tmp_path / "samples.npy"), "--k", "4", "--experiment", "e",
                                     "--out", str(tmp_path / "o.parquet")])
        with pytest.raises(FileNotFoundError, match="nomodel"):
            args.func(args)
    (tmp_path / "emptymodel").mkdir()
    args = _parser().parse_args(["curvature", "--model-dir", str(tmp_path / "emptymodel"), "--classes",
                                 str(tmp_path / "classes.parquet"), "--pool", str(tmp_path / "pool.npy"),
                                 "--samples", str(tmp_path / "samples.npy"), "--k", "4", "--experiment", "e",
                                 "--out", str(tmp_path / "o.parquet")])
    with pytest.raises((FileNotFoundError, ValueError), match="emptymodel"):
        args.func(args)


def test_unknown_config_key_rejected():
    with pytest.raises(ValueError, match=r"unknown images.<E>.curvature config keys \['bogus'\]"):
        CurvatureConfig.from_dict({"bogus": 1})
    with pytest.raises(ValueError, match="method"):
        CurvatureConfig.from_dict({"method": "svd"})


def test_energy_reference_panels():
    """Fig 6/26 plots the first reference only; Figs 27-30 get one panel per reference with that reference's gaps."""
    rows = []
    for ref in (3, 11):
        for k in (2, 4):
            for cls, u in (("training", 0.0), ("memorized", 1.0 + ref), ("generalized", 5.0 * ref)):
                rows += [{"experiment": "e", "K": k, "ref": ref, "class": cls, "U": u + d, "t": 0, "skipped": False,
                          "reason": "", "curve": np.zeros(3)} for d in (-0.1, 0.1)]
    energy = pd.DataFrame(rows)
    main, per_ref = energy_gap_figure(energy, "e"), energy_refs_figure(energy, "e")
    gen_line = [ln for ln in main.axes[0].get_lines() if ln.get_label() == "generalized"][0]
    assert np.allclose(gen_line.get_ydata(), 15.0) and "index 3" in main.axes[0].get_title()
    assert [ax.get_title() for ax in per_ref.axes] == ["reference pool index 3", "reference pool index 11"]
    gen_11 = [ln for ln in per_ref.axes[1].get_lines() if ln.get_label() == "generalized"][0]
    assert np.allclose(gen_11.get_ydata(), 55.0)


def test_perturbation_count_paper_rule_from_schema_defaults():
    """Schema defaults give the paper's M: d for 28x28 and 32x32 images, 4096 for 64x64 LSUN."""
    from pathlib import Path

    import yaml

    from memgen.curvature import perturbation_count

    path = Path(__file__).parents[1] / "workflow/schemas/sections/curvature.schema.yaml"
    schema = yaml.safe_load(path.read_text())
    defaults = {k: v["default"] for k, v in schema["properties"].items() if "default" in v}
    assert defaults["m_max"] == CurvatureConfig().m_max == 4096
    cfg = CurvatureConfig.from_dict(defaults)
    assert [perturbation_count(cfg, d) for d in (784, 3072, 12288)] == [784, 3072, 4096]
    assert perturbation_count(CurvatureConfig.from_dict({"m_factor": 2.0, "m_max": None}), 12288) == 24576


def test_score_matrix_uses_capped_perturbation_count():
    """The table's spectra come from M = min(m_factor d, m_max) rows: at most M singular values."""
    model, pool, samples, classes, acfg = _setup()  # d = 9
    capped = CurvatureConfig.from_dict({"method": "score_matrix", "m_factor": 4.0, "m_max": 5, "max_points": 2})
    df = curvature_table(model, pool[:4], samples, classes, 4, "e", acfg, capped)
    ok = df[~df["skipped"]]
    assert set(ok["m"]) == {5} and ok.groupby(["class", "point"]).size().eq(5).all()
    free = CurvatureConfig.from_dict({"method": "score_matrix", "m_factor": 4.0, "m_max": None, "max_points": 2})
    ok = curvature_table(model, pool[:4], samples, classes, 4, "e", acfg, free).query("~skipped")
    assert set(ok["m"]) == {36} and ok.groupby(["class", "point"]).size().eq(9).all()
