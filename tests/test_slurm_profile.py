"""Static checks of the SLURM profile (slurm/config.yaml) and of the cluster guards in the rules.

Fast (no cluster): the profile is parsed by Snakemake's own profile parser, exactly as
`snakemake --profile slurm` does, with and without the MEMGEN_SLURM_* environment variables.
The real-cluster test is tests/test_slurm_cluster.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
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


def as_map(entries: list[str]) -> dict[str, str]:
    return dict(e.split("=", 1) for e in entries)


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
    # set-resources only ever carries site facts; without them it is empty
    assert args.get("set-resources", []) == []
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
    per_rule: dict[str, dict[str, str]] = {}
    for entry in args["set-resources"]:
        rule, assign = entry.split(":", 1)
        key, value = assign.split("=", 1)
        per_rule.setdefault(rule, {})[key] = value
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
    assert "train:slurm_partition=only_one" in args["set-resources"]


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
