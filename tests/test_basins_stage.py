"""Point selection (docs/method.md §5.5, skipped classes) and the `memgen basins` / `basins-figure` commands."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from memgen.basins import BasinConfig, basins_table, l2_distance
from memgen.cli import main
from memgen.io import read_parquet, write_parquet
from memgen.models.empirical import EmpiricalEpsModel
from memgen.selection import AnalysisConfig, select_points

torch.set_num_threads(1)
TINY = {"metric": "l2", "delta": 0.5, "trials": 3, "stride": 200, "ddim_steps": 5}


def _classes(n_mem=60, n_spu=1, n_gen=39, seed=0):
    rng = np.random.default_rng(seed)
    n = n_mem + n_spu + n_gen
    return pd.DataFrame(
        {
            "sample": np.arange(n),
            "d_train": rng.uniform(0, 3, n),
            "d_synth": rng.uniform(0, 3, n),
            "class": ["memorized"] * n_mem + ["spurious"] * n_spu + ["generalized"] * n_gen,
        }
    )


def test_selection_ranks_and_skips():
    classes = _classes()
    sel = {s.name: s for s in select_points(classes, k=7, cfg=AnalysisConfig(max_per_class=5, min_class_frac=0.02))}
    assert list(sel["training"].index) == list(range(7))  # first min(n_train_points, K) rows
    mem = classes[classes["class"] == "memorized"].sort_values("d_train")["sample"].to_numpy()[:5]
    gen = classes[classes["class"] == "generalized"].sort_values("d_synth", ascending=False)["sample"].to_numpy()[:5]
    np.testing.assert_array_equal(sel["memorized"].index, mem)
    np.testing.assert_array_equal(sel["generalized"].index, gen)
    # 1 spurious sample of 100 < 2 % of |S| -> skipped with a reason naming the rule.
    assert sel["spurious"].skipped and "min_class_frac" in sel["spurious"].reason
    small = select_points(classes, k=3, cfg=AnalysisConfig.from_dict({"ranking": {"generalized": {"ascending": True}}}))
    assert len(small[0].index) == 3
    gen_asc = classes[classes["class"] == "generalized"].sort_values("d_synth")["sample"].to_numpy()
    np.testing.assert_array_equal(small[3].index, gen_asc)
    # A stage's max_points caps every class after the ranking (the top of each ranked list is kept).
    capped = {s.name: s for s in select_points(classes, k=7, cfg=AnalysisConfig(max_per_class=5, min_class_frac=0.02),
                                               limit=3)}
    assert list(capped["training"].index) == [0, 1, 2]
    np.testing.assert_array_equal(capped["memorized"].index, mem[:3])
    assert capped["memorized"].class_size == sel["memorized"].class_size and capped["spurious"].skipped


def test_table_has_skipped_row_and_no_crash():
    g = torch.Generator().manual_seed(0)
    pool = (torch.rand((4, 1, 4, 4), generator=g) * 2 - 1).permute(0, 2, 3, 1).numpy()
    samples = np.concatenate([pool[:2], pool[:2] + 0.01, pool[:1] * 0]).astype(np.float32)
    classes = pd.DataFrame({"sample": range(5), "d_train": [0.0, 0, 0.1, 0.1, 2], "d_synth": [0.1] * 4 + [2.0],
                            "class": ["memorized"] * 4 + ["generalized"]})
    model = EmpiricalEpsModel(torch.as_tensor(pool).permute(0, 3, 1, 2), None)
    df = basins_table(model, pool, samples, classes, 4, "toy", AnalysisConfig(min_class_frac=0.3),
                      BasinConfig.from_dict(TINY), l2_distance)
    skipped = df[df["skipped"]].set_index("class")
    assert set(skipped.index) == {"spurious", "generalized"}
    assert "no spurious samples" in skipped.loc["spurious", "reason"]
    assert "min_class_frac" in skipped.loc["generalized", "reason"]
    done = df[~df["skipped"]]
    assert set(done["class"]) == {"training", "memorized"} and len(done) == (4 + 4) * 3
    assert (done["K"] == 4).all() and (done["experiment"] == "toy").all()
    assert np.isfinite(done["log_volume"]).all() and (done["critical_time"] >= 1).all()


@pytest.fixture()
def stage_inputs(tmp_path):
    from memgen.models import build_model

    g = torch.Generator().manual_seed(0)
    pool = (torch.rand((6, 8, 8, 1), generator=g) * 2 - 1).numpy()
    samples = np.concatenate([pool[:4], pool[:4] * 0.5]).astype(np.float32)
    np.save(tmp_path / "pool.npy", pool)
    np.save(tmp_path / "samples.npy", samples)
    classes = pd.DataFrame({"sample": range(8), "d_train": np.linspace(0, 2, 8), "d_synth": np.linspace(2, 0, 8),
                            "class": ["memorized"] * 4 + ["generalized"] * 4})
    write_parquet(classes, tmp_path / "classes.parquet")
    torch.manual_seed(0)
    build_model({"kind": "mlp", "width": 16, "blocks": 1, "time_embed_dim": 16}, (1, 8, 8)).save_pretrained(
        tmp_path / "model")
    return tmp_path


def _args(d, model_dir):
    return ["basins", "--model-dir", str(model_dir), "--classes", str(d / "classes.parquet"), "--pool",
            str(d / "pool.npy"), "--samples", str(d / "samples.npy"), "--k", "5", "--experiment", "digits",
            "--analysis-config", json.dumps({"n_train_points": 3, "max_per_class": 2}),
            "--basins-config", json.dumps({**TINY, "device": "cpu"}), "--out", str(d / "basins.parquet")]


def test_cli_basins_and_figure(stage_inputs):
    d = stage_inputs
    assert main(_args(d, d / "model")) == 0
    df = read_parquet(d / "basins.parquet")
    for col in ("point", "class", "K", "experiment", "trial", "critical_time", "radius", "log_volume",
                "failed_at_first", "skipped", "reason", "model_evals"):
        assert col in df.columns
    assert df[~df["skipped"]].groupby("class")["point"].nunique().to_dict() == {"training": 3, "memorized": 2, "generalized": 2}
    assert sorted(df.loc[df["class"] == "memorized", "point"].unique()) == [0, 1]
    assert sorted(df.loc[df["class"] == "generalized", "point"].unique()) == [4, 5]  # largest d_synth first
    assert main(["basins-figure", "--inputs", str(d / "basins.parquet"), "--experiment", "digits",
                 "--out-volume", str(d / "fig4b.png"), "--out-time", str(d / "figc.png")]) == 0
    for name in ("fig4b.png", "fig4b.pdf", "figc.png", "figc.pdf"):
        assert (d / name).stat().st_size > 1000


@pytest.mark.parametrize("broken", ["missing", "incomplete"])
def test_bad_model_dir_names_it(stage_inputs, capsys, broken):
    d = stage_inputs
    bad = d / "nomodel"
    if broken == "incomplete":
        bad.mkdir()
        (bad / "config.json").write_text("{}")
    assert main(_args(d, bad)) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and not (d / "basins.parquet").exists()


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 64, 64)], ids=["grey28", "rgb64"])
def test_lpips_vgg_recovery_distance_loads_hub_weights(hub_backbones, monkeypatch, shape):
    """The paper's basins metric: LPIPS-VGG from $TORCH_HOME, equal to the lpips package's value."""
    import lpips

    from memgen.basins import make_distance
    from memgen.perceptual import prepare

    monkeypatch.setenv("TORCH_HOME", str(hub_backbones))
    distance = make_distance("lpips-vgg")
    g = torch.Generator().manual_seed(0)
    x, y = (torch.rand(2, *shape, generator=g) * 2 - 1 for _ in range(2))
    y[0] = x[0]
    d = distance(x, y)
    assert d.shape == (2,) and d.dtype == torch.float64
    ref = lpips.LPIPS(net="vgg", verbose=False).eval()  # same hub checkpoint, loaded by lpips itself
    with torch.no_grad():
        expected = ref(prepare(x), prepare(y)).flatten().double()
    assert torch.allclose(d, expected, atol=1e-6) and d[0] == 0 and d[1] > 1e-3
