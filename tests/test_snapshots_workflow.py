"""Snapshots in the workflow: a run with snapshots enabled keeps them through training, a second run
plans nothing, an added step plans only that step's jobs (never training), and impossible snapshot
settings stop the run before any job, naming the key."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
import yaml
from conftest import DEMO, TINY, planned_jobs, snakemake

from memgen.snapshots import SnapshotConfig

# count 2 from step 50 of the tiny run's 200 iterations: steps 50 and 200
SNAP = {"count": 2, "first": 50, "ks": [2, 8], "sample_max": 8, "agreement_samples": 4}
TARGETS = [f"results/tiny/digits/snapshots/{n}.parquet" for n in ("fractions", "tau", "fit")]


def _overlay(workdir, snapshots: dict, name="snap.yaml"):
    path = workdir / name
    cfg = {"experiments": ["digits"], "images": {"digits": {"snapshots": snapshots}}}
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def snap_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("snap_run")
    overlay = _overlay(workdir, SNAP)
    snakemake(workdir, "--cores", "2", *TARGETS, configfiles=(DEMO, TINY, overlay))
    return workdir


def test_snapshots_are_kept_during_training_and_analysed(snap_run):
    run = snap_run / "results/tiny/digits"
    # the workflow's steps are memgen's (log-spaced from `first` to the last step)
    assert SnapshotConfig.from_dict(SNAP).resolve_steps(200) == [50, 200]
    assert sorted(p.name for p in (run / "K2/snapshots").glob("step*")) == ["step200", "step50"]
    for k in (2, 8):
        for s in (50, 200):
            log = (snap_run / f"results/tiny/logs/snapshot/digits_K{k}_step{s}.log").read_text()
            assert "from the cache" in log, log[-2000:]  # saved by training, not replayed
            assert (run / f"K{k}/snapshots/step{s}/model/diffusion_pytorch_model.safetensors").exists()
    fr = pd.read_parquet(run / "snapshots/fractions.parquet")
    assert set(fr["K"]) == {2, 8} and set(fr["step"]) == {50, 200}
    assert {"experiment", "K", "step", "class", "fraction", "ci_low", "ci_high"} <= set(fr.columns)
    th = pd.read_parquet(run / "thresholds.parquet").set_index("K")
    cl = pd.read_parquet(run / "K8/snapshots/step200/classes.parquet")
    assert cl["delta_m"].iloc[0] == th.loc[8, "delta_m"]  # the final models' thresholds
    assert len(pd.read_parquet(run / "snapshots/agreement.parquet")) == 4


def test_noop_rerun_plans_nothing_and_an_added_step_plans_only_its_jobs(snap_run, tmp_path):
    work = tmp_path / "run"
    shutil.copytree(snap_run, work, symlinks=True)
    overlay = _overlay(work, SNAP)
    assert planned_jobs(work, *TARGETS, configfiles=(DEMO, TINY, overlay)) == {}
    added = _overlay(work, {**SNAP, "steps": [50, 120, 200]}, "added.yaml")
    jobs = planned_jobs(work, *TARGETS, configfiles=(DEMO, TINY, added))
    # one snapshot job per K for the new step and the summary; never training
    assert jobs == {"snapshot": 2, "snapshot_summary": 1}, jobs
    snakemake(work, "--cores", "2", *TARGETS, configfiles=(DEMO, TINY, added))
    log = (work / "results/tiny/logs/snapshot/digits_K2_step120.log").read_text()
    assert "replaying training" in log  # training had passed step 120 unrecorded
    assert planned_jobs(work, *TARGETS, configfiles=(DEMO, TINY, added)) == {}


@pytest.mark.parametrize(
    "snapshots, key, text",
    [
        ({"steps": [50, 500]}, "images.digits.snapshots.steps", "beyond the training length"),
        ({"steps": [100, 50]}, "images.digits.snapshots.steps", "strictly increasing"),
        ({"count": 3, "first": 1000}, "images.digits.snapshots.first", "beyond the training"),
        ({"count": 2, "ks": [3]}, "images.digits.snapshots.ks", "not in images.digits.ks"),
    ],
)
def test_refusals_name_the_key_before_any_job(tmp_path, snapshots, key, text):
    overlay = _overlay(tmp_path, {"ks": None, **snapshots})  # not the demo's snapshot K
    proc = snakemake(tmp_path, "-n", configfiles=(DEMO, TINY, overlay), check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and f"config key '{key}'" in out and text in out, out[-2000:]
    assert not (tmp_path / "results").exists()
