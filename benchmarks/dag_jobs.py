"""Every planned job of a config as JSON: rule, wildcards, named inputs/outputs/logs, params, resources.

    python benchmarks/dag_jobs.py --out jobs.json [--snakefile OTHER/Snakefile] [CONFIG ...]
    python benchmarks/dag_jobs.py --compare before.json after.json

For refactors of the workflow files that must not change what runs: dump the job list of the paper
config and of the demo overlay before and after, then --compare the two (exit 1 on any difference).
The params are listed twice: every value, and the ones Snakemake records for its params rerun
trigger (a param that moves between the two would rerun finished jobs). Resources are evaluated for
attempts 1 and 2 (the retried rules scale with the attempt). Plans in a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _named(files) -> dict:
    """{name: [paths]} of a Snakemake file list, unnamed entries under ''."""
    names = {i: n for n, (i, j) in files._names.items() for i in range(i, j or i + 1)}
    out: dict[str, list[str]] = {}
    for i, f in enumerate(files):
        out.setdefault(names.get(i, ""), []).append(str(f))
    return out


def _resources(job, attempt: int) -> dict:
    job.attempt = attempt
    return {k: str(v) for k, v in job.resources.items() if not k.startswith("_")}


def dump(snakefile: Path, configs: list[Path], workdir: Path) -> list[dict]:
    from snakemake import api
    from snakemake.settings import types as st

    cwd = os.getcwd()
    jobs = []
    try:
        with api.SnakemakeApi(st.OutputSettings(quiet={st.Quietness.ALL})) as sm:
            wf = sm.workflow(
                resource_settings=st.ResourceSettings(cores=1),
                config_settings=st.ConfigSettings(configfiles=configs),
                snakefile=snakefile,
                workdir=workdir,
            )
            wf.dag().execute_workflow(executor="dryrun")
            dag = wf._workflow.dag  # the planned DAG (no public accessor for its jobs)
            for job in dag.jobs:
                jobs.append(
                    {
                        "rule": job.rule.name,
                        "local": job.is_local,
                        "wildcards": dict(job.wildcards_dict),
                        "input": _named(job.input),
                        "output": _named(job.output),
                        "log": _named(job.log),
                        "benchmark": str(job.benchmark) if job.benchmark else None,
                        "params": {k: repr(v) for k, v in job.params.items()},
                        "recorded_params": sorted(map(repr, job.non_derived_params)),
                        "threads": job.threads,
                        "resources": {a: _resources(job, a) for a in (1, 2)},
                        "retries": job.restart_times,
                        "shell": job.shellcmd,
                    }
                )
    finally:
        os.chdir(cwd)
    return sorted(jobs, key=lambda j: (j["rule"], json.dumps(j["wildcards"], sort_keys=True)))


def compare(a: list[dict], b: list[dict]) -> list[str]:
    key = lambda j: (j["rule"], json.dumps(j["wildcards"], sort_keys=True))  # noqa: E731
    ja, jb = {key(j): j for j in a}, {key(j): j for j in b}
    diffs = [f"only in the first: {k}" for k in ja.keys() - jb.keys()]
    diffs += [f"only in the second: {k}" for k in jb.keys() - ja.keys()]
    for k in sorted(ja.keys() & jb.keys()):
        for field in ja[k]:
            if ja[k][field] != jb[k].get(field):
                diffs.append(f"{k} {field}:\n  {ja[k][field]}\n  {jb[k].get(field)}")
    return diffs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("configs", nargs="*", type=Path, help="config files (default: config.yaml)")
    ap.add_argument("--snakefile", type=Path, default=REPO / "Snakefile")
    ap.add_argument("--out", type=Path, help="write the job list here")
    ap.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"))
    ap.add_argument(
        "--workdir", type=Path, help="plan in this directory (e.g. one holding finished outputs)"
    )
    args = ap.parse_args(argv)
    if args.compare:
        a, b = (json.loads(p.read_text()) for p in args.compare)
        diffs = compare(a, b)
        print("\n".join(diffs) or f"identical: {len(a)} jobs")
        return 1 if diffs else 0
    configs = [p.resolve() for p in args.configs] or [REPO / "config.yaml"]
    with tempfile.TemporaryDirectory(prefix="memgen-dag-jobs-") as tmp:
        workdir = args.workdir.resolve() if args.workdir else Path(tmp)
        jobs = dump(args.snakefile.resolve(), configs, workdir)
    text = json.dumps(jobs, indent=1, sort_keys=True)
    if args.out:
        args.out.write_text(text + "\n")
        print(f"{len(jobs)} jobs -> {args.out}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
