"""The per-class driver: one encoding of a skipped class and one explicit schema per table, so the
per-K files of basins, curvature and energy scan together as one dataset (pyarrow.dataset, as
polars or duckdb would); the device resolver; figure commands without a display."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import torch

from memgen.basins import BASINS, BasinConfig, basins_table, l2_distance
from memgen.curvature import CURVATURE, CurvatureConfig, curvature_table
from memgen.energy import ENERGY, EnergyConfig, energy_table
from memgen.io import write_parquet
from memgen.models.empirical import EmpiricalEpsModel
from memgen.per_class import TableSpec, frame_from_table, per_class_table, read_tables
from memgen.selection import AnalysisConfig

torch.set_num_threads(1)
ACFG = AnalysisConfig(n_train_points=2, max_per_class=2, min_class_frac=0.1)


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    pool = rng.uniform(-1, 1, (6, 3, 3, 1)).astype(np.float32)
    samples = rng.uniform(-1, 1, (12, 3, 3, 1)).astype(np.float32)
    return pool, samples


def _classes(names):
    rng = np.random.default_rng(1)
    n = len(names)
    return pd.DataFrame({"sample": np.arange(n), "d_train": rng.random(n), "d_synth": rng.random(n),
                         "class": names})  # fmt: skip


# K=2: no spurious sample and 1 generalized of 12 (< 10 %): two skipped classes. K=4: none skipped.
CLASSES_PER_K = {
    2: _classes(["memorized"] * 11 + ["generalized"]),
    4: _classes(["memorized"] * 4 + ["spurious"] * 4 + ["generalized"] * 4),
}


def _stage_table(stage, k, pool, samples, classes):
    model = EmpiricalEpsModel(torch.as_tensor(pool[:k]).permute(0, 3, 1, 2), None)
    if stage == "basins":
        cfg = BasinConfig(metric="l2", delta=0.5, trials=2, stride=300, ddim_steps=3)
        return basins_table(model, pool[:k], samples, classes, k, "e", ACFG, cfg, l2_distance)
    if stage == "curvature":
        cfg = CurvatureConfig(method="jacobian")
        return curvature_table(model, pool[:k], samples, classes, k, "e", ACFG, cfg)
    cfg = EnergyConfig(n_alpha=3, n_refs=1)
    return energy_table(model, pool, samples, classes, k, "e", ACFG, cfg)


@pytest.mark.parametrize("stage, spec", [("basins", BASINS), ("curvature", CURVATURE),
                                         ("energy", ENERGY)], ids=["basins", "curvature", "energy"])  # fmt: skip
def test_per_k_files_share_one_schema_and_scan_together(tmp_path, stage, spec):
    pool, samples = _inputs()
    files = []
    for k, classes in CLASSES_PER_K.items():
        df = _stage_table(stage, k, pool, samples, classes)
        path = tmp_path / f"{stage}_K{k}.parquet"
        write_parquet(df, path, provenance={"K": k}, schema=spec.schema)
        files.append(str(path))
        assert pq.read_schema(path).remove_metadata().equals(spec.schema), k
    # the scan infers its schema from one file and reads the other with it: the types must agree
    table = ds.dataset(files, format="parquet").to_table()
    assert table.schema.remove_metadata().equals(spec.schema)
    df = frame_from_table(table, spec.schema)
    assert table.column("reason").null_count == 0 and table.column("class").null_count == 0
    skipped = df[df["skipped"]].sort_values("class")
    assert list(zip(skipped["K"], skipped["class"])) == [(2, "generalized"), (2, "spurious")]
    assert "min_class_frac" in skipped["reason"].iloc[0] and "no spurious" in skipped["reason"].iloc[1]
    assert (skipped["class_size"].to_list()) == [1, 0] and (skipped["source"] == "samples").all()
    for col in spec.point_columns:  # a skipped class has no point: null, never a sentinel
        assert table.filter(table.column("skipped")).column(col).null_count == 2, col
    done = df[~df["skipped"]]
    assert (done["reason"] == "").all()
    assert done.groupby(["K", "class"])["point"].nunique().to_dict() == {
        (2, "memorized"): 2, (2, "training"): 2,
        (4, "generalized"): 2, (4, "memorized"): 2, (4, "spurious"): 2, (4, "training"): 2,
    }  # fmt: skip
    assert str(done["point"].dtype) == "Int64"  # point indices stay integers next to the nulls
    # the figures' reader gives the same rows
    back = read_tables(files, spec)
    assert len(back) == len(df) and list(back.columns) == spec.schema.names


def test_every_class_skipped_and_empty_tables_keep_the_schema(tmp_path):
    pool, samples = _inputs()
    # no training points asked for, and every class (a third of |S|) below min_class_frac
    acfg = AnalysisConfig(n_train_points=0, max_per_class=2, min_class_frac=0.5)
    model = EmpiricalEpsModel(torch.as_tensor(pool[:2]).permute(0, 3, 1, 2), None)
    df = curvature_table(model, pool[:2], samples, CLASSES_PER_K[4], 2, "e", acfg,
                         CurvatureConfig(method="jacobian"))  # fmt: skip
    assert df["skipped"].all() and sorted(df["class"]) == ["generalized", "memorized", "spurious"]
    write_parquet(df, tmp_path / "skipped.parquet", schema=CURVATURE.schema)
    empty = frame_from_table(BASINS.schema.empty_table(), BASINS.schema)
    write_parquet(empty, tmp_path / "empty.parquet", schema=BASINS.schema)
    for name, spec in (("skipped", CURVATURE), ("empty", BASINS)):
        assert pq.read_schema(tmp_path / f"{name}.parquet").remove_metadata().equals(spec.schema)
    assert len(ds.dataset([str(tmp_path / "empty.parquet")]).to_table()) == 0


def test_driver_refuses_a_stage_that_breaks_its_schema():
    spec = TableSpec("toy", constants=(), per_point=(pa.field("point", pa.int64()),))
    classes = CLASSES_PER_K[4]
    rows = per_class_table(spec, classes, 4, ACFG, None, {"experiment": "e"},
                           lambda sel: pd.DataFrame({"point": sel.index}))  # fmt: skip
    assert list(rows.columns) == spec.schema.names and len(rows) == 8
    with pytest.raises(RuntimeError, match=r"toy: the stage returned columns \['pt'\]"):
        per_class_table(spec, classes, 4, ACFG, None, {"experiment": "e"},
                        lambda sel: pd.DataFrame({"pt": sel.index}))  # fmt: skip
    with pytest.raises(ValueError, match="extra"):
        write_parquet(rows.assign(bogus=1), "unused.parquet", schema=spec.schema)


def test_device_resolver():
    from memgen.device import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match=r"images.e.basins.device 'gpu' is not a device"):
        resolve_device("gpu", "images.e.basins.device")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"train.device is 'cuda' but no CUDA device is visible"):
            resolve_device("cuda", "train.device")


def _basins_files(tmp_path):
    pool, samples = _inputs()
    files = []
    for k, classes in CLASSES_PER_K.items():
        path = tmp_path / f"basins_K{k}.parquet"
        write_parquet(_stage_table("basins", k, pool, samples, classes), path, schema=BASINS.schema)
        files.append(str(path))
    return files


def test_figure_modules_leave_the_backend_alone_and_commands_need_no_display(tmp_path):
    """Importing the figure modules selects no backend (a notebook keeps its own); a figure
    command on a batch node (no DISPLAY) still writes its PNG + PDF."""
    files = _basins_files(tmp_path)
    argv = ["basins-figure", "--inputs", *files, "--experiment", "e", "--out-volume",
            str(tmp_path / "v"), "--out-time", str(tmp_path / "t")]  # fmt: skip
    code = ("import sys, matplotlib; matplotlib.use('svg'); "
            "import memgen.figures.basins, memgen.figures.curvature, memgen.figures.energy, "
            "memgen.figures.classify, memgen.figures.circle; print(matplotlib.get_backend()); "
            f"from memgen.cli import main; sys.exit(main({argv!r}))")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "MPLBACKEND", "WAYLAND_DISPLAY")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "svg"
    for name in ("v.png", "v.pdf", "t.png", "t.pdf"):
        assert (tmp_path / name).stat().st_size > 1000, name


def test_figure_command_takes_the_plots_section(tmp_path, capsys):
    """--plots-config: dpi reaches the PNG, an unknown key is a one-line error."""
    from PIL import Image

    from memgen.cli import main

    files = _basins_files(tmp_path)
    widths = {}
    for dpi in (50, 100):
        stem = tmp_path / f"fig{dpi}"
        argv = ["basins-figure", "--inputs", *files, "--experiment", "e", "--out-volume", str(stem),
                "--out-time", str(tmp_path / "t"),
                "--plots-config", json.dumps({"dpi": dpi, "k_log": False})]  # fmt: skip
        assert main(argv) == 0
        widths[dpi] = Image.open(stem.with_suffix(".png")).size[0]
    assert 1.9 < widths[100] / widths[50] < 2.1
    argv = ["basins-figure", "--inputs", *files, "--experiment", "e", "--out-volume",
            str(tmp_path / "bad"), "--out-time", str(tmp_path / "t"), "--plots-config", '{"dpl": 1}']  # fmt: skip
    assert main(argv) == 2
    assert "unknown plots config keys ['dpl']" in capsys.readouterr().err
    assert not (tmp_path / "bad.png").exists()
