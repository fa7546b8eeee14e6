"""`snakemake --profile slurm -n` on the PAPER config (config.yaml): the whole DAG plans, one
training job per (experiment, K) pair, every downstream stage present, and each job lands on the
partition its GPU request calls for. No data sets are needed (paper data files are absent here).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CONFIG = REPO / "config.yaml"


def job_blocks(out: str):
    """(rule, is_local, resources dict) for every job printed by a dry run."""
    for chunk in re.split(r"\n\s*\n", out):
        m = re.search(r"^(local)?rule (\w+):$", chunk, re.M)
        if not m:
            continue
        res = re.search(r"^\s+resources: (.*)$", chunk, re.M)
        resources = dict(kv.split("=", 1) for kv in res.group(1).split(", ")) if res else {}
        yield m.group(2), bool(m.group(1)), resources


def job_stats(out: str) -> dict[str, int]:
    m = re.search(r"Job stats:\n(.*?)\n\n", out, re.S)
    assert m, f"no job stats in the dry run output:\n{out[-3000:]}"
    stats = {}
    for line in m.group(1).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] != "total":
            stats[parts[0]] = int(parts[1])
    return stats


@pytest.fixture(scope="module")
def paper_dry_run(tmp_path_factory) -> str:
    workdir = tmp_path_factory.mktemp("paper_dag")
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("SNAKEMAKE_PROFILE", None)
    # distinct partitions, so the test can see which rule goes where
    env.update(MEMGEN_SLURM_PARTITION="cpu_part", MEMGEN_SLURM_GPU_PARTITION="gpu_part")
    env.update(MEMGEN_SLURM_ACCOUNT="acct")
    cmd = [
        str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
        "--configfile", str(CONFIG),  # `configfile:` would be looked up in the workdir
        "--profile", str(REPO / "slurm"), "-n",
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    return out


def paper_config() -> dict:
    return yaml.safe_load(CONFIG.read_text())


def test_one_training_job_per_experiment_and_k(paper_dry_run):
    cfg = paper_config()
    stats = job_stats(paper_dry_run)
    # experiments with `model.reuse` sample from another experiment's models: no training of their own
    image_exps = [
        e
        for e in cfg["experiments"]
        if e != "circle" and not (cfg["images"][e].get("model") or {}).get("reuse")
    ]
    pairs = sum(len(cfg["images"][e]["ks"]) for e in image_exps)
    assert stats.get("train") == pairs, (stats, pairs)
    if "circle" in cfg["experiments"]:
        assert stats.get("circle_train") == len(cfg["circle"]["ks"]), stats
    print(f"paper DAG: {sum(stats.values())} jobs, {pairs} image models; per rule: {stats}")


def test_every_stage_of_every_experiment_planned(paper_dry_run):
    cfg = paper_config()
    planned_rules = {rule for rule, _, _ in job_blocks(paper_dry_run)}
    # every stage file (workflow/rules/<stage>.smk) contributes jobs to the paper DAG
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        rules = set(re.findall(r"^rule (\w+):", smk.read_text(), re.M))
        if smk.stem in ("common", "figures") or not rules:
            continue
        assert rules & planned_rules, f"no job of {smk.name} ({sorted(rules)}) in the paper DAG"
    # and each image experiment reaches classification for every K
    for exp in (e for e in cfg["experiments"] if e != "circle"):
        for k in cfg["images"][exp]["ks"]:
            assert f"results/{cfg['run_name']}/{exp}/K{k}/classes.parquet" in paper_dry_run, (
                exp,
                k,
            )


def test_gpu_jobs_on_gpu_partition_cpu_jobs_not(paper_dry_run):
    remote = [(rule, res) for rule, local, res in job_blocks(paper_dry_run) if not local]
    assert remote
    wrong = set()
    for rule, res in remote:
        gpus = int(res.get("gpu", 0))
        want = "gpu_part" if gpus > 0 else "cpu_part"
        if res.get("slurm_partition") != want:
            wrong.add((rule, gpus, res.get("slurm_partition")))
        # honest resources reach sbatch: memory, wall time, account
        assert int(res["mem_mb"]) > 0 and int(res["runtime"]) > 0, (rule, res)
        assert res.get("slurm_account") == "acct", (rule, res)
    # a GPU rule missing from gpu_rules in slurm/config.yaml would queue on the CPU partition
    assert not wrong, f"(rule, gpus, partition) on the wrong partition: {sorted(wrong)}"
    assert any(int(res.get("gpu", 0)) > 0 for _, res in remote), "paper config requests no GPU"
