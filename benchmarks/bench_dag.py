"""Dry run of the full paper DAG: planning everything, and with every output already present.

    python benchmarks/bench_dag.py [--repeat 3] [--results-md benchmarks/RESULTS.md]
        [--workdir DIR] [--baseline OTHER_CHECKOUT] [--profile-out FILE.prof]

Placeholder outputs are created in a temporary directory only (never in results/): the paper
config is planned once through the Snakemake API, then every output of every job is touched in
topological order (directories get Snakemake's .snakemake_timestamp), so a second dry run finds
nothing to do. Timed side by side, as the user types them, each a fresh process:
  * `snakemake -n`                   on the empty workdir (plans every job)
  * `snakemake -n`                   with every output present (the issue's number)
  * `snakemake --profile slurm -n`   with every output present (the cluster user's command)

--workdir DIR keeps the populated placeholders in DIR (created on the first call, reused after), so
repeated measurements skip the ~1 min of planning and touching. --baseline OTHER_CHECKOUT times that
checkout's Snakefile too, interleaved run by run with this one on the same workdirs (a before/after
comparison that sees the same machine load). --profile-out FILE writes a cProfile of one
outputs-present dry run (inspect with `python -m pstats FILE`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
# Explicit: the Snakefile's `configfile: "config.yaml"` is looked up in the workdir (a temp dir).
CONFIG = REPO / "config.yaml"
HEADING = "## Workflow (dry-run)"
COUNTS = "memgen-bench-counts-v2.json"  # job counts of a populated workdir (see --workdir)


def _write_kgrid_json(job) -> None:
    """A kgrid checkpoint's JSON as `memgen kgrid` writes it, with K1/K2 at the sweep's third and
    sixth K (the paper's values) unless the config fixes them: the dense grid can then be planned."""
    from memgen.kgrid import KGridConfig, dense_grid

    n = int(job.params.n)
    sweep = [int(k) for k in str(job.params.sweep_ks).split()]
    cfg = KGridConfig.from_dict(json.loads(job.params.cfg))
    k1 = cfg.k1 or sweep[min(2, len(sweep) - 3)]
    k2 = cfg.k2 or sweep[min(5, len(sweep) - 2)]
    grid = dense_grid(k1, k2, n, cfg.n_low, cfg.n_mid, cfg.n_high, cfg.k_min)
    summary = {"experiment": job.wildcards["E"], "K1": k1, "K2": k2, "N": n, "ks": grid,
               "sweep_ks": sweep}  # fmt: skip
    Path(job.output.json).write_text(json.dumps(summary))


def plan_and_touch(workdir: Path) -> dict[str, int]:
    """Plan the paper DAG via the API and create every output; returns rule -> job count.

    Two rounds: the first plans the sparse sweeps and writes each kgrid checkpoint's JSON, the
    second plans the dense grids that the JSON defines; each round touches every output in
    dependency order, so no output is older than its inputs."""
    from snakemake import api
    from snakemake.settings import types as st

    cwd = os.getcwd()
    counts: dict[str, int] = {}
    try:
        for _ in range(2):
            counts = {}
            with api.SnakemakeApi(st.OutputSettings(quiet={st.Quietness.ALL})) as sm:
                wf = sm.workflow(
                    resource_settings=st.ResourceSettings(cores=1),
                    config_settings=st.ConfigSettings(configfiles=[CONFIG]),
                    snakefile=REPO / "Snakefile",
                    workdir=workdir,
                )
                dag_api = wf.dag()
                dag_api.execute_workflow(executor="dryrun")
                dag = wf._workflow.dag  # the planned DAG (no public accessor for its jobs)
                for level in dag.toposorted():
                    for job in level:
                        counts[job.rule.name] = counts.get(job.rule.name, 0) + 1
                        for f in job.output:
                            f.touch_or_create()
                        for f in job.log:
                            f.touch_or_create()
                        if job.rule.name == "kgrid" and not Path(job.output.json).stat().st_size:
                            _write_kgrid_json(job)
            os.chdir(cwd)
    finally:
        os.chdir(cwd)
    return counts


def populated(workdir: Path) -> dict[str, int]:
    """Job counts of workdir, planning the DAG and creating every output there first if needed."""
    marker = workdir / COUNTS
    if marker.exists():
        return json.loads(marker.read_text())
    workdir.mkdir(parents=True, exist_ok=True)
    counts = plan_and_touch(workdir)
    marker.write_text(json.dumps(counts, indent=1, sort_keys=True))
    return counts


def dry_run_cmd(repo: Path, workdir: Path, *extra: str) -> list[str]:
    cmd = [SNAKEMAKE, "-s", str(repo / "Snakefile"), "--directory", str(workdir)]
    return cmd + ["--configfile", str(CONFIG), "-n", *extra]


def bench_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("SNAKEMAKE_PROFILE", None)
    for var in ("MEMGEN_SLURM_PARTITION", "MEMGEN_SLURM_GPU_PARTITION", "MEMGEN_SLURM_ACCOUNT"):
        env.setdefault(var, "bench")
    return env


def timed_dry_run(workdir: Path, *extra: str, repo: Path = REPO) -> tuple[float, str]:
    cmd = dry_run_cmd(repo, workdir, *extra)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, env=bench_env())
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"dry run failed: {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return dt, proc.stdout + proc.stderr


def append_results(md: Path, lines: list[str]) -> None:
    """Replace (or append) this benchmark's own section of RESULTS.md; other sections untouched."""
    text = md.read_text() if md.exists() else "# Benchmarks\n"
    section = HEADING + "\n\n" + "\n".join(lines) + "\n"
    pattern = re.compile(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    md.write_text(text)


def describe(repo: Path) -> str:
    """`<commit>` of a checkout (`+changes` if its workflow files differ from it), for RESULTS.md."""
    git = ["git", "-C", str(repo)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if head.returncode:
        return f"`{repo.name}`"
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--", "Snakefile", "workflow", "config.yaml"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return f"`{head.stdout.strip()}{'+changes' if dirty else ''}`"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--repeat", type=int, default=3, help="timed runs per variant (median reported)"
    )
    ap.add_argument("--results-md", type=Path, default=None, help="update this RESULTS.md section")
    ap.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep/reuse the placeholder workdirs under this directory (default: a temp dir)",
    )
    ap.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="another checkout (e.g. a worktree of main) timed interleaved with this one",
    )
    ap.add_argument(
        "--profile-out",
        type=Path,
        default=None,
        help="cProfile one outputs-present dry run into this file, then stop",
    )
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="memgen-bench-dag-") as tmp:
        root = args.workdir.resolve() if args.workdir else Path(tmp)
        empty, full = root / "empty", root / "full"
        empty.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        counts = populated(full)
        setup = time.perf_counter() - t0
        n_jobs = sum(counts.values())
        n_train = counts.get("train", 0)
        print(
            f"paper DAG: {n_jobs} jobs ({n_train} image training jobs); placeholders in {setup:.1f} s"
        )
        if args.profile_out:
            cmd = dry_run_cmd(REPO, full)
            cmd = [sys.executable, "-m", "cProfile", "-o", str(args.profile_out.resolve()), *cmd]
            subprocess.run(cmd, cwd=REPO, check=True, env=bench_env(), capture_output=True)
            print(f"profile of one outputs-present dry run: {args.profile_out}")
            return 0

        variants = {
            "plan everything (no outputs)": (empty, ()),
            "all outputs present": (full, ()),
            "all outputs present, --profile slurm": (full, ("--profile", str(REPO / "slurm"))),
        }
        repos = {"": REPO} if args.baseline is None else {"": REPO, "baseline": args.baseline}
        medians: dict[str, dict[str, float]] = {label: {} for label in repos}
        load = [os.getloadavg()[0]]
        print(f"load average before: {load[0]:.2f}")
        for name, (wd, extra) in variants.items():
            times: dict[str, list[float]] = {label: [] for label in repos}
            for _ in range(args.repeat):
                for label, repo in repos.items():  # interleaved: both see the same load
                    dt, out = timed_dry_run(wd, *extra, repo=repo)
                    times[label].append(dt)
                    if wd is full and "Nothing to be done" not in out:
                        raise SystemExit(
                            f"[{label or 'this'} {name}] outputs present but jobs still planned:\n"
                            + out[-3000:]
                        )
            for label, ts in times.items():
                medians[label][name] = statistics.median(ts)
                tag = f"{name} [{label}]" if label else name
                print(f"{tag:51s} median {medians[label][name]:6.2f} s  (runs: "
                      + ", ".join(f"{t:.2f}" for t in ts) + ")")  # fmt: skip
        load.append(os.getloadavg()[0])
        print(f"load average after: {load[1]:.2f}")
        medians_base = medians.get("baseline")
        medians = medians[""]

    present = medians["all outputs present"]
    ratio = medians["plan everything (no outputs)"] / present
    print(f"outputs present: {present:.2f} s; planning everything takes {ratio:.2f}x as long")
    if args.results_md:
        if medians_base:
            table = [
                f"Interleaved run by run with the baseline {describe(args.baseline)}.",
                "",
                f"| dry run | baseline median (s) | {describe(REPO)} median (s) |",
                "|---|---|---|",
            ]
            table += [f"| {n} | {medians_base[n]:.2f} | {t:.2f} |" for n, t in medians.items()]
        else:
            table = ["| dry run | median (s) |", "|---|---|"]
            table += [f"| {n} | {t:.2f} |" for n, t in medians.items()]
        append_results(
            args.results_md,
            [
                f"`python benchmarks/bench_dag.py` ({time.strftime('%Y-%m-%d')}, 2-core VM, median of "
                f"{args.repeat} fresh `snakemake` processes; paper config.yaml: {n_jobs} jobs, "
                f"{n_train} image training jobs; placeholders in a temp dir; 1-min load average "
                f"{load[0]:.2f} before, {load[1]:.2f} after).",
                "",
                *table,
                "",
                f"Every output present: {present:.2f} s; planning from scratch is {ratio:.2f}x that.",
            ],
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
