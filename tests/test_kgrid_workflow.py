"""`ks: sweep` through Snakemake: the sparse sweep runs, the kgrid checkpoint derives the dense grid,
the dense grid runs in the same invocation (sharing the sweep's models), Tables 1-3 follow.

The end-to-end run is `slow` (about 45 short jobs, ~2 min on 2 free cores); the config checks are not."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from conftest import DEMO, TINY, planned_jobs, snakemake

from memgen.kgrid import dense_grid

# digits (N = 1797): sweep 500, 1000, 1797; K1/K2 fixed (a 200-step model's fractions are noise), so
# the dense grid 2 / 500 / 1000 / 1797 shares three models with the sweep.
OVERLAY = {
    "run_name": "sweep",
    "experiments": ["digits"],
    "images": {"digits": {
        "ks": "sweep",
        "kgrid": {"sparse_start": 500, "k1": 500, "k2": 1000, "n_low": 2, "n_mid": 2, "n_high": 2},
        "basins": {"enabled": False}, "curvature": {"enabled": False}, "energy": {"enabled": False},
    }},
}  # fmt: skip


def write_overlay(path, cfg):
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def sweep_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("sweep_run")
    overlay = write_overlay(workdir / "overlay.yaml", OVERLAY)
    configs = (DEMO, TINY, overlay)
    dry = snakemake(workdir, "-n", configfiles=configs)
    snakemake(workdir, "--cores", "2", configfiles=configs)
    return workdir, configs, dry.stdout + dry.stderr


@pytest.mark.slow
def test_dry_run_before_the_sweep_plans_sweep_and_kgrid(sweep_run):
    _, _, out = sweep_run
    assert "the K grid of digits comes from its sparse sweep digits_sweep (K = 500, 1000, 1797)" in out
    assert "checkpoint kgrid:" in out
    assert "results/sweep/digits_sweep/K1000/classes.parquet" in out
    # the dense grid is not known yet: none of its own K (here K = 2) is planned
    assert "results/sweep/digits/K2/" not in out


@pytest.mark.slow
def test_one_invocation_runs_sweep_then_dense_grid(sweep_run):
    workdir, configs, _ = sweep_run
    run = workdir / "results" / "sweep"
    kg = pd.read_parquet(run / "digits" / "kgrid.parquet")
    assert sorted(kg.loc[kg["in_grid"], "K"]) == dense_grid(500, 1000, 1797, 2, 2, 2) == [2, 500, 1000, 1797]
    assert sorted(kg.loc[kg["in_sweep"], "K"]) == [500, 1000, 1797]
    info = json.loads((run / "digits" / "kgrid.json").read_text())
    assert (info["K1"], info["K2"], info["N"], info["ks"]) == (500, 1000, 1797, [2, 500, 1000, 1797])
    # the sweep's fractions are the ones its classification wrote
    fr = pd.read_parquet(run / "digits_sweep" / "fractions.parquet")
    mem = fr[fr["class"] == "memorized"].set_index("K")["fraction"]
    assert kg[kg["in_sweep"]].set_index("K")["sweep_f_memorized"].to_dict() == pytest.approx(mem.to_dict())
    weights = "model/diffusion_pytorch_model.safetensors"
    for k in (2, 500, 1000, 1797):
        assert len(pd.read_parquet(run / "digits" / f"K{k}" / "classes.parquet")) > 0
    for k in (500, 1000, 1797):  # shared K: the sweep's model, copied, not retrained
        assert (run / "digits" / f"K{k}" / weights).read_bytes() == (
            run / "digits_sweep" / f"K{k}" / weights
        ).read_bytes()
        assert not (run / "digits" / f"K{k}" / "scratch" / "train").exists()
    assert (run / "digits" / "K2" / "scratch" / "train").exists()
    # the fraction figure of the dense grid and the tables exist; a second run plans nothing
    assert (run / "figures" / "fig4a_fractions_digits.png").is_file()
    t1 = pd.read_csv(run / "tables" / "table1_kgrid.csv")
    row = t1.set_index("experiment").loc["digits"]
    assert (row["K1"], row["K2"], row["N"], row["n_models"]) == (500, 1000, 1797, 4)
    assert row["source"] == "sparse sweep + config override"
    assert "digits_sweep" not in set(t1["experiment"])
    assert planned_jobs(workdir, configfiles=configs) == {}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"kgrid": {"sparse_start": 1797}}, "kgrid.sparse_start' = 1797 is not below"),
        ({"kgrid": {"k1": 1000, "k2": 500}}, "K1 must be smaller than K2"),
        ({"kgrid": {"k2": 5000}}, "kgrid.k2' = 5000 must lie between"),
        ({"train": {"iterations": [10, 20]}}, "train.iterations' is a per-K list"),
        ({"kgrid": {"n_mid": 1}}, "n_mid"),
    ],
)
def test_config_errors_stop_before_any_job(tmp_path, change, message):
    cfg = {"run_name": "bad", "experiments": ["digits"],
           "images": {"digits": {"ks": "sweep", **change}}}  # fmt: skip
    overlay = write_overlay(tmp_path / "bad.yaml", cfg)
    proc = snakemake(tmp_path, "-n", configfiles=(DEMO, TINY, overlay), check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and message in out, out[-3000:]
    assert not (tmp_path / "results").exists()
