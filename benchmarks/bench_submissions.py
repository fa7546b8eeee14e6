"""SLURM submissions of the paper DAG (config.yaml) through `snakemake --profile slurm -n`.

    python benchmarks/bench_submissions.py [--before REF] [--results-md benchmarks/RESULTS.md]

Every job Snakemake would hand to SLURM is either a plain job or a group job (the profile's
`groups:`); local rules run on the submit host. The dry run prints both kinds; this script counts
them in an empty temporary workdir (nothing exists yet: the whole paper DAG). --before REF counts
the same for another commit of this repository (exported with `git archive` into a temp dir), e.g.
the commit before the grouping, so both numbers come from one run on the same Snakemake.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
HEADING = "## SLURM submissions of the paper DAG"
SITE_VARS = {
    "MEMGEN_SLURM_PARTITION": "cpu_part",
    "MEMGEN_SLURM_GPU_PARTITION": "gpu_part",
    "MEMGEN_SLURM_ACCOUNT": "acct",
}

GROUP = re.compile(r"^\[[^\]]*\] Group job (\S+) ")
TOP_JOB = re.compile(r"^(local)?(?:rule|checkpoint) (\w+):$")
MEMBER = re.compile(r"^ {4}(?:rule|checkpoint) (\w+):$")
WILDCARDS = re.compile(r"^\s+wildcards: (.*)$")


# The rules Snakemake runs on the submit host. A dry run does not say which rules those are (it leaves
# the decision to the real run), and Snakemake has no public accessor for them, so read the
# `localrule: True` directives of the rule files (the project declares local rules only that way).
RULE_BLOCK = re.compile(r"^(?:rule|checkpoint) (\w+):\n((?:[ \t]+.*\n|\n)*)", re.M)
LOCALRULE = re.compile(r"^\s+localrule: True$", re.M)


def local_rules(repo: Path) -> set[str]:
    files = [repo / "Snakefile", *sorted((repo / "workflow" / "rules").glob("*.smk"))]
    return {
        m.group(1)
        for f in files
        for m in RULE_BLOCK.finditer(f.read_text())
        if LOCALRULE.search(m.group(2))
    }


def submissions(dry_run: str, local: set[str]) -> tuple[list[dict], list[dict]]:
    """(SLURM submissions, local jobs) of a `snakemake -n` output, given the local rules. A
    submission is {"group": name or None, "jobs": [(rule, {wildcard: value})]}."""
    remote: list[dict] = []
    on_host: list[dict] = []
    current: dict | None = None
    for line in dry_run.splitlines():
        if m := GROUP.match(line):
            current = {"group": m.group(1), "jobs": []}
            remote.append(current)
        elif m := TOP_JOB.match(line):
            current = {"group": None, "jobs": [(m.group(2), {})]}
            (on_host if m.group(2) in local else remote).append(current)
        elif (m := MEMBER.match(line)) and current is not None and current["group"]:
            current["jobs"].append((m.group(1), {}))
        elif (m := WILDCARDS.match(line)) and current is not None and current["jobs"]:
            pairs = (kv.split("=", 1) for kv in m.group(1).split(", "))
            current["jobs"][-1][1].update(pairs)
    return remote, on_host


def dry_run(repo: Path, workdir: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k != "SNAKEMAKE_PROFILE"}
    # distinct CPU and GPU partitions: a group mixing the two would fail to plan
    env.update(SITE_VARS)
    cmd = [
        SNAKEMAKE, "-s", str(repo / "Snakefile"), "--directory", str(workdir),
        "--configfile", str(repo / "config.yaml"), "--profile", str(repo / "slurm"), "-n",
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"dry run failed: {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return proc.stdout + proc.stderr


def summary(repo: Path, workdir: Path) -> dict:
    remote, local = submissions(dry_run(repo, workdir), local_rules(repo))
    kinds = Counter(s["group"] or s["jobs"][0][0] for s in remote)
    return {
        "jobs": sum(len(s["jobs"]) for s in remote) + len(local),
        "submissions": len(remote),
        "local": len(local),
        "kinds": dict(kinds.most_common()),
    }


def export(ref: str, dest: Path) -> Path:
    archive = dest / "src.tar"
    with open(archive, "wb") as fh:
        subprocess.run(["git", "-C", str(REPO), "archive", ref], stdout=fh, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(dest / "src", filter="data")
    return dest / "src"


def append_results(md: Path, lines: list[str]) -> None:
    """Replace (or append) this benchmark's own section of RESULTS.md; others untouched."""
    text = md.read_text() if md.exists() else "# Benchmarks\n"
    section = HEADING + "\n\n" + "\n".join(lines) + "\n"
    pattern = re.compile(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    md.write_text(text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default=None, help="a git ref to count as well (e.g. HEAD~3)")
    ap.add_argument("--results-md", type=Path, default=None, help="update this RESULTS.md section")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="memgen-bench-submit-") as tmp:
        trees = {"this checkout": REPO}
        if args.before:
            trees = {f"`{args.before}`": export(args.before, Path(tmp)), **trees}
        results = {}
        for label, repo in trees.items():
            workdir = Path(tmp) / f"work{len(results)}"
            workdir.mkdir()
            results[label] = summary(repo, workdir)
            r = results[label]
            print(f"{label}: {r['jobs']} jobs -> {r['submissions']} SLURM submissions, "
                  f"{r['local']} local; per group/rule: {r['kinds']}")  # fmt: skip

    if args.results_md:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        lines = [
            f"`python benchmarks/bench_submissions.py{' --before ' + args.before if args.before else ''}`"
            f" ({time.strftime('%Y-%m-%d')}, this checkout = `{head}`): "
            "`snakemake --profile slurm -n` on the paper config.yaml in an empty workdir; a "
            "submission is one sbatch call (a plain job or a group job), local jobs run on the "
            "submit host.",
            "",
            "| tree | jobs | SLURM submissions | local jobs |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {label} | {r['jobs']} | {r['submissions']} | {r['local']} |"
            for label, r in results.items()
        ]
        last = results["this checkout"]
        lines += ["", "Submissions per group / ungrouped rule (this checkout): "
                  + ", ".join(f"{k} {n}" for k, n in last["kinds"].items()) + "."]  # fmt: skip
        append_results(args.results_md, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
