"""LPIPS-alex 5-NN (2 000 queries x 10 000 references, 32x32, CPU) at memgen's thread default vs 1 thread.

Run: python benchmarks/bench_threads.py [--repeats N] [--quick]
Each measurement is a fresh process that sets its threads exactly as every `memgen` command does
(memgen.cli._set_threads), so "default" is what a user gets standalone: MEMGEN_THREADS,
SLURM_CPUS_PER_TASK and OMP_NUM_THREADS are removed from its environment and the usable cores decide;
"1 thread" sets MEMGEN_THREADS=1. The two settings alternate, so both see the same machine load.
A random backbone is used when the ImageNet weights are absent (same cost). Prints search seconds
(embedding + GEMM search) and whole-process seconds (including imports).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import json, sys, time
from memgen.cli import _set_threads
_set_threads()
import numpy as np, torch
import memgen.perceptual as perceptual
from memgen.neighbors import search
n_q, n_r = int(sys.argv[1]), int(sys.argv[2])
torch.manual_seed(0)
model = perceptual.load_lpips("alex", pretrained_backbone=perceptual.backbone_checkpoint("alex").is_file())
perceptual.load_lpips = lambda net, pb, dev: model
rng = np.random.default_rng(0)
ref = rng.integers(0, 256, (n_r, 32, 32, 3), dtype=np.uint8)
qry = rng.integers(0, 256, (n_q, 32, 32, 3), dtype=np.uint8)
t = time.perf_counter()
search(ref, qry, "lpips-alex", 5, device="cpu", progress=False)
print(json.dumps({"threads": torch.get_num_threads(), "search_s": time.perf_counter() - t}))
"""


def run_once(threads: str | None, n_q: int, n_r: int) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("MEMGEN_THREADS", "SLURM_CPUS_PER_TASK", "OMP_NUM_THREADS")}  # fmt: skip
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1] / "src")
    if threads is not None:
        env["MEMGEN_THREADS"] = threads
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD, str(n_q), str(n_r)], env=env,
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    res = json.loads(out.strip().splitlines()[-1])
    res["process_s"] = time.perf_counter() - t
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="runs per setting (alternating)")
    ap.add_argument("--quick", action="store_true", help="200 x 1 000 (smoke run)")
    args = ap.parse_args()
    n_q, n_r = (200, 1000) if args.quick else (2000, 10000)
    runs: dict[str, list[dict]] = {"default": [], "1 thread": []}
    for _ in range(args.repeats):
        runs["default"].append(run_once(None, n_q, n_r))
        runs["1 thread"].append(run_once("1", n_q, n_r))
    print(f"LPIPS-alex 5-NN, {n_q} x {n_r}, 32x32, CPU; usable cores {len(os.sched_getaffinity(0))}; "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    med = {}
    for name, rs in runs.items():
        med[name] = {k: statistics.median(r[k] for r in rs) for k in ("search_s", "process_s")}
        print(f"  {name:9s} threads={rs[0]['threads']}: search "
              + " / ".join(f"{r['search_s']:.1f}" for r in rs)
              + f" s (median {med[name]['search_s']:.1f}), whole process median "
              f"{med[name]['process_s']:.1f} s")  # fmt: skip
    print(f"  1 thread / default (median search time): "
          f"{med['1 thread']['search_s'] / med['default']['search_s']:.2f}x")


if __name__ == "__main__":
    main()
