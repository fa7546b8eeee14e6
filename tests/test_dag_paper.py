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


def expected_job_counts(cfg: dict) -> dict[str, int]:
    """Jobs per rule of the paper DAG, from the config alone (schema defaults: stages enabled,
    circle.exact.ks = [2, 9]): one per (experiment, K) for the per-K stages, one per experiment for
    the aggregating ones, plus the circle experiment and the `all` job."""
    images = cfg["images"]
    exps = [e for e in cfg["experiments"] if e != "circle"]
    n_k = {e: len(images[e]["ks"]) for e in exps}

    def enabled(e: str, section: str) -> bool:
        return (images[e].get(section) or {}).get("enabled", True)

    counts = {"all": 1}
    for rule in ("split", "split_check", "thresholds", "fractions", "classify_figure"):
        counts[rule] = len(exps)
    for rule in ("sample", "neighbors_train", "neighbors_synth", "classify"):
        counts[rule] = sum(n_k.values())
    counts["train"] = sum(
        n for e, n in n_k.items() if not (images[e].get("model") or {}).get("reuse")
    )
    for stage in ("basins", "curvature", "energy"):
        counts[stage] = sum(n for e, n in n_k.items() if enabled(e, stage))
        counts[f"{stage}_figure"] = sum(1 for e in exps if enabled(e, stage))
    if "circle" in cfg["experiments"]:
        ks = len(cfg["circle"]["ks"])
        exact = len((cfg["circle"].get("exact") or {}).get("ks", [2, 9]))
        counts.update(circle_data=1, circle_energy_exact=1, circle_figure=1)
        counts.update(circle_train=ks, circle_sample_net=ks, circle_energy=ks)
        counts.update(circle_energy_centres=ks)
        counts.update(circle_sample_exact=exact, circle_cluster=ks + exact)
    return {rule: n for rule, n in counts.items() if n}


def test_job_count_of_every_rule(paper_dry_run):
    # one job per (experiment, K) or per experiment, nothing more (e.g. a loose wildcard constraint)
    assert job_stats(paper_dry_run) == expected_job_counts(paper_config())


def test_every_output_is_requested(paper_dry_run):
    # Snakemake checks a non-target job only for the outputs some job asks for: an output that is
    # neither read by another job nor listed by the default target (all_targets()) would not be
    # rebuilt when deleted. Every output must appear as some job's input.
    def files(key: str) -> set[str]:
        found = re.findall(rf"^\s+{key}: (.*)$", paper_dry_run, re.M)
        return {f for line in found for f in line.split(", ")}

    outputs = files("output")
    assert outputs, paper_dry_run[-3000:]
    assert not outputs - files("input"), sorted(outputs - files("input"))[:20]


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
