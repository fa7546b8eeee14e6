"""Workflow-level behaviour: config validation, the tiny end-to-end run, no-op and one-stage reruns."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import DEMO, TINY, planned_jobs, snakemake

UPSTREAM = {"split", "train", "sample", "neighbors_train", "neighbors_synth"}


def _overlay(tmp_path: Path, data: dict, name="overlay.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    "bad, key_fragment",
    [
        ({"images": {"digits": {"train": {"itrations": 10}}}}, "images.digits.train"),
        ({"images": {"digits": {"split_seed": "seven"}}}, "images.digits.split_seed"),
        ({"images": {"digits": {"ks": [2, 8, 5000]}}}, "images.digits.ks"),
        ({"images": {"digits": {"ks": [8, 2]}}}, "images.digits.ks"),
        ({"images": {"digits": {"train": {"iterations": -5}}}}, "images.digits.train.iterations"),
        ({"circle": {"ks": [2, 100000]}}, "circle.ks"),
        ({"experiments": ["circle", "nosuch"]}, "experiments"),
    ],
    ids=["typo", "wrong-type", "k-too-large", "k-not-increasing", "negative-iterations",
         "circle-k-too-large", "unknown-experiment"],
)
def test_config_errors_fail_fast_naming_the_key(tmp_path, bad, key_fragment):
    overlay = _overlay(tmp_path, bad)
    proc = snakemake(tmp_path, "-n", configfiles=(DEMO, TINY, overlay), check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert key_fragment in out, out[-3000:]
    assert not (tmp_path / "results").exists(), "a config error must not touch results/"


def test_paper_and_demo_configs_are_valid(tmp_path):
    jobs = planned_jobs(tmp_path, configfiles=(DEMO,))
    assert jobs["train"] == len(yaml.safe_load(DEMO.read_text())["images"]["digits"]["ks"])
    assert jobs["circle_train"] == len(yaml.safe_load(DEMO.read_text())["circle"]["ks"])


def test_tiny_run_produces_every_output(tiny_run):
    run = tiny_run / "results" / "tiny"
    for table in [
        "circle/split.parquet",
        "digits/split.parquet",
        "digits/thresholds.parquet",
        "digits/fractions.parquet",
    ]:
        df = pd.read_parquet(run / table)
        assert len(df) > 0, table
        assert "experiment" in df.columns, table
    for k in (2, 8):
        classes = pd.read_parquet(run / f"digits/K{k}/classes.parquet")
        assert set(classes["class"]) <= {"memorized", "spurious", "generalized"}
        assert (classes["K"] == k).all()
    figures = sorted(p.name for p in (run / "figures").iterdir())
    assert "fig2_circle.png" in figures and "fig2_circle.pdf" in figures
    assert any(f.startswith("fig4a_fractions") for f in figures)


def test_second_run_schedules_nothing(tiny_copy):
    assert planned_jobs(tiny_copy) == {}


def test_threshold_change_reruns_only_classification_and_downstream(tiny_copy):
    overlay = _overlay(
        tiny_copy, {"images": {"digits": {"thresholds": {"delta_m": 0.5, "delta_s": 0.5}}}}
    )
    jobs = planned_jobs(tiny_copy, configfiles=(DEMO, TINY, overlay))
    assert "thresholds" in jobs and "classify" in jobs, jobs
    assert not UPSTREAM & set(jobs), f"upstream work rescheduled: {jobs}"
    assert not any(rule.startswith("circle") for rule in jobs), jobs


def test_cluster_threshold_change_reruns_only_clustering(tiny_copy):
    overlay = _overlay(tiny_copy, {"circle": {"cluster": {"tau": 1.5}}})
    jobs = planned_jobs(tiny_copy, configfiles=(DEMO, TINY, overlay))
    assert jobs, "changing tau must reschedule clustering"
    # the centre energies are evaluated at the cluster centres, so they follow the clustering
    assert all(("cluster" in r) or ("figure" in r) or r == "circle_energy_centres" for r in jobs), jobs
    assert "circle_energy" not in jobs and "circle_train" not in jobs, jobs


def test_figure_option_change_reruns_only_figures(tiny_copy):
    overlay = _overlay(tiny_copy, {"plots": {"dpi": 80}})
    jobs = planned_jobs(tiny_copy, configfiles=(DEMO, TINY, overlay))
    assert jobs, "a figure option must reschedule figure rules"
    assert all("figure" in r for r in jobs), jobs
    assert {"circle_figure", "classify_figure", "basins_figure", "curvature_figure",
            "energy_figure"} <= set(jobs), jobs


def test_until_a_stage_plans_only_that_stage_and_upstream(tmp_path):
    jobs = planned_jobs(tmp_path, "--until", "sample")
    assert set(jobs) <= {"split", "train", "sample"}, jobs
    assert jobs.get("sample") == 2
