"""Tables 1-3: their numbers come from the run's outputs; Table 3 counts match the paper's."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch
from safetensors import safe_open

from memgen.models.unet import PRESET_SHAPES, PRESETS, build_unet, preset_kwargs
from memgen.paper_tables import parameter_count, table3, to_markdown

# Table 3 of the paper (millions of parameters).
PAPER_M = {"mnist": 24.5, "fmnist": 24.5, "cifar10_64": 8.9, "cifar10_96": 20.1, "cifar10_128": 35.7,
           "church_64": 27.4, "church_96": 61.7, "church_128": 109.7}  # fmt: skip


def saved_config(preset: str, tmp_path) -> dict:
    with torch.device("meta"):
        net = build_unet(preset_kwargs(preset))
    net.save_config(tmp_path / preset)
    return json.loads((tmp_path / preset / "config.json").read_text())


@pytest.mark.parametrize("preset", sorted(PAPER_M))
def test_full_size_parameter_counts_match_table3(preset, tmp_path):
    n = parameter_count(saved_config(preset, tmp_path))
    assert abs(n / 1e6 / PAPER_M[preset] - 1) < 0.01, (preset, n)
    assert PRESETS[preset]["paper_params"] == PAPER_M[preset] * 1e6


def test_table3_row_of_a_full_size_model_dir(tmp_path):
    saved_config("church_128", tmp_path)
    record = {"model": {"kind": "unet", "preset": "church_128"}, "iterations": 800000,
              "train": {"batch_size": 64, "iterations": 800000}}  # fmt: skip
    (tmp_path / "church_128" / "memgen_train.json").write_text(json.dumps(record))
    paper = {k: v["paper_params"] for k, v in PRESETS.items()}
    row = table3([{"experiment": "church", "model_dir": tmp_path / "church_128"}], paper).iloc[0]
    assert row["network"] == "UNet (church_128)" and row["channels"] == 128
    assert row["channel_mult"] == "(1, 1, 2, 2, 4, 4)"
    assert row["attn_resolutions"] == "16, mid block"  # 64, 32, [16], 8, 4, 2
    assert row["dropout"] == 0.0 and row["batch_size"] == 64 and row["iterations"] == 800000
    assert row["params"] == 109_733_379 and row["paper_params_M"] == 109.7
    assert PRESET_SHAPES["church_128"] == (3, 64, 64)
    # a narrowed copy of the preset is not compared with the paper's count
    record["model"]["width_scale"] = 0.125
    (tmp_path / "church_128" / "memgen_train.json").write_text(json.dumps(record))
    row = table3([{"experiment": "church", "model_dir": tmp_path / "church_128"}], paper).iloc[0]
    assert pd.isna(row["paper_params_M"])


def test_tables_of_the_tiny_run_come_from_its_outputs(tiny_run):
    run = tiny_run / "results" / "tiny"
    tables = run / "tables"
    t1 = pd.read_csv(tables / "table1_kgrid.csv").set_index("experiment")
    t2 = pd.read_csv(tables / "table2_thresholds.csv").set_index("experiment")
    t3 = pd.read_csv(tables / "table3_models.csv").set_index("experiment")
    assert list(t1.index) == list(t2.index) == list(t3.index) == ["digits"]
    # Table 1: N is the split's pool size; the demo configures no K1/K2
    assert t1.loc["digits", "N"] == len(pd.read_parquet(run / "digits" / "split.parquet")) == 1797
    assert pd.isna(t1.loc["digits", "K1"]) and t1.loc["digits", "source"] == "not set"
    assert t1.loc["digits", "n_models"] == 2
    # Table 2: the range of the thresholds over K
    th = pd.read_parquet(run / "digits" / "thresholds.parquet")
    row = t2.loc["digits"]
    assert row["n_K"] == len(th) == 2
    assert row["delta_m_min"] == pytest.approx(th["delta_m"].min())
    assert row["delta_m_max"] == pytest.approx(th["delta_m"].max())
    assert row["delta_s_min"] == pytest.approx(th["delta_s"].min())
    assert row["delta_s_max"] == pytest.approx(th["delta_s"].max())
    assert row["width"] == 128
    # Table 3: parameters = the elements stored in the saved weights of the largest K's model
    with safe_open(str(run / "digits" / "K8" / "model" / "diffusion_pytorch_model.safetensors"),
                   "pt") as fh:  # fmt: skip
        stored = sum(math.prod(fh.get_slice(k).get_shape()) for k in fh.keys())
    m = t3.loc["digits"]
    assert m["params"] == stored and m["network"] == "residual MLP"
    assert (m["batch_size"], m["iterations"]) == (128, 200)  # demo batch, tiny budget
    # the Markdown files hold the same rows
    md = (tables / "table3_models.md").read_text()
    assert f"| digits | residual MLP | 128 | 3 blocks | none | 0 | {stored} |" in md
    assert (tables / "table1_kgrid.md").read_text().startswith("**Table 1")
    assert "| digits | — | — | 1797 | 2 | not set |" in (tables / "table1_kgrid.md").read_text()


def test_markdown_cells():
    df = pd.DataFrame({"a": [1.23456, None], "b": ["x|y", "z"]})
    assert to_markdown(df, "T").splitlines()[2:] == ["| a | b |", "|---|---|", "| 1.235 | x\\|y |",
                                                     "| — | z |"]  # fmt: skip
