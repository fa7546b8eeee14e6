"""Static checks of the SLURM profile (slurm/config.yaml) and of the cluster guards in the rules.

Fast (no cluster): the profile is parsed by Snakemake's own profile parser, exactly as
`snakemake --profile slurm` does, with and without the MEMGEN_SLURM_* environment variables.
The real-cluster test is tests/test_slurm_cluster.py.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.profiles import ProfileConfigFileParser

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "slurm" / "config.yaml"
TEST_PROFILE = REPO / "tests" / "slurm" / "profile" / "config.yaml"
SITE_VARS = (
    "MEMGEN_SLURM_PARTITION",
    "MEMGEN_SLURM_GPU_PARTITION",
    "MEMGEN_SLURM_ACCOUNT",
    "MEMGEN_SLURM_QOS",
    "MEMGEN_SLURM_GPU_MODEL",
    "MEMGEN_SLURM_MAX_RUNTIME",
)


def parse_profile(path: Path, monkeypatch, **env: str) -> dict:
    """The profile as Snakemake turns it into command-line arguments."""
    for var in SITE_VARS:
        monkeypatch.delenv(var, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with open(path) as stream:
        return dict(ProfileConfigFileParser().parse(stream))


def literal(value: str):
    """A profile value as Snakemake evaluates it: a Python literal, else the raw string."""
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


def as_map(entries: list[str]) -> dict:
    return {k: literal(v) for k, v in (e.split("=", 1) for e in entries)}


def test_single_profile_file_and_no_workflow_profile():
    # Two candidate files make Snakemake's choice arbitrary; profiles/default would silently
    # override --profile slurm key by key (CONVENTIONS B.6).
    assert sorted(p.name for p in PROFILE.parent.iterdir()) == ["config.yaml"]
    assert not (REPO / "profiles").exists()


def test_profile_core_settings(monkeypatch):
    args = parse_profile(PROFILE, monkeypatch)
    assert args["executor"] == "slurm"
    for flag in ("rerun-incomplete", "keep-going", "printshellcmds", "slurm-requeue"):
        assert args[flag] == "True", flag
    # Retries are per rule (only what can succeed on retry); the profile retries nothing else.
    assert int(args["jobs"]) >= 10 and int(args["retries"]) == 0
    assert int(args["latency-wait"]) >= 30
    # sacct reports an scancel'ed job as "CANCELLED by <uid>" and snakemake then waits forever.
    assert args["slurm-status-command"] == "squeue"
    assert args["slurm-logdir"].startswith("results/")
    assert args["slurm-keep-successful-logs"] == "True"
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,50}", args["slurm-jobname-prefix"])


def test_no_site_hardcoded_without_environment(monkeypatch):
    args = parse_profile(PROFILE, monkeypatch)
    defaults = as_map(args["default-resources"])
    assert "slurm_partition" not in defaults and "slurm_account" not in defaults
    assert "slurm-qos" not in args
    # set-resources only ever carries site facts; without them the key is absent (an empty
    # block would become a bare `--set-resources`, which Snakemake's argument parser rejects)
    assert "set-resources" not in args
    assert int(defaults["mem_mb"]) > 0 and int(defaults["runtime"]) > 0


def test_site_facts_from_environment(monkeypatch):
    args = parse_profile(
        PROFILE,
        monkeypatch,
        MEMGEN_SLURM_PARTITION="cpu_part",
        MEMGEN_SLURM_GPU_PARTITION="gpu_part",
        MEMGEN_SLURM_ACCOUNT="proj42",
        MEMGEN_SLURM_QOS="normal",
        MEMGEN_SLURM_GPU_MODEL="a100",
    )
    defaults = as_map(args["default-resources"])
    assert defaults["slurm_partition"] == "cpu_part"
    assert defaults["slurm_account"] == "proj42"
    assert args["slurm-qos"] == "normal"
    per_rule: dict[str, dict] = {}
    for entry in args["set-resources"]:
        rule, assign = entry.split(":", 1)
        key, value = assign.split("=", 1)
        per_rule.setdefault(rule, {})[key] = literal(value)
    assert "train" in per_rule
    for rule, res in per_rule.items():
        # only site facts: a mem_mb/runtime/gpu here would override the rules' honest values
        assert res == {"slurm_partition": "gpu_part", "gpu_model": "a100"}, rule


def test_max_runtime_only_on_request(monkeypatch):
    args = parse_profile(PROFILE, monkeypatch, MEMGEN_SLURM_MAX_RUNTIME="1440")
    assert "train:runtime=1440" in args["set-resources"]
    assert "runtime=120" in args["default-resources"]  # CPU rules keep their own/default


def test_gpu_partition_falls_back_to_cpu_partition(monkeypatch):
    args = parse_profile(PROFILE, monkeypatch, MEMGEN_SLURM_PARTITION="only_one")
    assert "train:slurm_partition='only_one'" in args["set-resources"]


# Every way a site may set (or leave unset) its variables; each must give a command line that
# Snakemake's argument parser accepts, with each fact landing where it belongs.
SITE_COMBINATIONS = {
    "none": {},
    "partition": {"MEMGEN_SLURM_PARTITION": "cpu_part"},
    "gpu_partition": {"MEMGEN_SLURM_GPU_PARTITION": "gpu_part"},
    "gpu_model": {"MEMGEN_SLURM_GPU_MODEL": "a100"},
    "max_runtime": {"MEMGEN_SLURM_MAX_RUNTIME": "1440"},
    "account": {"MEMGEN_SLURM_ACCOUNT": "proj42"},
    "qos": {"MEMGEN_SLURM_QOS": "normal"},
    "all": {
        "MEMGEN_SLURM_PARTITION": "cpu_part",
        "MEMGEN_SLURM_GPU_PARTITION": "gpu_part",
        "MEMGEN_SLURM_ACCOUNT": "proj42",
        "MEMGEN_SLURM_QOS": "normal",
        "MEMGEN_SLURM_GPU_MODEL": "a100",
        "MEMGEN_SLURM_MAX_RUNTIME": "1440",
    },
}


def snakemake_cli_args(monkeypatch, env: dict[str, str], *argv: str):
    """`snakemake --profile slurm <argv>` parsed by Snakemake's own command-line entry point
    (profile lookup, YTE rendering, argument parsing), in the repository root."""
    from snakemake.cli import parse_args

    for var in SITE_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("SNAKEMAKE_PROFILE", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(REPO)
    try:
        return parse_args(["--profile", "slurm", *argv])[1]
    except SystemExit as stop:  # argparse: "expected at least one argument", a bad value, ...
        pytest.fail(f"snakemake rejects the profile with {env or 'no variable'} (exit {stop})")


@pytest.mark.parametrize("name", SITE_COMBINATIONS)
def test_snakemake_accepts_profile_for_every_combination(name, monkeypatch, capsys):
    env = SITE_COMBINATIONS[name]
    args = snakemake_cli_args(monkeypatch, env, "-n")
    defaults = args.default_resources
    assert {"mem_mb", "runtime"} <= set(defaults), defaults
    assert ("slurm_partition" in defaults) == ("MEMGEN_SLURM_PARTITION" in env)
    assert ("slurm_account" in defaults) == ("MEMGEN_SLURM_ACCOUNT" in env)
    assert args.slurm_qos == env.get("MEMGEN_SLURM_QOS", args.slurm_qos)
    if "MEMGEN_SLURM_QOS" not in env:
        assert not isinstance(args.slurm_qos, str), args.slurm_qos
    # set-resources: the GPU-stage rules, each with exactly the GPU-related facts that are set
    want: set[str] = set()
    if {"MEMGEN_SLURM_PARTITION", "MEMGEN_SLURM_GPU_PARTITION"} & set(env):
        want.add("slurm_partition")
    if "MEMGEN_SLURM_GPU_MODEL" in env:
        want.add("gpu_model")
    if "MEMGEN_SLURM_MAX_RUNTIME" in env:
        want.add("runtime")
    per_rule = {rule: sorted(res.keys()) for rule, res in (args.set_resources or {}).items()}
    if want:
        assert "train" in per_rule, per_rule
        assert all(keys == sorted(want) for keys in per_rule.values()), per_rule
    else:
        assert per_rule == {}, per_rule


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("MEMGEN_SLURM_MAX_RUNTIME", "2h", "positive whole number of minutes"),
        ("MEMGEN_SLURM_MAX_RUNTIME", "0", "positive whole number of minutes"),
        ("MEMGEN_SLURM_GPU_MODEL", "a100-80gb", "a GPU type is letters"),
    ],
)
def test_bad_site_value_named_before_any_submission(var, value, message, monkeypatch, capsys):
    for v in SITE_VARS:
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setenv(var, value)
    from snakemake.cli import parse_args

    monkeypatch.chdir(REPO)
    with pytest.raises(SystemExit):
        parse_args(["--profile", "slurm", "-n"])
    err = capsys.readouterr().err
    assert var in err and message in err, err


def test_names_that_python_would_evaluate_stay_strings(monkeypatch):
    # Snakemake evaluates resource values as Python first: a partition `all` would become the
    # builtin all(), an account 12345 a number. The profile writes quoted literals.
    args = parse_profile(
        PROFILE, monkeypatch, MEMGEN_SLURM_PARTITION="all", MEMGEN_SLURM_ACCOUNT="12345"
    )
    defaults = as_map(args["default-resources"])
    assert defaults["slurm_partition"] == "all" and defaults["slurm_account"] == "12345"
    assert "train:slurm_partition='all'" in args["set-resources"]


def fresh_copy(dest: Path) -> Path:
    """The repository as a fresh clone has it: tracked and new (not ignored) files only."""
    files = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True, text=True, check=True,
    ).stdout.split("\0")  # fmt: skip
    for rel in filter(None, files):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def dry_run_jobs(out: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, resources) of every job a dry run prints (group members are printed indented)."""
    jobs = []
    for chunk in re.split(r"\n\s*\n", out):
        m = re.search(r"^\s*rule (\w+):$", chunk, re.M)
        res = re.search(r"^\s+resources: (.*)$", chunk, re.M)
        if m and res:
            jobs.append((m.group(1), dict(kv.split("=", 1) for kv in res.group(1).split(", "))))
    return jobs


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory) -> Path:
    return fresh_copy(tmp_path_factory.mktemp("fresh_clone"))


@pytest.mark.parametrize("name", ["none", "all"])
def test_paper_dry_run_in_fresh_clone(name, fresh_clone):
    # The cluster user's first command, literally: `snakemake --profile slurm -n` in the root of
    # a fresh clone (config.yaml = the paper DAG), with the site's variables or none at all.
    env = {k: v for k, v in os.environ.items() if k not in SITE_VARS and k != "SNAKEMAKE_PROFILE"}
    env.update(SITE_COMBINATIONS[name])
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run(
        ["snakemake", "--profile", "slurm", "-n"],
        cwd=fresh_clone, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    jobs = dry_run_jobs(out)
    assert len(jobs) > 1000, out[-3000:]  # the paper DAG, not a demo
    site = SITE_COMBINATIONS[name]
    gpu_partition = site.get("MEMGEN_SLURM_GPU_PARTITION", site.get("MEMGEN_SLURM_PARTITION"))
    for rule, res in jobs:
        # classify travels with the GPU analyses of its group job (one partition per job)
        gpu = int(res.get("gpu", 0)) > 0 or rule == "classify"
        want = {
            "slurm_partition": gpu_partition if gpu else site.get("MEMGEN_SLURM_PARTITION"),
            "slurm_account": site.get("MEMGEN_SLURM_ACCOUNT"),
            "gpu_model": site.get("MEMGEN_SLURM_GPU_MODEL") if gpu else None,
        }
        got = {key: res.get(key) for key in want}
        assert got == want, (rule, res)
        if gpu and "MEMGEN_SLURM_MAX_RUNTIME" in site:
            # a grouped rule asks for its share of the limit, so its group job fits it
            # (train and the pool null of the thresholds run alone)
            members = {"train": 1, "pool_null": 1, "sample": 3, "neighbors_train": 3}
            members["neighbors_synth"] = 3
            share = int(site["MEMGEN_SLURM_MAX_RUNTIME"]) // members.get(rule, 4)
            if rule.startswith("circle_"):
                share = int(site["MEMGEN_SLURM_MAX_RUNTIME"])
            assert int(res["runtime"]) == share, (rule, res)
        assert int(res["mem_mb"]) > 0 and int(res["runtime"]) > 0, (rule, res)
    assert any(rule == "train" and int(res.get("gpu", 0)) == 1 for rule, res in jobs)


def test_test_profile_only_overrides_laptop_settings(monkeypatch):
    # A later --profile replaces whole top-level keys: a default-resources block here would
    # silently drop the production one (mem_mb, runtime, partition, account).
    args = parse_profile(TEST_PROFILE, monkeypatch)
    assert not {"default-resources", "executor", "slurm-logdir"} & set(args)
    assert args["slurm-status-command"] == "squeue"
    # its only per-rule setting: training takes the cluster's fake GPU
    assert args["set-resources"] == ["train:gpu=1"]
    assert set(args) <= set(parse_profile(PROFILE, monkeypatch)) | {
        "seconds-between-status-checks",
        "max-threads",
        "set-resources",
    }


def workflow_sources() -> list[Path]:
    files = [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]
    return [f for f in files if f.exists()]


@pytest.mark.skipif(not workflow_sources(), reason="workflow not written yet")
def test_rules_guard_slurm_variables():
    # Inside a job the slurm-jobstep plugin strips most SLURM_* variables before its inner
    # `srun` (SLURM_GPUS is gone even in a GPU job), and rules run under `set -u`: a bare
    # $SLURM_X fails the job. Require a default: ${SLURM_X:-} (${{SLURM_X:-}} in .smk).
    pattern = re.compile(r"\$(\{+)?(SLURM_[A-Z0-9_]+)(:-)?")
    bad = []
    for path in workflow_sources():
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            for m in pattern.finditer(line):
                if not (m.group(1) and m.group(3)):
                    bad.append(f"{path.relative_to(REPO)}:{lineno}: {m.group(0)}")
    assert not bad, "SLURM variables without a default: " + ", ".join(bad)


def test_one_stage_rerun_through_the_profile_submits_only_that_stage(tiny_copy):
    # Groups hold only the jobs that need to run: rerunning curvature alone submits one group
    # job per K holding just curvature, and nothing upstream or beside it in the group.
    from conftest import snakemake

    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from bench_submissions import local_rules, submissions
    finally:
        sys.path.pop(0)
    proc = snakemake(tiny_copy, "--profile", str(PROFILE.parent), "-n", "--forcerun", "curvature")
    out = proc.stdout + proc.stderr
    remote, local = submissions(out, local_rules(REPO))
    ks = {wc["k"] for sub in remote for _, wc in sub["jobs"]}
    assert [(s["group"], [r for r, _ in s["jobs"]]) for s in remote] == [
        ("analysis", ["curvature"])
    ] * len(ks), remote
    from conftest import TINY

    assert ks == {str(k) for k in yaml.safe_load(TINY.read_text())["images"]["digits"]["ks"]}
    assert {s["jobs"][0][0] for s in local} == {"curvature_figure", "all"}, local
