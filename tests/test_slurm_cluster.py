"""`snakemake --profile slurm` on a real one-node SLURM cluster (munge, MariaDB, slurmdbd,
slurmctld, slurmd; one fake GPU), started and stopped by this module.

What it shows, with the tiny config (tests/configs/tiny.yaml over workflow/configs/demo.yaml):
1. the whole pipeline runs through SLURM with the production profile (slurm/config.yaml) plus
   the test layer (tests/slurm/profile: poll settings only); partition and account come from
   MEMGEN_SLURM_PARTITION / MEMGEN_SLURM_ACCOUNT as on a real cluster;
2. `scancel` of a running training job: snakemake reports it failed (squeue status; with sacct it
   would wait forever on "CANCELLED by 0"), and the next `snakemake --profile slurm` finishes the
   model from its scratch checkpoint ("resumed from ... at step N");
3. every output exists and is up to date; SLURM accounting shows the jobs with the account, the
   fake GPU on training jobs, and per-job logs named by rule and wildcards;
4. the miniature paper configuration (tests/configs/paper_mini.yaml) through the production
   profile with its group jobs: with no MEMGEN_SLURM_* variable at all (the CIFAR-10 pair, fast
   suite) and with every variable this cluster can honour (all five base experiments, `slow`):
   every README figure, a no-op rerun, one SLURM job per planned submission, where each job ran
   and the wall time it asked for.

Runs when CI=true (or MEMGEN_SLURM_TEST=1) as root on Debian (it apt-installs slurm-wlm, munge,
slurmdbd, mariadb-server when missing). Every daemon runs on private ports with files in a
pytest temp dir; teardown stops only the processes whose PID files it wrote. 2.7 min for
split+train+sample on an idle 2-core VM; every SLURM job costs 10-30 s of start-up there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent / "slurm"
BIN = Path(sys.executable).parent
DEMO = REPO / "workflow" / "configs" / "demo.yaml"
TINY = REPO / "tests" / "configs" / "tiny.yaml"
PACKAGES = ("slurm-wlm", "munge", "slurmdbd", "mariadb-server")

# The training job that gets cancelled: image experiment `digits`, largest tiny K; only that
# model trains long enough (~10 s) to be caught running with a checkpoint.
EXP = "digits"
TINY_KS = yaml.safe_load(TINY.read_text())["images"][EXP]["ks"]
CANCEL_K = TINY_KS[-1]
CHECKPOINT_EVERY = 50
CANCEL_ITERATIONS = 1000

pytestmark = pytest.mark.slurm


def _skip_reason() -> str | None:
    how = (
        "Run it with `CI=true .venv/bin/pytest tests/test_slurm_cluster.py` as root on Debian "
        "(or set MEMGEN_SLURM_TEST=1); it installs and starts a private one-node SLURM cluster."
    )
    if os.environ.get("CI") != "true" and os.environ.get("MEMGEN_SLURM_TEST") != "1":
        return f"real SLURM cluster test runs only in CI (CI=true). {how}"
    if os.geteuid() != 0:
        return f"starting slurmd/munged/mariadbd needs root. {how}"
    installed = (
        all(
            subprocess.run(
                ["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True
            ).stdout.startswith("install ok installed")
            for p in PACKAGES
        )
        if shutil.which("dpkg-query")
        else False
    )
    if not installed and not shutil.which("apt-get"):
        return f"needs apt-get (Debian) or the packages {', '.join(PACKAGES)}. {how}"
    return None


SKIP = _skip_reason()
if SKIP:
    pytestmark = [pytest.mark.slurm, pytest.mark.skip(reason=SKIP)]


def log(msg: str) -> None:
    print(f"[slurm-test {time.strftime('%H:%M:%S')}] {msg}", flush=True)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A private cluster; yields the environment for snakemake and the SLURM clients."""
    cdir = tmp_path_factory.mktemp("cluster")
    env = dict(os.environ)
    env.update(
        LOCALSLURM_DIR=str(cdir),
        # private ports (+0..+3, srun +100..+400); override if they collide with something
        LOCALSLURM_PORT_BASE=os.environ.get("MEMGEN_SLURM_PORT_BASE", "27817"),
        LOCALSLURM_ACCOUNTING="1",
        # one fake GPU (File=/dev/null); the recipe's Count=N form for N > 1 leaves the node
        # INVAL ("gres/gpu count reported lower than configured")
        LOCALSLURM_FAKE_GPUS="1",
        # The node claims more than the VM has (nothing enforces it: no cgroups), so that jobs
        # asking for honest paper-scale memory (UNet training: 32 GB) and group jobs summing
        # their members' CPUs (three analyses side by side on CPU) can be scheduled at all.
        LOCALSLURM_MEM_MB="262144",
        LOCALSLURM_CPUS="4",
    )
    t0 = time.time()
    start = subprocess.run(
        [str(HERE / "start-local-slurm.sh")], env=env, capture_output=True, text=True, timeout=300
    )

    def stop():
        subprocess.run(
            [str(HERE / "stop-local-slurm.sh"), "--purge"],
            env=env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip

    if start.returncode != 0:
        logs = (
            "\n".join(
                f"--- {p.name}\n{p.read_text()[-2000:]}"
                for p in sorted((cdir / "log").glob("*.log"))
            )
            if (cdir / "log").exists()
            else ""
        )
        stop()
        pytest.fail(f"cluster did not start:\n{start.stdout}\n{start.stderr}\n{logs}")
    log(f"cluster up in {time.time() - t0:.0f} s")
    env["SLURM_CONF"] = str(cdir / "etc" / "slurm.conf")
    # wrappers first: they pin SLURM_CONF, which the jobstep plugin strips before its inner srun
    env["PATH"] = os.pathsep.join([str(cdir / "bin"), str(BIN), env.get("PATH", "")])
    # site facts through the environment, exactly as documented for real clusters
    env["MEMGEN_SLURM_PARTITION"] = "local"
    env["MEMGEN_SLURM_ACCOUNT"] = "local"
    for var in ("GPU_PARTITION", "QOS", "GPU_MODEL", "MAX_RUNTIME"):
        env.pop(f"MEMGEN_SLURM_{var}", None)
    # threads come from the allocation (SLURM_CPUS_PER_TASK), not from a test default
    env.pop("MEMGEN_THREADS", None)
    env.pop("SNAKEMAKE_PROFILE", None)
    try:
        yield env
    finally:
        t1 = time.time()
        stop()
        log(f"cluster stopped in {time.time() - t1:.0f} s")


def slurm_cmd(env: dict, *args: str) -> str:
    return subprocess.run(
        list(args), env=env, capture_output=True, text=True, timeout=30, check=True
    ).stdout


def snakemake_cmd(workdir: Path, overlay: Path, *extra: str, limit: int) -> list[str]:
    # `timeout -s INT`: snakemake ignores SIGTERM while jobs run ("exits after finishing running
    # jobs") but cancels its SLURM jobs and exits on SIGINT; -k is the last resort.
    return [
        "timeout", "-s", "INT", "-k", "30", str(limit),
        str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
        "--profile", str(REPO / "slurm"), "--profile", str(HERE / "profile"),
        # config.yaml explicitly: `configfile:` in the Snakefile is looked up in the workdir
        "--configfile", str(REPO / "config.yaml"), str(DEMO), str(TINY), str(overlay), *extra,
    ]  # fmt: skip


def merged_config() -> dict:
    """config.yaml <- demo.yaml <- tiny.yaml, merged like Snakemake merges --configfile."""

    def merge(a: dict, b: dict) -> dict:
        out = dict(a)
        for key, value in b.items():
            out[key] = (
                merge(out[key], value)
                if isinstance(value, dict) and isinstance(out.get(key), dict)
                else value
            )
        return out

    cfg: dict = {}
    for path in (REPO / "config.yaml", DEMO, TINY):
        cfg = merge(cfg, yaml.safe_load(path.read_text()) or {})
    return cfg


def slurm_overlay(workdir: Path) -> Path:
    """The tiny config's image experiment only; its last model trains long enough to be
    cancelled mid-run. (The circle experiment has no SLURM-specific behaviour and runs in the
    local tiny e2e test; on 2 shared cores every SLURM job costs 10-30 s of start-up.)"""
    train = merged_config()["images"][EXP].get("train", {})
    iterations = train.get("iterations", 200)
    per_k = list(iterations) if isinstance(iterations, list) else [iterations] * len(TINY_KS)
    per_k[-1] = CANCEL_ITERATIONS
    overlay = workdir / "slurm_overlay.yaml"
    data = {
        "experiments": [EXP],
        "images": {EXP: {"train": {"iterations": per_k, "checkpoint_every": CHECKPOINT_EVERY}}},
    }
    overlay.write_text(yaml.safe_dump(data))
    return overlay


def find_job(env: dict, rule: str, k: int) -> tuple[str, str] | None:
    """(SLURM job id, state) of the newest job of `rule` for experiment EXP and K = k."""
    # The plugin names every job of a run alike and puts "rule_<rule>_wildcards_<values joined
    # by _>" in the job comment, which squeue shows (%k).
    want = f"rule_{rule}_wildcards_{EXP}_{k}"
    out = slurm_cmd(env, "squeue", "-h", "-t", "all", "-o", "%i|%k|%T")
    jobs = [line.split("|") for line in out.splitlines() if line]
    hits = [(int(i), state) for i, comment, state in jobs if comment == want]
    return (str(max(hits)[0]), max(hits)[1]) if hits else None


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory):
    """Run the tiny pipeline on SLURM and scancel one training job mid-run.

    The train rule declares `retries:`, so snakemake resubmits the cancelled job at once and the
    new attempt resumes from the scratch checkpoint -- the same path a requeued, timed-out or
    preempted job takes, and the same as running the command again after a failure.
    """
    env = cluster
    workdir = tmp_path_factory.mktemp("slurm_run")
    overlay = slurm_overlay(workdir)
    run = workdir / "results" / "tiny"
    ckpt_dir = run / EXP / f"K{CANCEL_K}" / "scratch"
    info: dict = {"workdir": workdir, "run": run}

    t0 = time.time()
    out1 = workdir / "snakemake-1.log"
    with open(out1, "w") as fh:
        proc = subprocess.Popen(
            snakemake_cmd(workdir, overlay, limit=900),
            env=env, cwd=workdir, stdout=fh, stderr=subprocess.STDOUT,
        )  # fmt: skip
        cancelled = None
        while proc.poll() is None and cancelled is None and time.time() - t0 < 880:
            job = find_job(env, "train", CANCEL_K)
            if job and job[1] == "RUNNING" and any(ckpt_dir.rglob("*.pt")):
                slurm_cmd(env, "scancel", job[0])
                cancelled = job[0]
                log(f"scancel {job[0]} (train {EXP} K={CANCEL_K}) after {time.time() - t0:.0f} s")
            time.sleep(0.2)
        rc = proc.wait(timeout=960)
    info.update(rc=rc, log=out1.read_text(), cancelled=cancelled, seconds=time.time() - t0)
    log(f"snakemake --profile slurm exit {rc} after {info['seconds']:.0f} s")

    # the same command again: nothing left to do
    dry = subprocess.run(
        snakemake_cmd(workdir, overlay, "-n", limit=120),
        env=env, cwd=workdir, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    info["dry_run"] = dry.stdout + dry.stderr
    summary = subprocess.run(
        snakemake_cmd(workdir, overlay, "--summary", limit=120),
        env=env, cwd=workdir, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    info["summary"] = summary.stdout
    info["sacct"] = slurm_cmd(
        env, "sacct", "-X", "-n", "-P", "-o", "JobID,State,Account,Partition,AllocTRES"
    )
    return info


def test_pipeline_completes_on_slurm(slurm_run):
    assert slurm_run["rc"] == 0, slurm_run["log"][-6000:]
    assert "Nothing to be done" in slurm_run["dry_run"], slurm_run["dry_run"][-3000:]


def test_cancelled_training_resumes_from_checkpoint(slurm_run):
    out = slurm_run["log"]
    assert slurm_run["cancelled"], (
        "never saw the training job RUNNING with a checkpoint:\n" + out[-4000:]
    )
    # squeue status: the plain CANCELLED state fails the job at once (sacct: "CANCELLED by 0",
    # which the plugin does not recognise, and snakemake would wait forever)
    failed = out.find(f"SLURM-job '{slurm_run['cancelled']}' failed")
    assert failed >= 0, out[-4000:]
    # the rule's `retries:` resubmits it (the main snakemake says so after the failure)
    assert "Trying to restart job" in out[failed:], out[failed:][-4000:]
    train_log = slurm_run["run"] / "logs" / "train" / f"{EXP}_K{CANCEL_K}.log"
    text = train_log.read_text()
    m = re.search(r"resum\w* .*step (\d+)", text)
    assert m, f"{train_log} does not say it resumed:\n{text[-3000:]}"
    step = int(m.group(1))
    assert CHECKPOINT_EVERY <= step < CANCEL_ITERATIONS and step % CHECKPOINT_EVERY == 0, step
    log_table = pd.read_parquet(slurm_run["run"] / EXP / f"K{CANCEL_K}" / "train_log.parquet")
    assert log_table["step"].max() == CANCEL_ITERATIONS


def test_every_output_present(slurm_run):
    # `snakemake --summary`: one row per output file of the whole DAG with its state
    rows = [line.split("\t") for line in slurm_run["summary"].splitlines()[1:] if line.strip()]
    assert len(rows) > 4 * len(TINY_KS), slurm_run["summary"][-3000:]
    workdir = slurm_run["workdir"]
    missing = [r[0] for r in rows if not (workdir / r[0]).exists()]
    assert not missing, missing
    stale = [(r[0], r[-1]) for r in rows if r[-1] != "no update"]
    assert not stale, stale
    run = slurm_run["run"]
    for k in TINY_KS:  # the products of the SLURM-specific steps, by name
        for name in ("model/config.json", "model/diffusion_pytorch_model.safetensors",
                     "train_log.parquet", "samples.npy"):  # fmt: skip
            assert (run / EXP / f"K{k}" / name).exists(), (k, name)


def test_jobs_went_through_slurm(slurm_run):
    rows = [line.split("|") for line in slurm_run["sacct"].splitlines() if line]
    assert rows, "sacct lists no jobs"
    states = [state for _, state, *_ in rows]
    assert all(s == "COMPLETED" or s.startswith("CANCELLED") for s in states), slurm_run["sacct"]
    assert sum(s.startswith("CANCELLED") for s in states) == 1, slurm_run["sacct"]
    # account and partition from MEMGEN_SLURM_ACCOUNT / MEMGEN_SLURM_PARTITION
    assert {(acct, part) for _, _, acct, part, _ in rows} == {("local", "local")}
    # training (and only training) took the fake GPU: one job per K plus the restarted attempt
    gpu_jobs = [row for row in rows if "gres/gpu=1" in row[4]]
    assert len(gpu_jobs) == len(TINY_KS) + 1, slurm_run["sacct"]
    # per-job SLURM logs, named by rule and wildcards
    logdir = slurm_run["workdir"] / "results" / "slurm-logs"
    assert len(list(logdir.glob(f"rule_train/{EXP}_{CANCEL_K}/*.log"))) == 2, sorted(
        str(p.relative_to(logdir)) for p in logdir.rglob("*.log")
    )


# --- The miniature paper run through `snakemake --profile slurm` -------------------------------
# tests/configs/paper_mini.yaml (every value that is not a size at its paper default: UNet presets,
# LPIPS neighbours and basins, score-matrix curvature, energy, automatic thresholds) over its
# miniature data in the real formats, through the production profile and the real group jobs.
# Once with no MEMGEN_SLURM_* variable at all (a cluster whose defaults are fine: the plugin finds
# the default partition with sinfo and submits without -A), once with every variable this
# cluster can honour (it has one partition, `local`, and an untyped fake GPU, so no GPU model).
MINI = REPO / "tests" / "configs" / "paper_mini.yaml"
# The experiments of the local miniature run (tests/test_paper_mini.py's fast set). On 2 cores
# every SLURM job costs 10-60 s of start-up, so the fast suite runs the CIFAR-10 pair (UNet
# preset, LPIPS-alex neighbours, LPIPS-vgg basins, curvature, energy, and cifar10_s8x sampling
# 8 x K from the cifar10 models: 12 submissions); the `slow` variant runs all five.
MINI_EXPERIMENTS = ["mnist", "fmnist", "cifar10", "church", "cifar10_s8x"]
MINI_FAST = ["cifar10", "cifar10_s8x"]
MINI_SITE = {
    "MEMGEN_SLURM_PARTITION": "local",
    "MEMGEN_SLURM_GPU_PARTITION": "local",
    "MEMGEN_SLURM_ACCOUNT": "local",
    "MEMGEN_SLURM_QOS": "normal",
    "MEMGEN_SLURM_MAX_RUNTIME": "120",
}


def mini_layer(workdir: Path) -> Path:
    """tests/slurm/profile without its `set-resources` block (which would replace the
    production routing and runtime shares that this run is meant to exercise)."""
    layer = yaml.safe_load((HERE / "profile" / "config.yaml").read_text())
    layer.pop("set-resources", None)
    path = workdir / "profile-layer" / "config.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(layer))
    return path.parent


def mini_cmd(
    workdir: Path, layer: Path, experiments: list[str], *extra: str, limit: int
) -> list[str]:
    return [
        "timeout", "-s", "INT", "-k", "30", str(limit),
        str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
        "--profile", str(REPO / "slurm"), "--profile", str(layer),
        "--configfile", str(REPO / "config.yaml"), str(MINI),
        "--config", "experiments=" + json.dumps(experiments), *extra,
    ]  # fmt: skip


def run_paper_mini(
    cluster_env: dict, workdir: Path, site: dict[str, str], experiments: list[str]
) -> dict:
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from bench_submissions import local_rules, submissions
    finally:
        sys.path.pop(0)
    from paperdata import write_backbones, write_paper_data

    env = {k: v for k, v in cluster_env.items() if not k.startswith("MEMGEN_SLURM_")}
    env.update(site, TORCH_HOME=str(workdir / "torch"))
    write_paper_data(workdir / "data")
    write_backbones(workdir / "torch")
    layer = mini_layer(workdir)
    before = {line.split("|")[0] for line in slurm_cmd(env, "sacct", "-X", "-n", "-P",
                                                       "-o", "JobID").splitlines()}  # fmt: skip
    plan = subprocess.run(
        mini_cmd(workdir, layer, experiments, "-n", limit=300),
        env=env, cwd=workdir, capture_output=True, text=True, timeout=360,
    )  # fmt: skip
    assert plan.returncode == 0, (plan.stdout + plan.stderr)[-4000:]
    planned, _ = submissions(plan.stdout + plan.stderr, local_rules(REPO))
    t0 = time.time()
    out = workdir / "snakemake.log"
    with open(out, "w") as fh:
        rc = subprocess.run(
            mini_cmd(workdir, layer, experiments, limit=2400),
            env=env, cwd=workdir, stdout=fh, stderr=subprocess.STDOUT, timeout=2500,
        ).returncode  # fmt: skip
    seconds = time.time() - t0
    log(f"paper mini through SLURM ({'site variables' if site else 'no variable'}): exit {rc}, "
        f"{seconds:.0f} s, {len(planned)} submissions planned")  # fmt: skip
    again = subprocess.run(
        mini_cmd(workdir, layer, experiments, "-n", limit=300),
        env=env, cwd=workdir, capture_output=True, text=True, timeout=360,
    )  # fmt: skip
    acct = slurm_cmd(
        env,
        "sacct",
        "-X",
        "-n",
        "-P",
        "-o",
        "JobID,State,Account,Partition,QOS,Timelimit,AllocTRES",
    )
    jobs = [row.split("|") for row in acct.splitlines() if row and row.split("|")[0] not in before]
    return {"rc": rc, "log": out.read_text(), "again": again.stdout + again.stderr,
            "planned": planned, "jobs": jobs, "workdir": workdir, "seconds": seconds,
            "experiments": experiments}  # fmt: skip


def check_paper_mini(result: dict, site: dict[str, str]) -> None:
    from test_paper_mini import check_figures

    assert result["rc"] == 0, result["log"][-6000:]
    assert "Nothing to be done" in result["again"], result["again"][-3000:]
    experiments = result["experiments"]
    check_figures(result["workdir"], experiments)
    # one SLURM job per planned submission: the groups reached SLURM as single jobs
    jobs, planned = result["jobs"], result["planned"]
    assert all(state == "COMPLETED" for _, state, *_ in jobs), jobs
    assert len(jobs) == len(planned), (len(jobs), len(planned))
    n_models = sum(1 for s in planned for rule, _ in s["jobs"] if rule == "train")
    images = yaml.safe_load(MINI.read_text())["images"]
    pairs = sum(len(images[e]["ks"]) for e in experiments)
    kinds = sorted(s["group"] or s["jobs"][0][0] for s in planned)
    assert kinds.count("analysis") == kinds.count("generate") == pairs, kinds
    # cifar10_s8x samples the cifar10 models: no training of its own
    reusing = sum(len(images[e]["ks"]) for e in experiments if e == "cifar10_s8x")
    assert kinds.count("train") == n_models == pairs - reusing, kinds
    # per-job SLURM logs: results/slurm-logs/rule_<rule>/<wildcards>/<jobid>.log for a plain job,
    # results/slurm-logs/group_<group>/<jobid>.log for a group job
    logdir = result["workdir"] / "results" / "slurm-logs"
    kind_of = {p.stem: p.relative_to(logdir).parts[0] for p in logdir.rglob("*.log")}
    assert sorted(kind_of) == sorted(row[0] for row in jobs), (sorted(kind_of), jobs)
    # (a group job's folder is group_<group>_<its rules>, e.g. group_analysis_basins_classify_...)
    assert sum(k.startswith("group_analysis_") for k in kind_of.values()) == pairs, kind_of
    # where the jobs ran: the cluster defaults without variables, the variables' values with them
    assert {(acct, part) for _, _, acct, part, *_ in jobs} == {("local", "local")}, jobs
    if site:
        assert {row[4] for row in jobs} == {site["MEMGEN_SLURM_QOS"]}, jobs
        # every GPU-stage job fits MEMGEN_SLURM_MAX_RUNTIME: a group job's members split it, so
        # the group's request (sum over members in sequence, max over members side by side)
        # is at most the limit, never a multiple of it; training asks for the limit itself
        limit = int(site["MEMGEN_SLURM_MAX_RUNTIME"])
        for row in jobs:
            kind = kind_of[row[0]]
            if kind.startswith(("rule_train", "group_generate_", "group_analysis_")):
                hours, minutes, _ = map(int, row[5].split(":"))
                asked = 60 * hours + minutes
                assert asked == limit if kind == "rule_train" else asked <= limit, (kind, row)


@pytest.fixture(scope="module")
def paper_mini_no_site_vars(cluster, tmp_path_factory):
    return run_paper_mini(cluster, tmp_path_factory.mktemp("mini_no_vars"), {}, MINI_FAST)


# Slow (`make test-slurm` runs it): ~10 min of one-node cluster time, too long for the fast suite.
@pytest.mark.slow
def test_paper_mini_through_slurm_without_site_variables(paper_mini_no_site_vars):
    check_paper_mini(paper_mini_no_site_vars, {})


@pytest.mark.slow
def test_paper_mini_through_slurm_with_site_variables(cluster, tmp_path):
    check_paper_mini(run_paper_mini(cluster, tmp_path, MINI_SITE, MINI_EXPERIMENTS), MINI_SITE)
