"""The `audit` and `sd_curvature` config sections in the Snakemake DAG: validated, planned with the
default target only when configured, and the audit rule runs end to end on a tiny checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from conftest import planned_jobs, snakemake


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    from memgen.tiny_models import save_unet_checkpoint, tiny_unet

    root = tmp_path_factory.mktemp("auditwf")
    save_unet_checkpoint(root / "models" / "mine", tiny_unet(seed=3))
    imgs = np.random.default_rng(0).uniform(-1, 1, (6, 8, 8, 1)).astype(np.float32)
    np.save(root / "train.npy", imgs)
    (root / "sd").mkdir()
    (root / "prompts.csv").write_text("prompt,candidate\na cat,generalized\n")
    return root


def _overlay(root, **extra):
    cfg = {
        "run_name": "auditwf",
        "experiments": ["digits"],
        "device": "cpu",
        "audit": {"mine": {"checkpoint": "models/mine", "train_images": "train.npy",
                           "options": {"n_samples": 12, "sampler": "ddim", "steps": 5, "n_bootstrap": 50}}},  # fmt: skip
        "sd_curvature": {"case": {"model": "sd", "prompts": "prompts.csv"}},
        **extra,
    }
    path = root / "overlay.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_configured_audits_are_part_of_the_default_target(workdir):
    jobs = planned_jobs(workdir, configfiles=(_overlay(workdir),))
    assert jobs["audit"] == 1 and jobs["sd_curvature"] == 1 and jobs["sd_curvature_figure"] == 1


def test_audit_block_is_validated(workdir):
    bad = _overlay(workdir, audit={"mine": {"checkpoint": "models/mine", "train_images": "train.npy",
                                            "options": {"n_sample": 12}}})  # fmt: skip
    proc = snakemake(workdir, "-n", configfiles=(bad,), check=False)
    assert proc.returncode != 0
    assert "audit.mine.options" in proc.stderr + proc.stdout and "n_sample" in proc.stderr + proc.stdout


@pytest.mark.slow
def test_audit_rule_runs(workdir):
    target = "results/auditwf/audit/mine/summary.json"
    snakemake(workdir, "--cores", "1", target, configfiles=(_overlay(workdir),))
    summary = json.loads((workdir / target).read_text())
    assert summary["K"] == 6 and summary["n_samples"] == 12 and summary["experiment"] == "mine"
    assert (workdir / "results/auditwf/audit/mine/fig4a_fractions_mine.pdf").is_file()
    # finished work is not recomputed
    again = snakemake(workdir, "-n", target, configfiles=(_overlay(workdir),))
    assert "Nothing to be done" in again.stdout + again.stderr
