"""`snakemake --profile slurm -n` on the PAPER config (config.yaml): the whole DAG plans, one
training job per (experiment, K) pair, every downstream stage present, and each job lands on the
partition its GPU request calls for. No data sets are needed (paper data files are absent here).

The capacity variants (`ks: sweep`) get their K grid from their own sparse sweep: on a fresh
directory the dry run plans each sweep (experiment `<name>_sweep`, K = 500, 1000, ... < N, and N)
and its `kgrid` checkpoint, but none of the variant's own per-K jobs, whose K are not known yet;
only the variant's thresholds job appears, waiting on the checkpoint (Table 2 asks for it).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from memgen.kgrid import sparse_grid

REPO = Path(__file__).resolve().parents[1]
# Pool sizes of the paper's data sets (the last K of a swept grid).
DATASET_SIZES = {"mnist": 60000, "fmnist": 60000, "cifar10": 50000, "lsun_church": 126227}
BIN = Path(sys.executable).parent
CONFIG = REPO / "config.yaml"


def job_blocks(out: str):
    """(rule, is_local, resources dict) for every job printed by a dry run (members of a group
    job are printed indented under its "Group job" line)."""
    for chunk in re.split(r"\n\s*\n", out):
        m = re.search(r"^\s*(local)?(?:rule|checkpoint) (\w+):$", chunk, re.M)
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


def planned_grids(cfg: dict) -> dict[str, list[int]]:
    """The K each image experiment has in a dry run on a fresh directory: its configured grid, or
    for `ks: sweep` nothing yet, while its sweep experiment `<name>_sweep` has the sparse grid."""
    grids = {}
    for e in (e for e in cfg["experiments"] if e != "circle"):
        exp = cfg["images"][e]
        if exp["ks"] == "sweep":
            start = (exp.get("kgrid") or {}).get("sparse_start", 500)
            grids[f"{e}_sweep"] = sparse_grid(DATASET_SIZES[exp["dataset"]], start)
            grids[e] = []
        else:
            grids[e] = list(exp["ks"])
    return grids


def settings(cfg: dict, e: str) -> dict:
    """Config block of an experiment of planned_grids (a sweep has its experiment's settings)."""
    return cfg["images"][e.removesuffix("_sweep") if e.endswith("_sweep") else e]


def test_one_training_job_per_experiment_and_k(paper_dry_run):
    cfg = paper_config()
    stats = job_stats(paper_dry_run)
    # experiments with `model.reuse` sample from another experiment's models: no training of their own
    grids = planned_grids(cfg)
    pairs = sum(
        len(ks) for e, ks in grids.items() if not (settings(cfg, e).get("model") or {}).get("reuse")
    )
    assert stats.get("train") == pairs, (stats, pairs)
    if "circle" in cfg["experiments"]:
        assert stats.get("circle_train") == len(cfg["circle"]["ks"]), stats
    print(f"paper DAG: {sum(stats.values())} jobs, {pairs} image models; per rule: {stats}")


def expected_job_counts(cfg: dict) -> dict[str, int]:
    """Jobs per rule of the paper DAG, from the config alone (schema defaults: stages enabled,
    circle.exact.ks = [2, 9]): one per (experiment, K) for the per-K stages, one per experiment for
    the aggregating ones, plus the circle experiment, `tables` and the `all` job.

    Swept experiments (see the module docstring): their sweeps count as experiments without the
    per-class analyses (basins, curvature, energy), the experiments themselves only with a
    thresholds job (pending on its kgrid checkpoint) and one `kgrid` job each."""
    grids = planned_grids(cfg)
    n_k = {e: len(ks) for e, ks in grids.items()}
    known = [e for e in grids if grids[e]]
    sweeps = [e for e in grids if e.endswith("_sweep")]

    def enabled(e: str, section: str) -> bool:
        return e not in sweeps and (settings(cfg, e).get(section) or {}).get("enabled", True)

    counts = {"all": 1, "tables": 1, "kgrid": len(sweeps), "thresholds": len(grids)}
    for rule in ("split", "split_check", "fractions", "classify_figure"):
        counts[rule] = len(known)
    for rule in ("sample", "neighbors_train", "neighbors_synth", "classify"):
        counts[rule] = sum(n_k.values())
    counts["train"] = sum(
        n for e, n in n_k.items() if not (settings(cfg, e).get("model") or {}).get("reuse")
    )
    # The real-pool null of the thresholds: one per pool; an experiment that reuses another's models
    # reads the same pool with the same metric (paper config) and shares that experiment's null.
    counts["pool_null"] = sum(
        1 for e in known if not (settings(cfg, e).get("model") or {}).get("reuse")
    )
    for stage in ("basins", "curvature", "energy"):
        counts[stage] = sum(n for e, n in n_k.items() if enabled(e, stage))
        counts[f"{stage}_figure"] = sum(1 for e in known if enabled(e, stage))
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
    # every stage file (workflow/rules/<stage>.smk) contributes jobs to the paper DAG, except the
    # opt-in ones that run only for the entries of their own config section (none in the paper run)
    assert not cfg.get("audit") and not cfg.get("sd_curvature")
    assert not planned_rules & {"audit", "sd_curvature", "sd_curvature_figure"}
    # training-time snapshots cost nothing unless asked for: none at paper scale
    assert not planned_rules & {"snapshot", "snapshot_exact", "snapshot_summary", "snapshot_figure"}
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        rules = set(re.findall(r"^(?:rule|checkpoint) (\w+):", smk.read_text(), re.M))
        if smk.stem in ("common", "figures", "audit", "sd_curvature", "snapshots") or not rules:
            continue
        assert rules & planned_rules, f"no job of {smk.name} ({sorted(rules)}) in the paper DAG"
    # and each image experiment (or its sweep) reaches classification for every K
    run = f"results/{cfg['run_name']}"
    for exp, ks in planned_grids(cfg).items():
        for k in ks:
            assert f"{run}/{exp}/K{k}/classes.parquet" in paper_dry_run, (exp, k)
    # and the tables
    for name in ("table1_kgrid", "table2_thresholds", "table3_models"):
        assert f"{run}/tables/{name}.md" in paper_dry_run, name


def test_capacity_variants_plan_their_own_sparse_sweep(paper_dry_run):
    cfg = paper_config()
    run = f"results/{cfg['run_name']}"
    swept = [e for e in cfg["experiments"] if e != "circle" and cfg["images"][e]["ks"] == "sweep"]
    assert swept == ["cifar10_nf64", "cifar10_nf96", "church_nf64", "church_nf96"]
    for e in swept:
        exp = cfg["images"][e]
        sweep = sparse_grid(DATASET_SIZES[exp["dataset"]], 500)
        # the workflow's own sweep rule agrees with memgen.kgrid's, and the dry run says so
        assert f"the K grid of {e} comes from its sparse sweep {e}_sweep (K = " + ", ".join(
            map(str, sweep)
        ) in paper_dry_run
        assert f"output: {run}/{e}/kgrid.parquet, {run}/{e}/kgrid.json" in paper_dry_run
        # the sweep trains its own models with the variant's network, not the 128-channel grid's
        for k in sweep:
            assert f"{run}/{e}_sweep/K{k}/model/config.json" in paper_dry_run, (e, k)
        assert f"{run}/{e}/K2/" not in paper_dry_run  # K grid not known before the sweep


def test_gpu_jobs_on_gpu_partition_cpu_jobs_not(paper_dry_run):
    remote = [(rule, res) for rule, local, res in job_blocks(paper_dry_run) if not local]
    assert remote
    wrong = set()
    for rule, res in remote:
        gpus = int(res.get("gpu", 0))
        # classify shares a group job with the GPU analyses of its (experiment, K), and a group
        # job has one partition
        want = "gpu_part" if gpus > 0 or rule == "classify" else "cpu_part"
        if res.get("slurm_partition") != want:
            wrong.add((rule, gpus, res.get("slurm_partition")))
        # honest resources reach sbatch: memory, wall time, account
        assert int(res["mem_mb"]) > 0 and int(res["runtime"]) > 0, (rule, res)
        assert res.get("slurm_account") == "acct", (rule, res)
    # a GPU rule missing from gpu_rules in slurm/config.yaml would queue on the CPU partition
    assert not wrong, f"(rule, gpus, partition) on the wrong partition: {sorted(wrong)}"
    assert any(int(res.get("gpu", 0)) > 0 for _, res in remote), "paper config requests no GPU"


# Stage families of one (experiment, K): each must reach SLURM in at most one submission.
STAGE_FAMILIES = {
    "train": "train",
    "sample": "sample",
    "neighbors_train": "neighbours",
    "neighbors_synth": "neighbours",
    "basins": "analysis",
    "curvature": "analysis",
    "energy": "analysis",
}


def paper_submissions(out: str):
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from bench_submissions import local_rules, submissions
    finally:
        sys.path.pop(0)
    return submissions(out, local_rules(REPO))


def test_one_submission_per_experiment_k_and_stage_family(paper_dry_run):
    remote, local = paper_submissions(paper_dry_run)
    stats = job_stats(paper_dry_run)
    assert sum(len(s["jobs"]) for s in remote) + len(local) == sum(stats.values())
    seen: dict[tuple[str, str, str], int] = {}
    for sub in remote:
        pairs = {(wc.get("E"), wc.get("k")) for _, wc in sub["jobs"]}
        if sub["group"]:
            # a group job never mixes models: one (experiment, K) or one experiment
            assert len(pairs) == 1, (sub["group"], sorted(pairs))
        # each (experiment, K, family) this submission holds a job of
        keys = {
            (wc["E"], wc["k"], STAGE_FAMILIES[r]) for r, wc in sub["jobs"] if r in STAGE_FAMILIES
        }
        for key in keys:
            seen[key] = seen.get(key, 0) + 1
    twice = {key: n for key, n in seen.items() if n > 1}
    assert not twice, sorted(twice)[:10]
    cfg = paper_config()
    # the per-class analyses run for every planned (experiment, K) but the sweeps' (they classify only)
    pairs = sum(len(ks) for e, ks in planned_grids(cfg).items() if not e.endswith("_sweep"))
    assert len({key[:2] for key in seen if key[2] == "analysis"}) == pairs
    # cheap CPU steps never wait in the SLURM queue on their own
    alone = {sub["jobs"][0][0] for sub in remote if not sub["group"]}
    cheap = {"classify", "thresholds", "fractions", "split_check", "circle_cluster"}
    assert not alone & cheap, alone & cheap
    assert not {r for r, _, _ in job_blocks(paper_dry_run) if "figure" in r} - {
        sub["jobs"][0][0] for sub in local
    }
    print(f"paper DAG: {len(remote)} SLURM submissions, {len(local)} local jobs")
